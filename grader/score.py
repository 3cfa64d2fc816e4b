"""Scoring: predictions (checked by :mod:`grader.predictions`) against the hidden truth, with scikit-learn.

The truth's text comes from :mod:`grader.truth` (a sealed file opened with a single-line key,
or a local plain file). It must hold the id, prediction and split columns, only
``public``/``private`` splits (both non-empty) and exactly the ids of the test file. No
message ever contains a truth value, and a failing metric's own message is not shown (it may
quote labels); warnings raised inside the metric are silenced for the same reason.

Heavy libraries (pandas, scikit-learn) are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import math
import numbers
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from grader import result as results
from grader.config import Competition, Metric
from grader.errors import ConfigError, GraderError, InvalidPredictions
from grader.predictions import check_predictions, expected_ids, pack_checked, scorer_version
from grader.result import Result, RunError
from grader.store.vault import Packed
from grader.truth import SPLITS
from grader.truth import load as load_truth

if TYPE_CHECKING:
    import pandas as pd


# --- the truth ---------------------------------------------------------------------------


def require_truth_source(competition: Competition, environ: Mapping[str, str] = os.environ) -> None:
    """Raise :class:`TruthError` saying how to provide the truth when none of its sources exists.

    Cheap (no decryption, no parsing): lets a caller refuse before running a notebook for nothing.
    """
    from grader import truth as truths

    truths.require_source(competition, environ)


# --- the metric --------------------------------------------------------------------------


def resolve_metric(metric: Metric, root: Path) -> Callable[..., Any]:
    """The function named by ``metric.name``: ``sklearn.metrics.<name>`` or ``module:function``.

    A ``module`` is imported with ``root`` (the competition folder) first on ``sys.path``.
    Raises :class:`ConfigError` on ``metric.name`` (with a did-you-mean) or on ``metric.args``
    when the function does not take them.
    """
    name = metric.name.strip()
    if ":" in name:
        func = _custom_metric(name, root)
    else:
        import sklearn.metrics

        public = sorted(n for n in sklearn.metrics.__all__ if callable(getattr(sklearn.metrics, n, None)))
        if name not in public:
            close = difflib.get_close_matches(name, public, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{name!r} is not a function of sklearn.metrics{hint}; use one (e.g. accuracy_score, "
                "mean_squared_error) or `module:function` for your own metric.",
                key="metric.name",
            )
        func = getattr(sklearn.metrics, name)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return func
    try:
        signature.bind(None, None, **metric.args)
    except TypeError as ex:
        raise ConfigError(f"{name} does not accept these arguments ({ex}).", key="metric.args") from None
    return func


def _custom_metric(name: str, root: Path) -> Callable[..., Any]:
    module_name, _, func_name = name.partition(":")
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module_name) or not re.fullmatch(r"[A-Za-z_]\w*", func_name):
        raise ConfigError(f"{name!r} is not `module:function` (e.g. metrics:weighted_error).", key="metric.name")
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as ex:
        raise ConfigError(
            f"cannot import {ex.name!r} for {name!r}; put {module_name.replace('.', '/')}.py in {root}.",
            key="metric.name",
        ) from None
    except Exception as ex:  # the organiser's module failed to import: say how
        raise ConfigError(f"importing {module_name} failed ({type(ex).__name__}: {ex}).", key="metric.name") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(func_name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{module_name} has no function {func_name!r}{hint}.", key="metric.name")
    return func  # type: ignore[no-any-return]


def compute_scores(predictions: pd.DataFrame, truth: pd.DataFrame, competition: Competition) -> tuple[float, float]:
    """(public, private): the metric over each split's rows, at full precision.

    ``predictions`` is the output of :func:`check_predictions`, ``truth`` of :func:`load_truth`.
    """
    return _scores(competition.metric, _arrays(predictions, truth, competition), competition)


# A secondary metric's score on one split, or, when it has none, why (a short text for organisers).
SecondaryValue = float | str


def compute_secondary(
    predictions: pd.DataFrame, truth: pd.DataFrame, competition: Competition
) -> dict[str, tuple[SecondaryValue, SecondaryValue]]:
    """metric name → (public, private) for each of ``metric.secondary``, in their declared order.

    A secondary metric only informs, so one that fails or gives no finite number on a split (a
    ROC AUC on rows of one class) never stops the run from scoring: that split's value is the
    reason instead, naming only the exception's type (its message may quote the truth).
    """
    if not competition.metric.secondary:
        return {}
    arrays = _arrays(predictions, truth, competition)
    found: dict[str, tuple[SecondaryValue, SecondaryValue]] = {}
    for extra in competition.metric.secondary:
        func, metric = _prepared(extra, arrays, competition)
        public, private = (_metric_value(func, metric, *_split(arrays, s)) for s in SPLITS)
        found[extra.name] = (_shown(public, "public"), _shown(private, "private"))
    return found


@dataclass(frozen=True)
class _Arrays:
    """What a metric is called with, for every row: ``y_true``, ``y_pred`` (1-D, or 2-D for several columns), split."""

    y_true: Any
    y_pred: Any
    splits: Any
    classes: list[str] | None  # for class probabilities: the classes, in the order of y_pred's columns


def _arrays(predictions: pd.DataFrame, truth: pd.DataFrame, competition: Competition) -> _Arrays:
    sub = competition.submission
    if set(predictions.index) != set(truth.index) or len(predictions) != len(truth):
        raise GraderError("the predictions and the truth do not have the same ids; check the predictions first.")
    predictions = predictions.loc[truth.index]
    splits = truth[competition.truth.split_column].to_numpy()
    label = competition.truth.label_column
    if sub.distribution and label:
        # sklearn reads the columns of y_pred in the sorted order of the classes (as LabelBinarizer does); each
        # row is rescaled to sum to exactly 1, as the check allowed it to differ by the tolerance.
        classes = sorted(sub.names)
        probabilities = predictions[classes].to_numpy(dtype=float)
        probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
        return _Arrays(truth[label].to_numpy(), probabilities, splits, classes)
    if sub.prediction_columns:
        names = list(sub.names)
        return _Arrays(truth[names].to_numpy(), predictions[names].to_numpy(), splits, None)
    column = sub.prediction_column
    return _Arrays(truth[column].to_numpy(), predictions[column].to_numpy(), splits, None)


def _scores(metric: Metric, arrays: _Arrays, competition: Competition) -> tuple[float, float]:
    func, metric = _prepared(metric, arrays, competition)
    public, private = (_call_metric(func, metric, *_split(arrays, s), s) for s in SPLITS)
    return public, private


def _prepared(metric: Metric, arrays: _Arrays, competition: Competition) -> tuple[Callable[..., Any], Metric]:
    func = resolve_metric(metric, competition.root)
    if arrays.classes is not None and "labels" not in metric.args and _takes(func, "labels"):
        # every class, so that a split without some class still scores every probability column
        metric = replace(metric, args={**metric.args, "labels": arrays.classes})
    return func, metric


def _split(arrays: _Arrays, split: str) -> tuple[Any, Any]:
    rows = arrays.splits == split
    return arrays.y_true[rows], arrays.y_pred[rows]


def _takes(func: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


class _NoScore(NamedTuple):
    """Why a metric gave no score: it raised ``what`` (an exception type), or returned ``what`` (a type, nan, inf)."""

    raised: bool
    what: str

    def reason(self, split: str) -> str:
        """A short reason, naming the exception's type only (its message may quote the truth)."""
        return (
            f"failed on the {split} rows ({self.what})" if self.raised else f"returned {self.what} on the {split} rows"
        )


