"""The code base stays clean: ruff (lint, format, complexity), mypy --strict, and the import layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "grader", "tests", "scripts", "benchmarks"],
        ["ruff", "format", "--check", "grader", "tests", "scripts", "benchmarks"],
        ["mypy", "grader"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_import_layers_hold() -> None:
    """import-linter's contracts (pyproject.toml): the layers, the pure core, no cycles, nothing imports the CLI."""
    tool = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(tool), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
