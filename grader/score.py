"""Predictions checked strictly, then scored with scikit-learn against the hidden truth.

The predictions file comes from a student's run: it is untrusted data. It is read only when
it is a regular file (not a symlink) no larger than ``submission.max_predictions_size``,
parsed with the :mod:`csv` module so that every value stays a string, and only then
converted by :func:`check_predictions`, which decides the types (pandas never guesses).

Rules chosen, each a line of the contract students see:

* **Header**: exactly the id column and the prediction column (``id,label`` in the demo), in
  either order. Extra, missing or repeated columns are problems; an unnamed first column gets
  the hint ``to_csv(..., index=False)``. A UTF-8 byte-order mark (Excel writes one) and
  spaces around the header names are ignored.
* **Ids** are compared as strings after stripping spaces, so ``10203`` and `` 10203 `` are the
  same id but ``10203.0`` is not (it gets a hint: write ids exactly as in the test file).
  Every id of the test file needs exactly one row; missing, repeated, unknown and empty ids
  are each one problem with a few examples.
* **Values** are stripped, then: ``integer`` accepts whole numbers, also written as floats
  (``3``, ``+3``, ``3.0``, ``3e0``) but not ``3.5`` or ``three``; ``float`` accepts any finite
  decimal number; ``string`` accepts any non-empty text except the spellings pandas gives a
  missing value (``nan``, ``NaN``, ``<NA>``, ``NaT``). Empty values, NaN and infinities are
  refused for every type.
* Blank lines are skipped; a line with a different number of values than the header is a
  problem naming the line.

The truth's text comes from :mod:`grader.truth` (a sealed file opened with a single-line key,
or a local plain file). It must hold the id, prediction and split columns, only
``public``/``private`` splits (both non-empty) and exactly the ids of the test file. No
message ever contains a truth value, and a failing metric's own message is not shown (it may
quote labels); warnings raised inside the metric are silenced for the same reason.

Heavy libraries (pandas, scikit-learn) are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import importlib
import inspect
import io
import math
import numbers
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import result as results
from grader.config import Competition, Metric, Submission, format_size
from grader.errors import ConfigError, GraderError, InvalidPredictions, TruthError
from grader.result import Result, RunError
from grader.untrusted import Unreadable, read_regular

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES = 3
"""How many example ids a problem line shows."""
SPLITS = ("public", "private")

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_MISSING_STRINGS = {"nan", "NaN", "<NA>", "NaT"}
_INT64 = 2**63


# --- the test ids ------------------------------------------------------------------------


def expected_ids(competition: Competition) -> pd.Series:
    """The id column of ``competition.data.test``, as stripped strings, in file order.

    ``ids.attrs["source"]`` holds the file's path relative to the competition root, for messages.
    """
    import pandas as pd

    column = competition.submission.id_column
    test = competition.data.test
    try:
        frame = pd.read_csv(
            test, usecols=[column], dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except FileNotFoundError:
        raise ConfigError(f"{test} does not exist; it must list the test ids.", key="data.test") from None
    except ValueError:  # usecols not in the file, or not UTF-8 (UnicodeDecodeError is a ValueError)
        raise ConfigError(
            f"{test} has no `{column}` column (submission.id_column) or is not UTF-8 CSV.", key="data.test"
        ) from None
    except Exception as ex:  # pandas parser errors have no common public base
        raise ConfigError(f"{test} cannot be read as CSV ({type(ex).__name__}).", key="data.test") from None
    ids = frame[column].astype(object).map(str.strip)
    if (ids == "").any():
        raise ConfigError(f"{test} has rows with an empty `{column}`.", key="data.test")
    if ids.duplicated().any():
        raise ConfigError(f"{test} has repeated ids in `{column}`; every test row needs its own id.", key="data.test")
    ids.name = column
    ids.attrs["source"] = _relative(test, competition.root)
    return ids.reset_index(drop=True)


# --- predictions -------------------------------------------------------------------------


def read_predictions(path: Path, submission: Submission) -> pd.DataFrame:
    """Read the predictions CSV at ``path``: every value a ``str``, indexed by line number.

    Only the file itself is checked here (it exists, is a regular file within the size limit,
    UTF-8 CSV with as many values on each line as in the header); :func:`check_predictions`
    checks the content. A UTF-8 byte-order mark and spaces around header names are dropped.
    """
    import pandas as pd

    name = path.name
    data = _read_untrusted(path, submission.max_predictions_size)
    text = _decode(data, name)
    if not text.strip():
        raise InvalidPredictions(
            [
                f"{name} is empty; write the header `{submission.id_column},{submission.prediction_column}` "
                "and one row per test id"
            ]
        )
    try:
        header, rows, lines = _parse_csv(text)
    except csv.Error as ex:
        raise InvalidPredictions([f"{name} is not valid CSV ({ex}); write it with pandas' to_csv"]) from None
    header = [column.strip() for column in header]
    ragged = [line for line, row in zip(lines, rows, strict=True) if len(row) != len(header)]
    if ragged:
        raise InvalidPredictions(
            [
                f"{_count(len(ragged), 'line')} of {name} {'has' if len(ragged) == 1 else 'have'} a different "
                f"number of values than the header ({len(header)}), e.g. line {_examples(ragged)}; "
                "write one value per column on every line"
            ]
        )
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    frame.index = pd.Index(lines, name="line")
    frame.attrs["name"] = name
    return frame


def check_predictions(predictions: pd.DataFrame, ids: pd.Series, submission: Submission) -> pd.DataFrame:
    """Check ``predictions`` (all strings) against the expected ``ids``; return them normalized.

    The result is indexed by id (stripped strings, named after the id column) in the order of
    ``ids``, with one column, the prediction, typed by ``submission.prediction_type``
    (int64, float64 or str). Raises :class:`InvalidPredictions` listing every problem.
    """
    import pandas as pd

    id_col, pred_col = submission.id_column, submission.prediction_column
    source = ids.attrs.get("source", "the test data")
    name = predictions.attrs.get("name", "the predictions")
    problems: list[str] = []
    columns = [str(column) for column in predictions.columns]
    header_problem = _header_problem(columns, id_col, pred_col)
    if header_problem:
        problems.append(header_problem)
    have_ids = columns.count(id_col) == 1
    have_values = columns.count(pred_col) == 1

    expected = [str(i).strip() for i in ids]
    expected_set = set(expected)
    got_ids = [_text(value).strip() for value in predictions[id_col]] if have_ids else []
    lines = list(predictions.index)
    if have_ids:
        if len(got_ids) > len(expected):
            problems.append(
                f"{name} has {len(got_ids)} rows but {source} has {len(expected)} ids; write exactly one row per id"
            )
        empty = [line for line, i in zip(lines, got_ids, strict=True) if not i]
        if empty:
            problems.append(
                f"{_count(len(empty), 'row')} {'has' if len(empty) == 1 else 'have'} an empty `{id_col}`, "
                f"e.g. at line {_examples(empty)}; every row needs the id of a row of {source}"
            )
        counts = Counter(i for i in got_ids if i)
        repeated = [i for i, n in counts.items() if n > 1]
        if repeated:
            shown = ", ".join(f"{_show(i)} ({counts[i]} times)" for i in repeated[:EXAMPLES])
            problems.append(
                f"{_count(len(repeated), 'id')} {'appears' if len(repeated) == 1 else 'appear'} more than once, "
                f"e.g. {shown}; write one row per id"
            )
        unknown = [i for i in counts if i not in expected_set]
        if unknown:
            hint = ""
            floaty = next((i for i in unknown if _integral_spelling(i) in expected_set), None)
            if floaty is not None:
                hint = f" (write ids exactly as in {source}: {_integral_spelling(floaty)}, not {floaty})"
            problems.append(
                f"{_count(len(unknown), 'id')} {'is' if len(unknown) == 1 else 'are'} not in {source}, "
                f"e.g. {_examples(unknown)}{hint}; predict only the ids of {source}"
            )
        missing = [i for i in expected if i not in counts]
        if missing:
            problems.append(
                f"{_count(len(missing), 'id')} from {source} {'has' if len(missing) == 1 else 'have'} no prediction, "
                f"e.g. {_examples(missing)}; write one row for every id of {source}"
            )

    converted: list[Any] = []
    if have_values:
        raw_values = [_text(value).strip() for value in predictions[pred_col]]
        converted, bad = _convert(raw_values, submission.prediction_type)
        labels = [
            f"id {i}" if i else f"line {line}"
            for i, line in zip(got_ids if have_ids else [""] * len(lines), lines, strict=True)
        ]
        problems.extend(_value_problems(bad, labels, raw_values, pred_col, submission.prediction_type))

    if problems:
        raise InvalidPredictions(problems)
    frame = pd.DataFrame(
        {pred_col: pd.Series(converted, index=pd.Index(got_ids, name=id_col), dtype=_dtype(submission))}
    )
    return frame.loc[expected]


def _header_problem(columns: list[str], id_col: str, pred_col: str) -> str | None:
    wanted = (id_col, pred_col)
    if sorted(columns) == sorted(wanted):
        return None
    details = []
    missing = [c for c in wanted if c not in columns]
    if missing:
        details.append("missing " + ", ".join(f"`{c}`" for c in missing))
    repeated = [c for c in wanted if columns.count(c) > 1]
    if repeated:
        details.append("repeated " + ", ".join(f"`{c}`" for c in repeated))
    extra = [c for c in columns if c not in wanted]
    if extra:
        details.append("unexpected " + ", ".join(_show(c) for c in extra[:EXAMPLES]))
    hint = ""
    if extra and columns and columns[0] in ("", "Unnamed: 0", "index"):
        hint = " (the first column looks like the DataFrame index: write the file with to_csv(..., index=False))"
    elif any(c.lower() in (id_col.lower(), pred_col.lower()) for c in extra):
        hint = " (column names are case-sensitive)"
    found = ",".join(_show(c, 30) for c in columns[:6]) + (",…" if len(columns) > 6 else "")
    return (
        f"the header must be exactly `{id_col},{pred_col}` but it is `{found}` ({'; '.join(details)}){hint}; "
        f"write only these two columns"
    )


def _value_problems(
    bad: dict[str, list[int]], labels: list[str], values: list[str], column: str, kind: str
) -> list[str]:
    problems = []

    def where(rows: list[int], with_values: bool = False) -> str:
        shown = [
            f'{_show(labels[r])}: "{_show(values[r], 20)}"' if with_values else _show(labels[r])
            for r in rows[:EXAMPLES]
        ]
        return ", ".join(shown) + (", …" if len(rows) > EXAMPLES else "")

    if bad.get("empty"):
        rows = bad["empty"]
        problems.append(
            f"{_count(len(rows), 'row')} {'has' if len(rows) == 1 else 'have'} an empty `{column}`, "
            f"e.g. for {where(rows)}; predict a value for every id"
        )
    if bad.get("non_finite"):
        rows = bad["non_finite"]
        problems.append(
            f"{_count(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} NaN or infinite, "
            f"e.g. for {where(rows)}; predict a finite number for every id"
        )
    if bad.get("missing"):
        rows = bad["missing"]
        problems.append(
            f"{_count(len(rows), 'prediction')} in `{column}` {'looks' if len(rows) == 1 else 'look'} like a missing "
            f"value (nan, <NA>), e.g. for {where(rows)}; predict a value for every id"
        )
    if bad.get("not_number"):
        rows = bad["not_number"]
        expected = "whole numbers (integers)" if kind == "integer" else "numbers"
        problems.append(
            f"{_count(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} not a number, "
            f"e.g. {where(rows, True)}; this competition expects {expected}"
        )
    if bad.get("not_whole"):
        rows = bad["not_whole"]
        problems.append(
            f"{_count(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} not a whole number, "
            f"e.g. {where(rows, True)}; this competition expects integer labels (round or convert with astype(int))"
        )
    if bad.get("too_large"):
        rows = bad["too_large"]
        problems.append(
            f"{_count(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} too large for a "
            f"64-bit integer, e.g. {where(rows, True)}"
        )
    return problems


def _convert(values: list[str], kind: str) -> tuple[list[Any], dict[str, list[int]]]:
    """Convert stripped strings to ``kind``; return the values and the row numbers of each kind of problem."""
    out: list[Any] = []
    bad: dict[str, list[int]] = {}
    for row, value in enumerate(values):
        problem, converted = _convert_one(value, kind)
        if problem:
            bad.setdefault(problem, []).append(row)
        out.append(converted)
    return out, bad


def _convert_one(value: str, kind: str) -> tuple[str | None, Any]:
    if not value:
        return "empty", None
    if kind == "string":
        return ("missing", None) if value in _MISSING_STRINGS else (None, value)
    if _NON_FINITE.fullmatch(value):
        return "non_finite", None
    if kind == "integer" and _INTEGER.fullmatch(value):
        number = int(value)
        return ("too_large", None) if not -_INT64 <= number < _INT64 else (None, number)
    if not _DECIMAL.fullmatch(value):
        return "not_number", None
    number_f = float(value)
    if not math.isfinite(number_f):  # 1e999
        return "non_finite", None
    if kind == "float":
        return None, number_f
    if not number_f.is_integer():
        return "not_whole", None
    if not -_INT64 <= number_f < _INT64:
        return "too_large", None
    return None, int(number_f)


def _dtype(submission: Submission) -> str:
    return {"integer": "int64", "float": "float64"}.get(submission.prediction_type, "object")


def _integral_spelling(value: str) -> str | None:
    """``"10203.0"`` → ``"10203"``; None when ``value`` is not an integral float."""
    if not _DECIMAL.fullmatch(value) or _INTEGER.fullmatch(value):
        return None
    number = float(value)
    return str(int(number)) if math.isfinite(number) and number.is_integer() else None


# --- the truth ---------------------------------------------------------------------------


def require_truth_source(competition: Competition, environ: Mapping[str, str] = os.environ) -> None:
    """Raise :class:`TruthError` saying how to provide the truth when none of its sources exists.

    Cheap (no decryption, no parsing): lets a caller refuse before running a notebook for nothing.
    """
    from grader import truth as truths

    truths.require_source(competition, environ)


def load_truth(competition: Competition, environ: Mapping[str, str] = os.environ) -> pd.DataFrame:
    """The hidden truth, indexed by id in the order of the test file, with the prediction and split columns.

    Its CSV text comes from :func:`grader.truth.read` (the sealed file, or the local plain file).
    Raises :class:`TruthError` (never showing any of the truth's content).
    """
    import pandas as pd

    from grader import truth as truths

    truth = competition.truth
    sub = competition.submission
    source = truths.read(competition, environ)
    text, where = source.text, source.where

    try:
        header, rows, lines = _parse_csv(text)
    except csv.Error:
        raise TruthError(f"{where} is not valid CSV.") from None
    header = [column.strip() for column in header]
    needed = (sub.id_column, sub.prediction_column, truth.split_column)
    missing = [c for c in needed if header.count(c) != 1]
    if missing:
        raise TruthError(
            f"{where} needs exactly one of each of the columns "
            + ", ".join(f"`{c}`" for c in needed)
            + "; missing or repeated: "
            + ", ".join(f"`{c}`" for c in missing)
            + "."
        )
    ragged = [line for line, row in zip(lines, rows, strict=True) if len(row) != len(header)]
    if ragged:
        verb = "does" if len(ragged) == 1 else "do"
        raise TruthError(f"{where}: {_count(len(ragged), 'line')} {verb} not have as many values as the header.")
    position = {c: header.index(c) for c in needed}
    ids = [row[position[sub.id_column]].strip() for row in rows]
    splits = [row[position[truth.split_column]].strip() for row in rows]
    values, bad = _convert([row[position[sub.prediction_column]].strip() for row in rows], sub.prediction_type)

    test_ids = expected_ids(competition)
    source = test_ids.attrs.get("source", "the test data")
    organiser = "This is the organiser's error: fix the truth, not the submission."
    if bad:
        count = sum(len(rows) for rows in bad.values())
        raise TruthError(
            f"{where}: {_count(count, 'value')} of `{sub.prediction_column}` "
            f"{'is' if count == 1 else 'are'} not valid {sub.prediction_type} values. {organiser}"
        )
    odd_splits = sum(1 for s in splits if s not in SPLITS)
    if odd_splits:
        raise TruthError(
            f"{where}: {_count(odd_splits, 'row')} {'has' if odd_splits == 1 else 'have'} a "
            f"`{truth.split_column}` other than public or private. {organiser}"
        )
    for split in SPLITS:
        if split not in splits:
            raise TruthError(f"{where} has no {split} rows; both splits need rows to be scored. {organiser}")
    counts = Counter(ids)
    repeated = sum(1 for n in counts.values() if n > 1)
    expected = set(test_ids)
    unknown = sum(1 for i in counts if i not in expected)
    absent = sum(1 for i in expected if i not in counts)
    if repeated or unknown or absent:
        raise TruthError(
            f"{where} does not have the ids of {source}: {absent} test ids have no truth, {unknown} truth ids "
            f"are not test ids, {repeated} ids are repeated. {organiser}"
        )
    frame = pd.DataFrame(
        {
            sub.prediction_column: pd.Series(values, dtype=_dtype(sub)),
            truth.split_column: pd.Series(splits, dtype=object),
        },
    )
    frame.index = pd.Index(ids, name=sub.id_column)
    return frame.loc[list(test_ids)]


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
    metric = competition.metric
    column = competition.submission.prediction_column
    split = competition.truth.split_column
    func = resolve_metric(metric, competition.root)
    if set(predictions.index) != set(truth.index) or len(predictions) != len(truth):
        raise GraderError("the predictions and the truth do not have the same ids; check the predictions first.")
    y_pred = predictions[column].loc[truth.index].to_numpy()
    y_true = truth[column].to_numpy()
    splits = truth[split].to_numpy()
    public, private = (_call_metric(func, metric, y_true[splits == s], y_pred[splits == s], s) for s in SPLITS)
    return public, private


def _call_metric(func: Callable[..., Any], metric: Metric, y_true: Any, y_pred: Any, split: str) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's warnings may quote truth labels
            value = func(y_true, y_pred, **metric.args)
    except Exception as ex:  # any failure of the metric is reported the same way
        raise GraderError(
            f"the metric {metric.name} failed on the {split} rows ({type(ex).__name__}); its message is hidden "
            "because it may contain ground-truth values. Check metric.name and metric.args in competition.yaml, "
            "and try the metric on your own data."
        ) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise GraderError(
            f"the metric {metric.name} returned {type(value).__name__}, not a number; "
            "use a metric that returns one score (for sklearn's, check `average`)."
        )
    score = float(value)
    if not math.isfinite(score):
        raise GraderError(f"the metric {metric.name} returned a non-finite score on the {split} rows.")
    return score


# --- a run's directory -------------------------------------------------------------------


def score_run(directory: Path, competition: Competition, environ: Mapping[str, str] = os.environ) -> Result:
    """Score the predictions of the completed run in ``directory`` and update its result.json.

    A run that did not complete is returned unchanged. Predictions that break the contract
    turn the run ``invalid`` (error type ``InvalidPredictions``, one problem per line).
    Truth and metric errors are raised: they are the organiser's, not the student's.
    """
    result = results.read(directory)
    if result.status != "completed":
        return result
    try:
        predictions = _checked(directory, competition)
    except InvalidPredictions as ex:
        updated = replace(
            result,
            status="invalid",
            error=RunError("InvalidPredictions", str(ex)),
            public_score=None,
            private_score=None,
        )
        results.write(updated, directory)
        return updated
    truth = load_truth(competition, environ)
    public, private = compute_scores(predictions, truth, competition)
    updated = replace(result, public_score=public, private_score=private)
    results.write(updated, directory)
    return updated


def check_run(directory: Path, competition: Competition) -> list[str]:
    """The problems of ``directory``'s predictions against the public test ids; [] when fine. No truth needed."""
    try:
        _checked(directory, competition)
    except InvalidPredictions as ex:
        return ex.problems
    return []


def _checked(directory: Path, competition: Competition) -> pd.DataFrame:
    sub = competition.submission
    raw = read_predictions(directory / sub.predictions, sub)
    return check_predictions(raw, expected_ids(competition), sub)


# --- helpers -----------------------------------------------------------------------------


def _read_untrusted(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``), or InvalidPredictions."""
    name = path.name
    try:
        return read_regular(path, limit)
    except Unreadable as ex:
        problem = {
            "missing": f"the notebook did not write {name} in its working directory; "
            f"end it with e.g. df.to_csv({name!r}, index=False)",
            "symlink": f"{name} is a symbolic link; write the file itself",
            "directory": f"{name} is not a regular file; write a CSV file with that name",
            "special": f"{name} is not a regular file; write a CSV file with that name",
            "too_large": f"{name} is larger than the limit of {format_size(limit)}; "
            "write only the two columns, one row per id",
            "unreadable": f"{name} cannot be read ({ex.detail}); write a plain CSV file",
        }[ex.reason]
        raise InvalidPredictions([problem]) from None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as ex:
        line = data.count(b"\n", 0, ex.start) + 1
        column = ex.start - (data.rfind(b"\n", 0, ex.start) + 1) + 1
        raise InvalidPredictions(
            [
                f"{name} is not UTF-8 text (byte 0x{data[ex.start]:02x} at line {line}, column {column}); "
                "write it with to_csv(..., encoding='utf-8')"
            ]
        ) from None


def _parse_csv(text: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and each row's line number; blank lines skipped. Raises csv.Error."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    for row in reader:
        if row and (len(row) > 1 or row[0].strip()):
            if header is None:
                header = row
            else:
                rows.append(row)
                lines.append(start)
        start = reader.line_num + 1
    return header or [], rows, lines


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _show(value: str, limit: int = 30) -> str:
    """An id or value from the file, short and on one line."""
    text = value if value.isprintable() else repr(value)[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _examples(values: Iterable[Any]) -> str:
    items = list(values)
    shown = ", ".join(_show(str(v)) for v in items[:EXAMPLES])
    return shown + (", …" if len(items) > EXAMPLES else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
