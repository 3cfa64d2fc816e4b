"""Rescoring: every recorded submission scored again, from its stored predictions, by the current scorer.

The *scorer version* names what produced a score: the metric (name, arguments, direction),
the submission contract (columns, type), the truth and grader's major.minor version. It is a
12-character hash. The truth enters it only as an HMAC keyed with ``GRADER_PRIVATE_KEY`` when
that key is set, so the version published in the repository is no oracle for guessing labels
(without a key it is a plain hash of the truth, as for a local competition whose truth is a file).

Predictions are packed when a completed run is recorded (:func:`pack`): the values only, in
the order of the test file's ids (a digest of those ids is kept to notice a changed test
file), compressed with zlib, then sealed by the store when there is a key. Values that are
each one character (class labels 0-9, say) are packed as one string of them (format 2); any
others as compact JSON (format 1). The store keeps them in append-only files beside the
database (:meth:`grader.store.Store._store_predictions`).
They are the student's output, not the truth, but a top submission's predictions would be
worth copying, so they are never stored in clear where a key is configured.

:func:`rescore` reads them back, checks them against today's contract, scores them against
today's truth with today's metric and replaces every score in one transaction with an audit
row; only submissions scored by the new version rank afterwards. Submissions that cannot be
rescored (recorded before predictions were stored, or whose predictions no longer fit the
contract) keep their old score and version and are listed: they no longer rank.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import __version__
from grader.config import Competition
from grader.errors import ConfigError, InvalidPredictions
from grader.rules import check_login, check_reason
from grader.store import AdminAction, Packed, Store

if TYPE_CHECKING:
    import pandas as pd

    from grader.gitsync import Git, Pushed

PACK_FORMAT = 1  # b'[1,[values...]]': any values, as JSON
PACK_CHARS = 2  # b'2\n' and then the values, each one character: a third smaller than JSON once compressed
MAX_UNPACKED_BYTES = 256 * 1024**2  # a stored blob never inflates beyond this


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


def ids_digest(ids: Sequence[str]) -> str:
    """A short digest of the test ids in their order: packed values are meaningless with other ids."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def scorer_version(competition: Competition, truth: pd.DataFrame, environ: Mapping[str, str] = os.environ) -> str:
    """The version of the scorer: metric, contract, grader's major.minor, and (keyed) the truth."""
    from grader.sealing import KEY_ENV

    metric, sub = competition.metric, competition.submission
    spec = json.dumps(
        {
            "grader": ".".join(__version__.split(".")[:2]),
            "metric": metric.name.strip(),
            "args": metric.args,
            "greater_is_better": metric.greater_is_better,
            "columns": [sub.id_column, sub.prediction_column, sub.prediction_type, competition.truth.split_column],
        },
        sort_keys=True,
        default=str,
    )
    key = (environ.get(KEY_ENV) or "").strip().encode("utf-8") or b"grader-scorer-version"
    fingerprint = hmac.new(key, truth.to_csv().encode("utf-8"), hashlib.sha256).hexdigest()
    return hashlib.sha256(f"{spec}\n{fingerprint}".encode()).hexdigest()[:12]


def current_version(competition: Competition, environ: Mapping[str, str] = os.environ) -> str:
    """The version of the scorer as configured now (reads the truth)."""
    from grader.score import load_truth

    return scorer_version(competition, load_truth(competition, environ), environ)


def pack(out_dir: Path, competition: Competition) -> Packed | None:
    """The predictions of the run in ``out_dir``, checked and packed; None when there are none that fit."""
    from grader.score import check_predictions, expected_ids, read_predictions

    sub = competition.submission
    try:
        ids = expected_ids(competition)
        frame = check_predictions(read_predictions(out_dir / sub.predictions, sub), ids, sub)
    except (InvalidPredictions, ConfigError):
        return None
    values = frame[sub.prediction_column].tolist()
    shown = [_shown(v) for v in values]
    if all(len(v) == 1 for v in shown):
        text = f"{PACK_CHARS}\n" + "".join(shown)
    else:
        text = json.dumps([PACK_FORMAT, values], separators=(",", ":"), allow_nan=False)
    return Packed(ids_digest([str(i) for i in ids]), zlib.compress(text.encode("utf-8"), 9))


def _shown(value: Any) -> str:
    """A predicted value as text, as :func:`grader.score.read_predictions` would have read it."""
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def unpack(data: bytes, ids: Sequence[str], competition: Competition) -> pd.DataFrame:
    """Packed values back as a predictions table of strings, as :func:`grader.score.read_predictions` gives."""
    import pandas as pd

    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, MAX_UNPACKED_BYTES)
    except zlib.error:
        raise InvalidPredictions(["the stored predictions are damaged"]) from None
    if inflater.unconsumed_tail:
        raise InvalidPredictions(["the stored predictions are too large"])
    try:
        if text.startswith(b"%d\n" % PACK_CHARS):
            values: Any = list(text[2:].decode("utf-8"))
        else:
            fmt, values = json.loads(text)
            values = values if fmt == PACK_FORMAT else None
    except (ValueError, TypeError):
        raise InvalidPredictions(["the stored predictions are damaged"]) from None
    if not isinstance(values, list) or len(values) != len(ids):
        raise InvalidPredictions(["the stored predictions do not match the test ids"])
    sub = competition.submission
    shown = [_shown(v) for v in values]
    frame = pd.DataFrame({sub.id_column: list(ids), sub.prediction_column: shown}, dtype=object)
    frame.index = pd.Index(range(2, len(ids) + 2), name="line")
    frame.attrs["name"] = "the stored predictions"
    return frame


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

    Reads the truth and checks the metric first: if either is wrong nothing changes. Then one
    transaction replaces the scores, makes the new version current, writes the audit row and
    rebuilds the leaderboard; the CSV files are rewritten in full (and pushed with ``push``).
    """
    from grader.changes import change, commit_message
    from grader.score import check_predictions, compute_scores, expected_ids, load_truth, resolve_metric

    check_login(by)
    reason = check_reason(reason)
    truth = load_truth(competition, environ)
    resolve_metric(competition.metric, competition.root)
    version = scorer_version(competition, truth, environ)
    ids = [str(i) for i in expected_ids(competition)]
    digest = ids_digest(ids)
    sub = competition.submission
    found: dict[str, Any] = {}

    def apply(store: Store) -> AdminAction:
        found["previous"] = store.versions().current
        completed = {row.id: row for row in store.all_submissions() if row.status == "completed"}
        scores: dict[int, tuple[float, float]] = {}
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
        have = {sid for sid, _, _ in stored}
        skipped += [(sid, "no stored predictions (recorded before grader kept them)") for sid in completed
                    if sid not in have]  # fmt: skip
        found["changed"] = sum(1 for sid, (public, _) in scores.items() if completed[sid].score != public)
        found["rescored"] = len(scores)
        found["skipped"] = sorted(skipped)
        return store.rescore(scores, version=version, by=by, reason=reason, now=now, competition=competition)

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


def stamp(out_dir: Path, competition: Competition, environ: Mapping[str, str] = os.environ) -> None:
    """Write the scorer version into a scored run's result.json (and drop one a run claims without a score)."""
    from dataclasses import replace

    from grader import result as results

    result = results.read(out_dir)
    extra = {k: v for k, v in result.extra.items() if k != "scorer_version"}
    if result.status == "completed" and result.public_score is not None:
        extra["scorer_version"] = current_version(competition, environ)
    if extra != result.extra:
        results.write(replace(result, extra=extra), out_dir)
