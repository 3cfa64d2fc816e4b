"""How regrading scales with --jobs, what a hanging notebook costs, and how much stored predictions grow the repo.

    python benchmarks/regrade.py [--notebooks 40] [--timeout 20] [--growth 300]

1. Speed: a scratch competition with N demo notebooks (the good examples, each varied by a
   first cell so no two are the same file) committed to a git repository and recorded at
   that commit; `grader regrade --jobs 1` and `--jobs 2` are timed (the real CLI, sandbox as
   configured), and their ratio printed.
2. Faults: two good notebooks beside one that hangs and one that kills its kernel, `--jobs 2
   --timeout T`: the batch takes about T, not more.
3. Repository growth: N scored submissions recorded one by one with their predictions
   (sealed, as with GRADER_PRIVATE_KEY), each committed; after `git gc`, bytes per
   submission, against the same records without predictions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import config, demo, pipeline  # noqa: E402
from grader import result as results  # noqa: E402
from grader.result import Result  # noqa: E402
from grader.sealing import new_key  # noqa: E402
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


def regrade(comp: config.Competition, out: Path, jobs: int, timeout: float | None = None) -> tuple[float, str]:
    command = [*GRADER, "--config", str(comp.root / "competition.yaml"), "regrade", "--jobs", str(jobs),
               "--out", str(out), "--no-progress"]  # fmt: skip
    if timeout:
        command += ["--timeout", str(timeout)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"grader regrade failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout


def speed(count: int) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        comp = scratch(Path(tmp) / "comp")
        sources = [ROOT / "examples" / "submissions" / name for name in GOOD]
        committed(comp, {f"user{k:02d}": varied(sources[k % len(sources)], k) for k in range(count)})
        one, _ = regrade(comp, Path(tmp) / "jobs1", 1)
        two, out = regrade(comp, Path(tmp) / "jobs2", 2)
        return one, two, out.strip().splitlines()[-1]


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
        seconds, _ = regrade(comp, Path(tmp) / "out", 2, timeout)
        manifest = json.loads((Path(tmp) / "out" / "manifest-1-of-1.json").read_text())
        return seconds, {o["username"]: (o["status"], o["runtime_seconds"]) for o in manifest["outcomes"]}


def growth(count: int) -> tuple[float, float]:
    """Bytes per recorded submission in the packed repository: with sealed predictions, without."""
    sizes = []
    key = new_key()
    for keep in (True, False):
        rng = random.Random(3)
        with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
            comp = scratch(Path(tmp) / "comp")
            root = comp.root
            git = ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b"]
            subprocess.run([*git, "init", "-q"], check=True)
            db = pipeline.default_db(comp)
            with Store(db) as store:
                store.export_csv(comp, full=True)
            subprocess.run([*git, "add", "leaderboard"], check=True)
            subprocess.run([*git, "commit", "-qm", "start"], check=True)
            subprocess.run([*git, "gc", "-q", "--aggressive"], check=True)
            before = _packed(root)
            assert comp.truth.path is not None
            truth = comp.truth.path.read_text().splitlines()[1:]
            env = {"GRADER_PRIVATE_KEY": key}
            for i in range(count):
                out = Path(tmp) / "run"
                out.mkdir(exist_ok=True)
                wrong = rng.uniform(0.02, 0.3)
                lines = ["id,label"]
                for line in truth:
                    ident, label = line.split(",")[:2]
                    guess = rng.randrange(10) if rng.random() < wrong else int(label)
                    lines.append(f"{ident},{guess}")
                (out / "predictions.csv").write_text("\n".join(lines) + "\n")
                results.write(
                    Result(status="completed", run_id=f"run-{i}", notebook="nb.ipynb", notebook_sha256=f"{i:064x}",
                           started_at="x", runtime_seconds=round(rng.uniform(5, 60), 3),
                           predictions="predictions.csv"),
                    out,
                )  # fmt: skip
                pipeline.score(out, comp, environ=env)
                if not keep:
                    (out / "predictions.csv").unlink()  # nothing to pack: the record keeps no predictions
                os.environ["GRADER_PRIVATE_KEY"] = key
                try:
                    pipeline.record(out, comp, user=f"user{rng.randrange(200)}", db=db,
                                    now=START + timedelta(minutes=i), notebook_path="nb.ipynb")  # fmt: skip
                finally:
                    del os.environ["GRADER_PRIVATE_KEY"]
                subprocess.run([*git, "add", "leaderboard"], check=True)
                subprocess.run([*git, "commit", "-qm", f"Record run-{i}"], check=True)
            subprocess.run([*git, "gc", "-q"], check=True)
            sizes.append((_packed(root) - before) / count)
    return sizes[0], sizes[1]


def _packed(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / ".git" / "objects").rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=40, help="notebooks regraded for the speed-up")
    parser.add_argument("--timeout", type=float, default=20, help="the time limit of the faults run, in seconds")
    parser.add_argument("--growth", type=int, default=300, help="submissions recorded for the repository growth")
    args = parser.parse_args()

    print(f"load before: {Path('/proc/loadavg').read_text().strip()} ({os.cpu_count()} cores)")
    one, two, last = speed(args.notebooks)
    print(f"\n{'jobs':>4} {'seconds':>8} {'per notebook':>13}")
    print(f"{1:>4} {one:>8.1f} {one / args.notebooks:>13.2f}")
    print(f"{2:>4} {two:>8.1f} {two / args.notebooks:>13.2f}")
    print(f"speed-up with --jobs 2: {one / two:.2f}×  ({last})")

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