def _call_metric(func: Callable[..., Any], metric: Metric, y_true: Any, y_pred: Any, split: str) -> float:
    value = _metric_value(func, metric, y_true, y_pred)
    if isinstance(value, float):
        return value
    if value.raised:
        raise GraderError(
            f"the metric {metric.name} {value.reason(split)}; its message is hidden "
            "because it may contain ground-truth values. Check metric.name and metric.args in competition.yaml, "
            "and try the metric on your own data."
        )
    if value.what in ("nan", "inf", "-inf"):
        raise GraderError(f"the metric {metric.name} returned a non-finite score on the {split} rows.")
    raise GraderError(
        f"the metric {metric.name} returned {value.what}, not a number; "
        "use a metric that returns one score (for sklearn's, check `average`)."
    )


def _metric_value(func: Callable[..., Any], metric: Metric, y_true: Any, y_pred: Any) -> float | _NoScore:
    """The metric's finite score, or why there is none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's warnings may quote truth labels
            value = func(y_true, y_pred, **metric.args)
    except Exception as ex:  # any failure of the metric is reported the same way
        return _NoScore(raised=True, what=type(ex).__name__)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _NoScore(raised=False, what=type(value).__name__)
    score = float(value)
    return score if math.isfinite(score) else _NoScore(raised=False, what=str(score))


def _shown(value: float | _NoScore, split: str) -> SecondaryValue:
    return value if isinstance(value, float) else value.reason(split)


# --- a run's directory -------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """A run scored: its result (as written to result.json) and its predictions packed to be kept."""

    result: Result
    packed: Packed | None  # None: nothing to keep (the run did not score)


def score(directory: Path, competition: Competition, environ: Mapping[str, str] = os.environ) -> Scored:
    """Score the run in ``directory`` in one pass: its predictions read and checked once, the truth loaded once.

    result.json is read once and written once, with the scores and the scorer version that produced
    them (a version or secondary scores the run claims are dropped), and the secondary metrics' scores in
    ``extra["secondary"]`` (name → public and private); the checked predictions are packed for
    the store. A run that did not complete keeps its status. Predictions that break the contract turn
    the run ``invalid`` (error type ``InvalidPredictions``, one problem per line). Truth and metric
    errors are raised: they are the organiser's, not the student's.
    """
    result = results.read(directory)
    extra = {k: v for k, v in result.extra.items() if k not in ("scorer_version", "secondary")}  # ours to write
    updated, packed = replace(result, extra=extra), None
    if result.status == "completed":
        try:
            ids = expected_ids(competition)
            predictions = check_predictions(_read(directory, competition), ids, competition.submission)
        except InvalidPredictions as ex:
            updated = replace(updated, status="invalid", error=RunError("InvalidPredictions", str(ex)),
                              public_score=None, private_score=None)  # fmt: skip
        else:
            truth = load_truth(competition, environ)
            public, private = compute_scores(predictions, truth, competition)
            extra["scorer_version"] = scorer_version(competition, truth, environ)
            secondary = compute_secondary(predictions, truth, competition)
            if secondary:
                extra["secondary"] = {name: {"public": pub, "private": priv} for name, (pub, priv) in secondary.items()}
            updated = replace(updated, public_score=public, private_score=private, extra=extra)
            packed = pack_checked(predictions, ids, competition)
    if updated != result:
        results.write(updated, directory)
    return Scored(updated, packed)


def score_run(directory: Path, competition: Competition, environ: Mapping[str, str] = os.environ) -> Result:
    """Score the predictions of the completed run in ``directory`` and update its result.json (see :func:`score`)."""
    return score(directory, competition, environ).result


def current_version(competition: Competition, environ: Mapping[str, str] = os.environ) -> str:
    """The version of the scorer as configured now (reads the truth)."""
    return scorer_version(competition, load_truth(competition, environ), environ)


def _read(directory: Path, competition: Competition) -> pd.DataFrame:
    from grader.predictions import read_predictions

    return read_predictions(directory / competition.submission.predictions, competition.submission)
