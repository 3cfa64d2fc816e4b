"""Run a command under resource limits: ``python -I -S _launch.py [OPTIONS] -- CMD ARG...``.

Options (all optional): ``--memory BYTES``, ``--cpu SECONDS``, ``--processes N``,
``--file-size BYTES``, ``--uid UID``, ``--join FILE`` (repeatable).

The grader starts every notebook kernel through this file. It sets the limits on its own
process, drops to ``--uid`` when started as root, and then execs CMD (bubblewrap, or the
kernel itself when unconfined), so CMD keeps the launcher's pid, session and process group.
It is standard-library only and imports nothing from ``grader``, so it runs under
``python -I -S`` in a few milliseconds.

- Memory is capped with RLIMIT_DATA, not RLIMIT_AS: a kernel with numpy, pandas and
  scikit-learn imported reserves ~1.8 GB of address space (thread stacks, malloc arenas,
  BLAS buffers) while using ~0.5 GB, so a 2 GiB RLIMIT_AS fails a 1.2 GB allocation that
  RLIMIT_DATA allows, and both stop ``bytearray(3 * 2**30)`` with a MemoryError. It is per
  process; the grader also watches the total of the whole tree.
- CPU time (RLIMIT_CPU) is per process: SIGXCPU at the limit, SIGKILL two seconds later.
- Processes (RLIMIT_NPROC) count every task of the real uid on the machine. Under its own
  uid (the grader is root) that is exactly the sandbox's; on a shared account the limit is
  what the account already runs plus ``--processes``.
- File size (RLIMIT_FSIZE) caps each file written.
- No core files.
- ``--join FILE`` writes the launcher's pid into FILE (a cgroup's ``cgroup.procs``) first, so
  CMD and everything it starts are counted and capped by that cgroup from their first byte.
  The grader puts this stage outside bubblewrap (the sandbox does not see /sys/fs/cgroup);
  when joining fails the launcher exits and nothing runs: a run is never less limited than
  the grader meant it to be.
"""

from __future__ import annotations

import os
import resource
import sys

USAGE = (
    "usage: python _launch.py [--memory BYTES] [--cpu SECONDS] [--processes N] [--file-size BYTES] [--uid UID]"
    " [--join CGROUP_PROCS_FILE]... -- COMMAND [ARG...]"
)
OPTIONS = ("--memory", "--cpu", "--processes", "--file-size", "--uid")
JOIN = "--join"


def _cap(limit: int, soft: int, hard: int | None = None) -> None:
    """Lower ``limit`` to ``soft``/``hard`` (never above the current hard limit)."""
    hard = soft if hard is None else hard
    _, current = resource.getrlimit(limit)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(limit, (soft, hard))


def _tasks_of(uid: int) -> int:
    """Threads of every process of ``uid``: what RLIMIT_NPROC counts."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 0").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def parse(argv: list[str]) -> tuple[dict[str, int], list[str], list[str]]:
    """``[--opt N]... [--join FILE]... -- CMD...`` → ({opt: N}, [FILE...], CMD). Exits with the usage otherwise."""
    if "--" not in argv:
        sys.exit(USAGE)
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    if len(options) % 2 or not command:
        sys.exit(USAGE)
    values, joins = {}, []
    for name, value in zip(options[::2], options[1::2], strict=True):
        if name == JOIN and value.startswith("/"):
            joins.append(value)
        elif name in OPTIONS and value.isdigit():
            values[name] = int(value)
        else:
            sys.exit(USAGE)
    return values, command, joins


def _join(procs: str) -> None:
    """Move this process into the cgroup whose ``cgroup.procs`` is ``procs``; exit when it cannot."""
    try:
        with open(procs, "w", encoding="ascii") as handle:
            handle.write(str(os.getpid()))
    except OSError as ex:
        print(f"grader launcher: cannot join the run's cgroup {procs}: {ex.strerror}", file=sys.stderr)
        sys.exit(126)


def main(argv: list[str]) -> None:
    """Apply the limits, drop privileges, exec the command. Never returns on success."""
    values, command, joins = parse(argv)
    for procs in joins:
        _join(procs)
    if "--memory" in values:
        _cap(resource.RLIMIT_DATA, values["--memory"])
    _cap(resource.RLIMIT_CORE, 0)  # a crashing kernel must not dump its memory into the cwd
    if "--cpu" in values:
        _cap(resource.RLIMIT_CPU, values["--cpu"], values["--cpu"] + 2)
    if "--file-size" in values:
        _cap(resource.RLIMIT_FSIZE, values["--file-size"])
    uid = values.get("--uid")
    if "--processes" in values:
        base = 0 if uid is not None and os.geteuid() == 0 else _tasks_of(os.getuid())
        _cap(resource.RLIMIT_NPROC, base + values["--processes"])
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    try:
        os.execvp(command[0], command)  # noqa: S606 - no shell: the argv is exec'd as is
    except OSError as ex:
        print(f"grader launcher: cannot run {command[0]}: {ex.strerror}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
