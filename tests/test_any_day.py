"""The suite holds on any day: the rules are judged at a moment the tests give, never at today's date.

The demo competition runs from 2026-11-01 to 2027-03-01; a test that graded at the real time
would start failing the day it closes. Here the tests that grade, record, choose finals and
run the demo are run again with the clock moved a year ahead and a year back (libfaketime, in
a subprocess), and must pass just the same. Also: `GRADER_NOW` and `--submitted-at`, the ways
a test or a teacher sets that moment on the command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import conftest
import nbformat
import pytest

from grader import config, demo

ROOT = conftest.ROOT
FAKETIME = shutil.which("faketime")

# The tests that decide by the moment (deadline, daily quota, /final's closing) through the command and
# the library; each passes its moment in, so each must pass on any day.
TIME_SENSITIVE = (
    "tests/test_cli.py::test_run_score_record_leaderboard_history",
    "tests/test_cli.py::test_grade_reads_the_sealed_truth_with_its_key_and_refuses_without_it",
    "tests/test_forked.py::test_grade_reports_a_broken_truth_as_scoring_here_does",
    "tests/test_forked.py::test_a_grader_stopped_mid_run_leaves_no_forked_process[grade-ctrl-c]",
    "tests/test_finals.py::test_cli_select_pushes_and_history_marks_the_choice",
    "tests/test_pipeline.py::test_demo_command_grades_every_example_and_leaves_the_repository_alone",
    "tests/test_any_day.py::test_grader_now_and_submitted_at_set_the_moment_of_grade",
)

AFTER_THE_END = "2027-03-05T12:00:00Z"
BEFORE_THE_START = "2026-10-20T12:00:00+02:00"
OPEN = "2026-12-01T12:00:00Z"


@pytest.fixture
def comp(tmp_path: Path) -> Path:
    demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")
    return tmp_path / "comp"


def grader(*args: str, cwd: Path, now: str | None) -> subprocess.CompletedProcess[str]:
    """The real command, with GRADER_NOW set to ``now`` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "GRADER_NOW"}
    if now is not None:
        env["GRADER_NOW"] = now
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def test_help_tells_about_grader_now(comp: Path) -> None:
    proc = grader("--help", cwd=comp, now=None)
    assert proc.returncode == 0
    assert "GRADER_NOW=2026-12-01T12:00:00Z" in proc.stdout


@pytest.mark.parametrize(
    ("now", "why"),
    [("yesterday", "is not an ISO date and time"), ("2026-12-01T12:00:00", "has no UTC offset")],
)
def test_a_malformed_grader_now_is_a_usage_error(comp: Path, now: str, why: str) -> None:
    proc = grader("leaderboard", cwd=comp, now=now)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: $GRADER_NOW: ") and why in lines[0], proc.stderr


def test_grader_now_and_submitted_at_set_the_moment_of_grade(comp: Path) -> None:
    """Rejected without running, as the rules stood at that moment; --submitted-at wins over GRADER_NOW."""
    nb = comp / "late.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), nb)
    late = grader("grade", str(nb), "--user", "alice", "--no-progress", cwd=comp, now=AFTER_THE_END)
    assert late.returncode == 1, late.stderr
    assert "rejected: the competition closed on 2027-03-01 00:00 Europe/Paris" in late.stderr
    early = grader(
        "grade", str(nb), "--user", "bob", "--submitted-at", BEFORE_THE_START, "--no-progress", cwd=comp, now=OPEN
    )
    assert early.returncode == 1, early.stderr
    assert "rejected: the competition opens on 2026-11-01 00:00 Europe/Paris" in early.stderr
    for login in ("alice", "bob"):
        assert not (comp / "runs" / login / "late" / "executed.ipynb").exists()  # refused before running
    board = grader("history", "alice", cwd=comp, now=None)
    assert "2027-03-05" in board.stdout and "rejected" in board.stdout  # recorded at GRADER_NOW's moment


@pytest.mark.slow
@pytest.mark.parametrize("shift", ["+365d", "-365d"], ids=["a-year-ahead", "a-year-back"])
def test_the_time_sensitive_tests_pass_with_the_clock_moved(shift: str, tmp_path: Path) -> None:
    if FAKETIME is None:
        pytest.fail("this test moves the clock with libfaketime: apt-get install faketime (./dev test installs it).")
    env = {k: v for k, v in os.environ.items() if k != "GRADER_NOW"}
    proc = subprocess.run(
        [FAKETIME, "-f", shift, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--basetemp", str(tmp_path / "basetemp"), *TIME_SENSITIVE],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    moved = subprocess.run(
        [FAKETIME, "-f", shift, "date", "+%F"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, f"on {moved.stdout.strip()}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert f"{len(TIME_SENSITIVE)} passed" in proc.stdout
