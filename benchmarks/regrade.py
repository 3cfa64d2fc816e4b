"""How regrading scales with --jobs, what a hanging notebook costs, and how much stored predictions grow the repo.

    python benchmarks/regrade.py [--notebooks 40] [--rounds 3] [--settle 0] [--timeout 20] [--growth 300]

1. Speed: a scratch competition with N demo notebooks (the good examples, each varied by a
   first cell so no two are the same file) committed to a git repository and recorded at
   that commit; `grader regrade --jobs 1` and `--jobs 2` are timed (the real CLI, sandbox as
   configured) in R interleaved rounds (1 then 2, 2 then 1, ...), each round's ratio printed
   with how busy the whole machine was meanwhile (`busy`, in cores: about 1 for --jobs 1 and
   2 for --jobs 2 when nothing else runs; more for --jobs 1 means something else ran), then
   the medians. `--settle S` starts each round once the machine is idle (waiting at most S s).
2. Faults: two good notebooks beside one that hangs and one that kills its kernel, `--jobs 2
   --timeout T`: the batch takes about T, not more.
3. Repository growth: N submissions recorded and committed one by one as the score
   workflow does, with their predictions sealed (as with GRADER_PRIVATE_KEY), then `git gc`;
   bytes per submission, against the same records without predictions (the measurement is
   benchmarks/record.py's, which also says where the bytes go).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import config, demo, pipeline  # noqa: E402
from grader.result import Result  # noqa: E402
from grader.store import Store  # noqa: E402

GOOD = ("alice/knn.ipynb", "bob/1-logistic.ipynb", "bob/2-svm.ipynb")
GRADER = [sys.executable, "-m", "grader"]
START = datetime(2026, 11, 2, tzinfo=UTC)


def scratch(folder: Path) -> config.Competition:
    demo.scratch_copy(config.load(ROOT / "competition.yaml"), folder)
    text = (folder / "competition.yaml").read_text().replace("per_day: 5", "per_day: 100000")
    (folder / "competition.yaml").write_text(text)
    return config.load(folder / "competition.yaml")


def varied(source: Path, k: int) -> bytes:
    nb = json.loads(source.read_text(encoding="utf-8"))
    cell = {"cell_type": "code", "execution_count": None, "id": f"variant-{k}", "metadata": {}, "outputs": [],
            "source": f"VARIANT = {k}  # the same model, a different file"}  # fmt: skip
    nb["cells"].insert(0, cell)
    return (json.dumps(nb, indent=1) + "\n").encode()


def committed(comp: config.Competition, notebooks: dict[str, bytes]) -> None:
    """Commit ``notebooks`` (login → bytes) and record each as a completed submission at that commit."""
    root = comp.root
    git = ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b"]
    for login, data in notebooks.items():
        path = root / "submissions" / login / "nb.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "submissions"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    with Store(pipeline.default_db(comp)) as store:
        for i, (login, data) in enumerate(notebooks.items()):
            result = Result(status="completed", run_id=f"run-{i}", notebook="nb.ipynb",
                            notebook_sha256=hashlib.sha256(data).hexdigest(), started_at="x", runtime_seconds=1.0,
                            public_score=0.9, private_score=0.9)  # fmt: skip
            store.record(result, user=login, competition=comp, now=START + timedelta(minutes=i),
                         notebook_path=f"submissions/{login}/nb.ipynb", head_sha=head)  # fmt: skip


def busy() -> float:
    """CPU seconds the whole machine has spent busy so far (all cores, everything running on it)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def regrade(comp: config.Competition, out: Path, jobs: int, timeout: float | None = None) -> tuple[float, str, float]:
    """Seconds, output and the machine's average busy cores of one `grader regrade --jobs JOBS`."""
    command = [*GRADER, "--config", str(comp.root / "competition.yaml"), "regrade", "--jobs", str(jobs),
               "--out", str(out), "--no-progress"]  # fmt: skip
    if timeout:
        command += ["--timeout", str(timeout)]
    cpu, start = busy(), time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    cores = (busy() - cpu) / seconds
    if proc.returncode != 0:
        raise SystemExit(f"grader regrade failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout, cores


def settle(seconds: float, idle: float = 0.15, window: float = 5.0) -> float:
    """Wait (at most ``seconds``) until the machine runs less than ``idle`` cores' worth; return its last load."""
    deadline = time.monotonic() + seconds
    while True:
        before = busy()
        time.sleep(window)
        load = (busy() - before) / window
        if load < idle or time.monotonic() >= deadline:
            return load


def speed(count: int, rounds: int, wait: float = 0) -> list[tuple[float, float, float, float]]:
    """(seconds with --jobs 1, with --jobs 2, busy cores during each) for each round, the order alternating.

    With ``wait``, each round starts once the machine is idle (or after ``wait`` seconds), and a
    round that something else disturbed (the machine busier than the regrade alone makes it:
    over 1.15 cores with --jobs 1, over 1.9 with --jobs 2) is shown, then run again (at most
    ``rounds`` times in all).
    """
    found: list[tuple[float, float, float, float]] = []
    again = 0
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        comp = scratch(Path(tmp) / "comp")
        sources = [ROOT / "examples" / "submissions" / name for name in GOOD]
        committed(comp, {f"user{k:02d}": varied(sources[k % len(sources)], k) for k in range(count)})
        while len(found) < rounds:
            r = len(found) + again
            if wait:
                settle(wait)
            timed = {}
            for jobs in (1, 2) if r % 2 == 0 else (2, 1):
                seconds, out, cores = regrade(comp, Path(tmp) / f"round{r}-jobs{jobs}", jobs)
                manifest = json.loads((Path(tmp) / f"round{r}-jobs{jobs}" / "manifest-1-of-1.json").read_text())
                if [o["status"] for o in manifest["outcomes"]] != ["completed"] * count:
                    raise SystemExit(f"not every notebook completed:\n{out}")
                timed[jobs] = (seconds, cores)
            (one, busy1), (two, busy2) = timed[1], timed[2]
            disturbed = bool(wait) and (busy1 > 1.15 or busy2 > 1.9)
            retry = disturbed and again < rounds
            note = "  disturbed: run again" if retry else "  disturbed" if disturbed else ""
            row = f"{r + 1:>5} {one:>8.1f} {busy1:>5.2f} {two:>8.1f} {busy2:>5.2f} {one / two:>7.2f}×{note}"
            print(row, flush=True)
            if retry:
                again += 1
            else:
                found.append((one, two, busy1, busy2))
    return found


def faults(timeout: float) -> tuple[float, dict[str, tuple[str, float]]]:
    cells = {
        "hangs": "import time\ntime.sleep(3600)",
        "kills": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    }
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        comp = scratch(Path(tmp) / "comp")
        good = ROOT / "examples" / "submissions" / GOOD[0]
        notebooks = {"good1": varied(good, 1), "good2": varied(good, 2)}
        for login, code in cells.items():
            nb = json.loads(good.read_text(encoding="utf-8"))
            nb["cells"] = [{"cell_type": "code", "execution_count": None, "id": "c", "metadata": {}, "outputs": [],
                            "source": code}]  # fmt: skip
            notebooks[login] = (json.dumps(nb) + "\n").encode()
        committed(comp, notebooks)
        seconds, _, _ = regrade(comp, Path(tmp) / "out", 2, timeout)
        manifest = json.loads((Path(tmp) / "out" / "manifest-1-of-1.json").read_text())
        return seconds, {o["username"]: (o["status"], o["runtime_seconds"]) for o in manifest["outcomes"]}


def growth(count: int) -> tuple[float, float]:
    """Bytes per recorded submission in the packed repository: with sealed predictions, without.

    Measured as benchmarks/record.py measures it (the score workflow's records and commits).
    """
    from record import repository

    return repository(count).total / count, repository(count, predictions=False).total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=40, help="notebooks regraded for the speed-up")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of --jobs 1 and 2 (0: skip)")
    parser.add_argument("--settle", type=float, default=0, metavar="SECONDS",
                        help="before each round, wait up to this long for the machine to be idle")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=20, help="the time limit of the faults run, in seconds")
    parser.add_argument("--growth", type=int, default=300, help="submissions recorded for the repository growth")
    args = parser.parse_args()

    print(f"load before: {Path('/proc/loadavg').read_text().strip()} ({os.cpu_count()} cores)")
    if args.rounds:
        print(f"\n{args.notebooks} notebooks; seconds, and the machine's busy cores meanwhile")
        print(f"{'round':>5} {'jobs 1':>8} {'busy':>5} {'jobs 2':>8} {'busy':>5} {'speed-up':>8}")
        rounds = speed(args.notebooks, args.rounds, args.settle)
        one, two = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
        ratio = statistics.median(r[0] / r[1] for r in rounds)
        print(f"median: --jobs 1 {one:.1f} s ({one / args.notebooks:.2f} s per notebook), --jobs 2 {two:.1f} s; "
              f"speed-up {ratio:.2f}× (median of the rounds' ratios)")  # fmt: skip

    seconds, runs = faults(args.timeout)
    print(f"\nfaults, --jobs 2 --timeout {args.timeout:g}: the batch took {seconds:.1f} s")
    for login, (status, runtime) in sorted(runs.items()):
        print(f"  {login:>6}: {status:<10} {runtime:6.1f} s")

    if args.growth:
        kept, bare = growth(args.growth)
        print(f"\nrepository growth over {args.growth} recorded submissions, after git gc:")
        print(f"  {kept:,.0f} bytes per submission with sealed predictions, {bare:,.0f} without")
    print(f"\nload after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
