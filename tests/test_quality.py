"""The code base stays clean: ruff (lint, format, complexity), mypy --strict, and the import layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "--no-cache", "grader", "tests", "scripts", "benchmarks"],
        ["ruff", "format", "--no-cache", "--check", "grader", "tests", "scripts", "benchmarks"],
        ["mypy", "grader", "--cache-dir", "{tmp}"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str], tmp_path: Path) -> None:
    # Caches in the temporary folder, or none: a test run writes nothing into the checkout.
    command = [part.replace("{tmp}", str(tmp_path / "cache")) for part in command]
    proc = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_import_layers_hold() -> None:
    """import-linter's contracts (pyproject.toml): the layers, the pure core, no cycles, nothing imports the CLI."""
    tool = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(tool), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_the_guard_against_writing_into_the_checkout_sees_new_untracked_files_only(tmp_path: Path) -> None:
    """conftest's check at the end of every run: what it reports, and what it leaves alone."""
    from conftest import untracked_files, written

    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "tracked.py").write_text("x = 1\n")
    (tmp_path / "kept.txt").write_text("from before the run\n")
    (tmp_path / "changed.txt").write_text("from before the run\n")
    subprocess.run([*git, "add", "tracked.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    before = untracked_files(tmp_path)
    assert sorted(before) == ["changed.txt", "kept.txt"]
    for name in ("tracked.py", "stray.png", "out/deep/result.json", "__pycache__/m.pyc", ".pytest_cache/v"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("written during the run\n")
    os.utime(tmp_path / "changed.txt", ns=(before["changed.txt"] + 10**9, before["changed.txt"] + 10**9))
    assert written(before, untracked_files(tmp_path)) == ["changed.txt", "out/deep/result.json", "stray.png"]
