"""Faults in the recorder: killed at random points, fifty at once, a full disk.

Each recorder is a real process recording into a real SQLite file, as `grader record` does.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import conftest
import pytest

from grader import config
from grader.store import Store

ROOT = conftest.ROOT

# A recorder: waits for "go" on stdin (so a kill can land inside record/export, not during
# the imports), then records run RUN_ID for USER and exports the CSVs.
RECORDER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from grader import config
from grader.result import Result
from grader.store import Store

db, cfg, run_id, user, score = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
competition = config.load(cfg)
result = Result(status="completed", run_id=run_id, notebook="nb.ipynb", notebook_sha256=run_id * 2,
                started_at="2026-12-01T10:00:00Z", runtime_seconds=1.0, public_score=score, private_score=score)
print("ready", flush=True)
sys.stdin.readline()
with Store(db) as store:
    store.record_and_export(result, user=user, competition=competition,
                            now=datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc), notebook_path="submissions/nb.ipynb")
print("done", flush=True)
"""


@pytest.fixture
def comp(tmp_path: Path) -> Path:
    text = (ROOT / "competition.yaml").read_text(encoding="utf-8").replace("per_day: 5", "per_day: 1000")
    (tmp_path / "competition.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path / "competition.yaml"


def recorder(db: Path, cfg: Path, run_id: str, user: str, score: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(db), str(cfg), run_id, user, str(score)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def record_fully(db: Path, cfg: Path, run_id: str, user: str, score: float) -> float:
    """Record one run to the end; the seconds from "go" to "done"."""
    proc = recorder(db, cfg, run_id, user, score)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    started = time.perf_counter()
    out, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0 and "done" in out, err
    return time.perf_counter() - started


def user_of(run: str) -> str:
    return f"user{int(run[3:]) % 13}"


def assert_consistent(db: Path, cfg: Path, runs: list[str]) -> None:
    """Integrity, every run exactly once, and the CSVs exactly what a fresh export writes."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        recorded = [row[0] for row in conn.execute("SELECT run_id FROM submissions ORDER BY id")]
    assert sorted(recorded) == sorted(runs)
    fresh = db.parent / "fresh"
    fresh.mkdir(exist_ok=True)
    with Store(db) as store:
        store.export_csv(config.load(cfg), fresh, full=True)
    for name in ("leaderboard.csv", "submissions.csv"):
        assert (db.parent / name).read_bytes() == (fresh / name).read_bytes(), name


@pytest.mark.slow
def test_recorders_killed_at_random_points_lose_nothing_and_duplicate_nothing(tmp_path: Path, comp: Path) -> None:
    db = tmp_path / "leaderboard" / "leaderboard.db"
    rng = random.Random(20261128)
    # How long one record takes here, from "go" to "done": the kills are spread over it. The first
    # record also creates the database, and a busy moment can slow any one: the quickest of the next two.
    calibration = [f"calibration{i}" for i in range(3)]
    span = min([record_fully(db, comp, run, "calibrator", 0.1) for run in calibration][1:])
    runs = [f"run{i:03d}" for i in range(100)]
    killed = 0
    for batch in range(0, len(runs), 4):  # four at a time: the two cores stay busy
        procs = [recorder(db, comp, run, user_of(run), rng.random()) for run in runs[batch : batch + 4]]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        go = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for when, proc in sorted(((rng.uniform(0, span), proc) for proc in procs), key=lambda pair: pair[0]):
            time.sleep(max(0.0, go + when - time.perf_counter()))
            proc.kill()
        for proc in procs:
            out, _ = proc.communicate()
            killed += "done" not in out
    assert killed >= 25, killed  # a good share of the kills landed inside the record, not after it
    for run in runs:  # the retry: the workflow records the same run again
        record_fully(db, comp, run, user_of(run), 0.5)
    assert_consistent(db, comp, [*calibration, *runs])


@pytest.mark.slow
def test_fifty_recorders_at_once_record_exactly_fifty(tmp_path: Path, comp: Path) -> None:
    db = tmp_path / "leaderboard" / "leaderboard.db"
    runs = [f"run{i:02d}" for i in range(50)]
    procs = [recorder(db, comp, run, f"user{i}", i / 50) for i, run in enumerate(runs)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:  # all go at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "done" in out, err
    assert_consistent(db, comp, runs)
    rows = list(csv.DictReader(io.StringIO((db.parent / "leaderboard.csv").read_text(encoding="utf-8"))))
    assert [r["username"] for r in rows][:2] == ["user49", "user48"]  # best first


@pytest.mark.slow
def test_a_full_disk_is_a_clear_error_and_leaves_the_record_intact(tmp_path: Path, comp: Path) -> None:
    assert os.geteuid() == 0 or shutil.which("unshare"), "needs root or unshare to mount a small file system"
    folder = tmp_path / "leaderboard"
    folder.mkdir()
    db = folder / "leaderboard.db"
    record_fully(db, comp, "first", "alice", 0.5)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # A private mount namespace with a small tmpfs holding a copy of the leaderboard, filled
    # up to the last 24 KiB, then records whose messages soon need more than that.
    script = (
        'set -e; cp -a "$1"/. "$2"/; mount -t tmpfs -o size=2m tmpfs "$1"; cp -a "$2"/. "$1"/; '
        '(cat /dev/zero > "$1"/filler) 2>/dev/null || true; truncate -s -24K "$1"/filler; shift 2; exec "$@"'
    )
    big = """
import sys
from datetime import datetime, timezone
from grader import config
from grader.errors import StoreError
from grader.result import Result
from grader.store import Store
db, cfg = sys.argv[1], sys.argv[2]
result = Result(status="failed", run_id="second", notebook="nb.ipynb", notebook_sha256="ab" * 32,
                started_at="2026-12-01T10:00:00Z", runtime_seconds=1.0).failed("failed", "ValueError", "x" * 2000)
try:
    with Store(db) as store:
        for i in range(200):
            store.record_and_export(Result(**{**result.__dict__, "run_id": f"second{i}"}), user="bob",
                competition=config.load(cfg), now=datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc),
                notebook_path="submissions/bob/" + "n" * 200 + ".ipynb")
except StoreError as ex:
    print("StoreError:", ex)
import csv, sqlite3
from pathlib import Path
conn = sqlite3.connect(db)
print("integrity:", conn.execute("PRAGMA integrity_check").fetchone()[0])
ids = {str(row[0]) for row in conn.execute("SELECT id FROM submissions")}
text = (Path(db).parent / "submissions.csv").read_text()
rows = list(csv.DictReader(text.splitlines()))
print("csv whole:", text.endswith("\\n") and all(r["id"] in ids and r["grader_version"] for r in rows))
"""
    saved = tmp_path / "saved"
    saved.mkdir()
    proc = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            str(folder),
            str(saved),
            sys.executable,
            "-c",
            big,
            str(db),
            str(comp),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "StoreError: " in proc.stdout, proc.stdout
    assert "disk is full" in proc.stdout or "free space" in proc.stdout, proc.stdout
    assert "integrity: ok" in proc.stdout and "csv whole: True" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    # Outside the private mount nothing changed at all.
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
