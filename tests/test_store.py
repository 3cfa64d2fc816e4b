from __future__ import annotations

import csv
import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from grader import config, store
from grader.config import Competition
from grader.errors import StoreError, UsageError
from grader.result import Result, RunError
from grader.store import Store, schema

PARIS = ZoneInfo("Europe/Paris")
REPO = Path(__file__).resolve().parents[1]

YAML = """\
title: Test competition
start: 2026-11-01T00:00:00
end: 2027-03-01T00:00:00
timezone: {timezone}
submission:
  directory: submissions
  predictions: predictions.csv
  id_column: id
  prediction_column: label
  prediction_type: integer
data:
  directory: data
  test: data/test.csv
truth:
  path: truth.csv
  split_column: split
metric:
  name: accuracy_score
  greater_is_better: {greater}
limits:
  cell_timeout: 60s
  run_timeout: 3m
  memory: 2 GiB
quota:
  per_day: {per_day}
  count_failed: {count_failed}
ranking:
  ties: {ties}
"""


def yaml_text(per_day: int = 5, count_failed: bool = False, ties: str = "earliest", greater: bool = True,
              timezone: str = "Europe/Paris") -> str:  # fmt: skip
    return YAML.format(per_day=per_day, count_failed=str(count_failed).lower(), ties=ties,
                       greater=str(greater).lower(), timezone=timezone)  # fmt: skip


def competition(tmp_path: Path, **options: object) -> Competition:
    return config.parse(yaml_text(**options), root=tmp_path)  # type: ignore[arg-type]


def result(run_id: str, status: str = "completed", score: float | None = 0.5, *, sha: str | None = None,
           private: float | None = 0.25, error: RunError | None = None) -> Result:  # fmt: skip
    if error is None and status not in ("completed",):
        error = RunError("RuntimeError", "boom", 2)
    return Result(
        status=status,  # type: ignore[arg-type]
        run_id=run_id,
        notebook="solution.ipynb",
        notebook_sha256=sha or hashlib.sha256(run_id.encode()).hexdigest(),
        started_at="2026-11-05T12:00:00Z",
        runtime_seconds=12.5,
        error=error,
        public_score=score if status == "completed" else None,
        private_score=private if status == "completed" else None,
        grader_version="0.1.0",
    )


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


NOW = paris(2026, 11, 5, 12, 0)


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return competition(tmp_path)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "leaderboard" / "leaderboard.db"


def rec(s: Store, r: Result, comp: Competition, user: str = "alice", now: datetime = NOW) -> store.Recorded:
    return s.record(r, user=user, competition=comp, now=now, notebook_path=f"submissions/{user}/solution.ipynb",
                    pr_number=7, head_sha="abc123")  # fmt: skip


def count(db: Path, table: str = "submissions") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# -- schema and migrations --------------------------------------------------------------


def test_new_database_is_migrated_and_single_file(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("r1"), comp)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"submissions", "leaderboard"} <= tables
    conn.close()
    assert sorted(p.name for p in db.parent.iterdir()) == ["leaderboard.db"]
    with Store(db) as s:  # reopening an up-to-date database changes nothing
        assert len(s.history("alice")) == 1


def test_database_from_a_newer_grader_is_refused(db: Path) -> None:
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    known = store.SCHEMA_VERSION
    with pytest.raises(StoreError, match=rf"newer grader \(schema version 99; this grader knows up to {known}\)"):
        Store(db)


