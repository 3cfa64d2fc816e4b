"""Shared test settings: where the repository and the shared corpus of real inputs are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The corpus of real notebooks and GitHub payloads sits beside the repository (../shared/corpus).
CORPUS = ROOT.parent / "shared" / "corpus"

if not (CORPUS / "notebooks").is_dir():
    raise RuntimeError(f"the shared corpus is missing: expected it at {CORPUS}")


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
