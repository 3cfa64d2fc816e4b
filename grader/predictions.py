"""Predictions: read, checked strictly, packed and digested; and the version of the scorer.

The predictions file comes from a student's run: it is untrusted data. It is read only when
it is a regular file (not a symlink) no larger than ``submission.max_predictions_size``,
parsed with the :mod:`csv` module so that every value stays a string, and only then
converted by :func:`check_predictions`, which decides the types (pandas never guesses).

Rules chosen, each a line of the contract students see:

* **Header**: exactly the id column and the prediction column (``id,label`` in the demo), in
  either order; or, with ``submission.prediction_columns``, the id column and every listed
  column, in any order. Extra, missing or repeated columns are problems; an unnamed first column gets
  the hint ``to_csv(..., index=False)``. A UTF-8 byte-order mark (Excel writes one) and
  spaces around the header names are ignored.
* **Ids** are compared as strings after stripping spaces, so ``10203`` and `` 10203 `` are the
  same id but ``10203.0`` is not (it gets a hint: write ids exactly as in the test file).
  Every id of the test file needs exactly one row; missing, repeated, unknown and empty ids
  are each one problem with a few examples.
* **Values** are stripped, then: ``integer`` accepts whole numbers, also written as floats
  (``3``, ``+3``, ``3.0``, ``3e0``) but not ``3.5`` or ``three``; ``float`` accepts any finite
  decimal number; ``probability`` any decimal number from 0 to 1; ``string`` accepts any
  non-empty text except the spellings pandas gives a missing value (``nan``, ``NaN``,
  ``<NA>``, ``NaT``). Empty values, NaN and infinities are refused for every type.
* **Distribution** (``submission.distribution``): once every value is valid, each row of the
  probability columns must sum to 1 within ``submission.distribution_tolerance``; the rows
  that do not are one problem showing a few ids and their sums.
* Blank lines are skipped; a line with a different number of values than the header is a
  problem naming the line.

A completed run's checked predictions are packed to be kept (:func:`pack`): the values only,
in the order of the test file's ids (a digest of those ids is kept to notice a changed test
file), compressed with zlib, then sealed by the store when there is a key. Values that are
each one character (class labels 0-9, say) are packed as one string of them (format 2); any
others as compact JSON (format 1); several columns as JSON, one list of values per id
(format 3). They are the student's output, not the truth, but a top submission's predictions
would be worth copying, so they are never stored in clear where a key is configured.

The *scorer version* names what produced a score: the metric (name, arguments, direction),
the submission contract (columns, type), the truth and grader's major.minor version. It is a
12-character hash. The truth enters it only as an HMAC keyed with ``GRADER_PRIVATE_KEY`` when
that key is set, so the version published in the repository is no oracle for guessing labels
(without a key it is a plain hash of the truth, as for a local competition whose truth is a file).

Heavy libraries (pandas) are imported inside the functions that need them.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import __version__
from grader.config import Competition, Submission, format_size
from grader.errors import ConfigError, InvalidPredictions
from grader.store.vault import Packed
from grader.untrusted import Unreadable, read_regular

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES = 3
"""How many example ids a problem line shows."""
PACK_FORMAT = 1  # b'[1,[values...]]': any values, as JSON
PACK_ROWS = 3  # b'[3,[[v1,v2,...],...]]': several prediction columns, one list per id, as JSON
PACK_CHARS = 2  # b'2\n' and then the values, each one character: a third smaller than JSON once compressed
MAX_UNPACKED_BYTES = 256 * 1024**2  # a stored blob never inflates beyond this

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
    ids.attrs["source"] = relative(test, competition.root)
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
                f"{name} is empty; write the header `{','.join((submission.id_column, *submission.names))}` "
                "and one row per test id"
            ]
        )
    try:
        header, rows, lines = parse_csv(text)
    except csv.Error as ex:
        raise InvalidPredictions([f"{name} is not valid CSV ({ex}); write it with pandas' to_csv"]) from None
    header = [column.strip() for column in header]
    ragged = [line for line, row in zip(lines, rows, strict=True) if len(row) != len(header)]
    if ragged:
        raise InvalidPredictions(
            [
                f"{plural(len(ragged), 'line')} of {name} {'has' if len(ragged) == 1 else 'have'} a different "
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
    ``ids``, with the prediction columns in their declared order, each typed by its column's
    type (int64, float64 or str). Raises :class:`InvalidPredictions` listing every problem.
    """
    import pandas as pd

    id_col, names = submission.id_column, list(submission.names)
    source = ids.attrs.get("source", "the test data")
    name = predictions.attrs.get("name", "the predictions")
    problems: list[str] = []
    columns = [str(column) for column in predictions.columns]
    header_problem = _header_problem(columns, id_col, names)
    if header_problem:
        problems.append(header_problem)
    have_ids = columns.count(id_col) == 1

    expected = [str(i).strip() for i in ids]
    expected_set = set(expected)
    got_ids = [_text(value).strip() for value in predictions[id_col]] if have_ids else []
    lines = list(predictions.index)
    if have_ids:
        problems.extend(_id_problems(got_ids, expected, expected_set, lines, id_col, name, source))

    labels = [
        f"id {i}" if i else f"line {line}"
        for i, line in zip(got_ids if have_ids else [""] * len(lines), lines, strict=True)
    ]
    converted: dict[str, list[Any]] = {}
    for column in submission.columns:
        if columns.count(column.name) != 1:
            continue
        raw_values = [_text(value).strip() for value in predictions[column.name]]
        values, bad = convert(raw_values, column.type)
        converted[column.name] = values
        problems.extend(_value_problems(bad, labels, raw_values, column.name, column.type))
    if submission.distribution and not problems:
        problems.extend(_distribution_problems(converted, labels, submission))

    if problems:
        raise InvalidPredictions(problems)
    index = pd.Index(got_ids, name=id_col)
    frame = pd.DataFrame(
        {
            c.name: pd.Series(converted[c.name], index=index, dtype=DTYPES.get(c.type, "object"))
            for c in submission.columns
        }
    )
    return frame.loc[expected]


