"""The moment the competition's rules are judged at.

Whether a submission is on time, which day's quota it counts against, whether `/final` is
still open, what the site says is "now": the library decides these at a moment it is given
(``now``), never by reading the clock itself. Only the edges read it — the `grader` command and
the MkDocs plugin — through :func:`from_environ`: the real clock, or the fixed moment in
``GRADER_NOW`` (to reproduce a past decision, or to test on any day). How long a run took is a
measurement, not a rule, and stays on the real clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from grader.errors import UsageError

ENV = "GRADER_NOW"

Clock = Callable[[], datetime]


def parse(text: str) -> datetime:
    """An ISO 8601 date and time with a UTC offset (``Z`` allowed); ValueError otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date and time, e.g. 2026-12-01T14:30:00+01:00") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. 2026-12-01T14:30:00+01:00 or ...Z")
    return moment


def real() -> datetime:
    """The real clock, as an aware datetime."""
    return datetime.now(UTC)


def from_environ(environ: Mapping[str, str] = os.environ) -> Clock:
    """The clock to judge by: fixed at ``GRADER_NOW`` when it is set, else :func:`real`."""
    text = environ.get(ENV, "").strip()
    if not text:
        return real
    try:
        fixed = parse(text)
    except ValueError as ex:
        raise UsageError(f"${ENV}: {ex}") from None
    return lambda: fixed
