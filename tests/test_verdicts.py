"""Every verdict :func:`grader.execute.judge` gives, from a trace alone: the status, the error's type,
its message as the student reads it, and the cell it points at.

The real-kernel tests (test_execute.py, test_attacks.py) show that each kind of trace happens;
these pin what each one means, branch by branch, with the neighbours that must *not* get the
same verdict (an error with the same words but another name, the same name with other words).
They run in milliseconds, so the mutation run (scripts/mutation.py, target ``execute.judge``)
can use them for every mutant.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from grader.config import Limits
from grader.execute import CellReply, Trace, judge

LIMITS = Limits(cell_timeout=60, run_timeout=180, memory=2 * 1024**3, processes=64, disk=1024**3)
ok = CellReply(0, "ok")
STOPPED = "remove sys.exit()/exit()/quit()/os._exit(): a submission must run to the end"


def raised(ename: str, evalue: str, index: int = 2, status: str = "error") -> Trace:
    """Cell ``index + 1`` answered with an error (the cells before it ran fine)."""
    return Trace(cells_total=3, replies=(ok, CellReply(index, status, ename, evalue)), stop="error")


def verdict_of(trace: Trace, limits: Limits = LIMITS) -> tuple[str, str | None, str | None, int | None]:
    verdict = judge(trace, limits)
    if verdict.error is None:
        return verdict.status, None, None, None
    return verdict.status, verdict.error.type, verdict.error.message, verdict.error.cell_index


# --- a cell that stopped the notebook itself ------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "how"),
    [
        (CellReply(1, "ok", asked_exit=True), "exit()"),  # exit()/quit(): an ok reply asking to exit
        (CellReply(1, "error", "SystemExit", "3"), "SystemExit(3)"),  # sys.exit(3)
        (CellReply(1, "error", "SystemExit"), "SystemExit"),  # sys.exit()
    ],
    ids=["exit", "sys.exit-with-code", "sys.exit"],
)
def test_a_notebook_that_stops_itself_fails_and_is_told_how(reply: CellReply, how: str) -> None:
    trace = Trace(cells_total=3, replies=(ok, reply), stop="error")
    message = f"the notebook stopped itself in cell 2 ({how}); {STOPPED}"
    assert verdict_of(trace) == ("failed", "SystemExit", message, 1)


# --- a limit seen from inside the cell: the system refused it something ---------------------------


@pytest.mark.parametrize(
    ("ename", "evalue", "type_", "message"),
    [
        ("BlockingIOError", "[Errno 11] Resource temporarily unavailable", "ProcessLimit",
         "started too many processes or threads (limit 64) in cell 3"),
        ("RuntimeError", "can't start new thread", "ProcessLimit",
         "started too many processes or threads (limit 64) in cell 3"),
        ("OSError", "[Errno 27] File too large", "DiskLimit", "wrote more than the 1 GiB allowed on disk in cell 3"),
        ("OSError", "[Errno 28] No space left on device", "DiskLimit",
         "wrote more than the 1 GiB allowed on disk in cell 3"),
        ("OSError", "[Errno 12] Cannot allocate memory", "MemoryError", "ran out of memory (limit 2 GiB) in cell 3"),
        ("MemoryError", "", "MemoryError", "ran out of memory (limit 2 GiB) in cell 3"),
        ("_ArrayMemoryError", "Unable to allocate 8 GiB", "MemoryError", "ran out of memory (limit 2 GiB) in cell 3"),
    ],
)  # fmt: skip
def test_a_limit_met_inside_a_cell_is_named_as_that_limit(ename: str, evalue: str, type_: str, message: str) -> None:
    assert verdict_of(raised(ename, evalue)) == ("failed", type_, message, 2)


@pytest.mark.parametrize(
    ("ename", "evalue"),
    [
        # The words of a limit under another exception's name (one sorting before, one after)...
        ("AttributeError", "[Errno 11] Resource temporarily unavailable"),
        ("OSError", "[Errno 11] Resource temporarily unavailable"),
        ("AttributeError", "can't start new thread"),
        ("ValueError", "can't start new thread"),
        ("AttributeError", "No space left on device"),
        ("ValueError", "File too large"),
        ("AttributeError", "Cannot allocate memory"),
        ("ValueError", "Cannot allocate memory"),
        # ...and the limit's exception with other words: the notebook's own error, said as it is.
        ("BlockingIOError", "[Errno 11] the socket is not ready"),
        ("RuntimeError", "can't start a new run"),
        ("OSError", "[Errno 13] Permission denied: 'data/x'"),
    ],
)
def test_an_error_that_only_looks_like_a_limit_is_the_notebooks_own(ename: str, evalue: str) -> None:
    assert verdict_of(raised(ename, evalue)) == ("failed", ename, f"cell 3 raised {ename}: {evalue}", 2)


@pytest.mark.parametrize(
    ("limit", "type_", "message"),
    [
        ("memory", "MemoryError", "ran out of memory (limit 2 GiB) in cell 2"),
        ("processes", "ProcessLimit", "started too many processes or threads (limit 64) in cell 2"),
        ("disk", "DiskLimit", "wrote more than the 1 GiB allowed on disk in cell 2"),
    ],
)
def test_a_limit_the_monitor_stopped_the_run_at(limit: str, type_: str, message: str) -> None:
    trace = Trace(cells_total=3, replies=(ok,), stop="dead", running=1, limit_hit=limit, alive_at_end=False)  # type: ignore[arg-type]
    assert verdict_of(trace) == ("failed", type_, message, 1)


# --- replies that are not "ok" or "error" ---------------------------------------------------------


@pytest.mark.parametrize("status", ["aborted", "unknown", "zzz"])
def test_a_cell_the_kernel_did_not_run_is_not_a_success(status: str) -> None:
    # "aborted" is the protocol's; the others come from a kernel the notebook tampered with. Its
    # exception, one the environment check would explain, is not what happened: the cell did not run.
    trace = Trace(cells_total=2, replies=(ok, CellReply(1, status, "FileNotFoundError", "data/x.csv")))
    message = f"cell 2 was not executed (the kernel answered {status!r})"
    assert verdict_of(trace) == ("failed", "Incomplete", message, 1)


# --- how the run ended ---------------------------------------------------------------------------


def test_a_forged_reply_names_the_cell_that_forged_it_before_any_error() -> None:
    trace = Trace(cells_total=4, replies=(ok, CellReply(3, "error", "ValueError", "v")), stop="error", forged=2)
    message = (
        "cell 3 answered the grader's request itself (the grader received more than one reply to it): "
        "a notebook may not write to its kernel's channels"
    )
    assert verdict_of(trace) == ("failed", "ForgedReply", message, 2)


def test_a_grader_failure_is_never_a_success_even_after_every_cell() -> None:
    trace = Trace(cells_total=1, replies=(ok,), stop="crash", detail="boom")
    message = "the grader failed while running the notebook: boom"
    assert verdict_of(trace) == ("failed", "InternalError", message, None)
    crashed_midway = Trace(cells_total=3, replies=(ok,), stop="crash", running=1, detail="boom")
    assert verdict_of(crashed_midway) == ("failed", "InternalError", message, 1)


@pytest.mark.parametrize(
    ("returncode", "type_", "message"),
    [
        (0, "SystemExit", f"the notebook stopped itself in cell 5 (the kernel exited with code 0); {STOPPED}"),
        (3, "SystemExit", f"the notebook stopped itself in cell 5 (the kernel exited with code 3); {STOPPED}"),
        (-1, "DeadKernel", "the kernel died in cell 5 (killed by SIGHUP)"),
        (-9, "DeadKernel", "the kernel died in cell 5 (killed by SIGKILL)"),
        (-31, "DeadKernel", "the kernel died in cell 5 (killed by SIGSYS)"),
        (-24, "CpuTimeLimit", "used more than 100 s of CPU time in cell 5"),  # SIGXCPU
        (None, "DeadKernel", "the kernel died in cell 5"),
    ],
)
def test_a_kernel_that_died_after_its_last_answer(returncode: int | None, type_: str, message: str) -> None:
    # No cell was running: the death is placed in the last cell that answered (the 5th).
    trace = Trace(cells_total=6, replies=(ok, CellReply(4, "ok")), stop="dead", returncode=returncode)
    status = "timeout" if type_ == "CpuTimeLimit" else "failed"
    assert verdict_of(trace, replace(LIMITS, cpu_time=100)) == (status, type_, message, 4)


def test_the_cpu_limit_is_the_run_timeout_when_it_is_not_set() -> None:
    trace = Trace(cells_total=2, replies=(ok,), stop="dead", running=1, returncode=-24)
    assert verdict_of(trace) == ("timeout", "CpuTimeLimit", "used more than 3 min of CPU time in cell 2", 1)


def test_a_kernel_that_dies_before_any_cell_has_no_cell() -> None:
    trace = Trace(cells_total=2, stop="dead", returncode=-9)
    assert verdict_of(trace) == ("failed", "DeadKernel", "the kernel died in cell ? (killed by SIGKILL)", None)


def test_a_kernel_that_could_not_start() -> None:
    trace = Trace(cells_total=2, stop="start_failed", detail="no such file", kernel_output="  line 1\nboom  ")
    message = "the notebook's kernel could not start: no such file. Kernel output: …line 1\nboom"
    assert verdict_of(trace) == ("failed", "KernelStartError", message, None)
    starved = replace(trace, kernel_output="MemoryError")
    assert verdict_of(starved)[2] == (
        "the notebook's kernel could not start: no such file; it ran out of memory while starting (limit 2 GiB): "
        "raise limits.memory"
    )


def test_a_run_the_monitor_could_not_watch_is_stopped_and_says_why() -> None:
    trace = Trace(cells_total=2, replies=(ok,), stop="dead", running=1, blind="/proc is not readable")
    message = "the grader stopped the notebook because it could not watch it: /proc is not readable"
    assert verdict_of(trace) == ("failed", "InternalError", message, 1)


def test_a_run_that_cannot_be_confirmed_is_incomplete() -> None:
    trace = Trace(cells_total=1, replies=(ok,), unconfirmed=True)
    message = (
        "the kernel did not answer the grader within 10 s after the last cell, so the run cannot be confirmed: "
        "leave no thread or process busy at the end of the notebook"
    )
    assert verdict_of(trace) == ("failed", "Incomplete", message, None)


def test_every_cell_answered_ok_is_the_only_success() -> None:
    assert verdict_of(Trace(cells_total=2, replies=(ok, CellReply(1, "ok")))) == ("completed", None, None, None)
    assert judge(Trace(cells_total=2, replies=(ok, CellReply(1, "ok"))), LIMITS).cells_executed == 2