def _id_problems(
    got_ids: list[str],
    expected: list[str],
    expected_set: set[str],
    lines: list[Any],
    id_col: str,
    name: str,
    source: str,
) -> list[str]:
    problems = []
    if len(got_ids) > len(expected):
        problems.append(
            f"{name} has {len(got_ids)} rows but {source} has {len(expected)} ids; write exactly one row per id"
        )
    empty = [line for line, i in zip(lines, got_ids, strict=True) if not i]
    if empty:
        problems.append(
            f"{plural(len(empty), 'row')} {'has' if len(empty) == 1 else 'have'} an empty `{id_col}`, "
            f"e.g. at line {_examples(empty)}; every row needs the id of a row of {source}"
        )
    counts = Counter(i for i in got_ids if i)
    repeated = [i for i, n in counts.items() if n > 1]
    if repeated:
        shown = ", ".join(f"{_show(i)} ({counts[i]} times)" for i in repeated[:EXAMPLES])
        problems.append(
            f"{plural(len(repeated), 'id')} {'appears' if len(repeated) == 1 else 'appear'} more than once, "
            f"e.g. {shown}; write one row per id"
        )
    unknown = [i for i in counts if i not in expected_set]
    if unknown:
        hint = ""
        floaty = next((i for i in unknown if _integral_spelling(i) in expected_set), None)
        unpadded = {i.lstrip("0"): i for i in expected if i.startswith("0") and i.lstrip("0")}
        stripped = next((i for i in unknown if i in unpadded), None)
        if floaty is not None:
            hint = f" (write ids exactly as in {source}: {_integral_spelling(floaty)}, not {floaty})"
        elif stripped is not None:
            hint = (
                f" (the ids of {source} start with zeros ({_show(unpadded[stripped])}, not {_show(stripped)}): "
                f'they were read as numbers; read them as text with pd.read_csv(..., dtype={{"{id_col}": str}}))'
            )
        problems.append(
            f"{plural(len(unknown), 'id')} {'is' if len(unknown) == 1 else 'are'} not in {source}, "
            f"e.g. {_examples(unknown)}{hint}; predict only the ids of {source}"
        )
    missing = [i for i in expected if i not in counts]
    if missing:
        problems.append(
            f"{plural(len(missing), 'id')} from {source} {'has' if len(missing) == 1 else 'have'} no prediction, "
            f"e.g. {_examples(missing)}; write one row for every id of {source}"
        )
    return problems


def _distribution_problems(converted: dict[str, list[Any]], labels: list[str], submission: Submission) -> list[str]:
    """Rows whose probabilities do not sum to 1 within ``submission.distribution_tolerance``."""
    tolerance = submission.distribution_tolerance
    sums = [math.fsum(row) for row in zip(*(converted[name] for name in submission.names), strict=True)]
    off = [r for r, total in enumerate(sums) if not abs(total - 1.0) <= tolerance]
    if not off:
        return []
    shown = ", ".join(f"{_show(labels[r])} (sum {sums[r]:.6g})" for r in off[:EXAMPLES]) + (
        ", …" if len(off) > EXAMPLES else ""
    )
    columns = ", ".join(f"`{name}`" for name in submission.names)
    return [
        f"the probabilities of {plural(len(off), 'row')} do not sum to 1, e.g. {shown}; {columns} are the "
        f"probabilities of the classes: each row must sum to 1 (within {tolerance:g}), as predict_proba gives"
    ]


