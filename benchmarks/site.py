"""Benchmark `grader site build`: build time, site size and peak memory, small vs. large competition.

Run:  .venv/bin/python benchmarks/site.py                    (10 and 5,000 participants, and 5,000 revealed)
      .venv/bin/python benchmarks/site.py 500:10000 500:10000:revealed  (participants:submissions[:revealed])

Each size gets a scratch copy of the demo competition and a real leaderboard.db with the
store's schema, filled in one transaction (realistic mix: 80 % completed, 12 % failed with an
error message, 4 % timeout, 4 % rejected; scores improve over time; each submission has a pull
request and a GitHub Actions run, as on GitHub), then the real command runs in a child process
as the workflow runs it (GitHub's variables set, so every history links its pull requests and
runs), so its peak memory (ru_maxrss) is its own. ``revealed``: after ``Store.reveal``, with the
final board and its shake-up. Prints a Markdown table.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import config, demo  # noqa: E402
from grader.rules import timestamp  # noqa: E402
from grader.store import Store  # noqa: E402

DEFAULT_SIZES = [(10, 200, False), (5000, 100_000, False), (5000, 100_000, True)]
GITHUB = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example-course/digits"}
MESSAGE = (
    "cell 7 raised ValueError: Input X contains NaN. LogisticRegression does not accept missing values "
    "encoded as NaN natively; impute them first."
)


def make_db(
    competition: config.Competition, participants: int, submissions: int, seed: int = 1, *, revealed: bool = False
) -> Path:
    """A leaderboard with ``participants`` logins sharing ``submissions`` submissions (private scores
    revealed with ``revealed``)."""
    rng = random.Random(seed)
    db = competition.root / "leaderboard" / "leaderboard.db"
    with Store(db):
        pass  # creates the schema
    logins = [f"student-{i:05d}" for i in range(participants)]
    skill = {login: rng.uniform(0.55, 0.95) for login in logins}
    start = competition.start.astimezone(UTC) + timedelta(hours=1)
    span = (competition.end - competition.start).total_seconds() * 0.9
    rows = []
    for i in range(submissions):
        login = logins[i % participants] if i < participants else rng.choice(logins)
        when = start + timedelta(seconds=rng.uniform(0, span))
        roll = rng.random()
        status = "completed" if roll < 0.80 else "failed" if roll < 0.92 else "timeout" if roll < 0.96 else "rejected"
        progress = (when - start).total_seconds() / span
        score = min(0.999, skill[login] + 0.05 * progress + rng.gauss(0, 0.01)) if status == "completed" else None
        message = MESSAGE if status == "failed" else "the notebook ran longer than 3m" if status == "timeout" else None
        if status == "rejected":
            message = "daily limit reached: 5 submissions per day."
        sha = hashlib.sha256(f"{i}".encode()).hexdigest()
        private = None if score is None else score + rng.gauss(0, 0.01)
        rows.append(
            (f"github-{12_000_000_000 + i}-1", login, timestamp(when), f"submissions/{login}/model-{i}.ipynb", sha,
             status, score, private, "RuntimeError" if message else None, message,
             6 if status == "failed" else None, 42.0, 1000 + i, sha[:40], "0.1.0")
        )  # fmt: skip
    import sqlite3

    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            """INSERT INTO submissions (run_id, username, timestamp, notebook_path, notebook_sha256, status, score,
               private_score, error_type, error_message, error_cell, runtime_seconds, pr_number, head_sha,
               grader_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
    conn.close()
    with Store(db) as store:
        store.rebuild(competition)
        if revealed:
            store.reveal(by="benchmark", now=competition.end + timedelta(days=1), competition=competition)
    return db


def measure(participants: int, submissions: int, revealed: bool, work: Path) -> dict[str, Any]:
    folder = work / f"comp-{participants}-{submissions}{'-revealed' if revealed else ''}"
    competition = demo.scratch_copy(config.load(ROOT / "competition.yaml"), folder)
    make_db(competition, participants, submissions, revealed=revealed)
    out = folder / "site"
    now = (competition.end + timedelta(days=2) if revealed else competition.end - timedelta(days=1)).isoformat()
    command = [sys.executable, "-m", "grader", "site", "build", "--out", str(out), "--mkdocs",
               str(ROOT / "mkdocs.yml"), "--now", now]  # fmt: skip
    began = time.perf_counter()
    env = {**os.environ, **GITHUB}
    child = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    stderr = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"the build of {participants} participants failed: {stderr}")
    files = [p for p in out.rglob("*") if p.is_file()]
    histories = [p for p in files if p.parent.name == "participants"]
    return {
        "participants": participants,
        "submissions": submissions,
        "revealed": revealed,
        "histories_mb": sum(p.stat().st_size for p in histories) / 1e6,
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,  # the child's own: less moved by a busy machine than wall time
        "mb": sum(p.stat().st_size for p in files) / 1e6,
        "files": len(files),
        "peak_mb": usage.ru_maxrss / 1024,
    }


def main(argv: list[str]) -> None:
    sizes = [size(arg) for arg in argv] or DEFAULT_SIZES
    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        results = [measure(p, s, revealed, work) for p, s, revealed in sizes]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base, base_cpu = results[0]["seconds"], results[0]["cpu"]
    print(f"grader site build, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    heads = ("participants", "submissions", "build time", "vs. first", "CPU time", "vs. first", "site size",
             "histories", "files", "peak memory")  # fmt: skip
    print("| " + " | ".join(heads) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['participants']:,}{', revealed' if r['revealed'] else ''} | {r['submissions']:,} "
            f"| {r['seconds']:.1f} s | {r['seconds'] / base:.1f}× | {r['cpu']:.1f} s | {r['cpu'] / base_cpu:.1f}× "
            f"| {r['mb']:.1f} MB | {r['histories_mb']:.1f} MB "
            f"| {r['files']:,} | {r['peak_mb']:.0f} MB |"
        )


def size(arg: str) -> tuple[int, int, bool]:
    """'5000:100000' or '5000:100000:revealed'."""
    parts = arg.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "revealed"):
        raise SystemExit(f"{arg!r}: give PARTICIPANTS:SUBMISSIONS, or PARTICIPANTS:SUBMISSIONS:revealed")
    return int(parts[0]), int(parts[1]), len(parts) == 3


if __name__ == "__main__":
    main(sys.argv[1:])
