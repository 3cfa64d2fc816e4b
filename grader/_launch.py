"""Run a command under resource limits: ``python -I -S _launch.py --memory BYTES -- CMD ARG...``.

The grader starts every notebook kernel through this file. It sets the limits on its own
process and then execs CMD, so the kernel keeps the launcher's pid, session and process
group (the grader kills that group at the end). It is standard-library only and imports
nothing from ``grader``, so it runs under ``python -I -S`` in a few milliseconds and a
sandbox (bubblewrap) can later wrap the very same command line.

Memory is capped with RLIMIT_DATA, not RLIMIT_AS: a kernel with numpy, pandas and
scikit-learn imported reserves ~1.8 GB of address space (thread stacks, malloc arenas,
BLAS buffers) while using ~0.5 GB, so a 2 GiB RLIMIT_AS fails a 1.2 GB allocation that
RLIMIT_DATA allows, and both stop ``bytearray(3 * 2**30)`` with a MemoryError.
The limits are per process: children get their own copy (a cgroup is the real fix).
"""

from __future__ import annotations

import os
import resource
import sys

USAGE = "usage: python _launch.py --memory BYTES -- COMMAND [ARG...]"


def _cap(limit: int, value: int) -> None:
    """Lower both the soft and hard ``limit`` to ``value`` (never above the current hard limit)."""
    _, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def main(argv: list[str]) -> None:
    """Parse ``--memory BYTES -- CMD...``, apply the limits, exec CMD. Never returns on success."""
    if "--" not in argv:
        sys.exit(USAGE)
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    if len(options) != 2 or options[0] != "--memory" or not options[1].isdigit() or not command:
        sys.exit(USAGE)
    _cap(resource.RLIMIT_DATA, int(options[1]))
    # A crashing kernel must not write a core file of up to the memory limit into its cwd.
    _cap(resource.RLIMIT_CORE, 0)
    try:
        os.execvp(command[0], command)  # noqa: S606 - no shell: the argv is exec'd as is
    except OSError as ex:
        print(f"grader launcher: cannot run {command[0]}: {ex.strerror}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
