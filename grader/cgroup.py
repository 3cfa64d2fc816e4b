"""A cgroup for one run: the kernel counts and caps every byte and every task of the sandbox.

Memory a notebook holds is not always a process's memory: a memfd, a POSIX or SysV shared
memory segment, a file in a tmpfs. No rlimit sees those, and a monitor adding up processes
sees them only partly. A memory cgroup charges all of them to the run, and its limit holds
at once, between two looks of the monitor; a pids cgroup caps the tasks the same way.

Where the grader may make one (as root; or where its own cgroup v2 is delegated to it with
the memory controller enabled for its children), :func:`create` makes a child of the
grader's own cgroup named after the grader's process (:func:`owner_tag`), the launcher joins
it before starting bubblewrap, and :meth:`Cgroup.remove` kills what is left and removes it.
A grader killed with SIGKILL leaves its cgroup behind; the next run's :func:`sweep` removes
those whose grader is gone.

cgroup v1 (separate ``memory`` and ``pids`` hierarchies, as on this project's development
machine) and cgroup v2 (one hierarchy: ``memory.max``, ``memory.swap.max``, ``pids.max``,
as on GitHub's runners) are both read and written here; nothing else in the grader knows
which one it is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PREFIX = "grader-run-"


@dataclass(frozen=True)
class Usage:
    """What the cgroup holds now."""

    memory: int  # anonymous memory plus shared memory (tmpfs, memfd, SysV, POSIX): not the page cache
    tasks: int
    oom_kills: int  # processes the kernel killed at the memory limit


@dataclass(frozen=True)
class Cgroup:
    """A run's cgroup: ``memory`` (and ``pids``, a folder of its own in cgroup v1)."""

    version: Literal[1, 2]
    memory: Path
    pids: Path | None

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.memory,) if self.pids is None else (self.memory, self.pids)

    @property
    def procs(self) -> tuple[Path, ...]:
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return tuple(folder / "cgroup.procs" for folder in self.folders)

    def usage(self) -> Usage:
        """Anonymous + shared memory, tasks, OOM kills. Raises OSError when the cgroup cannot be read."""
        stat = _keyed((self.memory / "memory.stat").read_text(encoding="ascii"))
        if self.version == 2:
            memory = stat.get("anon", 0) + stat.get("shmem", 0)
            events = _keyed((self.memory / "memory.events").read_text(encoding="ascii"))
            tasks = int((self.memory / "pids.current").read_text(encoding="ascii"))
        else:
            memory = stat.get("total_rss", stat.get("rss", 0)) + stat.get("total_shmem", stat.get("shmem", 0))
            events = _keyed((self.memory / "memory.oom_control").read_text(encoding="ascii"))
            tasks = int((self.pids / "pids.current").read_text(encoding="ascii")) if self.pids else 0
        return Usage(memory=memory, tasks=tasks, oom_kills=events.get("oom_kill", 0))

    def remove(self) -> None:
        """Kill whatever is still in the cgroup, then remove it (quietly: a leftover is swept later)."""
        for folder in self.folders:
            _remove(folder)


def _keyed(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def _remove(folder: Path) -> None:
    for _ in range(50):  # a killed process leaves its cgroup a moment after the signal
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text(encoding="ascii").split()]
        except OSError:
            return  # already gone
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    log.warning("could not remove the run's cgroup %s", folder)


def owner_tag(pid: int | None = None) -> str:
    """``<pid>-<start time>`` of this process (or ``pid``): names what a run leaves, so a sweep knows its owner."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{_start_time(pid)}"


def _start_time(pid: int) -> int:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return -1
    return int(raw[raw.rfind(b")") + 2 :].split()[19])


def owner_alive(name: str) -> bool:
    """Whether the grader named in ``name`` (``grader-run-<pid>-<start time>-...``) still runs; True for other names."""
    parts = name.removeprefix(PREFIX).split("-")
    if not name.startswith(PREFIX) or len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return True
    return _start_time(int(parts[0])) == int(parts[1])


def _own(controller: str) -> tuple[Literal[1, 2], Path] | None:
    """(version, folder) of this process's cgroup for ``controller``, when one is mounted where we look."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            folder = ROOT / controller / path.lstrip("/")
            if (folder / "cgroup.procs").is_file():
                return 1, folder
    unified = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), None)
    if unified is not None:
        folder = ROOT / unified.lstrip("/")
        try:
            controllers = (folder / "cgroup.subtree_control").read_text(encoding="ascii").split()
        except OSError:
            return None
        if controller in controllers:
            return 2, folder
    return None


def create(memory: int, tasks: int) -> Cgroup | None:
    """A new cgroup capping anonymous + shared memory + page cache at ``memory`` bytes (no swap)
    and the tasks at ``tasks``; None when this machine does not let the grader make one."""
    own = _own("memory")
    if own is None:
        return None
    version, parent = own
    name = f"{PREFIX}{owner_tag()}-{os.urandom(4).hex()}"
    made: list[Path] = []
    try:
        folder = parent / name
        folder.mkdir()
        made.append(folder)
        pids = None
        if version == 2:
            _write(folder / "memory.max", memory)
            _write(folder / "memory.swap.max", 0, optional=True)
            _write(folder / "pids.max", tasks, optional=not (folder / "pids.max").exists())
        else:
            _write(folder / "memory.limit_in_bytes", memory)
            _write(folder / "memory.memsw.limit_in_bytes", memory, optional=True)  # no swap either
            pid_parent = _own("pids")
            if pid_parent is not None and pid_parent[0] == 1:
                pids = pid_parent[1] / name
                pids.mkdir()
                made.append(pids)
                _write(pids / "pids.max", tasks)
        return Cgroup(version, folder, pids)
    except OSError as ex:
        log.info("no cgroup for this run (%s): the monitor alone counts its memory", ex)
        for folder in reversed(made):
            _remove(folder)
        return None


def _write(path: Path, value: int, *, optional: bool = False) -> None:
    try:
        path.write_text(str(value), encoding="ascii")
    except OSError:
        if not optional:
            raise


def sweep() -> None:
    """Remove the cgroups of graders that are gone (SIGKILLed mid-run), killing what is left in them."""
    for controller in ("memory", "pids"):
        own = _own(controller)
        if own is None:
            continue
        for folder in _leftovers(own[1]):
            _remove(folder)


def _leftovers(parent: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            if entry.name.startswith(PREFIX) and entry.is_dir(follow_symlinks=False) and not owner_alive(entry.name):
                yield Path(entry.path)
