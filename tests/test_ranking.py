from __future__ import annotations

import math
import random

import pytest

from grader.ranking import Entry, Scored, Standing, best_submission, better, improves, rank


def entry(user: str, score: float, at: str = "2026-11-02T10:00:00.000000Z", sid: int = 1) -> Entry:
    return Entry(user, score, sid, at, at, 1)


def table(standings: list[Standing]) -> list[tuple[int, str]]:
    return [(s.rank, s.username) for s in standings]


def test_better_follows_direction_and_full_precision() -> None:
    assert better(0.9000000001, 0.9, True)
    assert not better(0.9, 0.9000000001, True)
    assert better(0.9, 0.9000000001, False)
    assert not better(0.5, 0.5, True) and not better(0.5, 0.5, False)
    assert better(0.1, math.nan, True) and not better(math.nan, 0.1, True)


def test_higher_is_better() -> None:
    standings = rank([entry("a", 0.5), entry("b", 0.9), entry("c", 0.7)], greater_is_better=True, ties="earliest")
    assert table(standings) == [(1, "b"), (2, "c"), (3, "a")]


def test_lower_is_better() -> None:
    standings = rank([entry("a", 0.5), entry("b", 0.9), entry("c", -0.7)], greater_is_better=False, ties="earliest")
    assert table(standings) == [(1, "c"), (2, "a"), (3, "b")]


def test_full_precision_is_never_rounded() -> None:
    standings = rank([entry("a", 0.9), entry("b", 0.9000000001)], greater_is_better=True, ties="shared")
    assert table(standings) == [(1, "b"), (2, "a")]
    assert standings[0].best_score == 0.9000000001


def test_ties_earliest_then_username() -> None:
    entries = [
        entry("zed", 0.8, "2026-11-02T10:00:00.000000Z"),
        entry("amy", 0.8, "2026-11-03T10:00:00.000000Z"),
        entry("bob", 0.8, "2026-11-02T10:00:00.000000Z"),
        entry("top", 0.9, "2026-11-05T10:00:00.000000Z"),
    ]
    assert table(rank(entries, greater_is_better=True, ties="earliest")) == [
        (1, "top"), (2, "bob"), (3, "zed"), (4, "amy"),
    ]  # fmt: skip


def test_ties_shared_skip_the_next_rank() -> None:
    entries = [entry("d", 0.7), entry("c", 0.8), entry("b", 0.8), entry("a", 0.9), entry("e", 0.7)]
    assert table(rank(entries, greater_is_better=True, ties="shared")) == [
        (1, "a"), (2, "b"), (2, "c"), (4, "d"), (4, "e"),
    ]  # fmt: skip


def test_missing_and_nan_scores_never_rank() -> None:
    entries = [entry("a", math.nan), entry("b", 0.1), entry("c", None)]  # type: ignore[arg-type]
    assert table(rank(entries, greater_is_better=True, ties="shared")) == [(1, "b")]


def test_ranking_is_deterministic_whatever_the_input_order() -> None:
    rng = random.Random(7)
    entries = [
        entry(f"user{i}", rng.choice([0.5, 0.75, 0.9, 0.9000000001]), f"2026-11-0{rng.randint(1, 9)}T00:00:00.000000Z")
        for i in range(60)
    ]
    for ties in ("earliest", "shared"):
        expected = rank(entries, greater_is_better=True, ties=ties)
        for _ in range(5):
            rng.shuffle(entries)
            assert rank(entries, greater_is_better=True, ties=ties) == expected


def test_rank_refuses_a_participant_twice_and_unknown_ties() -> None:
    with pytest.raises(ValueError, match="once"):
        rank([entry("a", 0.1), entry("a", 0.2)], greater_is_better=True, ties="earliest")
    with pytest.raises(ValueError, match="tie rule"):
        rank([], greater_is_better=True, ties="random")  # type: ignore[arg-type]


def test_best_submission_prefers_better_then_earliest() -> None:
    subs = [
        Scored(3, 0.8, "2026-11-03T00:00:00.000000Z"),
        Scored(1, 0.7, "2026-11-01T00:00:00.000000Z"),
        Scored(4, 0.8, "2026-11-02T00:00:00.000000Z"),
        Scored(5, None, "2026-11-01T00:00:00.000000Z"),
        Scored(6, math.nan, "2026-11-01T00:00:00.000000Z"),
    ]
    assert best_submission(subs, greater_is_better=True) == subs[2]
    assert best_submission(subs, greater_is_better=False) == subs[1]
    assert best_submission(reversed(subs), greater_is_better=True) == subs[2]
    assert best_submission([], greater_is_better=True) is None
    assert not improves(subs[3], None, greater_is_better=True)