def _header_problem(columns: list[str], id_col: str, names: list[str]) -> str | None:
    wanted = (id_col, *names)
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
        details.append("unexpected " + ", ".join(_show(c) if c else "a column with no name" for c in extra[:EXAMPLES]))
    hint = ""
    if extra and columns and columns[0] in ("", "Unnamed: 0", "index"):
        hint = " (the first column looks like the DataFrame index: write the file with to_csv(..., index=False))"
    elif any(c.lower() in (w.lower() for w in wanted) for c in extra):
        hint = " (column names are case-sensitive)"
    found = ",".join(_show(c, 30) for c in columns[:6]) + (",…" if len(columns) > 6 else "")
    if len(wanted) == 2:
        return (
            f"the header must be exactly `{','.join(wanted)}` but it is `{found}` ({'; '.join(details)}){hint}; "
            f"write only these two columns"
        )
    return (
        f"the header must have exactly the columns `{','.join(wanted)}`, in any order, but it is `{found}` "
        f"({'; '.join(details)}){hint}; write only these {len(wanted)} columns"
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
            f"{plural(len(rows), 'row')} {'has' if len(rows) == 1 else 'have'} an empty `{column}`, "
            f"e.g. for {where(rows)}; predict a value for every id"
        )
    if bad.get("non_finite"):
        rows = bad["non_finite"]
        problems.append(
            f"{plural(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} NaN or infinite, "
            f"e.g. for {where(rows)}; predict a finite number for every id"
        )
    if bad.get("missing"):
        rows = bad["missing"]
        problems.append(
            f"{plural(len(rows), 'prediction')} in `{column}` {'looks' if len(rows) == 1 else 'look'} like a missing "
            f"value (nan, <NA>), e.g. for {where(rows)}; predict a value for every id"
        )
    if bad.get("not_number"):
        rows = bad["not_number"]
        expected = {"integer": "whole numbers (integers)", "probability": "probabilities (numbers from 0 to 1)"}.get(
            kind, "numbers"
        )
        problems.append(
            f"{plural(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} not a number, "
            f"e.g. {where(rows, True)}; this competition expects {expected}"
        )
    if bad.get("not_whole"):
        rows = bad["not_whole"]
        problems.append(
            f"{plural(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} not a whole number, "
            f"e.g. {where(rows, True)}; this competition expects integer labels (round or convert with astype(int))"
        )
    if bad.get("out_of_range"):
        rows = bad["out_of_range"]
        problems.append(
            f"{plural(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} not a probability "
            f"between 0 and 1, e.g. {where(rows, True)}; predict probabilities (e.g. with predict_proba)"
        )
    if bad.get("too_large"):
        rows = bad["too_large"]
        problems.append(
            f"{plural(len(rows), 'prediction')} in `{column}` {'is' if len(rows) == 1 else 'are'} too large for a "
            f"64-bit integer, e.g. {where(rows, True)}"
        )
    return problems


def convert(values: list[str], kind: str) -> tuple[list[Any], dict[str, list[int]]]:
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
    if kind == "probability":
        return (None, number_f) if 0.0 <= number_f <= 1.0 else ("out_of_range", None)
    if not number_f.is_integer():
        return "not_whole", None
    if not -_INT64 <= number_f < _INT64:
        return "too_large", None
    return None, int(number_f)


DTYPES = {"integer": "int64", "float": "float64", "probability": "float64"}  # any other type: object (str)


def _integral_spelling(value: str) -> str | None:
    """``"10203.0"`` → ``"10203"``; None when ``value`` is not an integral float."""
    if not _DECIMAL.fullmatch(value) or _INTEGER.fullmatch(value):
        return None
    number = float(value)
    return str(int(number)) if math.isfinite(number) and number.is_integer() else None


def check_run(directory: Path, competition: Competition) -> list[str]:
    """The problems of ``directory``'s predictions against the public test ids; [] when fine. No truth needed."""
    try:
        checked(directory, competition)
    except InvalidPredictions as ex:
        return ex.problems
    return []


def checked(directory: Path, competition: Competition) -> pd.DataFrame:
    sub = competition.submission
    raw = read_predictions(directory / sub.predictions, sub)
    return check_predictions(raw, expected_ids(competition), sub)


# --- packing and the scorer version --------------------------------------------------------


