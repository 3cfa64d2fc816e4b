"""Scoring in a process of its own, forked before the notebook runs.

Scoring needs pandas and scikit-learn, over a second of imports (scikit-learn brings
scipy.stats). `grader grade` starts them when the run starts so that they are done when
the run is. In a thread they would share the interpreter's lock with the run's own work
(the kernel's messages, the monitor, the progress bar) and slow both: on a trivial notebook
the run took 1.36 s instead of 0.75 s and the imports ended 0.35 s after it. A forked
process imports on the other core without slowing the run, then scores when asked.

The process only saves time, it decides nothing: when it cannot score (it died, the
predictions are bad, the truth is missing, a bug), the caller scores in its own process,
which reports what went wrong exactly as it always does. Where fork is not the way to start
a process (anywhere but Linux) the imports run in a thread instead.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from grader.config import Competition
from grader.store import Packed


@dataclass(frozen=True)
class Scored:
    """The scoring process scored the run (result.json holds the scores) and packed its predictions."""

    packed: Packed | None  # for grader.pipeline.record; None when there is nothing to keep


class Scorer:
    """Start with :meth:`start` before the run; then :meth:`score` once, or :meth:`close`."""

    def __init__(self, process: Any, conn: Connection | None) -> None:
        self._process = process
        self._conn = conn

    @classmethod
    def start(cls, competition: Competition, environ: Mapping[str, str]) -> Scorer:
        """Fork the scoring process (or, without fork, start the imports in a thread)."""
        if sys.platform != "linux":
            threading.Thread(target=warm_up, args=(competition,), name="grader-warm-up", daemon=True).start()
            return cls(None, None)
        import multiprocessing

        context = multiprocessing.get_context("fork")
        mine, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, mine, competition, environ), name="grader-scorer", daemon=True
        )
        process.start()
        theirs.close()
        return cls(process, mine)

    def score(self, out_dir: Path) -> Scored | None:
        """Score the finished run in ``out_dir`` there (result.json updated) and pack its predictions.

        None means nothing was decided: score it here.
        """
        if self._conn is None:
            return None
        try:
            self._conn.send(os.fspath(out_dir))
            scored = self._conn.recv()
        except (EOFError, OSError):  # the process died
            scored = None
        self.close()
        return scored if isinstance(scored, Scored) else None

    def close(self) -> None:
        """Stop the process without waiting for it (it may still be importing)."""
        if self._conn is None:
            return
        self._conn.close()
        self._conn = None
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


def warm_up(competition: Competition) -> None:
    """Import what scoring needs; any problem is left for scoring itself to report."""
    try:
        from grader.score import resolve_metric

        resolve_metric(competition.metric, competition.root)
    except Exception:  # noqa: S110 - reported by score() with its own message
        pass


def _serve(conn: Connection, other: Connection, competition: Competition, environ: Mapping[str, str]) -> None:
    """The scoring process: import, wait for the run's folder, score it, answer whether it did."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle; it stops this process
    other.close()  # so that the grader's end closing is seen here as the end of the pipe
    warm_up(competition)
    try:
        out_dir = conn.recv()
    except EOFError:
        return
    from grader import pipeline
    from grader.rescore import pack

    try:
        result = pipeline.score(Path(out_dir), competition, environ)
        packed = pack(Path(out_dir), competition) if result.public_score is not None else None
    except BaseException:  # the grader scores again and reports it
        conn.send(None)
    else:
        conn.send(Scored(packed))
