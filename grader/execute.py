"""Execute one validated notebook with papermill, under limits, and say what happened.

:func:`execute` is the only public entry point. It always leaves in ``out_dir``:
``executed.ipynb`` (outputs capped), ``result.json``, ``log.txt`` and, when the notebook
wrote an acceptable one, a copy of its predictions file.

How a run goes:

1. A scratch folder is made: ``work/`` is the notebook's cwd (``work/data`` points at the
   competition's public data), ``home/`` its HOME, ``tmp/`` its TMPDIR, plus the kernel's
   connection file and IPC sockets. It is deleted afterwards.
2. The kernel is always ``kernel_name`` (the notebook's kernelspec is ignored); for
   ``python3`` it is ``python -m ipykernel_launcher`` from the competition's notebook
   environment (:mod:`grader.environment`), never the grader's own Python.
   :func:`confine` turns that command into the confined one (``_launch.py`` sets rlimits
   and execs it); a sandbox can wrap that same command later.
3. papermill's engine API runs the cells through a ``PapermillNotebookClient`` subclass
   (:mod:`grader.engine`, imported on first use) that ignores cell tags
   (``skip-execution``, ``raises-exception``), caps outputs while they arrive, and records
   each cell's execute reply in the run's shared state (:class:`Run`).
4. Around it (:func:`_supervised`), a watchdog thread SIGKILLs the kernel's process tree at
   the whole-run deadline; the per-cell timeout is nbclient's. A monitor thread
   (:func:`_monitor`) watches the memory (shared memory too), tasks and disk the run holds,
   from the run's cgroup (:mod:`grader.cgroup`) when it has one; when it cannot look, it
   stops the run.
5. What happened becomes a :class:`Trace` (:func:`_trace`), and the verdict comes from its
   replies (:func:`judge`, pure), never from the outputs.
6. Everything the kernel started is killed before :func:`execute` returns.

The kernel's environment is :func:`kernel_env`: PATH, HOME, TMPDIR, LANG, LC_ALL,
PYTHONHASHSEED, PYDEVD_DISABLE_FILE_VALIDATION, plus JPY_PARENT_PID set by
jupyter_client (ipykernel then adds TERM, CLICOLOR, PAGER, MPLBACKEND... in its own
process). Nothing else of the grader's environment (tokens, secrets) passes.

Unconfined (no sandbox): the limits are per process plus the monitor, a process that
double-forks and calls setsid() escapes the final kill, the network and the file system are
not isolated, ``./data`` is a writable symlink. docs/sandbox.md says what the sandbox adds.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from grader import cgroup
from grader.config import Limits, format_duration, format_size
from grader.result import EXECUTED_NAME, Result, RunError, write
from grader.sandbox import SHM, TMP, Sandbox, confine, joined, sandbox_uid
from grader.untrusted import Unreadable, printable, read_regular

if TYPE_CHECKING:
    import nbformat

    from grader.environment import Environment

log = logging.getLogger(__name__)

NATIVE_KERNEL = "python3"
LOG_NAME = "log.txt"

# error.type values written to result.json besides the exception names a cell raises.
SYSTEM_EXIT = "SystemExit"
MEMORY_ERROR = "MemoryError"
DEAD_KERNEL = "DeadKernel"
CELL_TIMEOUT = "CellTimeout"
RUN_TIMEOUT = "RunTimeout"
CPU_TIME = "CpuTimeLimit"
TOO_MANY_PROCESSES = "ProcessLimit"
DISK_FULL = "DiskLimit"
KERNEL_START = "KernelStartError"
INCOMPLETE = "Incomplete"
INTERNAL = "InternalError"
FORGED_REPLY = "ForgedReply"
NO_NETWORK = "NoNetwork"
MISSING_MODULE = "ModuleNotFoundError"
MISSING_FILE = "FileNotFoundError"

KERNEL_OUTPUT_CAP = 64 * 1024  # what the kernel process prints outside cells (startup errors)
MAX_MESSAGE_CHARS = 300  # an exception message quoted in result.json
CONFIRM_TIMEOUT = 10  # seconds for the kernel to answer the grader's last request (see Run.confirm_timeout)
KILL_WAIT = 2.0  # seconds to wait for killed processes to be gone
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
MONITOR_EVERY = 0.2  # seconds between two looks at the kernel's memory, processes and disk
BLIND_LOOKS = 5  # looks in a row the monitor may fail before the run is stopped
TMPFS_SIZE = 64 * 1024**2  # the sandbox's private /tmp (TMPDIR points into the scratch folder)
MAX_FILES = 100_000  # files in the scratch folder before the run is stopped
MAX_DEPTH = 128  # folders nested deeper than this in the scratch folder stop the run (the monitor cannot look)
SCRATCH_PREFIX = cgroup.PREFIX  # + the grader's pid and start time: a later run sweeps what a killed grader left
SCRATCH_SLACK = 1024**2  # bytes of the scratch tmpfs besides the disk limit and HOME's starting copy
CGROUP_TASKS = 4  # tasks of the sandbox itself (bwrap, its init) besides limits.processes
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# How far a process's resident size in /proc/PID/stat may lag behind the truth: Linux sums it
# lazily from per-CPU counters (file, anon, shmem), each off by at most its batch per CPU.
_CPUS = os.cpu_count() or 1
RSS_SLACK = 3 * max(32, 2 * _CPUS) * _CPUS * _PAGE

# A cell that reached for the network: the exception's name, or the resolver's or socket's words.
_NETWORK_NAMES = frozenset(
    {"URLError", "gaierror", "ConnectionError", "NewConnectionError", "MaxRetryError", "ConnectTimeout",
     "ConnectTimeoutError", "ProxyError", "NameResolutionError", "HTTPError", "RemoteDisconnected"}
)  # fmt: skip
_NETWORK_WORDS = re.compile(
    r"Temporary failure in name resolution|Name or service not known|No address associated with hostname"
    r"|Network is unreachable|Failed to establish a new connection|Failed to resolve|getaddrinfo failed"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,99}")
_MODULE = re.compile(r"No module named '([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z0-9_.]*)?'")
# A cell that installs packages: `%pip install`, `!pip install`, `!python -m pip install`, conda...
_INSTALL = re.compile(r"^\s*(?:!|%{1,2})[^\n]*\b(?:pip3?|conda|mamba|micromamba)\s+install\b", re.M)
_OOM_HINTS = re.compile(r"MemoryError|Cannot allocate memory|bad_alloc|out of memory|failed to allocate", re.I)


# --- the pure part: what happened, and what it means -------------------------------------------


@dataclass(frozen=True)
class CellReply:
    """The part of a cell's execute reply the verdict needs."""

    index: int
    status: str  # "ok", "error" or "aborted"
    ename: str = ""
    evalue: str = ""
    asked_exit: bool = False  # exit()/quit(): an ok reply with an ask_exit payload


