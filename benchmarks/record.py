"""How recording scales: one record at 100, 10,000 and 100,000 submissions, and git growth.

    python benchmarks/record.py [--repeat N] [--commits N]

1. Growth: a leaderboard is filled with N submissions from up to 500 participants (bulk,
   then the leaderboard table rebuilt), then single records (record + CSV export, as
   `grader record` does) are timed.
2. Repository growth: N submissions are recorded one by one, each committed to a git
   repository as the score workflow does; after `git gc` the packed size is divided by N.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import config  # noqa: E402
from grader.result import Result  # noqa: E402
from grader.store import Store, timestamp  # noqa: E402

START = datetime(2026, 11, 2, tzinfo=UTC)
# A course: up to 500 participants. leaderboard.csv (one row per participant) is rewritten on
# every record, so its cost grows with participants; submissions.csv only gets appended to.
PARTICIPANTS = 500


def competition(folder: Path) -> config.Competition:
    text = (ROOT / "competition.yaml").read_text(encoding="utf-8").replace("per_day: 5", "per_day: 1000000")
    (folder / "competition.yaml").write_text(text, encoding="utf-8")
    return config.parse(text, root=folder)


def result(i: int, rng: random.Random) -> Result:
    failed = rng.random() < 0.2
    base = Result(
        status="completed",
        run_id=f"run-{i}",
        notebook="model.ipynb",
        notebook_sha256=f"{i:064x}",
        started_at="2026-12-01T10:00:00Z",
        runtime_seconds=round(rng.uniform(5, 120), 3),
        public_score=None if failed else rng.random(),
        private_score=None if failed else rng.random(),
    )
    return base.failed("failed", "ValueError", "cell 3 raised ValueError: bad input") if failed else base


def fill(store: Store, comp: config.Competition, n: int, participants: int, rng: random.Random) -> None:
    """N submissions in one go (as a long competition would leave them), leaderboard rebuilt."""
    rows = []
    for i in range(n):
        r = result(i, rng)
        when = timestamp(START + timedelta(seconds=i * 60))
        rows.append((r.run_id, f"user{rng.randrange(participants)}", when, "submissions/x/model.ipynb",
                     r.notebook_sha256, r.status, r.public_score, r.private_score, "0.1.0"))  # fmt: skip
    conn = store._conn  # bulk load: the benchmark measures what comes after
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO submissions (run_id, username, timestamp, notebook_path, notebook_sha256, status, score,"
        " private_score, grader_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    store.rebuild(comp)


def growth(repeat: int) -> list[tuple[int, float, float]]:
    rng = random.Random(1)
    out = []
    for n in (100, 10_000, 100_000):
        with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
            folder = Path(tmp)
            comp = competition(folder)
            db = folder / "leaderboard" / "leaderboard.db"
            with Store(db) as store:
                fill(store, comp, n, min(n // 2, PARTICIPANTS), rng)
                store.export_csv(comp, full=True)
                times = []
                for k in range(repeat):
                    r = result(n + k, rng)
                    now = START + timedelta(days=20, seconds=k)
                    start = time.perf_counter()
                    store.record_and_export(r, user=f"user{k}", competition=comp, now=now, notebook_path="nb.ipynb")
                    times.append(time.perf_counter() - start)
            out.append((n, statistics.median(times) * 1000, min(times) * 1000))
    return out


def repository(commits: int) -> tuple[int, int]:
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        folder = Path(tmp)
        comp = competition(folder)
        git = ["git", "-C", str(folder), "-c", "user.name=grader", "-c", "user.email=grader@localhost"]
        subprocess.run([*git, "init", "-q"], check=True)
        db = folder / "leaderboard" / "leaderboard.db"
        with Store(db) as store:
            store.export_csv(comp, full=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", "start"], check=True)
        subprocess.run([*git, "gc", "-q", "--aggressive"], check=True)
        before = _packed(folder)
        for i in range(commits):
            user, now = f"user{rng.randrange(200)}", START + timedelta(minutes=i)
            with Store(db) as store:
                store.record_and_export(result(i, rng), user=user, competition=comp, now=now, notebook_path="nb.ipynb")
            subprocess.run([*git, "add", "leaderboard"], check=True)
            subprocess.run([*git, "commit", "-qm", f"Record run-{i}"], check=True)
            if i % 500 == 499:
                print(f"  {i + 1} commits", file=sys.stderr)
        subprocess.run([*git, "gc", "-q"], check=True)
        return _packed(folder) - before, db.stat().st_size


def _packed(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / ".git" / "objects").rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="records timed at each size")
    parser.add_argument("--commits", type=int, default=5000, help="commits for the repository growth")
    args = parser.parse_args()

    rows = growth(args.repeat)
    print(f"{'submissions':>12} {'median ms':>10} {'min ms':>8} {'× at 100':>9}")
    for n, median, low in rows:
        print(f"{n:>12,} {median:>10.2f} {low:>8.2f} {median / rows[0][1]:>9.2f}")
    if args.commits:
        grown, db_size = repository(args.commits)
        print(f"\nrepository: {args.commits:,} recorded submissions, one commit each, after git gc:")
        print(f"  {grown / args.commits:,.0f} bytes per submission ({grown / 1024**2:.1f} MiB in all);")
        print(f"  leaderboard.db is {db_size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
