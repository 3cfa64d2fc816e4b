"""What the notebook environment costs: a data-science notebook, building, matplotlib's first import.

    python benchmarks/environment.py [--repeat N] [--cold]

1. A notebook that imports pandas, scikit-learn and matplotlib, fits a model and saves a figure:
   plain papermill with a kernelspec pointing at the competition's environment, against
   `grader run` in the sandbox (same environment, same machine, rounds interleaved).
2. `grader env build` when the lock is unchanged (warm: the environment is found by the lock's
   hash), and a build from nothing into an empty cache folder (with uv's wheel cache as this
   machine has it; `--cold` also empties uv's cache, so every wheel is downloaded).
3. The first `import matplotlib.pyplot` inside the sandbox, timed in the cell, with the font
   cache the build prepared and without it (an empty HOME, as every run had before).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCIENCE = """import time
import pandas as pd
import matplotlib
import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression
train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
features = [c for c in train.columns if c.startswith("px")]
model = LogisticRegression(max_iter=200).fit(train[features], train["label"])
pd.DataFrame({"id": test["id"], "label": model.predict(test[features])}).to_csv("predictions.csv", index=False)
fig, ax = plt.subplots()
ax.hist(train["label"], bins=10)
fig.savefig("labels.png")
"""
FIRST_IMPORT = """import time
start = time.perf_counter()
import matplotlib.pyplot
print(f"IMPORT {time.perf_counter() - start:.4f}")
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def kernelspec(folder: Path, python: Path) -> dict[str, str]:
    """A Jupyter data folder with a kernel named `notebook-env` running ``python``; the env vars to use it."""
    spec = folder / "kernels" / "notebook-env"
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "env", "language": "python"}))
    return {**os.environ, "JUPYTER_PATH": str(folder)}


def science(work: Path, repeat: int, env_vars: dict[str, str]) -> None:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SCIENCE)]), str(work / "science.ipynb"))
    papermill = [str(BIN / "papermill"), "science.ipynb", "out.ipynb", "-k", "notebook-env", "--no-progress-bar"]
    grader = [str(BIN / "grader"), "run", "science.ipynb", "--out", "run", "--no-progress"]
    times: dict[str, list[float]] = {"papermill (same environment)": [], "grader run (sandbox)": []}
    for _ in range(repeat):  # interleaved, so that a busy moment hits both
        times["papermill (same environment)"].append(timed(papermill, work, env_vars))
        times["grader run (sandbox)"].append(timed(grader, work))
    base = statistics.median(times["papermill (same environment)"])
    print("A notebook importing pandas, scikit-learn and matplotlib, fitting a model and saving a figure:\n")
    print(f"{'command':<30} {'median s':>9} {'min s':>7} {'× papermill':>12}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<30} {median:>9.2f} {min(values):>7.2f} {median / base:>11.2f}×")


def building(repeat: int, cold: bool) -> None:
    warm = [timed([str(BIN / "grader"), "env", "build", "--no-progress"], ROOT) for _ in range(repeat)]
    with tempfile.TemporaryDirectory(prefix="grader-bench-cache-") as cache:
        env = {**os.environ, "GRADER_CACHE_DIR": cache}
        if cold:
            env["UV_CACHE_DIR"] = str(Path(cache) / "uv")
        fresh = timed([str(BIN / "grader"), "env", "build", "--no-progress"], ROOT, env)
    print("\nBuilding the environment (`grader env build`):\n")
    print(f"{'case':<58} {'median s':>9}")
    print(f"{'warm: lock unchanged, environment found (' + str(repeat) + ' runs)':<58} {statistics.median(warm):>9.2f}")
    what = "cold: empty cache, every wheel downloaded" if cold else "new lock: empty cache, uv's wheel cache warm"
    print(f"{what:<58} {fresh:>9.2f}")


def first_import(work: Path, repeat: int) -> None:
    from grader import config, environment, sandbox
    from grader.execute import execute

    competition = config.load(ROOT / "competition.yaml")
    built = environment.ensure(competition.environment)

    @dataclass(frozen=True)
    class EmptyHome(environment.Environment):
        @property
        def home(self) -> Path:
            return work / "no-such-home"

    bare = EmptyHome(built.root, built.base, built.version, built.packages)
    bwrap = sandbox.choose("required")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FIRST_IMPORT)])
    seconds: dict[str, list[float]] = {"with the prebuilt font cache": [], "without (empty HOME)": []}
    for round_ in range(repeat):
        for name, env in (("with the prebuilt font cache", built), ("without (empty HOME)", bare)):
            out = work / f"imp-{round_}-{len(seconds[name])}-{name[:4]}"
            execute(
                nb, out, notebook_name="imp.ipynb", notebook_sha256="0" * 64, data_dir=competition.data.directory,
                predictions_name="predictions.csv", limits=competition.limits, max_predictions_size=1024,
                environment=env, bwrap=bwrap,
            )  # fmt: skip
            text = "".join(
                o.get("text", "") for o in nbformat.read(out / "executed.ipynb", as_version=4).cells[0].outputs
            )
            seconds[name].append(float(text.split("IMPORT ")[1].split()[0]))
    print("\nFirst `import matplotlib.pyplot` in a sandboxed run (timed inside the cell):\n")
    print(f"{'case':<32} {'median s':>9} {'min s':>7}")
    for name, values in seconds.items():
        print(f"{name:<32} {statistics.median(values):>9.3f} {min(values):>7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="also empty uv's wheel cache (downloads every wheel)")
    args = parser.parse_args()

    from grader import config, demo, environment

    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        work = Path(tmp)
        competition = demo.scratch_copy(config.load(ROOT / "competition.yaml"), work)
        built = environment.ensure(competition.environment)
        science(work, args.repeat, kernelspec(work / "jupyter", built.python))
        building(args.repeat, args.cold)
        first_import(work, args.repeat)


if __name__ == "__main__":
    main()