Stop = Literal["end", "error", "cell_timeout", "dead", "start_failed", "crash"]
Limit = Literal["memory", "processes", "disk"]


@dataclass(frozen=True)
class Trace:
    """Everything observed about one run, as plain data (see :func:`judge`)."""

    cells_total: int
    replies: tuple[CellReply, ...] = ()
    stop: Stop = "end"
    running: int | None = None  # the cell sent to the kernel and not answered when it stopped
    run_expired: bool = False  # the watchdog killed the kernel at the whole-run deadline
    limit_hit: Limit | None = None  # the monitor killed the kernel at this limit
    sandboxed: bool = False
    alive_at_end: bool = True
    returncode: int | None = None  # the kernel process's, when it is known
    kernel_output: str = ""  # what the kernel process printed outside cells
    detail: str = ""  # the exception text for start_failed / crash
    installs: tuple[int, ...] = ()  # cells whose source installs packages (pip/conda install)
    forged: int | None = None  # a cell whose request got more than one execute_reply
    unconfirmed: bool = False  # the kernel did not answer the grader's request after the last cell
    blind: str = ""  # the monitor could not look (and stopped the run): why


@dataclass(frozen=True)
class Verdict:
    status: Literal["completed", "failed", "timeout"]
    error: RunError | None
    cells_executed: int


Problem = tuple[str, str, int | None]  # error type, message, 0-based cell index


def judge(trace: Trace, limits: Limits) -> Verdict:
    """Turn what happened during a run into a status and an error a student can act on.

    Pure: no kernel, no clock, no disk. Cells are shown 1-based, ``cell_index`` is 0-based.
    """
    done = len(trace.replies)
    problem = _problem(trace, limits)
    if problem is None:
        return Verdict("completed", None, done)
    type_, message, cell = problem
    status: Literal["failed", "timeout"] = "timeout" if type_ in (CELL_TIMEOUT, RUN_TIMEOUT, CPU_TIME) else "failed"
    return Verdict(status, RunError(type_, message, cell), done)


def _problem(trace: Trace, limits: Limits) -> Problem | None:
    """The first thing that went wrong, in the order it matters to the student."""
    if trace.blind:  # the monitor stopped the run, maybe while the kernel was starting
        return INTERNAL, f"the grader stopped the notebook because it could not watch it: {trace.blind}", trace.running
    if trace.stop == "start_failed" and not trace.run_expired:
        return KERNEL_START, _start_failure(trace, limits), None
    if trace.forged is not None:  # before the replies: any of them may be the notebook's own
        n = trace.forged + 1
        message = (
            f"cell {n} answered the grader's request itself (the grader received more than one reply to it): "
            "a notebook may not write to its kernel's channels"
        )
        return FORGED_REPLY, message, trace.forged
    for reply in trace.replies:  # an error reply wins over a watchdog that fired afterwards
        problem = _reply_problem(reply, limits, trace.installs)
        if problem is not None:
            return problem
    where = trace.running
    if trace.run_expired:
        return RUN_TIMEOUT, _run_timeout_message(trace, limits), where
    if trace.limit_hit is not None:
        return _limit_problem(trace.limit_hit, where, limits)
    if trace.stop == "cell_timeout":
        limit = format_duration(limits.cell_timeout)
        return CELL_TIMEOUT, f"cell {_cell_no(where)} ran longer than the {limit} limit per cell", where
    if trace.stop == "dead" or not trace.alive_at_end:
        return _death_problem(trace, limits)
    if trace.stop == "crash":
        return INTERNAL, f"the grader failed while running the notebook: {trace.detail}", where
    if len(trace.replies) < trace.cells_total:
        return INCOMPLETE, f"only {len(trace.replies)} of the {trace.cells_total} code cells ran", where
    if trace.unconfirmed:
        message = (
            f"the kernel did not answer the grader within {format_duration(CONFIRM_TIMEOUT)} after the last cell, "
            "so the run cannot be confirmed: leave no thread or process busy at the end of the notebook"
        )
        return INCOMPLETE, message, None
    return None


def _reply_problem(reply: CellReply, limits: Limits, installs: tuple[int, ...] = ()) -> Problem | None:
    n = reply.index + 1
    if reply.asked_exit or reply.ename == "SystemExit":
        how = "exit()" if reply.asked_exit else f"SystemExit({_clip(reply.evalue)})" if reply.evalue else "SystemExit"
        return SYSTEM_EXIT, _stopped_itself(n, how), reply.index
    if reply.status == "ok":
        return None
    if "MemoryError" in reply.ename:  # numpy raises _ArrayMemoryError
        return MEMORY_ERROR, _out_of_memory(n, limits), reply.index
    # A limit seen from inside: the cell got an error from the system, not from its own code.
    if reply.ename == "BlockingIOError" and "Resource temporarily unavailable" in reply.evalue:
        return _limit_problem("processes", reply.index, limits)
    if reply.ename == "RuntimeError" and "can't start new thread" in reply.evalue:
        return _limit_problem("processes", reply.index, limits)
    if reply.ename == "OSError" and ("File too large" in reply.evalue or "No space left on device" in reply.evalue):
        return _limit_problem("disk", reply.index, limits)
    if reply.ename == "OSError" and "Cannot allocate memory" in reply.evalue:  # the cgroup's limit, seen from inside
        return _limit_problem("memory", reply.index, limits)
    if reply.status == "error" and (environment := _environment_problem(reply, installs)) is not None:
        return environment
    if reply.status == "error":
        ename = reply.ename or "an error"
        message = f"cell {n} raised {ename}" + (f": {_clip(reply.evalue)}" if reply.evalue else "")
        return ename, message, reply.index
    return INCOMPLETE, f"cell {n} was not executed (the kernel answered {reply.status!r})", reply.index


