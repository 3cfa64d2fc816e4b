"""Rescoring: every recorded submission scored again, from its stored predictions, by the current scorer.

What a scorer version is and how predictions are packed: :mod:`grader.predictions`. The store
keeps the packed predictions beside the database (:mod:`grader.store.vault`), sealed when
there is a key.

:func:`rescore` reads them back, checks them against today's contract, scores them against
today's truth with today's metric and replaces every score in one transaction with an audit
row; only submissions scored by the new version rank afterwards. Submissions that cannot be
rescored (recorded before predictions were stored, or whose predictions no longer fit the
contract) keep their old score and version and are listed: they no longer rank.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.config import Competition
from grader.errors import InvalidPredictions
from grader.rules import check_login, check_reason
from grader.store import AdminAction, Store

if TYPE_CHECKING:
    from grader.gitsync import Git, Pushed


@dataclass(frozen=True)
class Rescored:
    """What :func:`rescore` did. Never holds a private score."""

    action: AdminAction
    version: str
    previous: str | None
    rescored: int
    changed: int  # submissions whose public score changed
    not_rescored: list[tuple[int, str]]  # (submission id, why): they keep their old score and no longer rank
    pushed: Pushed | None = None


def rescore(
    competition: Competition,
    db: Path,
    *,
    by: str,
    reason: str,
    now: datetime,
    environ: Mapping[str, str] = os.environ,
    push: Git | None = None,
) -> Rescored:
    """Score every completed submission again from its stored predictions, under the current scorer.

    The secondary metrics are computed again too (a secondary metric added since a run was
    recorded gets its values; one removed loses them).

    Reads the truth and checks the metric first: if either is wrong nothing changes. Then one
    transaction replaces the scores, makes the new version current, writes the audit row and
    rebuilds the leaderboard; the CSV files are rewritten in full (and pushed with ``push``).
    """
    from grader.changes import change, commit_message
    from grader.predictions import check_predictions, expected_ids, ids_digest, scorer_version, unpack
    from grader.score import compute_scores, compute_secondary, resolve_metric
    from grader.truth import load as load_truth

    check_login(by)
    reason = check_reason(reason)
    truth = load_truth(competition, environ)
    for metric in (competition.metric, *competition.metric.secondary):
        resolve_metric(metric, competition.root)
    version = scorer_version(competition, truth, environ)
    ids = [str(i) for i in expected_ids(competition)]
    digest = ids_digest(ids)
    sub = competition.submission
    found: dict[str, Any] = {}

    def apply(store: Store) -> AdminAction:
        found["previous"] = store.versions().current
        completed = {row.id: row for row in store.all_submissions() if row.status == "completed"}
        scores: dict[int, tuple[float, float]] = {}
        secondary: dict[int, dict[str, tuple[float | str, float | str]]] = {}
        skipped: list[tuple[int, str]] = []
        stored = store.stored_predictions()
        for sid, stored_digest, data in stored:
            if stored_digest != digest:
                skipped.append((sid, "the test ids changed since it was recorded"))
                continue
            try:
                frame = check_predictions(unpack(data, ids, competition), expected_ids(competition), sub)
            except InvalidPredictions as ex:
                skipped.append((sid, f"its predictions do not fit the contract now ({ex.problems[0]})"))
                continue
            scores[sid] = compute_scores(frame, truth, competition)
            secondary[sid] = compute_secondary(frame, truth, competition)
        have = {sid for sid, _, _ in stored}
        skipped += [(sid, "no stored predictions (recorded before grader kept them)") for sid in completed
                    if sid not in have]  # fmt: skip
        found["changed"] = sum(1 for sid, (public, _) in scores.items() if completed[sid].score != public)
        found["rescored"] = len(scores)
        found["skipped"] = sorted(skipped)
        return store.rescore(scores, version=version, by=by, reason=reason, now=now, competition=competition,
                             secondary=secondary)  # fmt: skip

    action, pushed = change(
        competition, db, apply, message=commit_message("rescore", f"scorer {version}", reason), push=push,
        environ=environ,
    )  # fmt: skip
    return Rescored(
        action=action,
        version=version,
        previous=found["previous"],
        rescored=found["rescored"],
        changed=found["changed"],
        not_rescored=found["skipped"],
        pushed=pushed,
    )
