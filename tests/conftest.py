"""Shared test settings: where the repository, its test inputs and the optional shared corpus are.

Every input the tests need lives in the repository (``tests/payloads/``, ``tests/notebooks/``,
or notebooks built by the tests themselves), so a fresh clone's suite runs with nothing beside
it. The shared corpus of real third-party inputs (``../shared/corpus``: nbformat's and
nbclient's test notebooks, octokit's webhook payload examples) adds extra checks when it is
there: tests marked ``corpus`` run then, and are deselected otherwise, as the report header says.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader import config, environment

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# GitHub webhook payloads written here, shaped like the documented events (same names as octokit's examples).
PAYLOADS = TESTS / "payloads"
# Small notebooks written here: odd versions, invalid ones, and ones that break a kernel in known ways.
NOTEBOOKS = TESTS / "notebooks"

# The corpus of real notebooks and GitHub payloads, when it sits beside the repository (../shared/corpus).
CORPUS = ROOT.parent / "shared" / "corpus"
HAS_CORPUS = (CORPUS / "notebooks").is_dir() and (CORPUS / "github-events").is_dir()

corpus = pytest.mark.corpus  # an extra check on the shared corpus: deselected when the corpus is absent


def payload_sources(name: str) -> list[Any]:
    """Parameters for a check of the payload ``name``: ours, and octokit's example when the corpus is there."""
    event = name.removesuffix(".payload.json")
    sources = [pytest.param(PAYLOADS / name, id=f"ours:{event}")]
    if HAS_CORPUS:
        sources.append(pytest.param(CORPUS / "github-events" / name, id=f"octokit:{event}", marks=corpus))
    return sources


def corpus_notebooks(pattern: str) -> list[Path]:
    """The shared corpus's notebooks matching ``pattern`` (under ``notebooks/``); none when it is absent."""
    return sorted((CORPUS / "notebooks").glob(pattern)) if HAS_CORPUS else []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "corpus: an extra check on the shared corpus of third-party inputs")


def corpus_line() -> str:
    if HAS_CORPUS:
        return f"shared corpus: {CORPUS}; the extra checks on third-party notebooks and payloads run"
    return f"shared corpus: not found at {CORPUS}; the extra checks on third-party notebooks and payloads were not run"


def pytest_report_header(config: pytest.Config) -> str:
    return corpus_line()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The same line at the end, where ``-q`` (no header) and a CI log's tail still show it."""
    terminalreporter.write_line(corpus_line())
    written = terminalreporter.config.stash.get(WRITTEN, [])
    if written:
        shown = ", ".join(written[:10]) + (f" and {len(written) - 10} more" if len(written) > 10 else "")
        terminalreporter.write_line(
            f"FAILED: the tests wrote into the checkout, outside their temporary folders: {shown}. "
            "Write into tmp_path instead.",
            red=True,
        )


# --- a test run writes nothing into the checkout ------------------------------------------------

# Folders not looked at: git's, the virtualenv, and the caches of Python, pytest and the
# developer's own tools (which may run beside the suite).
NOT_LOOKED_AT = {
    ".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".import_linter_cache", ".mutation",
}  # fmt: skip
BEFORE = pytest.StashKey[dict[str, int]]()
WRITTEN = pytest.StashKey[list[str]]()


def untracked_files(root: Path) -> dict[str, int]:
    """Each file under ``root`` that git does not track, with its modification time (ns).

    A snapshot rather than a time: the suite also runs under a clock moved a year away
    (tests/test_any_day.py), where "written since the start" means nothing.
    """
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=False)
    tracked = set(listed.stdout.decode(errors="replace").split("\0")) if listed.returncode == 0 else set()
    venv = Path(sys.prefix).resolve()
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NOT_LOOKED_AT and Path(folder, d).resolve() != venv]
        for name in files:
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if relative not in tracked:
                with contextlib.suppress(OSError):  # gone meanwhile
                    found[relative] = path.lstat().st_mtime_ns
    return found


def written(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The files of ``after`` that are new or changed since ``before``."""
    return sorted(name for name, mtime in after.items() if before.get(name) != mtime)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        session.config.stash[BEFORE] = untracked_files(ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test left a file in the checkout (the main process looks, at the start and the end).

    Regenerating the golden files (GRADER_UPDATE_GOLDEN) writes into the checkout on purpose.
    """
    if hasattr(session.config, "workerinput") or os.environ.get("GRADER_UPDATE_GOLDEN"):
        return
    left = written(session.config.stash[BEFORE], untracked_files(ROOT))
    session.config.stash[WRITTEN] = left
    if left and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the shared corpus its checks are deselected (counted as such), never skipped or passed empty."""
    if HAS_CORPUS:
        return
    extra = [item for item in items if item.get_closest_marker("corpus")]
    if extra:
        config.hook.pytest_deselected(items=extra)
        items[:] = [item for item in items if not item.get_closest_marker("corpus")]


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