def _environment_problem(reply: CellReply, installs: tuple[int, ...]) -> Problem | None:
    """The classic failures of a notebook written elsewhere: a package, the network, a file it does not ship."""
    n = reply.index + 1
    raised = f"{reply.ename}: {_clip(reply.evalue)}"
    install = [i for i in installs if i <= reply.index]
    no_install = (
        f" Installing packages in the notebook (cell {install[0] + 1}) cannot work: notebooks run without network."
        if install
        else ""
    )
    if reply.ename == "ModuleNotFoundError" and (module := _MODULE.search(reply.evalue)):
        name = module.group(1)
        return (
            MISSING_MODULE,
            f"cell {n} raised {raised}. {name} is not in this competition's environment: the packages notebooks "
            f"can use are listed on the competition's site (How to submit) and by `grader env list`; ask the "
            f"organisers if you need another one.{no_install}",
            reply.index,
        )
    if reply.ename in _NETWORK_NAMES or _NETWORK_WORDS.search(reply.evalue):
        return (
            NO_NETWORK,
            f"cell {n} tried to reach the network ({raised}). Notebooks run without network: read the "
            f"competition's files from data/ and download or install nothing during the run.{no_install}",
            reply.index,
        )
    if reply.ename == "FileNotFoundError":
        return (
            MISSING_FILE,
            f"cell {n} raised {raised}. The notebook runs in an empty folder that holds only the competition's "
            "files, in data/: read your input from data/ and create any other file in the notebook itself.",
            reply.index,
        )
    return None


def installing_cells(nb: nbformat.NotebookNode) -> tuple[int, ...]:
    """The cells whose source installs packages (``%pip install``, ``!pip install``, conda...)."""
    return tuple(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and _INSTALL.search(str(cell.source)))


def _limit_problem(limit: Limit, where: int | None, limits: Limits) -> Problem:
    n = _cell_no(where)
    if limit == "memory":
        return MEMORY_ERROR, _out_of_memory(n, limits), where
    if limit == "processes":
        message = f"started too many processes or threads (limit {limits.processes}) in cell {n}"
        return TOO_MANY_PROCESSES, message, where
    return DISK_FULL, f"wrote more than the {format_size(limits.disk)} allowed on disk in cell {n}", where


def _death_problem(trace: Trace, limits: Limits) -> Problem:
    where = trace.running
    if where is None and trace.replies:
        where = trace.replies[-1].index
    n = _cell_no(where)
    code = trace.returncode
    if _OOM_HINTS.search(trace.kernel_output):
        return MEMORY_ERROR, _out_of_memory(n, limits), where
    if code is not None and code >= 0:
        return SYSTEM_EXIT, _stopped_itself(n, f"the kernel exited with code {code}"), where
    if code == -signal.SIGXCPU:
        cpu = format_duration(limits.cpu_time or limits.run_timeout)
        return CPU_TIME, f"used more than {cpu} of CPU time in cell {n}", where
    how = f" (killed by {_signal_name(-code)})" if code is not None else ""
    return DEAD_KERNEL, f"the kernel died in cell {n}{how}", where


def _stopped_itself(n: int | str, how: str) -> str:
    return (
        f"the notebook stopped itself in cell {n} ({how}); remove sys.exit()/exit()/quit()/os._exit(): "
        "a submission must run to the end"
    )


def _out_of_memory(n: int | str, limits: Limits) -> str:
    return f"ran out of memory (limit {format_size(limits.memory)}) in cell {n}"


def _run_timeout_message(trace: Trace, limits: Limits) -> str:
    limit = f"the notebook ran longer than the {format_duration(limits.run_timeout)} limit for the whole run"
    if trace.running is not None:
        return f"{limit} (stopped in cell {trace.running + 1})"
    if trace.replies:
        return f"{limit} (stopped after cell {trace.replies[-1].index + 1})"
    return f"{limit} (stopped before its first cell ran)"


def _start_failure(trace: Trace, limits: Limits) -> str:
    message = f"the notebook's kernel could not start: {trace.detail or 'unknown reason'}"
    if _OOM_HINTS.search(trace.kernel_output):
        return (
            message + f"; it ran out of memory while starting (limit {format_size(limits.memory)}): raise limits.memory"
        )
    tail = trace.kernel_output.strip()[-300:]
    return message + (f". Kernel output: …{tail}" if tail else "")


def _cell_no(index: int | None) -> str:
    return str(index + 1) if index is not None else "?"


