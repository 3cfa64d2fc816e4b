"""Who beats whom: the best submission per participant, and the order of the leaderboard.

Pure functions on data, no I/O. Scores are compared at full precision (never rounded:
0.9000000001 beats 0.9); rounding is for display only. A missing or NaN score never ranks.
Timestamps are the store's fixed-width UTC strings (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), so
comparing them as strings compares them in time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

Ties = Literal["earliest", "shared"]
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One participant's best submission, as the leaderboard shows it."""

    username: str
    best_score: float
    best_submission_id: int
    achieved_at: str  # when the best submission was made (UTC ISO)
    last_submission_at: str
    submission_count: int


@dataclass(frozen=True)
class Standing:
    """An :class:`Entry` with its place. Equal ``rank`` values only under ``ties: shared``."""

    rank: int
    entry: Entry

    @property
    def username(self) -> str:
        return self.entry.username

    # The entry's fields, readable from the standing itself.
    @property
    def best_score(self) -> float:
        return self.entry.best_score

    @property
    def best_submission_id(self) -> int:
        return self.entry.best_submission_id

    @property
    def achieved_at(self) -> str:
        return self.entry.achieved_at

    @property
    def last_submission_at(self) -> str:
        return self.entry.last_submission_at

    @property
    def submission_count(self) -> int:
        return self.entry.submission_count


@dataclass(frozen=True)
class Scored:
    """One completed submission of a participant, as far as choosing their best goes."""

    submission_id: int
    score: float | None
    timestamp: str


def rankable(score: float | None) -> bool:
    """A score that can take a place on the leaderboard (not missing, not NaN)."""
    return score is not None and not math.isnan(score)


def better(a: float, b: float, greater_is_better: bool) -> bool:
    """Whether score ``a`` is strictly better than ``b``. A number beats NaN; NaN beats nothing."""
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a > b if greater_is_better else a < b


def improves(new: Scored, current: Scored | None, *, greater_is_better: bool) -> bool:
    """Whether ``new`` replaces ``current`` as a participant's best.

    A better score wins; among equal scores the earlier submission stays (then the lower id),
    so the result does not depend on the order in which submissions are recorded.
    """
    if new.score is None or not rankable(new.score):
        return False
    if current is None or current.score is None or not rankable(current.score):
        return True
    if better(new.score, current.score, greater_is_better):
        return True
    if new.score == current.score:
        return (new.timestamp, new.submission_id) < (current.timestamp, current.submission_id)
    return False


def best_submission(submissions: Iterable[Scored], *, greater_is_better: bool) -> Scored | None:
    """A participant's best among their completed submissions (earliest among equals), or None."""
    best: Scored | None = None
    for candidate in submissions:
        if improves(candidate, best, greater_is_better=greater_is_better):
            best = candidate
    return best


def rank(entries: Iterable[Entry], *, greater_is_better: bool, ties: Ties) -> list[Standing]:
    """Order participants best first and number them.

    ``ties="earliest"``: among equal scores, whoever achieved it first ranks higher (then the
    username, so the order is always the same); every rank is distinct.
    ``ties="shared"``: equal scores share a rank and the next rank skips (1, 2, 2, 4); within a
    tie, rows are ordered by username.
    Entries without a usable score (None, NaN) are left out.
    """
    if ties not in ("earliest", "shared"):
        raise ValueError(f"unknown tie rule {ties!r}; use 'earliest' or 'shared'")
    scored = [entry for entry in entries if rankable(entry.best_score)]
    names = [entry.username for entry in scored]
    if len(set(names)) != len(names):
        raise ValueError("each participant must appear once in the entries to rank")

    def score_key(entry: Entry) -> float:
        # Negation is exact for floats, so this orders on full precision.
        return -entry.best_score if greater_is_better else entry.best_score

    if ties == "earliest":
        ordered = sorted(scored, key=lambda e: (score_key(e), e.achieved_at, e.username))
    else:
        ordered = sorted(scored, key=lambda e: (score_key(e), e.username))
    numbers = places([entry.best_score for entry in ordered], ties)
    return [Standing(rank=n, entry=entry) for n, entry in zip(numbers, ordered, strict=True)]


def places(scores: Sequence[float], ties: Ties) -> list[int]:
    """The ranks of scores already in leaderboard order (best first, in :func:`rank`'s order).

    ``earliest``: 1, 2, 3, ...; ``shared``: equal scores share a rank and the next one skips
    (1, 2, 2, 4).
    """
    if ties == "earliest":
        return list(range(1, len(scores) + 1))
    numbers: list[int] = []
    for i, score in enumerate(scores):
        numbers.append(numbers[-1] if i and scores[i - 1] == score else i + 1)
    return numbers


def place(
    ranked: Iterable[tuple[int, float, T]], baselines: Iterable[tuple[float, str, T]], *, greater_is_better: bool
) -> list[tuple[int | None, T]]:
    """The board as shown: the ranked rows, each baseline (rank None) slotted in where its score sits.

    ``ranked`` is (rank, score, row) in leaderboard order; ``baselines`` (score, name, row), in
    any order. A baseline goes below every participant with a score at least as good, so it
    never takes a place from anyone; baselines without a usable score are left out.
    """
    waiting = sorted(
        (b for b in baselines if rankable(b[0])),
        key=lambda b: (-b[0] if greater_is_better else b[0], b[1]),
    )
    rows: list[tuple[int | None, T]] = []
    for number, score, row in ranked:
        while waiting and better(waiting[0][0], score, greater_is_better):
            rows.append((None, waiting.pop(0)[2]))
        rows.append((number, row))
    rows += [(None, b[2]) for b in waiting]
    return rows


def place_standings(
    standings: Iterable[Standing], baselines: Iterable[Entry], *, greater_is_better: bool
) -> list[tuple[int | None, Entry]]:
    """:func:`place` for standings and baseline entries."""
    return place(
        ((s.rank, s.best_score, s.entry) for s in standings),
        ((b.best_score, b.username, b) for b in baselines),
        greater_is_better=greater_is_better,
    )
