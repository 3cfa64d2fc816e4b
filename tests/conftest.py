"""Shared test settings: where the repository and the shared corpus of real inputs are."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from grader import config, environment

ROOT = Path(__file__).resolve().parent.parent
# The corpus of real notebooks and GitHub payloads sits beside the repository (../shared/corpus).
CORPUS = ROOT.parent / "shared" / "corpus"

if not (CORPUS / "notebooks").is_dir():
    raise RuntimeError(f"the shared corpus is missing: expected it at {CORPUS}")


# Notebooks run in the demo competition's environment, built once by `./dev test` (or here, on
# first use) in the machine's cache; subprocesses find it there even when a test changes HOME.
os.environ.setdefault("GRADER_CACHE_DIR", str(environment.cache_dir()))


@functools.cache
def notebook_environment() -> environment.Environment:
    """The environment the demo competition's notebooks run in (what `execute` needs)."""
    return environment.ensure(config.load(ROOT / "competition.yaml").environment)


def run_grader(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `grader` command in a subprocess, with ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