def _clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(printable(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def count_code_cells(nb: nbformat.NotebookNode) -> int:
    """Non-empty code cells: the ones nbclient sends to the kernel."""
    return sum(1 for cell in nb.cells if cell.cell_type == "code" and cell.source.strip())


def kernel_env(home: Path, tmp: Path, threads: int = 1, *, bin_dir: Path) -> dict[str, str]:
    """The whole environment of the kernel: nothing of the grader's own environment passes."""
    return {
        # The notebook environment's Python first, so `python` and `!cmd` resolve as in the kernel.
        "PATH": os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",  # same set/dict order on every run
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # else debugpy warns about frozen modules on each start
        # The same thread counts on a 2-core runner and a 32-core laptop (limits.threads): the
        # same verdict (threads count against limits.processes), comparable run times, and
        # notebooks graded side by side do not fight over the cores.
        **dict.fromkeys(THREAD_VARIABLES, str(threads)),
        "LOKY_MAX_CPU_COUNT": str(threads),
    }


def native_kernel_argv(python: Path, connection_file: str) -> list[str]:
    """The notebook environment's Python running ipykernel: independent of any kernelspec on disk."""
    return [str(python), "-m", "ipykernel_launcher", "-f", connection_file]


# --- the run's shared state --------------------------------------------------------------------


class OutputBudget:
    """At most ``limit`` bytes of outputs in total; after that, outputs are dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.cut = False

    def fits(self, size: int) -> bool:
        return not self.cut and self.used + size <= self.limit

    def spend(self, size: int) -> None:
        self.used += size

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def note(self) -> str:
        return (
            f"[grader] Output cut here: the notebook's outputs reached the {format_size(self.limit)} limit, "
            "so the rest of its output was dropped. The notebook kept running."
        )


class KernelOutput:
    """Drains the kernel process's stdout+stderr from a pipe, keeping the first ``cap`` bytes."""

    def __init__(self, cap: int = KERNEL_OUTPUT_CAP) -> None:
        self.cap = cap
        self.read_fd, self.write_fd = os.pipe()
        self._chunks: list[bytes] = []
        self._kept = 0
        self._thread = threading.Thread(target=self._drain, name="grader-kernel-output", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with open(self.read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                if self._kept < self.cap:
                    self._chunks.append(chunk[: self.cap - self._kept])
                    self._kept += len(self._chunks[-1])

    def close_writer(self) -> None:
        """Our copy of the write end: once the kernel has it, only its processes keep the pipe open."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def text(self, wait: float = 0.0) -> str:
        self.close_writer()
        self._thread.join(wait)
        return b"".join(self._chunks).decode("utf-8", "replace")


@dataclass
class Scratch:
    root: Path
    work: Path
    home: Path
    tmp: Path
    data: Path  # the competition's public data, seen as work/data
    size: int = 0  # bytes of the tmpfs the scratch folder is (0: a folder on the host's disk)
    baseline: tuple[int, int] = (0, 0)  # (bytes, files) in that tmpfs before the kernel started


@dataclass
class Run:
    """What the kernel manager, the client, the hooks and the watchdog share during one run."""

    scratch: Scratch
    limits: Limits
    kernel_name: str
    environment: Environment
    budget: OutputBudget
    output: KernelOutput
    bwrap: str | None = None  # confine the kernel with this bubblewrap; None: unconfined
    uid: int | None = None  # the sandbox's own uid (when the grader is root)
    cgroup: cgroup.Cgroup | None = None  # the run's own cgroup, when this machine gives one
    lock: threading.Lock = field(default_factory=threading.Lock)
    process: subprocess.Popen[bytes] | None = None
    expired: bool = False
    limit_hit: Limit | None = None  # the monitor stopped the run at this limit
    blind: str = ""  # the monitor could not look, and stopped the run: why
    ready: bool = False
    stopped: bool = False  # a cell failed or asked to exit: send no more cells
    running: int | None = None
    replies: list[CellReply] = field(default_factory=list)
    alive_at_end: bool = True
    answered: dict[str, int] = field(default_factory=dict)  # request id -> cell index, once replied
    forged: int | None = None  # the first cell whose request was answered twice
    unconfirmed: bool = False

    def launched(self, process: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.process = process
            if self.expired:  # the deadline passed while the kernel was starting
                kill_process_tree(process.pid)

    def exceed(self, limit: Limit) -> None:
        """Monitor: the whole tree went over ``limit`` (memory, processes or disk)."""
        with self.lock:
            if self.limit_hit is None and not self.expired:
                self.limit_hit = limit
                if self.process is not None:
                    log.info("%s limit reached: killing the kernel (pid %s)", limit, self.process.pid)
                    kill_process_tree(self.process.pid)

    def blinded(self, reason: str) -> None:
        """Monitor: it cannot see what the run holds, so the run stops (fail closed)."""
        with self.lock:
            if not self.blind and self.limit_hit is None and not self.expired:
                self.blind = reason
                if self.process is not None:
                    log.info("cannot watch the kernel (%s): killing it (pid %s)", reason, self.process.pid)
                    kill_process_tree(self.process.pid)

    def command(self, argv: Sequence[str]) -> list[str]:
        """The kernel command ``argv``, limited and (when there is a sandbox) confined."""
        limits = self.limits
        inner = confine(
            argv,
            python=str(self.environment.python),
            memory=limits.memory,
            cpu=limits.cpu_time or limits.run_timeout,
            processes=limits.processes,
            file_size=limits.disk,
            uid=self.uid if self.bwrap else None,
        )
        if self.bwrap is None:
            return inner
        runtime = tuple(self.environment.runtime_paths())
        scratch = self.scratch
        box = Sandbox(self.bwrap, scratch.root, scratch.work, scratch.data, TMPFS_SIZE, runtime, shm_size=limits.memory)
        wrapped = box.wrap(inner, privileged=self.uid is not None)
        if self.cgroup is None:
            return wrapped
        return joined(wrapped, python=str(self.environment.python), procs=self.cgroup.procs)

    # What grader.engine asks of the run when it starts and stops the kernel.
    @property
    def native(self) -> bool:
        """The kernel is the notebook environment's own ipykernel (no kernelspec is looked up)."""
        return self.kernel_name == NATIVE_KERNEL

    def native_argv(self, connection_file: str) -> list[str]:
        return native_kernel_argv(self.environment.python, connection_file)

    def kernel_env(self) -> dict[str, str]:
        scratch = self.scratch
        return kernel_env(scratch.home, scratch.tmp, self.limits.threads, bin_dir=self.environment.bin)

    def own_connection_file(self, path: str) -> None:
        """Give the kernel's connection file to the sandbox's uid, which the kernel reads it as."""
        if self.bwrap and self.uid is not None:
            os.chown(path, self.uid, self.uid)

    @property
    def confirm_timeout(self) -> float:
        """Seconds for the kernel to answer the request the grader sends after the last cell."""
        return CONFIRM_TIMEOUT

    def kill_while_alive(self) -> None:
        """Kill the whole tree while the kernel is alive: once it is dead its children are orphans."""
        process = self.process
        if process is not None and process.poll() is None:
            kill_process_tree(process.pid, wait=KILL_WAIT)

    def expire(self) -> None:
        """Watchdog: the whole-run deadline passed. SIGKILL cannot be ignored by the notebook."""
        with self.lock:
            self.expired = True
            if self.process is not None:
                log.info("whole-run limit reached: killing the kernel (pid %s)", self.process.pid)
                kill_process_tree(self.process.pid)

    # nbclient hooks, called with keyword arguments.
    def on_notebook_start(self, **_: Any) -> None:
        self.ready = True

    def on_cell_execute(self, *, cell_index: int, **_: Any) -> None:
        self.running = cell_index

    def on_cell_executed(self, *, cell: Any, cell_index: int, execute_reply: dict[str, Any] | None, **_: Any) -> None:
        self.running = None
        request = ((execute_reply or {}).get("parent_header") or {}).get("msg_id")
        if isinstance(request, str):
            self.answered[request] = cell_index
        content = (execute_reply or {}).get("content", {})
        payloads = content.get("payload") or []
        ename, evalue = str(content.get("ename") or ""), str(content.get("evalue") or "")
        if content.get("status") == "error" and ename in ("", "NoneType"):
            # IPython answers NoneType when the error came from displaying the result; the
            # error output names it. Only the message comes from outputs, never the verdict.
            ename, evalue = _last_error_output(cell) or (ename, evalue)
        if not _IDENTIFIER.fullmatch(ename):  # a class name is a name: never markup or terminal control
            ename = "Exception"
        reply = CellReply(
            index=cell_index,
            status=str(content.get("status", "missing")),
            ename=ename,
            evalue=evalue,
            asked_exit=any(isinstance(p, dict) and p.get("source") == "ask_exit" for p in payloads),
        )
        self.replies.append(reply)
        if reply.status != "ok" or reply.asked_exit:
            self.stopped = True

    def kernel_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def on_shell_message(self, msg: dict[str, Any]) -> None:
        """Every message the grader reads on the shell channel: a second reply to a request is forged.

        The kernel is the notebook's: code in a cell can send an ``execute_reply`` of its own
        (say ``ok``) before the real one (say ``error``). The kernel answers the requests of
        one channel in order, so the real reply to a cell always arrives before the reply to
        any later request: the forgery shows as a reply to a request already answered.
        """
        if not isinstance(msg, dict) or msg.get("msg_type") != "execute_reply":
            return
        parent = msg.get("parent_header")
        request = parent.get("msg_id") if isinstance(parent, dict) else None
        if isinstance(request, str) and request in self.answered and self.forged is None:
            self.forged = self.answered[request]
            self.stopped = True


def _last_error_output(cell: Any) -> tuple[str, str] | None:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return (str(errors[-1].get("ename", "")), str(errors[-1].get("evalue", ""))) if errors else None


# --- processes ---------------------------------------------------------------------------------


class _Proc(NamedTuple):
    """What /proc/PID/stat says about one process."""

    ppid: int
    pgrp: int
    session: int
    state: str
    threads: int
    rss: int  # bytes resident, from the kernel's counters (see RSS_SLACK)


def _proc_table() -> dict[int, _Proc]:
    """pid → its :class:`_Proc` for every process we can see in /proc (one read of one file each)."""
    table: dict[int, _Proc] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                raw = os.read(fd, 4096)
            finally:
                os.close(fd)
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()  # the command name may contain spaces and ')'
        if len(fields) >= 22:
            state = fields[0].decode("ascii", "replace")
            table[int(name)] = _Proc(int(fields[1]), int(fields[2]), int(fields[3]), state, int(fields[17]),
                                     int(fields[21]) * _PAGE)  # fmt: skip
    return table


def _tree(pid: int, table: dict[int, _Proc]) -> set[int]:
    """``pid``, its descendants, and whatever is in its process group or session."""
    children: dict[int, list[int]] = {}
    for child, proc in table.items():
        children.setdefault(proc.ppid, []).append(child)
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found |= {p for p, proc in table.items() if pid in (proc.pgrp, proc.session)}
    return found - {os.getpid()}


def kill_process_tree(pid: int, wait: float = 0.0) -> None:
    """SIGKILL the kernel ``pid`` (a session leader), its group, session and descendants.

    Descendants are found before anything dies (an orphan loses its parent link). A process
    that double-forks and calls setsid() escapes this; the sandbox's PID namespace will not.
    """
    victims: set[int] = {pid}
    if os.path.isdir("/proc"):
        victims |= _tree(pid, _proc_table())
    for victim in victims:
        with _quiet():
            os.kill(victim, signal.SIGKILL)
    if pid != os.getpgrp():
        with _quiet():
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while wait and time.monotonic() < deadline and _alive(victims - {pid}):
        time.sleep(0.02)


class Unwatchable(Exception):
    """The monitor cannot measure what the run holds; the message says why, for the student."""


class Held(NamedTuple):
    memory: int  # bytes: the processes' proportional sizes plus shared memory they hold outside them
    tasks: int
    deleted: int  # bytes of deleted files still open on the scratch folder's file system


def held_by(pid: int, under: int | None = None, scratch: Path | None = None) -> Held:
    """What ``pid`` and its descendants hold, for a run without a cgroup.

    Memory is the proportional set sizes (pages shared between forked processes count once;
    mapped shared memory is in them) plus what is held outside any process: the used space of
    the sandbox's ``/tmp`` and ``/dev/shm`` (tmpfs) and open memfds or deleted tmpfs files.
    Tasks count threads, as RLIMIT_NPROC does. With ``scratch``, deleted files still open on
    its file system are counted as disk.

    Proportional sizes make the kernel walk every page table (milliseconds for a process with
    scikit-learn loaded, five times a second); the resident sizes already read from
    /proc/PID/stat are free and never smaller. With ``under``, when even the resident total
    (plus :data:`RSS_SLACK` per process) is at most ``under``, that bound is returned instead:
    the tree is within ``under`` either way, and a comparison with it gives the same answer.
    """
    table = _proc_table()
    members = [m for m in _tree(pid, table) if m in table]
    tasks = sum(table[m].threads for m in members)
    scratch_dev = os.stat(scratch).st_dev if scratch is not None else None
    shared, deleted = _held_outside(members, scratch_dev)
    bound = sum(table[m].rss + RSS_SLACK for m in members) + shared
    if under is not None and bound <= under:
        return Held(bound, tasks, deleted)
    memory = shared
    for member in members:
        try:
            with open(f"/proc/{member}/smaps_rollup", "rb") as rollup:
                memory += next((int(line.split()[1]) * 1024 for line in rollup if line.startswith(b"Pss:")), 0)
        except (OSError, ValueError):
            continue  # it ended while we looked
    return Held(memory, tasks, deleted)


def _held_outside(members: Sequence[int], scratch_dev: int | None) -> tuple[int, int]:
    """(shared memory, deleted disk) the processes hold outside their own memory.

    Only what the process tree holds open counts here; a SysV segment nobody has attached is
    invisible from outside the sandbox's IPC namespace (the cgroup counts it; see docs/sandbox.md).
    """
    own = os.readlink("/proc/self/ns/mnt")
    shared = deleted = 0
    tmpfs: set[int] = set()
    inside = next((m for m in members if _mount_ns(m) not in (None, own)), None)
    if inside is not None:  # the sandbox's own tmpfs mounts, seen through one of its processes
        for mount in (TMP, SHM):
            path = f"/proc/{inside}/root{mount}"
            try:
                tmpfs.add(os.stat(path).st_dev)
                used, _ = filesystem_usage(Path(path))
            except (FileNotFoundError, ProcessLookupError):
                continue
            shared += used
    seen: set[tuple[int, int]] = set()
    for member in members:
        try:
            fds = os.listdir(f"/proc/{member}/fd")
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while we looked
        for fd in fds:
            path = f"/proc/{member}/fd/{fd}"
            try:
                target = os.readlink(path)
                if not (target.startswith("/memfd:") or target.endswith(" (deleted)")):
                    continue
                st = os.stat(path)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if (st.st_dev, st.st_ino) in seen or st.st_dev in tmpfs or not stat.S_ISREG(st.st_mode):
                continue
            seen.add((st.st_dev, st.st_ino))
            if st.st_dev == scratch_dev:
                deleted += st.st_blocks * 512
            elif target.startswith("/memfd:"):  # the sandbox has no other writable place
                shared += st.st_blocks * 512
    return shared, deleted


def _mount_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except (FileNotFoundError, ProcessLookupError):
        return None


def disk_usage(root: Path, max_files: int = MAX_FILES) -> tuple[int, int]:
    """(bytes, files) under ``root``: the blocks really allocated (sparse files count what they hold,
    fallocate what it reserved), stopping once over ``max_files`` entries.

    Walks without recursion and relative to an open folder, so no depth or name length makes
    it fail on its own; raises :class:`Unwatchable` for what it cannot see (a folder it may
    not read, folders nested deeper than :data:`MAX_DEPTH`).
    """
    size = files = 0
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    top = os.open(root, flags)
    stack = [(top, os.scandir(top))]  # one open folder per level: depth-first, at most MAX_DEPTH deep
    try:
        while stack and files <= max_files:
            fd, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                entries.close()
                os.close(fd)
                stack.pop()
                continue
            files += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            size += st.st_blocks * 512
            if not stat.S_ISDIR(st.st_mode):
                continue
            if len(stack) > MAX_DEPTH:
                raise Unwatchable(f"the notebook made folders nested more than {MAX_DEPTH} deep")
            try:
                child = os.open(entry.name, flags, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as ex:
                where = printable(entry.name)[:100]
                raise Unwatchable(f"it cannot look into the notebook's folder {where!r} ({ex.strerror})") from None
            stack.append((child, os.scandir(child)))
    finally:
        for fd, entries in stack:
            entries.close()
            os.close(fd)
    return size, files


def _alive(pids: set[int]) -> bool:
    """Any of ``pids`` still running (a zombie is dead: it only waits for its parent)?"""
    if not os.path.isdir("/proc"):
        return False
    table = _proc_table()
    return any(p in table and table[p].state != "Z" for p in pids)


def _quiet() -> AbstractContextManager[None]:
    return suppress(ProcessLookupError, PermissionError)


# --- the papermill engine (grader/engine.py: imported on first use, it is slow to import) --------


def prepare_engine() -> None:
    """Import and register the execution engine now (it is slow to import) rather than at the first run."""
    from grader import engine

    engine.register()


# --- the I/O around it -------------------------------------------------------------------------


def execute(
    nb: nbformat.NotebookNode,
    out_dir: Path,
    *,
    notebook_name: str,
    notebook_sha256: str,
    data_dir: Path,
    predictions_name: str,
    limits: Limits,
    max_predictions_size: int,
    environment: Environment,
    run_id: str | None = None,
    progress: bool = False,
    kernel_name: str = NATIVE_KERNEL,
    bwrap: str | None = None,
) -> Result:
    """Run the (already validated) notebook ``nb`` and describe the run.

    The notebook runs in a fresh scratch folder where ``./data`` is ``data_dir``, with the
    kernel ``kernel_name`` (never its own kernelspec) from ``environment``, under ``limits`` (per cell, whole run,
    memory, output size). Writes ``out_dir/executed.ipynb``, ``result.json`` and ``log.txt``
    every time, and copies ``predictions_name`` from the notebook's cwd into ``out_dir`` when
    it is a regular file of at most ``max_predictions_size`` bytes. With ``bwrap`` (from
    :func:`grader.sandbox.choose`) the kernel runs in the sandbox; without, unconfined.

    Never raises: any failure, including the grader's own, is a "failed" :class:`Result`.
    When it returns, the kernel and every process it started are dead.
    """
    clock = time.monotonic()
    result = Result(
        status="failed",
        run_id=run_id or uuid.uuid4().hex,
        notebook=notebook_name,
        notebook_sha256=notebook_sha256,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        runtime_seconds=0.0,
        cells_total=count_code_cells(nb),
        extra={"kernel": kernel_name, "sandbox": "bubblewrap" if bwrap else "none"},
    )
    executed = _prepare(nb, kernel_name)
    uid = sandbox_uid() if bwrap else None
    kernel_output = ""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _check_file_name(predictions_name)
        with (
            _scratch(data_dir, environment.home, sandboxed=bwrap is not None, uid=uid, disk=limits.disk) as scratch,
            _cgroup(limits, scratch, sandboxed=bwrap is not None) as group,
        ):
            budget = OutputBudget(limits.max_output)
            run = Run(scratch, limits, kernel_name, environment, budget, KernelOutput(), bwrap, uid, group)
            trace = _run(executed, run, out_dir / EXECUTED_NAME, progress)
            budget = run.budget
            verdict = judge(trace, limits)
            kernel_output = trace.kernel_output
            result = replace(
                result,
                status=verdict.status,
                error=verdict.error,
                cells_executed=verdict.cells_executed,
                extra={**result.extra, **_run_facts(trace, budget)},
            )
            result = _collect_predictions(result, scratch.work / predictions_name, out_dir, max_predictions_size)
    except Exception as ex:  # the promise: no traceback escapes, the evidence is still written
        log.exception("grader: running %s failed", notebook_name)
        result = result.failed("failed", INTERNAL, f"the grader failed while running the notebook: {_clip(str(ex))}")
    result = replace(result, runtime_seconds=round(time.monotonic() - clock, 3))
    _write_evidence(result, executed, out_dir, kernel_output, limits)
    return result


def _run_facts(trace: Trace, budget: OutputBudget) -> dict[str, Any]:
    facts: dict[str, Any] = {"output_truncated": budget.cut}
    if trace.stop == "dead" or not trace.alive_at_end:  # else it is our own SIGKILL at the end
        facts["kernel_exit_code"] = trace.returncode
    return facts


def _check_file_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"predictions must be a plain file name, not {name!r}")


def _prepare(nb: nbformat.NotebookNode, kernel_name: str) -> nbformat.NotebookNode:
    """A copy with the metadata papermill's execution manager expects (what load_notebook_node adds)."""
    executed = copy.deepcopy(nb)
    executed.metadata["papermill"] = {"default_parameters": {}, "parameters": {}, "environment_variables": {}}
    # Say what really ran it, not what the notebook asked for.
    executed.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name, "language": "python"}
    for cell in executed.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata["papermill"] = {}
    return executed


@contextmanager
def _scratch(data_dir: Path, home: Path, *, sandboxed: bool, uid: int | None, disk: int) -> Iterator[Scratch]:
    """The run's folders; its HOME starts as a copy of ``home`` (caches the environment prebuilt).

    As root, a sandboxed run's scratch folder is a tmpfs of its own sized at ``disk`` (plus
    HOME's copy): deleted-but-open files, ``fallocate`` and sparse files cannot take more of
    the machine than that, the blocks are counted by the file system (no walk), and the whole
    folder is gone at once when it is unmounted. Otherwise it is a folder on the host's disk,
    walked by the monitor. Named after the grader's process: a grader killed mid-run leaves
    it behind, and the next run sweeps it (:func:`sweep_leftovers`).
    """
    sweep_leftovers()
    root = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{cgroup.owner_tag()}-"))
    mounted = 0
    try:
        if sandboxed and os.geteuid() == 0:
            home_bytes, home_files = _plain_size(home)
            mounted = _mount_tmpfs(root, disk + home_bytes + SCRATCH_SLACK, MAX_FILES + home_files + 64)
        scratch = Scratch(
            root=root, work=root / "work", home=root / "home", tmp=root / "tmp", data=data_dir.resolve(), size=mounted
        )
        for folder in (scratch.work, scratch.tmp):
            folder.mkdir()
        if home.is_dir():
            shutil.copytree(home, scratch.home, symlinks=True)
        else:
            scratch.home.mkdir()
        if sandboxed:  # a mount point: the sandbox binds the data there, read-only
            (scratch.work / "data").mkdir()
        else:  # unconfined: a plain symlink is all there is
            (scratch.work / "data").symlink_to(scratch.data, target_is_directory=True)
        if uid is not None:  # the sandbox's uid owns what the notebook may write
            for folder in (root, scratch.work, scratch.tmp, *_walk(scratch.home)):
                os.chown(folder, uid, uid, follow_symlinks=False)
        if mounted:
            scratch = replace(scratch, baseline=filesystem_usage(root))
        yield scratch
    finally:
        if mounted:
            _unmount(root)
        _remove_tree(root)


@contextmanager
def _cgroup(limits: Limits, scratch: Scratch, *, sandboxed: bool) -> Iterator[cgroup.Cgroup | None]:
    """The run's cgroup (None where the machine gives none): memory, plus the scratch tmpfs it is charged with."""
    group = cgroup.create(limits.memory + scratch.size, limits.processes + CGROUP_TASKS) if sandboxed else None
    try:
        yield group
    finally:
        if group is not None:
            group.remove()


def sweep_leftovers() -> None:
    """Remove the scratch folders (and cgroups) of graders that were killed mid-run."""
    temp = tempfile.gettempdir()
    with suppress(OSError):
        for entry in os.scandir(temp):
            if entry.name.startswith(SCRATCH_PREFIX) and not cgroup.owner_alive(entry.name):
                log.info("removing %s, left by a grader that was killed", entry.path)
                if os.path.ismount(entry.path):
                    _unmount(Path(entry.path))
                _remove_tree(Path(entry.path))
    cgroup.sweep()


def _plain_size(folder: Path) -> tuple[int, int]:
    """(bytes, entries) of a folder of the grader's own (HOME's skeleton): small and trusted."""
    size = count = 0
    for path in _walk(folder) if folder.is_dir() else ():
        with _quiet_os():
            size += path.lstat().st_size + 4096
            count += 1
    return size, count


def _mount_tmpfs(root: Path, size: int, files: int) -> int:
    """Mount a tmpfs of ``size`` bytes and ``files`` inodes on ``root``; its size, or 0 when it cannot."""
    options = f"size={size},nr_inodes={files},mode=0700"
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "grader-run", str(root)], capture_output=True)
    except OSError:
        return 0
    if proc.returncode != 0:
        log.info("the scratch folder is not a tmpfs of its own: %s", proc.stderr.decode(errors="replace").strip())
        return 0
    return size


def _unmount(root: Path) -> None:
    with _quiet_os():
        subprocess.run(["umount", "--lazy", str(root)], capture_output=True)


def filesystem_usage(path: Path) -> tuple[int, int]:
    """(bytes, files) used on the file system at ``path``."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_files - st.f_ffree


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            yield Path(folder, name)


def _remove_tree(root: Path) -> None:
    """rmtree that survives the notebook's chmod 000 on its own folders and trees too deep for Python."""
    with suppress(Exception):  # Python's rmtree recurses: a deep tree raises RecursionError
        shutil.rmtree(root, ignore_errors=True)
    if os.path.lexists(root):  # coreutils walk any depth; chmod first: folders the notebook closed to itself
        with _quiet_os():
            subprocess.run(["chmod", "-R", "u+rwx", "--", str(root)], capture_output=True)
            subprocess.run(["rm", "-rf", "--one-file-system", "--", str(root)], capture_output=True)
    if os.path.lexists(root):
        log.warning("could not remove the scratch folder %s", root)


def _quiet_os() -> AbstractContextManager[None]:
    return suppress(OSError)


def _run(executed: nbformat.NotebookNode, run: Run, output_path: Path, progress: bool) -> Trace:
    """Execute ``executed`` in place; return what happened. Kills everything before returning."""
    from grader import engine  # before the watchdog starts: the import is the grader's time, not the notebook's

    with _supervised(run):
        stop, detail = engine.run_cells(executed, run, output_path, progress)
    return _trace(executed, run, stop, _clip(detail))


@contextmanager
def _supervised(run: Run) -> Iterator[None]:
    """The watchdog (whole-run deadline) and the monitor (:func:`_monitor`) around the run;
    on the way out, the kernel's whole process tree is killed and reaped."""
    watchdog = threading.Timer(run.limits.run_timeout, run.expire)
    watchdog.daemon = True
    watchdog.start()
    done = threading.Event()
    monitor = threading.Thread(target=_monitor, args=(run, done), name="grader-monitor", daemon=True)
    monitor.start()
    try:
        yield
    finally:
        watchdog.cancel()
        done.set()
        process = run.process
        with run.lock:
            if process is not None:
                kill_process_tree(process.pid, wait=KILL_WAIT)
                _reap(process)
        run.output.close_writer()
        monitor.join()
        _note_oom(run)


def _trace(executed: nbformat.NotebookNode, run: Run, stop: Stop, detail: str) -> Trace:
    """What the run's shared state says happened, as plain data for :func:`judge`."""
    process = run.process
    returncode = process.returncode if process is not None else None
    if run.bwrap and returncode is not None and returncode > 128:  # bwrap: 128 + the signal that killed the kernel
        returncode = 128 - returncode
    return Trace(
        cells_total=count_code_cells(executed),
        replies=tuple(run.replies),
        forged=run.forged,
        unconfirmed=run.unconfirmed,
        stop=stop,
        running=run.running,
        run_expired=run.expired,
        limit_hit=run.limit_hit,
        alive_at_end=run.alive_at_end,
        returncode=returncode,
        kernel_output=run.output.text(wait=1.0),
        detail=detail,
        sandboxed=run.bwrap is not None,
        installs=installing_cells(executed),
        blind=run.blind,
    )


def _monitor(run: Run, done: threading.Event) -> None:
    """Watch what the kernel's sandbox holds: memory (shared memory too), tasks, disk.

    The rlimits are per process; this is the total. It fails closed: when it cannot look (a
    folder it cannot read, a tree too deep, anything unexpected) the run stops with an
    internal-error verdict that says so (:meth:`Run.blinded`), and nothing is printed.
    """
    rounds = failures = 0
    while not done.wait(MONITOR_EVERY):
        process = run.process
        if process is None or process.poll() is not None:
            continue
        rounds += 1
        try:
            over = _look(run, process.pid, disk_too=rounds % 5 == 0 or failures > 0)
            failures = 0
        except Exception as ex:  # fail closed: an unwatched run does not go on
            # A process changing credentials (bwrap setting up) is briefly closed to us: look again,
            # but for at most BLIND_LOOKS looks in a row.
            failures += 1
            if failures >= BLIND_LOOKS:
                reason = str(ex) if isinstance(ex, Unwatchable) else f"{type(ex).__name__}: {ex}"
                run.blinded(_clip(reason))
                return
            continue
        if over is not None:
            run.exceed(over)


def _look(run: Run, pid: int, *, disk_too: bool) -> Limit | None:
    """One look: the limit the run is over, if any. Raises when it cannot see."""
    limits, scratch = run.limits, run.scratch
    disk: int | None = None
    files = 0
    if scratch.size:  # a tmpfs of its own: the file system counts every block, deleted files and fallocate too
        used, files = filesystem_usage(scratch.root)
        disk, files = used - scratch.baseline[0], files - scratch.baseline[1]
    if run.cgroup is not None:
        usage = run.cgroup.usage()
        if usage.oom_kills:
            return "memory"
        memory, tasks, deleted = usage.memory - max(0, disk or 0), usage.tasks, 0
    else:
        held = held_by(pid, under=limits.memory, scratch=None if scratch.size else scratch.root)
        memory, tasks, deleted = held.memory, held.tasks, held.deleted
    if memory > limits.memory:
        return "memory"
    if tasks >= limits.processes:
        return "processes"
    if disk is None and disk_too:
        disk, files = disk_usage(scratch.root)
        disk += deleted
    if disk is not None and (disk > limits.disk or files > MAX_FILES):
        return "disk"
    return None


def _note_oom(run: Run) -> None:
    """The kernel killed a process at the cgroup's memory limit: that is the run's verdict."""
    if run.cgroup is None:
        return
    try:
        killed = run.cgroup.usage().oom_kills
    except OSError:
        return
    with run.lock:
        if killed and run.limit_hit is None and not run.expired and not run.blind:
            run.limit_hit = "memory"


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:
        log.warning("the kernel (pid %s) did not die after SIGKILL", process.pid)


def _collect_predictions(result: Result, source: Path, out_dir: Path, max_size: int) -> Result:
    """Copy the predictions file when it is a regular file of at most ``max_size`` bytes."""
    name = source.name
    try:
        data = read_regular(source, max_size)
    except Unreadable as ex:
        if ex.reason == "missing" and result.status != "completed":  # a failed run has a better explanation
            return result
        problem = {
            "missing": f"the notebook did not write {name} in its working folder",
            "symlink": f"{name} is a symbolic link, not a file; it was not copied",
            "directory": f"{name} is not a regular file; it was not copied",
            "special": f"{name} is not a regular file; it was not copied",
            "too_large": f"{name} is larger than the {format_size(max_size)} limit; it was not copied",
            "unreadable": f"{name} could not be read ({ex.detail}); it was not copied",
        }[ex.reason]
        return replace(result, predictions=None, extra={**result.extra, "predictions_problem": problem})
    (out_dir / name).write_bytes(data)
    return replace(result, predictions=name)


def _write_evidence(
    result: Result, executed: nbformat.NotebookNode, out_dir: Path, kernel_output: str, limits: Limits
) -> None:
    """executed.ipynb, log.txt, result.json: each on its own, so one failing keeps the others."""
    import nbformat

    def save_notebook() -> None:
        target = out_dir / EXECUTED_NAME
        temporary = out_dir / f".{EXECUTED_NAME}.tmp"
        # Unsplit strings: a capped stream of short lines would triple in size as a JSON list.
        text: str = nbformat.writes(executed, split_lines=False)  # type: ignore[no-untyped-call]
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)

    steps = (
        ("executed notebook", save_notebook),
        (
            "log",
            lambda: (out_dir / LOG_NAME).write_text(run_log(result, executed, kernel_output, limits), encoding="utf-8"),
        ),
        ("result", lambda: write(result, out_dir)),
    )
    for what, step in steps:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            step()
        except Exception:
            log.exception("grader: could not write the %s to %s", what, out_dir)


def run_log(result: Result, executed: nbformat.NotebookNode, kernel_output: str, limits: Limits) -> str:
    """log.txt: the verdict, then each cell's stdout/stderr (already capped), then the kernel's own output."""
    lines = [f"run {result.run_id}: {result.notebook}: {result.status}"]
    if result.error is not None:
        lines.append(f"error ({result.error.type}): {result.error.message}")
    lines.append(f"cells executed: {result.cells_executed} of {result.cells_total}")
    lines.extend(f"{key}: {value}" for key, value in sorted(result.extra.items()))
    for index, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines.append(f"--- cell {index + 1} {output.get('name', 'stream')} ---")
                lines.append(str(output.get("text", "")).rstrip("\n"))
            elif output.get("output_type") == "error":
                lines.append(f"--- cell {index + 1} error ---")
                lines.append(printable("\n".join(map(str, output.get("traceback", [])))).rstrip("\n"))
    if kernel_output.strip():
        lines.append("--- kernel process output ---")
        lines.append(kernel_output.rstrip("\n"))
    text = "\n".join(lines) + "\n"
    cap = limits.max_output + KERNEL_OUTPUT_CAP + 4096
    return text if len(text) <= cap else text[:cap] + "\n[grader] log cut at its size limit\n"