def test_later_migrations_apply_in_order_and_roll_back_on_failure(
    db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(db) as s:
        rec(s, result("r1"), comp)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE submissions ADD COLUMN note TEXT")
        conn.execute("THIS IS NOT SQL")

    current = store.SCHEMA_VERSION
    migrations = list(store.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", [*migrations, (current + 1, broken)])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    with pytest.raises(StoreError):
        Store(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == current
        assert "note" not in [row[1] for row in conn.execute("PRAGMA table_info(submissions)")]

    monkeypatch.setattr(schema, "MIGRATIONS", [*migrations, (current + 1, ["ALTER TABLE submissions ADD note TEXT"])])
    with Store(db) as s:
        assert [row.run_id for row in s.history("alice")] == ["r1"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == current + 1


def test_memory_database_and_open_connection(tmp_path: Path, comp: Competition) -> None:
    with Store(":memory:") as s:
        assert rec(s, result("r1"), comp).rank == 1
        with pytest.raises(UsageError, match="in memory"):
            s.export_csv(comp)
        s.export_csv(comp, directory=tmp_path)
    assert (tmp_path / "leaderboard.csv").is_file()

    conn = sqlite3.connect(tmp_path / "other.db")
    with Store(conn) as s:
        rec(s, result("r1"), comp)
        s.export_csv(comp)
    assert conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 1  # still open: not ours to close
    conn.close()
    assert (tmp_path / "submissions.csv").is_file()


# -- record: idempotence and outcome ----------------------------------------------------


def test_recording_the_same_run_twice_changes_nothing(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        first = rec(s, result("run-1", score=0.8), comp)
        s.export_csv(comp)
        csvs = [(db.parent / name).read_bytes() for name in (store.LEADERBOARD_CSV, store.SUBMISSIONS_CSV)]
        again = rec(s, result("run-1", score=0.8), comp, now=NOW + timedelta(minutes=5))
        s.export_csv(comp)
        assert [(db.parent / name).read_bytes() for name in (store.LEADERBOARD_CSV, store.SUBMISSIONS_CSV)] == csvs
    assert count(db) == 1
    assert first.already_recorded is False and again.already_recorded is True
    assert (again.submission_id, again.status, again.rank, again.previous_rank, again.best_score) == (
        first.submission_id, "completed", 1, 1, 0.8,
    )  # fmt: skip
    assert again.remaining_today == first.remaining_today == 4


def test_a_run_recorded_for_someone_else_is_refused(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("run-1"), comp, user="alice")
        with pytest.raises(StoreError, match="already recorded as submission #1 by alice, not bob"):
            rec(s, result("run-1"), comp, user="bob")
    assert count(db) == 1


def test_outcome_fields(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        ok = rec(s, result("r1", score=0.75), comp)
        failed = rec(s, result("r2", status="failed"), comp)
        row = s.submission(failed.submission_id)
        assert s.submission(999) is None
    assert (ok.status, ok.reason, ok.rank, ok.previous_rank, ok.best_score) == ("completed", None, 1, None, 0.75)
    assert ok.quota_resets_at == paris(2026, 11, 6, 0, 0)
    assert ok.quota_resets_at.utcoffset() == timedelta(hours=1)
    assert (failed.status, failed.reason, failed.rank, failed.remaining_today) == ("failed", "boom", 1, 4)
    assert row is not None
    assert (row.username, row.status, row.error_type, row.error_cell, row.pr_number, row.head_sha) == (
        "alice", "failed", "RuntimeError", 2, 7, "abc123",
    )  # fmt: skip
    assert row.timestamp == "2026-11-05T11:00:00.000000Z"
    assert not hasattr(row, "private_score")


def test_naive_clock_is_refused(db: Path, comp: Competition) -> None:
    with Store(db) as s, pytest.raises(ValueError, match="time zone"):
        rec(s, result("r1"), comp, now=datetime(2026, 11, 5, 12))
    assert count(db) == 0


@pytest.mark.parametrize("login", ["", "-alice", "alice-", "al--ice", "a" * 40, "al ice", "alicé", "a_b", "../x"])
def test_malformed_login_is_refused_and_nothing_written(db: Path, comp: Competition, login: str) -> None:
    with Store(db) as s:
        with pytest.raises(UsageError, match="not a GitHub login"):
            rec(s, result("r1"), comp, user=login)
        with pytest.raises(UsageError):
            s.precheck(user=login, notebook_sha256="x", competition=comp, now=NOW)
    assert count(db) == 0 and count(db, "leaderboard") == 0


@pytest.mark.parametrize("login", ["a", "a-b", "A1-b2-C3", "x" * 39])
def test_wellformed_logins_are_accepted(db: Path, comp: Competition, login: str) -> None:
    with Store(db) as s:
        assert rec(s, result("r1"), comp, user=login).status == "completed"


def test_a_failing_record_writes_nothing_and_leaves_the_store_usable(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("r1", score=0.5), comp)
        with pytest.raises(StoreError, match="Nothing was changed"):
            s.record(result("r2", score=0.9), user="alice", competition=comp, now=NOW,
                     notebook_path=None)  # type: ignore[arg-type]  # fmt: skip
        assert [row.run_id for row in s.history("alice")] == ["r1"]
        assert s.leaderboard(comp)[0].best_score == 0.5
        assert rec(s, result("r3", score=0.6), comp).best_score == 0.6


# -- rules -----------------------------------------------------------------------------


def test_before_the_start_and_after_the_end_are_rejected(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        early = rec(s, result("r1"), comp, now=paris(2026, 10, 31, 23, 59))
        opening = rec(s, result("r2"), comp, now=paris(2026, 11, 1, 0, 0))
        closing = rec(s, result("r3"), comp, now=paris(2027, 2, 28, 23, 59))
        late = rec(s, result("r4"), comp, now=paris(2027, 3, 1, 0, 0))
        assert s.precheck(user="bob", notebook_sha256="x", competition=comp, now=paris(2027, 3, 2, 9, 0)) == late.reason
        rows = {row.run_id: row for row in s.history("alice")}
        board = s.leaderboard(comp)
    assert early.status == "rejected"
    assert early.reason is not None and early.reason.startswith(
        "the competition opens on 2026-11-01 00:00 Europe/Paris"
    )
    assert (opening.status, closing.status) == ("completed", "completed")
    assert late.status == "rejected"
    assert late.reason is not None and late.reason.startswith("the competition closed on 2027-03-01 00:00 Europe/Paris")
    assert rows["r1"].score is None and rows["r4"].score is None  # a rejected run shows no score
    assert rows["r1"].error_type == "deadline"
    assert board[0].entry.submission_count == 2


def test_daily_quota_counts_days_in_the_competition_time_zone(tmp_path: Path, db: Path) -> None:
    comp = competition(tmp_path, per_day=2)
    with Store(db) as s:
        # 22:00 and 23:30 in Paris are 21:00 and 22:30 UTC on 10 November.
        assert rec(s, result("r1"), comp, now=paris(2026, 11, 10, 22, 0)).remaining_today == 1
        assert rec(s, result("r2"), comp, now=paris(2026, 11, 10, 23, 30)).remaining_today == 0
        assert s.precheck(user="alice", notebook_sha256="new", competition=comp, now=paris(2026, 11, 10, 23, 45))
        third = rec(s, result("r3"), comp, now=paris(2026, 11, 10, 23, 45))
        # 00:30 in Paris is still 10 November in UTC (23:30), but a new day for the quota.
        after = rec(s, result("r4"), comp, now=paris(2026, 11, 11, 0, 30))
    assert third.status == "rejected"
    assert third.reason == (
        "daily limit reached: 2 submissions per day, and you have used 2 today (days run from midnight to "
        "midnight, Europe/Paris time). Runs that fail do not count. "
        "Your quota resets at 2026-11-11 00:00 Europe/Paris (in 15 min)."
    )
    assert (third.remaining_today, third.quota_resets_at) == (0, paris(2026, 11, 11, 0, 0))
    assert after.status == "completed"
    assert (after.remaining_today, after.quota_resets_at) == (1, paris(2026, 11, 12, 0, 0))


def test_quota_in_utc_is_a_different_day(tmp_path: Path, db: Path) -> None:
    comp = competition(tmp_path, per_day=1, timezone="UTC")
    with Store(db) as s:
        assert rec(s, result("r1"), comp, now=paris(2026, 11, 10, 23, 30)).status == "completed"
        late = rec(s, result("r2"), comp, now=paris(2026, 11, 11, 0, 30))  # 23:30 UTC: same UTC day
    assert late.status == "rejected"
    assert late.reason is not None and "UTC time" in late.reason and "2026-11-11 00:00 UTC (in 30 min)" in late.reason


def test_failed_runs_do_not_use_quota_by_default(tmp_path: Path, db: Path) -> None:
    comp = competition(tmp_path, per_day=1)
    with Store(db) as s:
        assert rec(s, result("f1", status="failed"), comp).status == "failed"
        assert rec(s, result("f2", status="timeout"), comp).remaining_today == 1
        assert rec(s, result("c1"), comp).status == "completed"
        assert rec(s, result("f3", status="invalid"), comp).status == "invalid"  # over quota, but free
        assert rec(s, result("c2"), comp).status == "rejected"


def test_failed_runs_use_quota_when_count_failed(tmp_path: Path, db: Path) -> None:
    comp = competition(tmp_path, per_day=2, count_failed=True)
    with Store(db) as s:
        assert rec(s, result("f1", status="failed"), comp).remaining_today == 1
        assert rec(s, result("c1"), comp).remaining_today == 0
        over = rec(s, result("f2", status="timeout"), comp)
        assert (over.status, over.remaining_today) == ("rejected", 0)
        assert over.reason is not None and "Runs that fail" not in over.reason
        assert rec(s, result("c2"), comp).status == "rejected"


def test_rejected_submissions_use_no_quota_and_do_not_count(tmp_path: Path, db: Path) -> None:
    comp = competition(tmp_path, per_day=2)
    with Store(db) as s:
        rec(s, result("r1", sha="same"), comp)
        assert rec(s, result("r2", sha="same"), comp).status == "rejected"
        assert rec(s, result("r3", sha="same"), comp).status == "rejected"
        last = rec(s, result("r4", sha="other"), comp)
        board = s.leaderboard(comp)
    assert (last.status, last.remaining_today) == ("completed", 0)
    assert board[0].entry.submission_count == 2


def test_duplicate_notebook_after_a_completed_run_is_rejected(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        first = rec(s, result("r1", sha="aaa"), comp, now=paris(2026, 11, 3, 14, 5))
        dup = rec(s, result("r2", sha="aaa"), comp)
        other_user = rec(s, result("r3", sha="aaa"), comp, user="bob")
        failed = rec(s, result("r4", status="failed", sha="bbb"), comp)
        retry = rec(s, result("r5", sha="bbb"), comp)
        check = s.precheck(user="alice", notebook_sha256="bbb", competition=comp, now=NOW)
    assert dup.status == "rejected"
    assert dup.reason == (
        f"the same notebook was already submitted as #{first.submission_id} on 2026-11-03 14:05 Europe/Paris; "
        "change it before submitting again."
    )
    assert other_user.status == "completed"
    assert failed.status == "failed" and retry.status == "completed"
    assert check is not None and f"#{retry.submission_id}" in check
    assert dup.best_score == 0.5 and dup.rank == dup.previous_rank == 1


def test_precheck_says_none_when_all_is_well(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        assert s.precheck(user="alice", notebook_sha256="x", competition=comp, now=NOW) is None
    assert count(db) == 0


# -- leaderboard -------------------------------------------------------------------------


def test_best_and_rank_are_updated_incrementally(db: Path, comp: Competition) -> None:
    times = iter(NOW + timedelta(minutes=i) for i in range(100))
    with Store(db) as s:

        def go(run: str, user: str, score: float | None, status: str = "completed") -> store.Recorded:
            return rec(s, result(run, status=status, score=score), comp, user=user, now=next(times))

        assert (go("a1", "alice", 0.7).rank, go("b1", "bob", 0.8).rank, go("c1", "carol", 0.9).rank) == (1, 1, 1)
        moved = go("a2", "alice", 0.95)
        assert (moved.previous_rank, moved.rank, moved.best_score) == (3, 1, 0.95)
        worse = go("a3", "alice", 0.1)
        assert (worse.previous_rank, worse.rank, worse.best_score) == (1, 1, 0.95)
        equal = go("b2", "bob", 0.95)  # same score later: alice got there first
        assert (equal.previous_rank, equal.rank) == (3, 2)
        failed = go("d1", "dave", None, status="failed")
        assert (failed.rank, failed.best_score) == (None, None)
        joined = go("d2", "dave", 0.0000001)
        assert (joined.previous_rank, joined.rank) == (None, 4)

        board = s.leaderboard(comp)
        assert [(x.rank, x.username, x.best_score, x.entry.submission_count) for x in board] == [
            (1, "alice", 0.95, 3), (2, "bob", 0.95, 2), (3, "carol", 0.9, 1), (4, "dave", 0.0000001, 2),
        ]  # fmt: skip
        alice = board[0].entry
        assert alice.best_submission_id == moved.submission_id
        assert alice.last_submission_at == timestamp_of(s, worse.submission_id)
        s.rebuild(comp)
        assert s.leaderboard(comp) == board


def timestamp_of(s: Store, submission_id: int) -> str:
    row = s.submission(submission_id)
    assert row is not None
    return row.timestamp


@pytest.mark.parametrize("ties", ["earliest", "shared"])
@pytest.mark.parametrize("greater", [True, False])
def test_incremental_ranks_agree_with_a_full_ranking(tmp_path: Path, db: Path, ties: str, greater: bool) -> None:
    comp = competition(tmp_path, per_day=1000, ties=ties, greater=greater)
    rng = random.Random(f"{ties}{greater}")
    users = [f"user{i}" for i in range(12)]
    with Store(db) as s:
        for i in range(150):
            user = rng.choice(users)
            status = rng.choice(["completed"] * 4 + ["failed"])
            score = rng.choice([0.25, 0.5, 0.75, 0.75000000001, 1.0, float("inf"), float("nan")])
            # out-of-order clocks too, and equal ones: the best must not depend on the order of recording
            now = NOW + timedelta(seconds=rng.randint(0, 100))
            got = rec(s, result(f"r{i}", status=status, score=score), comp, user=user, now=now)
            board = {x.username: x for x in s.leaderboard(comp)}
            assert got.rank == (board[user].rank if user in board else None)
        incremental = s.leaderboard(comp)
        s.rebuild(comp)
        assert s.leaderboard(comp) == incremental
        ranks = [x.rank for x in incremental]
        assert ranks == sorted(ranks)
        if ties == "earliest":
            assert ranks == list(range(1, len(ranks) + 1))
        # leaderboard.csv is ordered by SQLite, without ranking.rank: the same board
        s.export_csv(comp)
        exported = list(csv.DictReader((db.parent / store.LEADERBOARD_CSV).open(encoding="utf-8")))
        assert [(int(r["rank"]), r["username"], float(r["best_score"]), int(r["submission_count"]))
                for r in exported] == [
            (x.rank, x.username, x.best_score, x.submission_count) for x in incremental
        ]  # fmt: skip


def test_completed_run_without_a_score_does_not_rank(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        out = rec(s, result("r1", score=float("nan")), comp)
        assert (out.status, out.rank) == ("completed", None)
        assert s.leaderboard(comp) == []
        assert rec(s, result("r2", score=0.3), comp).rank == 1
        assert s.leaderboard(comp)[0].entry.submission_count == 2


# -- CSV export --------------------------------------------------------------------------


def fill(s: Store, comp: Competition) -> None:
    nasty = RunError("=cmd|' /C calc'!A0", "-2+3 is wrong\nsee @here,\r\n\ttabbed", 4)
    rec(s, result("r1", score=0.9000000001, private=0.123456789), comp, user="alice")
    rec(s, result("r2", score=-0.25, private=0.987654321), comp, user="bob", now=NOW + timedelta(minutes=1))
    rec(s, result("r3", status="failed", error=nasty), comp, user="bob", now=NOW + timedelta(minutes=2))
    later = NOW + timedelta(minutes=3)
    path = '+=HYPERLINK("http://evil")'
    s.record(
        result("r4", score=0.5, private=0.314159265), user="carol", competition=comp, now=later, notebook_path=path
    )
    rec(s, result("r5"), comp, user="dave", now=paris(2027, 4, 1, 0, 0))


def test_csv_export_is_deterministic_escaped_and_secret(tmp_path: Path, comp: Competition) -> None:
    dbs = [tmp_path / "one" / "leaderboard.db", tmp_path / "two" / "leaderboard.db"]
    for path in dbs:
        with Store(path) as s:
            fill(s, comp)
            s.export_csv(comp)
            s.export_csv(comp)
    board, subs = ((dbs[0].parent / name).read_bytes() for name in (store.LEADERBOARD_CSV, store.SUBMISSIONS_CSV))
    for name in (store.LEADERBOARD_CSV, store.SUBMISSIONS_CSV):
        assert (dbs[0].parent / name).read_bytes() == (dbs[1].parent / name).read_bytes()
    assert sorted(p.name for p in dbs[0].parent.iterdir()) == ["leaderboard.csv", "leaderboard.db", "submissions.csv"]

    assert board.decode() == (
        "rank,username,best_score,best_submission_id,submission_count,last_updated,baseline\n"
        "1,alice,0.9000000001,1,1,2026-11-05T11:00:00.000000Z,\n"
        "2,carol,0.5,4,1,2026-11-05T11:03:00.000000Z,\n"
        "3,bob,-0.25,2,2,2026-11-05T11:02:00.000000Z,\n"
    )
    lines = subs.decode().split("\n")
    assert lines[0] == ",".join(store.SUBMISSION_COLUMNS)
    assert lines[1] == (
        "1,2026-11-05T11:00:00.000000Z,alice,submissions/alice/solution.ipynb,"
        f"{hashlib.sha256(b'r1').hexdigest()},completed,0.9000000001,,,,12.5,7,abc123,0.1.0,,,,alice"
    )
    assert lines[2].startswith("2,2026-11-05T11:01:00.000000Z,bob,") and ",-0.25," in lines[2]  # numbers stay numbers
    assert ",failed,,'=cmd|' /C calc'!A0,\"'-2+3 is wrong\nsee @here,\n\ttabbed\",4,12.5," in subs.decode()
    assert ',"\'+=HYPERLINK(""http://evil"")",' in subs.decode()
    assert "rejected,,deadline,the competition closed on 2027-03-01 00:00 Europe/Paris" in subs.decode()
    assert subs.endswith(b"\n") and b"\r" not in board + subs
    for secret in (b"0.123456789", b"0.987654321", b"0.314159265"):
        assert secret not in board + subs


def test_record_and_export(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        s.record_and_export(result("r1", score=0.5), user="alice", competition=comp, now=NOW, notebook_path="n.ipynb")
    assert "alice,0.5" in (db.parent / store.LEADERBOARD_CSV).read_text()


# -- failures become StoreError ----------------------------------------------------------


def test_corrupt_database_file(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a sqlite database, just some text\n" * 200)
    with pytest.raises(StoreError, match=r"not a readable SQLite database .*restore it from git"):
        Store(db)


def test_locked_database_times_out_with_a_message(db: Path, comp: Competition) -> None:
    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store(db, timeout=0.2) as s, pytest.raises(StoreError, match=r"stayed locked .* Nothing was changed"):
            rec(s, result("r1"), comp)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert count(db) == 0


READONLY_SCRIPT = """
import sys, datetime as dt
from grader import config
from grader.errors import StoreError
from grader.result import Result
from grader.store import Store
db, cfg = sys.argv[1:]
comp = config.load(cfg)
r = Result(status="completed", run_id="r2", notebook="n", notebook_sha256="x", started_at="", runtime_seconds=1.0,
           public_score=0.5)
try:
    with Store(db) as s:
        assert len(s.leaderboard(comp)) == 1  # reading still works
        s.record(r, user="bob", competition=comp, now=dt.datetime(2026, 11, 5, 12, tzinfo=dt.UTC), notebook_path="n")
except StoreError as ex:
    print(ex)
    sys.exit(3)
"""


def test_read_only_folder(tmp_path: Path, db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("r1"), comp)
    cfg = tmp_path / "competition.yaml"
    cfg.write_text(yaml_text())
    if os.geteuid() != 0:
        db.parent.chmod(0o555)
        try:
            proc = subprocess.run([sys.executable, "-c", READONLY_SCRIPT, db, cfg], capture_output=True, text=True)
        finally:
            db.parent.chmod(0o755)
    else:  # root ignores permissions: make the folder a read-only mount in a private namespace
        assert shutil.which("unshare"), "running as root, this test needs unshare (util-linux) for a read-only mount"
        mount = f"mount --bind {db.parent} {db.parent} && mount -o remount,bind,ro {db.parent}"
        shell = f'{mount} && exec "$0" -c "$1" "$2" "$3"'
        proc = subprocess.run(["unshare", "-m", "sh", "-c", shell, sys.executable, READONLY_SCRIPT, db, cfg],
                              capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "read-only" in proc.stdout and "Nothing was changed" in proc.stdout
    assert count(db) == 1


def test_cannot_create_the_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create the folder"):
        Store(tmp_path / "file" / "leaderboard.db")


# -- concurrency -------------------------------------------------------------------------

WORKER = """
import sys, time, datetime as dt
from pathlib import Path
from grader import config
from grader.result import Result
from grader.store import Store
db, cfg, go, i = sys.argv[1:]
comp = config.load(cfg)
while not Path(go).exists():
    time.sleep(0.002)
r = Result(status="completed", run_id=f"run-{i}", notebook="n.ipynb", notebook_sha256=f"sha-{i}", started_at="",
           runtime_seconds=1.0, public_score=int(i) / 100)
with Store(db) as s:
    out = s.record(r, user=f"user{i}", competition=comp, now=dt.datetime(2026, 11, 5, 12, tzinfo=dt.UTC),
                   notebook_path="n.ipynb")
print(out.status)
"""


def test_twenty_processes_record_into_one_new_file(tmp_path: Path, db: Path) -> None:
    cfg = tmp_path / "competition.yaml"
    cfg.write_text(yaml_text())
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db, cfg, go, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for i in range(20)
    ]
    go.touch()  # all start at once, on a database none of them has created yet
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert [out.strip() for out, _ in outputs] == ["completed"] * 20
    assert count(db) == 20 and count(db, "leaderboard") == 20
    assert sorted(p.name for p in db.parent.iterdir()) == ["leaderboard.db"]
    with Store(db) as s:
        board = s.leaderboard(config.load(cfg))
    assert [x.username for x in board][:3] == ["user19", "user18", "user17"]


def test_fifty_threads_record_concurrently(db: Path, comp: Competition) -> None:
    Store(db).close()
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def work(i: int) -> None:
        try:
            with Store(db) as s:
                barrier.wait()
                rec(s, result(f"r{i}", score=i / 50), comp, user=f"user{i % 10}", now=NOW + timedelta(seconds=i))
        except BaseException as ex:
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count(db) == 50
    with Store(db) as s:
        board = s.leaderboard(comp)
        assert [x.entry.submission_count for x in board] == [5] * 10
        assert board[0].username == "user9" and board[0].best_score == 49 / 50


def test_migrations_6_to_8_leave_no_index_by_participant_and_the_rules_hold(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("r1", sha="a" * 64), comp)
        rec(s, result("r0", sha="b" * 64), comp, user="bob")
    first = store.MIGRATIONS[0][1]
    assert not callable(first)
    old = [sql for sql in first if "INDEX submissions_user" in sql]
    assert len(old) == 2  # (username, timestamp) and (username, notebook_sha256) of completed runs
    conn = sqlite3.connect(db)  # the database as version 5 left it
    conn.execute("DROP TABLE chains")
    conn.execute("ALTER TABLE submissions DROP COLUMN previous_id")
    for column in ("secondary", "secondary_private", "secondary_sealed"):  # added by migration 9
        conn.execute(f"ALTER TABLE submissions DROP COLUMN {column}")
    for sql in old:
        conn.execute(sql)
    conn.execute("CREATE INDEX leaderboard_order ON leaderboard (best_score, best_timestamp, username)")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()

    def indexes() -> set[str]:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'submissions'")
            return {name for (name,) in rows}

    assert indexes() == {"sqlite_autoindex_submissions_1", "submissions_private_plain", *(s.split()[2] for s in old)}
    with Store(db) as s:
        assert "the same notebook was already submitted" in str(rec(s, result("r2", sha="a" * 64), comp).reason)
        assert [rec(s, result(f"r{i}"), comp).status for i in range(3, 8)] == ["completed"] * 4 + ["rejected"]
        assert [r.error_type for r in s.history("alice")] == [None, "duplicate", None, None, None, None, "quota"]
    assert indexes() == {"sqlite_autoindex_submissions_1", "submissions_private_plain"}
    with Store(db) as s:  # each participant's submissions are found through the chains migration 8 made
        assert [r.run_id for r in s.history("bob")] == ["r0"]
        assert "already submitted as #2" in str(rec(s, result("r9", sha="b" * 64), comp, user="bob").reason)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'leaderboard_order'").fetchone() is None
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_rebuild_links_rows_written_directly_and_a_damaged_chain_ends(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        for i in range(3):
            rec(s, result(f"a{i}"), comp, now=NOW + timedelta(minutes=i))
    with sqlite3.connect(db) as conn:  # rows written around the grader (a bulk load), without their links
        conn.execute(
            "INSERT INTO submissions (run_id, username, timestamp, notebook_path, notebook_sha256, status, score)"
            " VALUES ('a3', 'alice', '2026-11-05T12:00:00.000000Z', 'nb.ipynb', ?, 'completed', 0.9)",
            ("c" * 64,),
        )
    conn.close()
    with Store(db) as s:
        assert [r.run_id for r in s.history("alice")] == ["a0", "a1", "a2"]  # not linked yet
        s.rebuild(comp)
        assert [r.run_id for r in s.history("alice")] == ["a0", "a1", "a2", "a3"]
        assert "already submitted as #4" in str(rec(s, result("a4", sha="c" * 64), comp).reason)
    with sqlite3.connect(db) as conn:  # a hand edit that would make the chain a loop
        conn.execute("UPDATE submissions SET previous_id = 5 WHERE id = 3")
    conn.close()
    with Store(db) as s:
        assert sorted(r.run_id for r in s.history("alice")) == ["a2", "a3", "a4"]  # it ends where ids stop going down
