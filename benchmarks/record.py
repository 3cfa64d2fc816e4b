"""How recording scales: one record at 100, 10,000 and 100,000 submissions, and git growth.

    python benchmarks/record.py [--repeat N] [--commits N] [--no-predictions]

1. Growth: a leaderboard is filled with N submissions (bulk, then the leaderboard table
   rebuilt), then single records (record + CSV export, as `grader record` does) are timed:
   with N = 100, 10,000 and 100,000 submissions from up to 500 participants (as a course's
   competition grows), then with 10,000 submissions from 50, 500 and 5,000 participants
   (what the participants cost: leaderboard.csv has a row for each, rewritten on every record).
2. Repository growth: N submissions are recorded one by one as the score workflow records
   them (`grader score`, then `grader record`: the predictions packed and sealed with
   GRADER_PRIVATE_KEY, the CSVs exported) and each is committed as the workflow commits it;
   then `git gc` with its default settings, and the growth of the packed repository divided
   by N, with where the bytes went. The runs look like the workflow's: GitHub run ids, random
   notebook and commit hashes, 200 participants, one run in five failing (no predictions).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import config, demo, pipeline  # noqa: E402
from grader import result as results  # noqa: E402
from grader.result import Result  # noqa: E402
from grader.rules import timestamp  # noqa: E402
from grader.sealing import KEY_ENV, new_key  # noqa: E402
from grader.store import PREDICTIONS_DIR, Store  # noqa: E402

START = datetime(2026, 11, 2, tzinfo=UTC)
# A course: up to 500 participants. leaderboard.csv (one row per participant) is rewritten on
# every record, so its cost grows with participants; submissions.csv only gets appended to.
PARTICIPANTS = 500
HISTORY = 10_000  # submissions, when the participants vary


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


def one_record(n: int, participants: int, repeat: int, rng: random.Random) -> tuple[float, float, float]:
    """Median milliseconds of one record + CSV export (as ``grader record``), of the record, of the export.

    Measured with ``n`` submissions from ``participants`` already recorded.
    """
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        folder = Path(tmp)
        comp = competition(folder)
        with Store(folder / "leaderboard" / "leaderboard.db") as store:
            fill(store, comp, n, participants, rng)
            store.export_csv(comp, full=True)
            recording, exporting = [], []
            for k in range(repeat):
                r = result(n + k, rng)
                now = START + timedelta(days=80, seconds=k)
                user = f"user{rng.randrange(participants)}"
                start = time.perf_counter()
                store.record(r, user=user, competition=comp, now=now, notebook_path="nb.ipynb")
                middle = time.perf_counter()
                store.export_csv(comp)  # the two steps of Store.record_and_export
                recording.append(middle - start)
                exporting.append(time.perf_counter() - middle)
    both = [a + b for a, b in zip(recording, exporting, strict=True)]
    return tuple(statistics.median(times) * 1000 for times in (both, recording, exporting))  # type: ignore[return-value]


def growth(repeat: int) -> list[tuple[int, float, float, float]]:
    """One record at 100, 10,000 and 100,000 submissions from up to :data:`PARTICIPANTS` participants."""
    rng = random.Random(1)
    return [(n, *one_record(n, min(n // 2, PARTICIPANTS), repeat, rng)) for n in (100, 10_000, 100_000)]


def crowd(repeat: int) -> list[tuple[int, float, float, float]]:
    """One record at :data:`HISTORY` submissions from 50, 500 and 5,000 participants."""
    rng = random.Random(1)
    return [(p, *one_record(HISTORY, p, repeat, rng)) for p in (50, 500, 5_000)]


# The workflow's commits (grader.gitsync): the bot's identity, one commit per recorded run.
BOT = ["-c", "user.name=github-actions[bot]", "-c", "user.email=41898282+github-actions[bot]@users.noreply.github.com"]


@dataclass(frozen=True)
class Growth:
    """What N recorded submissions added to the packed repository."""

    commits: int
    with_predictions: int  # submissions whose sealed predictions were stored
    total: int  # bytes, pack and its index
    parts: dict[str, int]  # bytes in the pack by what they store
    db_size: int
    predictions_size: int  # bytes in the predictions files, in the work tree
    seconds: float  # recording and committing
    gc_seconds: float


def repository(commits: int, *, predictions: bool = True, participants: int = 200) -> Growth:
    """Record ``commits`` runs one by one as the score workflow does, commit each, `git gc`; the growth.

    Automatic gc is off while committing (a background one would race the final `git gc`, and
    where it happened to fall would change the result); the final `git gc` packs every object.
    Without ``predictions`` the runs keep no predictions file, so nothing is stored to rescore.
    """
    rng = random.Random(2)
    key = new_key()
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        folder = Path(tmp) / "comp"
        demo.scratch_copy(config.load(ROOT / "competition.yaml"), folder)
        text = (folder / "competition.yaml").read_text(encoding="utf-8").replace("per_day: 5", "per_day: 1000000")
        (folder / "competition.yaml").write_text(text, encoding="utf-8")
        comp = config.load(folder / "competition.yaml")
        assert comp.truth.path is not None
        truth = [line.split(",")[:2] for line in comp.truth.path.read_text(encoding="utf-8").splitlines()[1:]]
        git = ["git", "-C", str(folder), "-c", "gc.auto=0", *BOT]
        subprocess.run([*git, "init", "-q"], check=True)
        db = pipeline.default_db(comp)
        with Store(db) as store:
            store.export_csv(comp, full=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", "start"], check=True)
        subprocess.run([*git, "gc", "-q", "--aggressive"], check=True)
        before, initial = _packed(folder), set(_paths(folder))
        out = Path(tmp) / "run"
        out.mkdir()
        env = {**os.environ, KEY_ENV: key}
        kept = 0
        start = time.perf_counter()
        for i in range(commits):
            user, pr, run_id = f"user{rng.randrange(participants)}", 100 + i, f"github-{13_000_000_000 + 7 * i}-1"
            run = Result(status="completed", run_id=run_id, notebook="model.ipynb",
                         notebook_sha256=f"{rng.getrandbits(256):064x}", started_at="2026-12-01T10:00:00Z",
                         runtime_seconds=round(rng.uniform(5, 120), 3), predictions="predictions.csv")  # fmt: skip
            (out / "predictions.csv").unlink(missing_ok=True)
            if rng.random() < 0.2:
                run = run.failed("failed", "ValueError", "cell 3 raised ValueError: bad input")
            else:
                wrong = rng.uniform(0.02, 0.3)  # a model that gets 70-98% right
                rows = (f"{ident},{rng.randrange(10) if rng.random() < wrong else label}" for ident, label in truth)
                (out / "predictions.csv").write_text("\n".join(["id,label", *rows]) + "\n", encoding="utf-8")
            results.write(run, out)
            pipeline.score(out, comp, environ=env)  # `grader score`
            if not predictions:
                (out / "predictions.csv").unlink(missing_ok=True)  # scored, but nothing left to keep
            kept += (out / "predictions.csv").exists()
            os.environ[KEY_ENV] = key  # `grader record` seals with the key from its environment
            try:
                pipeline.record(out, comp, user=user, db=db, now=START + timedelta(minutes=i), run_id=run_id,
                                notebook_path=f"submissions/{user}/model.ipynb", pr_number=pr,
                                head_sha=f"{rng.getrandbits(160):040x}")  # fmt: skip
            finally:
                del os.environ[KEY_ENV]
            subprocess.run([*git, "add", "--all", "--", "leaderboard"], check=True)
            subprocess.run([*git, "commit", "-qm", f"Record {user}'s submission from #{pr} ({run_id})"], check=True)
            if i % 500 == 499:
                print(f"  {i + 1} commits", file=sys.stderr)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([*git, "gc", "-q"], check=True)
        gc_seconds = time.perf_counter() - start
        stored = db.parent / PREDICTIONS_DIR
        return Growth(
            commits=commits,
            with_predictions=kept,
            total=_packed(folder) - before,
            parts=_parts(folder, initial),
            db_size=db.stat().st_size,
            predictions_size=sum(p.stat().st_size for p in stored.iterdir()) if stored.is_dir() else 0,
            seconds=seconds,
            gc_seconds=gc_seconds,
        )


def _packed(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / ".git" / "objects").rglob("*") if p.is_file())


def _paths(folder: Path) -> dict[str, str]:
    """Every object of the repository → its path (empty for commits and the root tree)."""
    listed = subprocess.run(["git", "-C", str(folder), "rev-list", "--objects", "--all"], check=True,
                            capture_output=True, text=True)  # fmt: skip
    return dict(line.partition(" ")[::2] for line in listed.stdout.splitlines())


def _parts(folder: Path, initial: set[str]) -> dict[str, int]:
    """Bytes in the pack by what they store (database, predictions, CSVs, commits, trees), but for ``initial``."""
    paths = _paths(folder)
    (index,) = (folder / ".git" / "objects" / "pack").glob("*.idx")
    verified = subprocess.run(["git", "verify-pack", "-v", str(index)], check=True, capture_output=True, text=True)
    parts: collections.Counter[str] = collections.Counter()
    for line in verified.stdout.splitlines():
        fields = line.split()
        if len(fields) < 5 or len(fields[0]) != 40 or fields[0] in initial:
            continue
        kind, path = fields[1], paths.get(fields[0], "")
        if kind == "blob":
            name = path.removeprefix("leaderboard/")
            kind = f"{PREDICTIONS_DIR}/" if name.startswith(f"{PREDICTIONS_DIR}/") else name
        parts[kind + "s" if kind in ("commit", "tree") else kind] += int(fields[3])
    return dict(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="records timed at each size")
    parser.add_argument("--commits", type=int, default=5000, help="commits for the repository growth")
    parser.add_argument("--no-predictions", action="store_true", help="record runs without predictions to store")
    args = parser.parse_args()

    for title, unit, rows in (
        (f"one record, up to {PARTICIPANTS} participants", "submissions", growth(args.repeat)),
        (f"one record, {HISTORY:,} submissions", "participants", crowd(args.repeat)),
    ):
        print(f"{title} (medians, ms; the database's part and the CSV export's)")
        print(f"{unit:>12} {'ms':>7} {'× first':>8} {'database':>9} {'export':>7}")
        for n, both, recording, exporting in rows:
            print(f"{n:>12,} {both:>7.2f} {both / rows[0][1]:>8.2f} {recording:>9.2f} {exporting:>7.2f}")
        print()
    if args.commits:
        report(repository(args.commits, predictions=not args.no_predictions))


def report(grown: Growth) -> None:
    n = grown.commits
    print(f"\nrepository: {n:,} recorded submissions ({grown.with_predictions:,} with sealed predictions), "
          "one commit each, then git gc:")  # fmt: skip
    print(f"  {grown.total / n:,.0f} bytes per submission ({grown.total / 1024**2:.1f} MiB in all), of which:")
    for name, size in sorted(grown.parts.items(), key=lambda part: -part[1]):
        print(f"  {size / n:>8,.0f}  {name}")
    print(f"  {(grown.total - sum(grown.parts.values())) / n:>8,.0f}  the pack's index and headers")
    print(f"  leaderboard.db is {grown.db_size / 1024:,.0f} KiB, {PREDICTIONS_DIR}/ "
          f"{grown.predictions_size / 1024:,.0f} KiB; recording and committing took {grown.seconds:.0f} s, "
          f"git gc {grown.gc_seconds:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
