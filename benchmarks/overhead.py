"""How much does grading add to running a notebook? Medians, side by side, in one run.

    python benchmarks/overhead.py [--repeat N]

Runs a trivial notebook with plain papermill and `jupyter nbconvert --execute` (when
installed; both with a kernelspec for the competition's notebook environment, which grader
uses), `grader run` unconfined and in the sandbox, `grader check` (run, then check the
predictions) and `grader grade` (validate, run, score, record), each as a fresh command like
a CI step would, and prints the medians and their ratio to papermill.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TRIVIAL = """import csv
rows = list(csv.DictReader(open("data/test.csv")))
with open("predictions.csv", "w") as f:
    f.write("id,label\\n")
    f.writelines(f"{r['id']},0\\n" for r in rows)
"""


SAME_ENV = ("papermill", "nbconvert --execute")  # the commands that need the kernelspec


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from environment import kernelspec  # benchmarks/environment.py
    from grader import config, demo, environment

    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        work = Path(tmp)
        competition = demo.scratch_copy(config.load(ROOT / "competition.yaml"), work)
        # papermill and nbconvert run the kernel of the competition's environment, as grader does.
        same_env = kernelspec(work / "jupyter", environment.ensure(competition.environment).python)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(TRIVIAL)])
        nbformat.write(nb, str(work / "trivial.ipynb"))
        grader = [str(BIN / "grader")]
        commands: dict[str, list[str] | None] = {
            "papermill": [
                str(BIN / "papermill"),
                "trivial.ipynb",
                "out.ipynb",
                "-k",
                "notebook-env",
                "--no-progress-bar",
            ],
            "nbconvert --execute": (
                [
                    str(BIN / "jupyter"),
                    "nbconvert",
                    "--to",
                    "notebook",
                    "--execute",
                    "trivial.ipynb",
                    "--output",
                    "nb",
                    "--ExecutePreprocessor.kernel_name=notebook-env",
                ]
                if shutil.which("jupyter-nbconvert", path=str(BIN))
                else None
            ),
            "grader run (no sandbox)": [*grader, "run", "trivial.ipynb", "--out", "o1", "--sandbox", "off"],
            "grader run (sandbox)": [*grader, "run", "trivial.ipynb", "--out", "o2", "--sandbox", "required"],
            "grader check (sandbox)": [*grader, "check", "trivial.ipynb", "--out", "o3", "--sandbox", "required"],
            "grader grade (sandbox)": None,  # filled per round: a new user each time, so no quota/duplicate
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.repeat):
            commands["grader grade (sandbox)"] = [
                *grader, "grade", "trivial.ipynb", "--user", f"bench{round_}", "--sandbox", "required",
            ]  # fmt: skip
            for name, argv in commands.items():  # interleaved: machine noise hits every command alike
                if argv is not None:
                    times[name].append(timed(argv, work, same_env if name in SAME_ENV else None))

    base = statistics.median(times["papermill"])
    print(f"{'command':<26} {'median s':>9} {'min s':>7} {'× papermill':>12}")
    for name, samples in times.items():
        if not samples:
            print(f"{name:<26} {'not installed':>9}")
            continue
        median = statistics.median(samples)
        print(f"{name:<26} {median:>9.2f} {min(samples):>7.2f} {median / base:>12.2f}")
    print(f"({args.repeat} rounds, Python {sys.version.split()[0]}, {sys.platform})")


if __name__ == "__main__":
    main()
