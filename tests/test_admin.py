"""Admin actions: remove, disqualify, restore, reset, the audit trail, and their commits.

Real SQLite files, a real git repository with a bare remote, the real CLI entry point.
"""

from __future__ import annotations

import csv
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from test_store import NOW, competition, rec, result

from grader import admin, changes, rules, store
from grader.cli import main
from grader.config import Competition
from grader.errors import StoreError, UsageError
from grader.store import Store

BY = "teacher"
# The moment the in-process command judges its rules at (GRADER_NOW): inside the competition, after the
# fixtures' submissions, whatever day the suite runs on.
CLI_NOW = "2026-12-01T12:00:00Z"


def cli(capsys: pytest.CaptureFixture[str], *args: str, at: str = CLI_NOW) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as env, pytest.raises(SystemExit) as exit_:
        env.setenv("GRADER_NOW", at)
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    (tmp_path / "competition.yaml").write_text(_yaml())
    return competition(tmp_path)


def _yaml() -> str:
    from test_store import yaml_text

    return yaml_text()


@pytest.fixture
def db(tmp_path: Path, comp: Competition) -> Path:
    """alice 0.9 (#1) and 0.7 (#2), bob 0.8 (#3), carol 0.6 (#4)."""
    path = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(path) as s:
        rec(s, result("a1", score=0.9), comp, "alice", NOW)
        rec(s, result("a2", score=0.7), comp, "alice", NOW + timedelta(minutes=1))
        rec(s, result("b1", score=0.8), comp, "bob", NOW + timedelta(minutes=2))
        rec(s, result("c1", score=0.6), comp, "carol", NOW + timedelta(minutes=3))
        s.export_csv(comp)
    return path


def board(db: Path, comp: Competition) -> list[tuple[int, str, float, int]]:
    with Store(db) as s:
        return [(x.rank, x.username, x.best_score, x.best_submission_id) for x in s.leaderboard(comp)]


def csv_rows(db: Path, name: str) -> list[dict[str, str]]:
    with (db.parent / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


LATER = NOW + timedelta(hours=1)


def test_removing_a_submission_drops_it_from_the_ranking_and_records_who_when_why(db: Path, comp: Competition) -> None:
    done = admin.take_off(comp, db, admin.parse_target("#1"), verb="remove", reason="  submitted by\nmistake ",
                          by=BY, now=LATER)  # fmt: skip
    assert done.summary == "Submission #1 removed by teacher: submitted by mistake"
    assert board(db, comp) == [(1, "bob", 0.8, 3), (2, "alice", 0.7, 2), (3, "carol", 0.6, 4)]
    with Store(db) as s:
        (action,) = s.admin_log()
        row = s.submission(1)
    assert (action.actor, action.action, action.target_kind, action.target) == ("teacher", "remove", "submission", "1")
    assert action.reason == "submitted by mistake" and action.timestamp == rules.timestamp(LATER)
    assert row is not None and (row.removed, row.removed_reason) == ("removed", "submitted by mistake")
    # The CSV files were rewritten in full: the row already exported shows the removal.
    first = csv_rows(db, store.SUBMISSIONS_CSV)[0]
    assert (first["id"], first["removed"], first["removed_reason"]) == ("1", "removed", "submitted by mistake")
    assert [r["username"] for r in csv_rows(db, store.LEADERBOARD_CSV)] == ["bob", "alice", "carol"]

    admin.take_off(comp, db, admin.parse_target("1"), verb="restore", reason="it was fine", by=BY, now=LATER)
    assert board(db, comp)[0] == (1, "alice", 0.9, 1)
    assert csv_rows(db, store.SUBMISSIONS_CSV)[0]["removed"] == ""


def test_disqualifying_a_participant_covers_their_later_submissions_too(db: Path, comp: Competition) -> None:
    admin.take_off(comp, db, admin.parse_target("@alice"), verb="disqualify", reason="copied bob", by=BY, now=LATER)
    assert [name for _, name, _, _ in board(db, comp)] == ["bob", "carol"]
    with Store(db) as s:
        outcome = rec(s, result("a3", score=0.99), comp, "alice", LATER + timedelta(minutes=1))
        assert outcome.rank is None  # recorded, but not ranked
        assert s.participants() == {"alice": ("disqualified", "copied bob")}
        s.rebuild(comp)  # the repair agrees with the incremental update
    assert [name for _, name, _, _ in board(db, comp)] == ["bob", "carol"]

    admin.take_off(comp, db, admin.parse_target("alice"), verb="restore", reason="appeal upheld", by=BY, now=LATER)
    assert board(db, comp)[0] == (1, "alice", 0.99, 5)
    with Store(db) as s:
        assert [(a.action, a.target) for a in s.admin_log()] == [("disqualify", "alice"), ("restore", "alice")]


def test_bad_admin_input_is_refused_with_a_message_and_changes_nothing(db: Path, comp: Competition) -> None:
    before = db.read_bytes()
    cases = [
        (admin.parse_target("#99"), "remove", "x", BY, "there is no submission #99"),
        (admin.parse_target("zed"), "disqualify", "x", BY, "zed has no submissions"),
        (admin.parse_target("#1"), "restore", "x", BY, "not removed or disqualified"),
        (admin.parse_target("#1"), "remove", "   ", BY, "give a reason"),
        (admin.parse_target("#1"), "remove", "x" * 501, BY, "keep it under 500"),
        (admin.parse_target("#1"), "remove", "ok", "not a login!", "is not a GitHub login"),
    ]
    for target, verb, reason, by, message in cases:
        with pytest.raises(UsageError, match=message):
            admin.take_off(comp, db, target, verb=verb, reason=reason, by=by, now=LATER)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="is not a GitHub login"):
        admin.parse_target("-rf")
    assert db.read_bytes() == before

    admin.take_off(comp, db, admin.parse_target("#3"), verb="disqualify", reason="leak", by=BY, now=LATER)
    with pytest.raises(UsageError, match=r"already disqualified \(leak\); restore it first"):
        admin.take_off(comp, db, admin.parse_target("#3"), verb="remove", reason="again", by=BY, now=LATER)


