"""Baselines: the organisers' reference accounts, graded and shown, marked, never ranked.

Real SQLite files and the real CLI entry point, on the fixture of test_admin: alice 0.9 (#1)
and 0.7 (#2), bob 0.8 (#3), carol 0.6 (#4).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from test_admin import BY, LATER, board, cli, comp, csv_rows, db  # noqa: F401 - fixtures
from test_store import NOW, rec, result

from grader import admin, rules, store
from grader.config import Competition
from grader.errors import UsageError
from grader.ranking import Entry, Standing, place_standings
from grader.store import Baseline, Store

KNN = "teacher-knn"
REASON = '=HYPERLINK("http://x") the k-NN reference'


def test_a_baseline_is_shown_unranked_and_pushes_nobody_down(db: Path, comp: Competition) -> None:  # noqa: F811
    # Marked before its first submission, as an organiser sets up the reference account.
    done = admin.baseline(comp, db, KNN, reason=REASON, by=BY, now=NOW)
    assert done.summary == f"{KNN} is a baseline (shown, never ranked), marked by {BY}: {REASON}"
    with Store(db) as s:
        recorded = rec(s, result("k1", score=0.95), comp, KNN, NOW + timedelta(minutes=4))
        s.export_csv(comp)
        (action,) = s.admin_log()
        baselines = s.baselines(comp)
    # Graded and recorded as usual, but with the best score of all it takes no rank...
    assert (recorded.status, recorded.rank, recorded.best_score) == ("completed", None, None)
    assert board(db, comp) == [(1, "alice", 0.9, 1), (2, "bob", 0.8, 3), (3, "carol", 0.6, 4)]
    assert baselines == [Baseline(KNN, REASON, Entry(KNN, 0.95, 5, rules.timestamp(NOW + timedelta(minutes=4)),
                                                     rules.timestamp(NOW + timedelta(minutes=4)), 1))]  # fmt: skip
    assert (action.actor, action.action, action.target_kind, action.target, action.reason) == (
        BY, "baseline", "participant", KNN, REASON,
    )  # fmt: skip
    # ...and leaderboard.csv shows it where its score sits, with an empty rank and the marker.
    rows = [(r["rank"], r["username"], r["best_score"], r["baseline"]) for r in csv_rows(db, store.LEADERBOARD_CSV)]
    assert rows == [("", KNN, "0.95", "yes"), ("1", "alice", "0.9", ""), ("2", "bob", "0.8", ""),
                    ("3", "carol", "0.6", "")]  # fmt: skip


def test_restore_makes_a_baseline_a_participant_again(db: Path, comp: Competition) -> None:  # noqa: F811
    admin.baseline(comp, db, KNN, reason="reference", by=BY, now=NOW)
    with Store(db) as s:
        rec(s, result("k1", score=0.95), comp, KNN, NOW + timedelta(minutes=4))
    done = admin.take_off(comp, db, admin.parse_target(KNN), verb="restore", reason="a student after all", by=BY,
                          now=LATER)  # fmt: skip
    assert done.summary == f"Teacher-knn restored by {BY}: a student after all"  # as take_off words any login
    assert board(db, comp)[:2] == [(1, KNN, 0.95, 5), (2, "alice", 0.9, 1)]
    with Store(db) as s:
        assert s.baselines(comp) == []
        assert [(a.action, a.target) for a in s.admin_log()] == [("baseline", KNN), ("restore", KNN)]
        # Replaying the trail: a baseline before the restore, ranked after it.
        assert [x.username for x in s.leaderboard_at(comp, NOW + timedelta(minutes=5))] == ["alice", "bob", "carol"]
        assert s.leaderboard_at(comp, LATER)[0].username == KNN
    # Without a baseline, leaderboard.csv keeps the same columns, the marker empty.
    assert list(csv_rows(db, store.LEADERBOARD_CSV)[0]) == list(store.LEADERBOARD_COLUMNS)
    assert {row["baseline"] for row in csv_rows(db, store.LEADERBOARD_CSV)} == {""}


def test_a_login_is_a_baseline_or_off_the_board_not_both(db: Path, comp: Competition) -> None:  # noqa: F811
    admin.baseline(comp, db, KNN, reason="reference", by=BY, now=NOW)
    with pytest.raises(UsageError, match="already a baseline"):
        admin.baseline(comp, db, KNN, reason="again", by=BY, now=NOW)
    with pytest.raises(UsageError, match=f"{KNN} is a baseline, which never ranks; `grader admin restore {KNN}`"):
        admin.take_off(comp, db, admin.parse_target(KNN), verb="disqualify", reason="x", by=BY, now=NOW)
    admin.take_off(comp, db, admin.parse_target("bob"), verb="disqualify", reason="copied", by=BY, now=NOW)
    with pytest.raises(UsageError, match="bob is disqualified \\(copied\\); restore them first"):
        admin.baseline(comp, db, "bob", reason="reference", by=BY, now=NOW)
    with pytest.raises(UsageError, match="carol is not removed, disqualified or a baseline"):
        admin.take_off(comp, db, admin.parse_target("carol"), verb="restore", reason="x", by=BY, now=NOW)
    with pytest.raises(UsageError, match="not a GitHub login"):
        admin.baseline(comp, db, "<script>", reason="x", by=BY, now=NOW)
    with pytest.raises(UsageError, match="give a reason"):
        admin.baseline(comp, db, "dave", reason=" \n", by=BY, now=NOW)
    with Store(db) as s:  # the refusals changed nothing
        assert [a.action for a in s.admin_log()] == ["baseline", "disqualify"]
        assert [b.username for b in s.baselines(comp)] == [KNN]


def test_quota_and_duplicates_apply_to_a_baseline(db: Path, comp: Competition) -> None:  # noqa: F811
    admin.baseline(comp, db, KNN, reason="reference", by=BY, now=NOW)
    with Store(db) as s:
        first = rec(s, result("k1", score=0.95, sha="a" * 64), comp, KNN, NOW)
        again = rec(s, result("k2", score=0.95, sha="a" * 64), comp, KNN, NOW + timedelta(minutes=1))
        assert (first.status, again.status) == ("completed", "rejected") and "already submitted" in str(again.reason)
        for i in range(4):
            rec(s, result(f"k{i + 3}", score=0.5, sha=f"{i}" * 64), comp, KNN, NOW + timedelta(minutes=2 + i))
        over = rec(s, result("k9", score=0.99, sha="f" * 64), comp, KNN, NOW + timedelta(minutes=9))
        assert over.status == "rejected" and over.reason is not None and over.reason.startswith("daily limit")
        # Its best stays 0.95 (the rejected 0.99 has no score), over its 5 accepted submissions.
        (shown,) = s.baselines(comp)
        assert shown.best is not None and (shown.best.best_score, shown.best.submission_count) == (0.95, 5)


def test_cli_marks_a_baseline_and_the_table_shows_it_unranked(
    tmp_path: Path,
    comp: Competition,  # noqa: F811
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "admin", "baseline", "@" + KNN, "--reason", "k-NN, k=5", "--by", BY)
    assert code == 0, err
    assert out == f"{KNN} is a baseline (shown, never ranked), marked by {BY}: k-NN, k=5 (audit #1).\n"
    with Store(db) as s:
        rec(s, result("k1", score=0.85), comp, KNN, NOW + timedelta(minutes=4))
    code, out, err = cli(capsys, "leaderboard")
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("rank"))
    table = [line.split()[:3] for line in lines[header + 2 :] if line.strip()]
    assert table == [["1", "alice", "0.90000"], ["baseline", KNN, "0.85000"], ["2", "bob", "0.80000"],
                     ["3", "carol", "0.60000"]]  # fmt: skip
    code, out, _ = cli(capsys, "admin", "log")
    assert code == 0 and f"baseline  {KNN}" in out


def test_migration_4_keeps_the_trail_of_a_version_3_database(tmp_path: Path, comp: Competition) -> None:  # noqa: F811
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for number, step in store.MIGRATIONS[:3]:
        if callable(step):
            step(conn)
        else:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO admin_actions VALUES (1, 't', 'teacher', 'rescore', 'competition', 'scorer x', 'why')")
    conn.commit()
    conn.close()
    with Store(path) as s:
        assert [(a.id, a.action) for a in s.admin_log()] == [(1, "rescore")]
        s.mark_baseline(KNN, reason="reference", by=BY, now=NOW, competition=comp)
        assert [a.action for a in s.admin_log()] == ["rescore", "baseline"]
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize("greater", [True, False])
def test_place_slots_baselines_below_equal_or_better_participants(greater: bool) -> None:
    def entry(name: str, score: float) -> Entry:
        return Entry(name, score, 1, "t", "t", 1)

    good, bad = (0.9, 0.5) if greater else (0.5, 0.9)
    standings = [Standing(1, entry("alice", good)), Standing(2, entry("bob", bad))]
    baselines = [entry("tie", good), entry("nan", float("nan")), entry("top", good * 2 if greater else 0)]
    rows = place_standings(standings, baselines, greater_is_better=greater)
    assert [(rank, e.username) for rank, e in rows] == [(None, "top"), (1, "alice"), (None, "tie"), (2, "bob")]
