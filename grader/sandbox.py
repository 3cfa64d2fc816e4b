"""The sandbox: bubblewrap around the notebook's kernel.

A submission is code from a stranger. Its kernel (and everything the kernel starts) runs
inside ``bwrap`` with:

- new user, PID, network, IPC, UTS and cgroup namespaces: no network at all (the sandbox's
  own loopback reaches nothing of the host's), no view of other processes, no nested user
  namespaces, no capabilities;
- a file system made of read-only binds of the system (``/usr``, ``/etc``, the library
  folders) and of the notebook environment (:mod:`grader.environment`) with the Python
  installation it comes from, never the grader's own virtualenv, a private ``/tmp`` and
  ``/dev/shm`` of bounded size (tmpfs: they hold memory, and the run's memory accounting counts
  them), ``/`` and ``/dev`` remounted read-only (both are tmpfs without a size), the run's
  scratch folder (its working folder, HOME, TMPDIR and the kernel's IPC sockets)
  read-write, and the competition's public data read-only as ``./data``. Nothing else
  exists inside: not the repository, not ``leaderboard/``, not the truth, not the home
  folder, not the host's ``/tmp``;
- when the grader runs as root, an unprivileged uid of its own (so the process limit
  counts only the sandbox's processes, and root-only files stay closed even if a bind
  were wrong);
- ``--die-with-parent``: if the grader dies, the sandbox dies; killing the sandbox's init
  kills every process in its PID namespace, including ones that detached themselves.

The kernel talks to the grader over Unix sockets in the scratch folder, which work across
the network namespace. The environment was already scrubbed by the grader
(:func:`grader.execute.kernel_env`). Resource limits are set by ``_launch.py`` (:func:`confine`)
inside the sandbox before the kernel starts; when the run has a cgroup
(:mod:`grader.cgroup`), a first launcher stage outside bubblewrap joins it (:func:`joined`).

Whether to sandbox is the competition's ``sandbox`` key: ``required`` refuses to run when
bubblewrap cannot work, ``auto`` runs unconfined with a loud warning, ``off`` never
confines. In CI (``CI=true``) it is always ``required``.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.errors import GraderError

LAUNCHER = Path(__file__).with_name("_launch.py").resolve()

Mode = Literal["required", "auto", "off"]
MODES: tuple[Mode, ...] = ("required", "auto", "off")

# Read-only system folders the kernel may need (those that exist are bound; symlinks such as
# /bin -> usr/bin on merged-/usr systems are recreated as symlinks).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# A uid no account uses, for a sandbox started by root (offset by the pid so two concurrent
# runs never share a process count).
SANDBOX_UID_BASE = 1_900_000_000
TMP = "/tmp"  # noqa: S108 - inside the sandbox: a fresh tmpfs, not the host's /tmp
SHM = "/dev/shm"  # noqa: S108 - inside the sandbox: a tmpfs of its own
HOW_TO_INSTALL = (
    "install bubblewrap 0.8 or newer (Debian 12, Ubuntu 24.04: sudo apt-get install bubblewrap); on Ubuntu "
    "24.04, also allow unprivileged user namespaces: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
)


class SandboxUnavailable(GraderError):
    """The competition requires a sandbox and bubblewrap cannot run here."""

    exit_code = 2


@dataclass(frozen=True)
class Sandbox:
    """How one run is confined: the paths to expose and the bwrap binary."""

    bwrap: str
    scratch: Path  # read-write: working folder, HOME, TMPDIR, connection file, sockets
    work: Path  # the notebook's working folder, inside scratch
    data: Path  # the competition's public data, read-only at work/data
    tmp_size: int  # bytes of the sandbox's private /tmp
    runtime: tuple[Path, ...]  # read-only: the Python the kernel runs from (its environment and installation)
    shm_size: int = 64 * 1024**2  # bytes of the sandbox's /dev/shm (POSIX shared memory, multiprocessing)

    def wrap(self, argv: Sequence[str], *, privileged: bool) -> list[str]:
        """The bwrap command line that runs ``argv`` confined.

        ``argv`` starts with the launcher (``_launch.py``), which sets the limits inside. As
        root (``privileged``) there is no user namespace: the launcher gets CAP_SETUID and
        CAP_SETGID only to switch to the sandbox's own uid, which drops every capability;
        otherwise the sandbox runs in a user namespace that may not create another.
        """
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc"]
        args += ["--unshare-uts", "--hostname", "sandbox", "--unshare-cgroup-try"]
        # ipykernel exits when the pid it is given is gone; the grader's pid does not exist in
        # the sandbox's PID namespace (--die-with-parent does that job here).
        args += ["--unsetenv", "JPY_PARENT_PID"]
        if privileged:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--disable-userns"]
        for system in SYSTEM_PATHS:
            if os.path.islink(system):
                args += ["--symlink", os.readlink(system), system]
            elif os.path.isdir(system):
                args += ["--ro-bind", system, system]
        # The sandbox's own /tmp, private and small (TMPDIR points into the scratch folder); /dev's
        # tmpfs has no size, so /dev/shm gets one of its own (and /dev is made read-only below).
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(self.tmp_size), "--tmpfs", TMP]
        args += ["--perms", "1777", "--size", str(self.shm_size), "--tmpfs", SHM]
        readonly = [*_outside_system(self.runtime), LAUNCHER]
        made: set[Path] = {Path("/"), Path(TMP)}
        for path in [*readonly, self.scratch]:
            for parent in reversed(path.parents):  # bwrap would make missing parents 0700
                if parent not in made and not any(parent.is_relative_to(s) for s in SYSTEM_PATHS):
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
        for path in readonly:
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(self.scratch), str(self.scratch)]
        args += ["--ro-bind", str(self.data), str(self.work / "data")]
        # bwrap's / and --dev's /dev are tmpfs without a size, writable in a user namespace: gigabytes
        # of memory nobody counts. Read-only once everything is mounted (each mount on its own).
        args += ["--remount-ro", "/dev", "--remount-ro", "/"]
        return [*args, "--chdir", str(self.work), "--", *argv]


def confine(
    argv: Sequence[str],
    *,
    python: str,
    memory: int,
    cpu: float | None = None,
    processes: int | None = None,
    file_size: int | None = None,
    uid: int | None = None,
) -> list[str]:
    """The command that runs the kernel ``argv`` under the limits (see ``_launch.py``).

    The one place where a kernel command becomes a limited one; the sandbox wraps the result.
    ``python`` runs the launcher (standard library only): the one the kernel runs from, since
    the grader's own Python is not inside the sandbox.
    """
    options = ["--memory", str(memory)]
    if cpu is not None:
        options += ["--cpu", str(max(1, math.ceil(cpu)))]
    if processes is not None:
        options += ["--processes", str(processes)]
    if file_size is not None:
        options += ["--file-size", str(file_size)]
    if uid is not None:
        options += ["--uid", str(uid)]
    return [python, "-I", "-S", str(LAUNCHER), *options, "--", *argv]


def joined(argv: Sequence[str], *, python: str, procs: Sequence[Path]) -> list[str]:
    """``argv`` started in the cgroups whose ``cgroup.procs`` files are ``procs`` (a launcher stage of its own)."""
    if not procs:
        return list(argv)
    options = [arg for path in procs for arg in ("--join", str(path))]
    return [python, "-I", "-S", str(LAUNCHER), *options, "--", *argv]


def python_paths() -> list[Path]:
    """The grader's own Python installation and virtualenv (only the availability probe runs in it)."""
    paths = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    return [*paths, Path(sys.executable).resolve().parent.parent]


