"""Every benchmark, one after the other: `python benchmarks/run.py [--quick]`.

Each script prints its own table; the numbers quoted in docs/performance.md come from here.
--quick uses fewer rounds and commits (a smoke run, not numbers to quote).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: check that everything runs")
    args = parser.parse_args()
    quick = args.quick
    commits = "200" if quick else "5000"
    runs = [
        ("Overhead on a trivial notebook", ["overhead.py", "--repeat", "3" if quick else "9"]),
        ("The notebook environment", ["environment.py", "--repeat", "2" if quick else "7"]),
        ("Recording and repository growth", ["record.py", "--repeat", "10" if quick else "50", "--commits", commits]),
        ("The site at scale", ["site.py", *(["10:200", "500:10000"] if quick else [])]),
    ]
    if (HERE / "regrade.py").exists():
        small = ["--notebooks", "4", "--rounds", "1", "--timeout", "10", "--growth", "50"]
        runs.append(("Regrade throughput", ["regrade.py", *(small if quick else [])]))
    load = os.getloadavg()
    print(f"# {platform.node()}: {os.cpu_count()} cores, load {load[0]:.1f}, Python {platform.python_version()}\n")
    for title, argv in runs:
        print(f"## {title}\n", flush=True)
        subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], check=True)
        print(flush=True)


if __name__ == "__main__":
    main()