def ids_digest(ids: Sequence[str]) -> str:
    """A short digest of the test ids in their order: packed values are meaningless with other ids."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def scorer_version(competition: Competition, truth: pd.DataFrame, environ: Mapping[str, str] = os.environ) -> str:
    """The version of the scorer: metric, contract, grader's major.minor, and (keyed) the truth."""
    from grader.sealing import KEY_ENV

    metric = competition.metric
    spec = json.dumps(
        {
            "grader": ".".join(__version__.split(".")[:2]),
            "metric": metric.name.strip(),
            "args": metric.args,
            "greater_is_better": metric.greater_is_better,
            "columns": _contract(competition),
        },
        sort_keys=True,
        default=str,
    )
    key = (environ.get(KEY_ENV) or "").strip().encode("utf-8") or b"grader-scorer-version"
    fingerprint = hmac.new(key, truth.to_csv().encode("utf-8"), hashlib.sha256).hexdigest()
    return hashlib.sha256(f"{spec}\n{fingerprint}".encode()).hexdigest()[:12]


def _contract(competition: Competition) -> list[Any]:
    """The submission contract as the scorer version sees it (unchanged for one column, so old scores stay current)."""
    sub, truth = competition.submission, competition.truth
    if not sub.prediction_columns:
        return [sub.id_column, sub.prediction_column, sub.prediction_type, truth.split_column]
    columns = [[c.name, c.type] for c in sub.prediction_columns]
    distribution = [sub.distribution_tolerance, truth.label_column] if sub.distribution else None
    return [sub.id_column, columns, distribution, truth.split_column]


def pack(out_dir: Path, competition: Competition) -> Packed | None:
    """The predictions of the run in ``out_dir``, checked and packed; None when there are none that fit."""
    try:
        ids = expected_ids(competition)
        frame = check_predictions(read_predictions(out_dir / competition.submission.predictions,
                                                   competition.submission), ids, competition.submission)  # fmt: skip
    except (InvalidPredictions, ConfigError):
        return None
    return pack_checked(frame, ids, competition)


def pack_checked(frame: pd.DataFrame, ids: Iterable[Any], competition: Competition) -> Packed:
    """Checked predictions (:func:`check_predictions`) packed for storage, for the test ``ids`` in their order."""
    sub = competition.submission
    if sub.prediction_columns:
        rows = frame[list(sub.names)].itertuples(index=False, name=None)
        text = json.dumps(
            [PACK_ROWS, [list(row) for row in rows]], separators=(",", ":"), allow_nan=False, default=_plain
        )
        return Packed(ids_digest([str(i) for i in ids]), zlib.compress(text.encode("utf-8"), 9))
    values = frame[sub.prediction_column].tolist()
    shown = [_shown(v) for v in values]
    if all(len(v) == 1 for v in shown):
        text = f"{PACK_CHARS}\n" + "".join(shown)
    else:
        text = json.dumps([PACK_FORMAT, values], separators=(",", ":"), allow_nan=False)
    return Packed(ids_digest([str(i) for i in ids]), zlib.compress(text.encode("utf-8"), 9))


def _plain(value: Any) -> Any:
    """A numpy scalar (from a row of a typed frame) as the Python number JSON can write."""
    return value.item()


def _shown(value: Any) -> str:
    """A predicted value as text, as :func:`read_predictions` would have read it."""
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def unpack(data: bytes, ids: Sequence[str], competition: Competition) -> pd.DataFrame:
    """Packed values back as a predictions table of strings, as :func:`read_predictions` gives."""
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
            fmt = PACK_CHARS
        else:
            fmt, values = json.loads(text)
            values = values if fmt in (PACK_FORMAT, PACK_ROWS) else None
    except (ValueError, TypeError):
        raise InvalidPredictions(["the stored predictions are damaged"]) from None
    sub = competition.submission
    several = fmt == PACK_ROWS  # one list of values per id: only for a contract of several columns
    if (
        not isinstance(values, list)
        or len(values) != len(ids)
        or several != bool(sub.prediction_columns)
        or (several and not all(isinstance(row, list) and len(row) == len(sub.names) for row in values))
    ):
        raise InvalidPredictions(["the stored predictions do not match the test ids"])
    columns = {sub.id_column: list(ids)}
    if several:
        for position, name in enumerate(sub.names):
            columns[name] = [_shown(row[position]) for row in values]
    else:
        columns[sub.prediction_column] = [_shown(v) for v in values]
    frame = pd.DataFrame(columns, dtype=object)
    frame.index = pd.Index(range(2, len(ids) + 2), name="line")
    frame.attrs["name"] = "the stored predictions"
    return frame


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


def parse_csv(text: str) -> tuple[list[str], list[list[str]], list[int]]:
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


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