def _outside_system(paths: Sequence[Path]) -> list[Path]:
    """``paths`` resolved, minus those already visible through another or through a system folder."""
    resolved = {p.resolve() for p in paths}
    system = [Path(p).resolve() for p in SYSTEM_PATHS if os.path.isdir(p)]
    kept = sorted(p for p in resolved if not any(p != q and p.is_relative_to(q) for q in resolved | set(system)))
    return [p for p in kept if p not in system]


def sandbox_uid() -> int | None:
    """The uid the sandbox runs as when the grader is root; None when it is not root."""
    return SANDBOX_UID_BASE + os.getpid() % 1_000_000 if os.geteuid() == 0 else None


def resolve_mode(configured: Mode, override: Mode | None = None, environ: Mapping[str, str] = os.environ) -> Mode:
    """The mode in force: CI always requires the sandbox; else the override, else the configured one."""
    if environ.get("CI", "").lower() in ("1", "true", "yes"):
        return "required"
    return override or configured


@functools.cache
def availability() -> tuple[str | None, str]:
    """(path to bwrap, "") when a sandbox can start here, else (None, the reason)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bubblewrap (bwrap) is not installed"
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as root:
        scratch = Path(root)
        (scratch / "work" / "data").mkdir(parents=True)
        uid = sandbox_uid()
        if uid is not None:
            for folder in (scratch, scratch / "work"):
                os.chown(folder, uid, uid)
        box = Sandbox(bwrap, scratch, scratch / "work", scratch / "work" / "data", 1024**2, tuple(python_paths()))
        python = sys.executable
        inner = confine([python, "-I", "-S", "-c", "pass"], python=python, memory=512 * 1024**2, uid=uid)
        argv = box.wrap(inner, privileged=uid is not None)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.TimeoutExpired) as ex:
            return None, f"bubblewrap could not start ({ex})"
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.split())[:300] or f"exit code {proc.returncode}"
        return None, f"bubblewrap cannot create a sandbox here ({reason})"
    return bwrap, ""


def choose(mode: Mode) -> str | None:
    """The bwrap to confine with under ``mode``; None to run unconfined. Raises when required and unavailable."""
    if mode == "off":
        return None
    bwrap, reason = availability()
    if bwrap is None and mode == "required":
        raise SandboxUnavailable(f"this competition requires a sandbox, but {reason}. To fix it, {HOW_TO_INSTALL}.")
    return bwrap
