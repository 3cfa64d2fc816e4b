"""What follows a run, in a process forked before it.

Scoring needs pandas and scikit-learn, over a second of imports (scikit-learn brings
scipy.stats); checking predictions needs pandas. `grader grade` and `grader check` fork a
process when they start: it imports those while the notebook runs, on the other core,
then does the work when the run is done. In a thread the imports would share the
interpreter's lock with the run's own work (the kernel's messages, the monitor, the
progress bar) and slow both: on a trivial notebook the run took 1.36 s instead of 0.75 s,
and the imports still ended 0.35 s after it.

The process only saves time, it decides nothing: when it cannot do the work (it died, or
the work raised), :meth:`Forked.result` answers None and the caller does it in its own process,
which reports what went wrong exactly as it always does. Where fork is not the way to start
a process (anywhere but Linux) the imports run in a thread instead.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Forked(Generic[T]):
    """Fork now and import with ``prepare`` there; :meth:`result` runs ``task(*args)`` there, or :meth:`close`.

    The task and its arguments are the fork's own copies (nothing is sent but the word to
    start); its result comes back pickled. It is run once the caller's work it depends on
    (the run) is done, so it sees the files that work wrote.
    """

    def __init__(self, prepare: Callable[[], object], task: Callable[..., T], *args: Any) -> None:
        self._conn: Connection | None = None
        if sys.platform != "linux":
            threading.Thread(target=_quietly, args=(prepare,), name="grader-warm-up", daemon=True).start()
            return
        import multiprocessing

        context = multiprocessing.get_context("fork")
        mine, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(theirs, mine, prepare, task, args), name="grader-forked", daemon=True
        )
        self._process.start()
        theirs.close()
        self._conn = mine

    def result(self) -> T | None:
        """What the task returned in the forked process; None if it could not be done there (do it here).

        The process ends either way.
        """
        if self._conn is None:
            return None
        try:
            self._conn.send(True)
            done: T | None = self._conn.recv()
        except Exception:  # the process died (or its answer cannot be read): nothing was decided there
            done = None
        self.close()
        return done

    def close(self) -> None:
        """Stop the process without waiting for it (it may still be importing)."""
        if self._conn is None:
            return
        self._conn.close()
        self._conn = None
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


def _quietly(prepare: Callable[[], object]) -> None:
    """Any problem while importing is left for the work itself to report."""
    with contextlib.suppress(Exception):  # reported by the caller, which then does the work itself
        prepare()


def _serve(
    conn: Connection, other: Connection, prepare: Callable[[], object], task: Callable[..., object], args: Any
) -> None:
    """The forked process: import, wait for the word to start, do the task, send its result (None if it raised)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle; it stops this process
    other.close()  # so that the grader's end closing is seen here as the end of the pipe
    _quietly(prepare)
    try:
        conn.recv()
    except EOFError:  # closed unused
        return
    try:
        done = task(*args)
    except BaseException:  # the caller does it again and reports it
        done = None
    try:
        conn.send(done)
    except OSError:  # the grader is gone: nobody to answer
        pass
    except Exception:  # a result that cannot be sent is no result
        conn.send(None)
