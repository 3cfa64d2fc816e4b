"""Small text helpers shared by the rules, the site, the charts and the command line (pure).

Spreadsheet formulas are defused where CSV files are written (:func:`grader.store.exports.defuse`).
"""

from __future__ import annotations

import math
from datetime import timedelta

MAX_MESSAGE_CHARS = 2000  # a stored error message: student-controlled, and it ends up in a committed CSV


def clip(text: str, width: int, *, squeeze: bool = True) -> str:
    """``text`` cut to ``width`` characters, ending with ``…`` when it was cut; ``squeeze`` makes it one line first."""
    if squeeze:
        text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def clip_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A stored message cut to ``limit`` characters, saying that it was."""
    return message if len(message) <= limit else message[:limit] + " … (truncated)"


def duration(delta: timedelta, *, days: bool = False, round_up: bool = True) -> str:
    """``3 min``, ``2 h 05 min`` (or ``1 d 2 h`` with ``days``): at least a minute, rounded up or down."""
    exact = delta.total_seconds() / 60
    minutes = max(1, math.ceil(exact) if round_up else int(delta.total_seconds() // 60))
    whole_days, minutes = divmod(minutes, 24 * 60) if days else (0, minutes)
    hours, minutes = divmod(minutes, 60)
    if whole_days:
        return f"{whole_days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