def test_a_failing_action_rolls_back_its_audit_row(db: Path, comp: Competition) -> None:
    # The audit row is written before the change: a failure after it must take it back too.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER no_removal BEFORE UPDATE OF removed ON submissions BEGIN SELECT RAISE(ABORT, 'x'); END"
        )
    with pytest.raises(StoreError), Store(db) as s:
        s.remove_submission(1, kind="removed", reason="r", by=BY, now=LATER, competition=comp)
    with Store(db) as s:
        assert s.admin_log() == []


def test_reset_archives_the_board_and_starts_afresh(db: Path, comp: Competition) -> None:
    before = board(db, comp)
    done = admin.reset(comp, db, reason="the data had a leak", by=BY, now=LATER)
    assert done.summary == "Reset the leaderboard (archive #1: 3 participants) by teacher."
    assert board(db, comp) == []
    with Store(db) as s:
        archived = s.archive(done.action.id)
        assert [(r[1], r[2], r[3], r[4]) for r in archived] == before
        assert all(row.reset_id == done.action.id for row in s.all_submissions())
        # Afterwards the same notebook may be submitted again, and ranks alone.
        again = rec(s, result("a1-again", score=0.5, sha=s.submission(1).notebook_sha256), comp, "alice",  # type: ignore[union-attr]
                    LATER + timedelta(minutes=1))  # fmt: skip
        assert (again.status, again.rank) == ("completed", 1)
        # ...but the reset submissions still used the day's quota.
        assert again.remaining_today == 5 - 3
    assert [r["username"] for r in csv_rows(db, store.LEADERBOARD_CSV)] == []  # exported before the new record


def test_commit_message_is_one_clipped_line() -> None:
    assert changes.commit_message("disqualify", "alice", "copied\nbob's =notebook") == (
        "admin: disqualify alice — copied bob's =notebook"
    )
    long = changes.commit_message("remove", "submission #12", "y" * 300)
    assert len(long) == 100 and long.endswith("…") and "\n" not in long


def test_hostile_reason_is_defused_in_the_csv(db: Path, comp: Competition) -> None:
    admin.take_off(comp, db, admin.parse_target("#4"), verb="remove", reason='=HYPERLINK("http://x","y")', by=BY,
                   now=LATER)  # fmt: skip
    row = next(r for r in csv_rows(db, store.SUBMISSIONS_CSV) if r["id"] == "4")
    assert row["removed_reason"] == '\'=HYPERLINK("http://x","y")'


def test_cli_admin_actions_commit_and_push_with_a_trail(
    tmp_path: Path, comp: Competition, db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clone of a bare remote, as in the admin workflow.
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "competition.yaml", "leaderboard")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed")
    bare = tmp_path.parent / f"{tmp_path.name}-remote.git"
    git(tmp_path.parent, "clone", "-q", "--bare", str(tmp_path), str(bare))
    git(tmp_path, "remote", "add", "origin", str(bare))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)

    code, out, err = cli(capsys, "admin", "disqualify", "bob", "--reason", "shared code", "--by", "teacher", "--push")
    assert code == 0, err
    assert out.startswith("Bob disqualified by teacher: shared code (audit #1). Pushed ")
    assert git(bare, "log", "-1", "--format=%s", "main") == "admin: disqualify bob — shared code\n"
    shown = git(bare, "show", "main:leaderboard/leaderboard.csv")
    assert "bob" not in shown and "alice" in shown

    code, out, err = cli(capsys, "admin", "remove", "#99", "--reason", "x", "--by", "teacher")
    assert (code, out) == (
        2,
        "",
    ) and err == "error: there is no submission #99; `grader history LOGIN` lists the ids.\n"
    code, _, err = cli(capsys, "admin", "remove", "#1", "--by", "teacher")
    assert code == 2 and "Missing option '--reason'" in err

    code, out, _ = cli(capsys, "admin", "log")
    assert code == 0 and "disqualify  bob" in out and "shared code" in out
