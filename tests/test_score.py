"""grader.score: predictions checked strictly, truth loaded secretly, scores equal scikit-learn's."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error

from grader import config
from grader import result as results
from grader.config import Competition
from grader.errors import ConfigError, GraderError, InvalidPredictions, TruthError
from grader.predictions import check_predictions, check_run, expected_ids, read_predictions
from grader.result import Result
from grader.score import compute_scores, current_version, resolve_metric, score_run
from grader.truth import load as load_truth

DEMO = Path(__file__).resolve().parent.parent / "competition.yaml"
IDS = ["10203", "10729", "10730", "10925", "11010", "11020", "11030", "11040", "11050", "11060"]
LABELS = [1, 2, 5, 6, 1, 0, 3, 3, 9, 2]
SPLITS = ["private", "public", "private", "private", "public", "public", "private", "public", "public", "private"]

YAML = """\
title: Test competition
start: 2026-11-01T00:00:00
end: 2027-03-01T00:00:00
timezone: Europe/Paris
submission:
  directory: submissions
  predictions: predictions.csv
  id_column: id
  prediction_column: {column}
  prediction_type: {kind}
  max_notebook_size: 1 MiB
  max_predictions_size: {max_predictions}
data:
  directory: data
  test: data/test.csv
truth:
  path: truth.csv
  split_column: split
metric:
  name: {metric}
  greater_is_better: {greater}
  args: {args}
limits:
  cell_timeout: 60s
  run_timeout: 3m
  memory: 2 GiB
quota:
  per_day: 5
ranking:
  ties: earliest
"""


def make_competition(
    root: Path,
    *,
    kind: str = "integer",
    column: str = "label",
    metric: str = "accuracy_score",
    greater: bool = True,
    args: dict[str, Any] | None = None,
    max_predictions: str = "1 MiB",
    labels: list[Any] | None = None,
    write_truth: bool = True,
) -> Competition:
    (root / "data").mkdir(exist_ok=True)
    test = pd.DataFrame({"id": [int(i) for i in IDS], "px0": range(len(IDS))})
    test.to_csv(root / "data/test.csv", index=False)
    if write_truth:
        truth_csv(root / "truth.csv", labels or LABELS, column=column)
    text = YAML.format(
        kind=kind, column=column, metric=metric, greater=str(greater).lower(), args=json.dumps(args or {}),
        max_predictions=max_predictions,
    )  # fmt: skip
    return config.parse(text, root=root)


def truth_csv(path: Path | None, labels: list[Any], *, column: str = "label", splits: list[str] = SPLITS) -> str:
    text = pd.DataFrame({"id": IDS, column: labels, "split": splits}).to_csv(index=False)
    if path is not None:
        path.write_text(text)
    return text


def with_truth(comp: Competition, text: str) -> Competition:
    """``comp`` with ``text`` as its (plain) truth file."""
    assert comp.truth.path is not None
    comp.truth.path.write_text(text)
    return comp


def write_predictions(directory: Path, text: str | bytes) -> Path:
    path = directory / "predictions.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def csv_text(ids: list[str], values: list[Any], header: str = "id,label") -> str:
    return header + "\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, values, strict=True))


def problems_of(competition: Competition, text: str | bytes) -> list[str]:
    directory = competition.root / "run"
    directory.mkdir(exist_ok=True)
    write_predictions(directory, text)
    return check_run(directory, competition)


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return make_competition(tmp_path)


# --- test ids ------------------------------------------------------------------------------


def test_expected_ids_are_stripped_strings_in_file_order(comp: Competition) -> None:
    ids = expected_ids(comp)
    assert list(ids) == IDS
    assert ids.name == "id"
    assert ids.attrs["source"] == "data/test.csv"


def test_expected_ids_of_the_demo() -> None:
    demo = config.load(DEMO)
    ids = expected_ids(demo)
    assert len(ids) == 597 and ids.iloc[0] == "10203"


def test_expected_ids_without_the_id_column(comp: Competition) -> None:
    (comp.root / "data/test.csv").write_text("ident,px0\n1,2\n")
    with pytest.raises(ConfigError) as err:
        expected_ids(comp)
    assert err.value.key == "data.test"


# --- reading the predictions file ----------------------------------------------------------


def test_good_predictions(comp: Competition) -> None:
    assert problems_of(comp, csv_text(IDS, LABELS)) == []


def test_missing_file(comp: Competition, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    assert check_run(tmp_path / "run", comp) == [
        "the notebook did not write predictions.csv in its working directory; "
        "end it with e.g. df.to_csv('predictions.csv', index=False)"
    ]


def test_symlink_is_refused(comp: Competition, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run/predictions.csv").symlink_to(tmp_path / "truth.csv")
    assert check_run(tmp_path / "run", comp) == ["predictions.csv is a symbolic link; write the file itself"]


def test_directory_is_refused(comp: Competition, tmp_path: Path) -> None:
    (tmp_path / "run/predictions.csv").mkdir(parents=True)
    assert check_run(tmp_path / "run", comp) == [
        "predictions.csv is not a regular file; write a CSV file with that name"
    ]


def test_fifo_is_refused_without_hanging(comp: Competition, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    os.mkfifo(tmp_path / "run/predictions.csv")
    assert "not a regular file" in check_run(tmp_path / "run", comp)[0]


def test_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, max_predictions="1 KiB")
    start = time.perf_counter()
    lines = problems_of(comp, "id,label\n" + "10203,1\n" * 100_000)
    assert time.perf_counter() - start < 0.5
    assert lines == ["predictions.csv is larger than the limit of 1 KiB; write only the two columns, one row per id"]


def test_not_utf8_says_where(comp: Competition) -> None:
    assert problems_of(comp, b"id,label\n10203,1\n10729,\xff\n") == [
        "predictions.csv is not UTF-8 text (byte 0xff at line 3, column 7); write it with to_csv(..., encoding='utf-8')"
    ]


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(comp: Competition, text: str) -> None:
    assert problems_of(comp, text) == ["predictions.csv is empty; write the header `id,label` and one row per test id"]


def test_header_only_means_every_id_is_missing(comp: Competition) -> None:
    assert problems_of(comp, "id,label\n") == [
        "10 ids from data/test.csv have no prediction, e.g. 10203, 10729, 10730, …; "
        "write one row for every id of data/test.csv"
    ]


def test_not_csv(comp: Competition) -> None:
    (line,) = problems_of(comp, 'id,label\n10203,"1\n')
    assert line.startswith("predictions.csv is not valid CSV (")


def test_ragged_lines(comp: Competition) -> None:
    assert problems_of(comp, csv_text(IDS, LABELS).replace("10729,2", "10729,2,7").replace("11010,1", "11010")) == [
        "2 lines of predictions.csv have a different number of values than the header (2), e.g. line 3, 6; "
        "write one value per column on every line"
    ]


def test_json_is_not_csv(comp: Competition) -> None:
    (line,) = problems_of(comp, json.dumps(dict(zip(IDS, LABELS, strict=True))))
    assert "header" in line or "different number of values" in line


def test_read_predictions_keeps_strings_and_line_numbers(comp: Competition, tmp_path: Path) -> None:
    path = write_predictions(tmp_path, "id,label\n\n007,3.0\n10203, 1 \n")
    frame = read_predictions(path, comp.submission)
    assert list(frame.columns) == ["id", "label"]
    assert frame.to_dict("list") == {"id": ["007", "10203"], "label": ["3.0", " 1 "]}
    assert list(frame.index) == [3, 4]


# --- the header ----------------------------------------------------------------------------


def test_bom_and_spaces_in_the_header_are_accepted(comp: Competition) -> None:
    assert problems_of(comp, "\ufeff id , label \n" + csv_text(IDS, LABELS).split("\n", 1)[1]) == []


def test_columns_in_either_order(comp: Competition) -> None:
    text = "label,id\n" + "".join(f"{v},{i}\n" for i, v in zip(IDS, LABELS, strict=True))
    assert problems_of(comp, text) == []


def test_wrong_column_name(comp: Competition) -> None:
    assert problems_of(comp, csv_text(IDS, LABELS, header="id,prediction")) == [
        "the header must be exactly `id,label` but it is `id,prediction` (missing `label`; unexpected prediction); "
        "write only these two columns"
    ]


def test_column_names_are_case_sensitive(comp: Competition) -> None:
    (line,) = problems_of(comp, csv_text(IDS, LABELS, header="ID,label"))
    assert "(missing `id`; unexpected ID) (column names are case-sensitive)" in line


def test_extra_column(comp: Competition) -> None:
    text = "id,label,proba\n" + "".join(f"{i},{v},0.5\n" for i, v in zip(IDS, LABELS, strict=True))
    assert problems_of(comp, text) == [
        "the header must be exactly `id,label` but it is `id,label,proba` (unexpected proba); "
        "write only these two columns"
    ]


def test_index_column_gets_a_hint(comp: Competition) -> None:
    frame = pd.DataFrame({"id": IDS, "label": LABELS})
    (line,) = problems_of(comp, frame.to_csv())
    assert "unexpected " in line
    assert "write the file with to_csv(..., index=False)" in line


def test_repeated_column(comp: Competition) -> None:
    text = "id,label,label\n" + "".join(f"{i},{v},{v}\n" for i, v in zip(IDS, LABELS, strict=True))
    (line,) = problems_of(comp, text)
    assert "(repeated `label`)" in line


def test_missing_prediction_column_still_checks_ids(comp: Competition) -> None:
    lines = problems_of(comp, "id\n" + "\n".join(IDS[:8]) + "\n")
    assert "missing `label`" in lines[0]
    assert lines[1].startswith("2 ids from data/test.csv have no prediction, e.g. 11050, 11060;")


# --- ids -----------------------------------------------------------------------------------


def test_missing_ids(comp: Competition) -> None:
    assert problems_of(comp, csv_text(IDS[3:], LABELS[3:])) == [
        "3 ids from data/test.csv have no prediction, e.g. 10203, 10729, 10730; "
        "write one row for every id of data/test.csv"
    ]


def test_duplicate_ids(comp: Competition) -> None:
    ids = [*IDS, "10203", "10203", "10729"]
    lines = problems_of(comp, csv_text(ids, [*LABELS, 1, 1, 2]))
    assert lines == [
        "predictions.csv has 13 rows but data/test.csv has 10 ids; write exactly one row per id",
        "2 ids appear more than once, e.g. 10203 (3 times), 10729 (2 times); write one row per id",
    ]


def test_unknown_ids(comp: Competition) -> None:
    ids = [*IDS[:-1], "99999"]
    assert problems_of(comp, csv_text(ids, LABELS)) == [
        "1 id is not in data/test.csv, e.g. 99999; predict only the ids of data/test.csv",
        "1 id from data/test.csv has no prediction, e.g. 11060; write one row for every id of data/test.csv",
    ]


def test_float_ids_get_a_hint(comp: Competition) -> None:
    lines = problems_of(comp, csv_text([f"{i}.0" for i in IDS], LABELS))
    assert lines[0] == (
        "10 ids are not in data/test.csv, e.g. 10203.0, 10729.0, 10730.0, … "
        "(write ids exactly as in data/test.csv: 10203, not 10203.0); predict only the ids of data/test.csv"
    )


def test_ids_are_stripped(comp: Competition) -> None:
    assert problems_of(comp, csv_text([f" {i} " for i in IDS], LABELS)) == []


def test_empty_ids(comp: Competition) -> None:
    lines = problems_of(comp, csv_text([*IDS[:-1], ""], LABELS))
    assert lines[0] == ("1 row has an empty `id`, e.g. at line 11; every row needs the id of a row of data/test.csv")


# --- values --------------------------------------------------------------------------------


def test_empty_nan_and_inf_values(comp: Competition) -> None:
    values = ["", "nan", "inf", "-Infinity", "NaN", *LABELS[5:]]
    assert problems_of(comp, csv_text(IDS, values)) == [
        "1 row has an empty `label`, e.g. for id 10203; predict a value for every id",
        "4 predictions in `label` are NaN or infinite, e.g. for id 10729, id 10730, id 10925, …; "
        "predict a finite number for every id",
    ]


def test_integer_accepts_integral_floats(comp: Competition, tmp_path: Path) -> None:
    values = ["1", "+2", "5.0", "6.", "1e0", " 0 ", "3", "3", "9", "2"]
    path = write_predictions(tmp_path, csv_text(IDS, values))
    frame = check_predictions(read_predictions(path, comp.submission), expected_ids(comp), comp.submission)
    assert frame["label"].dtype == np.int64
    assert list(frame["label"]) == [1, 2, 5, 6, 1, 0, 3, 3, 9, 2]


def test_integer_refuses_fractions_and_words(comp: Competition) -> None:
    values = ["3.5", "three", "0x10", "1_000", *LABELS[4:]]
    assert problems_of(comp, csv_text(IDS, values)) == [
        '3 predictions in `label` are not a number, e.g. id 10729: "three", id 10730: "0x10", id 10925: "1_000"; '
        "this competition expects whole numbers (integers)",
        '1 prediction in `label` is not a whole number, e.g. id 10203: "3.5"; '
        "this competition expects integer labels (round or convert with astype(int))",
    ]


def test_integer_too_large(comp: Competition) -> None:
    (line,) = problems_of(comp, csv_text(IDS, ["9" * 30, *LABELS[1:]]))
    assert line.startswith("1 prediction in `label` is too large for a 64-bit integer")


def test_float_type(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, kind="float", metric="mean_squared_error", greater=False)
    values = ["0.5", "-1e-3", "2", ".25", "1e999", "abc", "nan", "3", "4", "5"]
    assert problems_of(comp, csv_text(IDS, values)) == [
        "2 predictions in `label` are NaN or infinite, e.g. for id 11010, id 11030; "
        "predict a finite number for every id",
        '1 prediction in `label` is not a number, e.g. id 11020: "abc"; this competition expects numbers',
    ]
    path = write_predictions(tmp_path, csv_text(IDS, ["0.5", "-1e-3", "2", ".25", "1", "0", "1", "3", "4", "5"]))
    frame = check_predictions(read_predictions(path, comp.submission), expected_ids(comp), comp.submission)
    assert frame["label"].dtype == np.float64
    assert list(frame["label"])[:4] == [0.5, -0.001, 2.0, 0.25]


def test_string_type(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, kind="string", labels=list("abcabcabca"))
    values = ["cat", '"a, b"', "", "nan", "<NA>", "3.5", "x", "y", "z", "None"]
    assert problems_of(comp, csv_text(IDS, values)) == [
        "1 row has an empty `label`, e.g. for id 10730; predict a value for every id",
        "2 predictions in `label` look like a missing value (nan, <NA>), e.g. for id 10925, id 11010; "
        "predict a value for every id",
    ]


def test_every_problem_is_listed_at_once(comp: Competition) -> None:
    ids = [*IDS[2:], "10203", "424242"]
    values = ["x", "1.5", *LABELS[4:], "", 1]
    lines = problems_of(comp, csv_text(ids, values))
    assert len(lines) == 5
    assert all("\n" not in line for line in lines)


def test_check_predictions_is_pure_and_indexes_by_id(comp: Competition) -> None:
    frame = pd.DataFrame({"label": [str(v) for v in reversed(LABELS)], "id": list(reversed(IDS))}, dtype=object)
    before = frame.copy()
    checked = check_predictions(frame, expected_ids(comp), comp.submission)
    pd.testing.assert_frame_equal(frame, before)
    assert list(checked.index) == IDS
    assert checked.index.name == "id"
    assert list(checked["label"]) == LABELS


def test_check_predictions_raises_invalid_predictions(comp: Competition) -> None:
    frame = pd.DataFrame({"id": IDS, "label": ["1"] * 9 + ["x"]}, dtype=object)
    with pytest.raises(InvalidPredictions) as err:
        check_predictions(frame, expected_ids(comp), comp.submission)
    assert err.value.problems == [
        '1 prediction in `label` is not a number, e.g. id 11060: "x"; this competition expects whole numbers (integers)'
    ]


# --- truth ---------------------------------------------------------------------------------


def test_truth_from_path(comp: Competition) -> None:
    truth = load_truth(comp, {})
    assert list(truth.index) == IDS
    assert list(truth["label"]) == LABELS
    assert truth["label"].dtype == np.int64
    assert list(truth["split"]) == SPLITS


def test_no_truth_says_how_to_provide_it(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, write_truth=False)
    with pytest.raises(TruthError) as err:
        load_truth(comp, {})
    assert str(err.value) == ("no ground truth to score against: create truth.csv (truth.path in competition.yaml).")
    assert err.value.exit_code == 2


def test_truth_with_bad_split_values_does_not_show_them(comp: Competition) -> None:
    splits = [*SPLITS[:-2], "publik-SECRET", "Private"]
    with pytest.raises(TruthError) as err:
        load_truth(with_truth(comp, truth_csv(None, LABELS, splits=splits)), {})
    message = str(err.value)
    assert message == (
        "the truth file truth.csv: 2 rows have a `split` other than public or private. "
        "This is the organiser's error: fix the truth, not the submission."
    )


def test_truth_needs_both_splits(comp: Competition) -> None:
    with pytest.raises(TruthError, match="has no private rows"):
        load_truth(with_truth(comp, truth_csv(None, LABELS, splits=["public"] * len(IDS))), {})


def test_truth_missing_column(comp: Competition) -> None:
    with pytest.raises(TruthError, match="missing or repeated: `label`"):
        load_truth(with_truth(comp, truth_csv(None, LABELS, column="target")), {})


def test_truth_with_other_ids_does_not_show_them(comp: Competition) -> None:
    text = truth_csv(None, LABELS).replace("11060", "77777")
    with pytest.raises(TruthError) as err:
        load_truth(with_truth(comp, text), {})
    assert "77777" not in str(err.value) and "11060" not in str(err.value)
    assert "1 test ids have no truth, 1 truth ids are not test ids, 0 ids are repeated" in str(err.value)
    assert "organiser's error" in str(err.value)


def test_truth_with_bad_labels_does_not_show_them(comp: Competition) -> None:
    with pytest.raises(TruthError) as err:
        load_truth(with_truth(comp, truth_csv(None, ["SECRET-7", *LABELS[1:]])), {})
    assert "SECRET" not in str(err.value)
    assert "1 value of `label` is not valid integer values" in str(err.value)


def test_truth_is_never_printed(comp: Competition, capfd: pytest.CaptureFixture[str]) -> None:
    load_truth(comp, {})
    with pytest.raises(TruthError):
        load_truth(with_truth(comp, truth_csv(None, LABELS, splits=["x"] * len(IDS))), {})
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# --- metrics and scores --------------------------------------------------------------------


def scores_by_hand(metric: Any, truth: pd.DataFrame, y_pred: list[Any], **args: Any) -> tuple[float, float]:
    pred = pd.Series(y_pred, index=IDS)
    out = []
    for split in ("public", "private"):
        rows = truth.index[truth["split"] == split]
        out.append(float(metric(truth.loc[rows, "label"], pred.loc[rows], **args)))
    return out[0], out[1]


def checked(comp: Competition, values: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": IDS, "label": [str(v) for v in values]}, dtype=object)
    return check_predictions(frame, expected_ids(comp), comp.submission)


def test_accuracy_equals_sklearn(comp: Competition) -> None:
    guesses = [1, 2, 0, 6, 7, 0, 3, 8, 9, 2]
    truth = load_truth(comp, {})
    public, private = compute_scores(checked(comp, guesses), truth, comp)
    assert (public, private) == scores_by_hand(accuracy_score, truth, guesses)
    assert (public, private) == (0.6, 0.8)
    assert type(public) is float


def test_mean_squared_error_equals_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    labels = list(rng.normal(size=len(IDS)).round(6))
    comp = make_competition(tmp_path, kind="float", metric="mean_squared_error", greater=False, labels=labels)
    guesses = list(rng.normal(size=len(IDS)))
    truth = load_truth(comp, {})
    scores = compute_scores(checked(comp, [repr(float(g)) for g in guesses]), truth, comp)
    assert scores == scores_by_hand(mean_squared_error, truth, guesses)


def test_f1_macro_with_args_equals_sklearn(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, metric="f1_score", args={"average": "macro"})
    guesses = [1, 2, 5, 1, 1, 0, 3, 2, 9, 2]
    truth = load_truth(comp, {})
    scores = compute_scores(checked(comp, guesses), truth, comp)
    assert scores == scores_by_hand(f1_score, truth, guesses, average="macro")


def test_demo_competition_scores_equal_sklearn() -> None:
    demo = config.load(DEMO)
    truth = pd.read_csv(demo.root / "examples/truth.csv", dtype={"id": str})
    rng = np.random.default_rng(1)
    guesses = np.where(rng.random(len(truth)) < 0.7, truth["label"], rng.integers(0, 10, len(truth)))
    frame = pd.DataFrame({"id": truth["id"], "label": guesses.astype(str)}, dtype=object)
    predictions = check_predictions(frame, expected_ids(demo), demo.submission)
    public, private = compute_scores(predictions, load_truth(demo, {}), demo)
    for split, score in (("public", public), ("private", private)):
        rows = truth["split"] == split
        assert score == accuracy_score(truth.loc[rows, "label"], guesses[rows.to_numpy()])
    assert 0.6 < public < 0.8


def test_custom_metric_from_a_module(tmp_path: Path) -> None:
    (tmp_path / "custom_metric_a.py").write_text(
        "def within_one(y_true, y_pred, tolerance=1):\n"
        "    return float(sum(abs(t - p) <= tolerance for t, p in zip(y_true, y_pred)) / len(y_true))\n"
    )
    comp = make_competition(tmp_path, metric="custom_metric_a:within_one", args={"tolerance": 0})
    guesses = [2, 2, 5, 6, 1, 1, 3, 3, 8, 2]
    public, private = compute_scores(checked(comp, guesses), load_truth(comp, {}), comp)
    assert (public, private) == scores_by_hand(accuracy_score, load_truth(comp, {}), guesses)
    assert str(tmp_path) not in os.sys.path


def test_unknown_sklearn_metric_suggests_a_name(comp: Competition) -> None:
    metric = dataclasses.replace(comp.metric, name="accuracy")
    with pytest.raises(ConfigError) as err:
        resolve_metric(metric, comp.root)
    assert err.value.key == "metric.name"
    assert "(did you mean 'accuracy_score'?)" in str(err.value)


def test_custom_module_not_found(comp: Competition) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_metric(dataclasses.replace(comp.metric, name="no_such_module_xyz:score"), comp.root)
    assert err.value.key == "metric.name"
    assert "put no_such_module_xyz.py in" in str(err.value)


def test_custom_function_not_found_suggests_a_name(tmp_path: Path, comp: Competition) -> None:
    (tmp_path / "custom_metric_b.py").write_text("def my_score(y_true, y_pred):\n    return 1.0\n")
    with pytest.raises(ConfigError, match=r"has no function 'my_scor' \(did you mean 'my_score'\?\)"):
        resolve_metric(dataclasses.replace(comp.metric, name="custom_metric_b:my_scor"), comp.root)


def test_bad_metric_args(comp: Competition) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_metric(dataclasses.replace(comp.metric, args={"avg": "macro"}), comp.root)
    assert err.value.key == "metric.args"


def test_failing_metric_hides_its_message(tmp_path: Path) -> None:
    (tmp_path / "custom_metric_c.py").write_text(
        "def leaky(y_true, y_pred):\n    raise ValueError(f'truth was {list(y_true)}')\n"
    )
    comp = make_competition(tmp_path, metric="custom_metric_c:leaky")
    with pytest.raises(GraderError) as err:
        compute_scores(checked(comp, LABELS), load_truth(comp, {}), comp)
    assert "truth was" not in str(err.value)
    assert str(err.value).startswith("the metric custom_metric_c:leaky failed on the public rows (ValueError)")


@pytest.mark.parametrize(("body", "expected"), [("float('nan')", "non-finite"), ("'0.5'", "returned str, not a number"),
                                                ("[0.5, 0.5]", "returned list")])  # fmt: skip
def test_metric_returning_a_non_number(tmp_path: Path, body: str, expected: str) -> None:
    name = f"custom_metric_d{abs(hash(body))}"
    (tmp_path / f"{name}.py").write_text(f"def odd(y_true, y_pred):\n    return {body}\n")
    comp = make_competition(tmp_path, metric=f"{name}:odd")
    with pytest.raises(GraderError, match=expected) as err:
        compute_scores(checked(comp, LABELS), load_truth(comp, {}), comp)
    assert f"{name}:odd" in str(err.value)


# --- a run's directory ---------------------------------------------------------------------


def completed_run(directory: Path, status: str = "completed") -> Result:
    result = Result(
        status=status,  # type: ignore[arg-type]
        run_id="run-1",
        notebook="solution.ipynb",
        notebook_sha256="0" * 64,
        started_at="2026-11-02T10:00:00+00:00",
        runtime_seconds=3.5,
        predictions="predictions.csv",
    )
    results.write(result, directory)
    return result


def test_score_run_writes_the_scores(comp: Competition, tmp_path: Path) -> None:
    run = tmp_path / "run"
    before = completed_run(run)
    guesses = [1, 2, 0, 6, 7, 0, 3, 8, 9, 2]
    write_predictions(run, csv_text(IDS, guesses))
    after = score_run(run, comp, {})
    assert after.status == "completed"
    assert (after.public_score, after.private_score) == (0.6, 0.8)
    version = current_version(comp, {})  # which scorer produced them, written in the same pass
    assert after == dataclasses.replace(before, public_score=0.6, private_score=0.8, extra={"scorer_version": version})
    assert results.read(run) == after


def test_score_run_with_bad_predictions_is_invalid(comp: Competition, tmp_path: Path) -> None:
    run = tmp_path / "run"
    completed_run(run)
    write_predictions(run, csv_text(IDS[2:], ["x", *LABELS[3:]]))
    after = score_run(run, comp, {})
    assert after.status == "invalid"
    assert after.error is not None and after.error.type == "InvalidPredictions"
    assert after.error.message.splitlines() == [
        "2 ids from data/test.csv have no prediction, e.g. 10203, 10729; write one row for every id of data/test.csv",
        '1 prediction in `label` is not a number, e.g. id 10730: "x"; '
        "this competition expects whole numbers (integers)",
    ]
    assert after.public_score is None and after.private_score is None
    assert results.read(run) == after


def test_score_run_without_predictions_is_invalid(comp: Competition, tmp_path: Path) -> None:
    run = tmp_path / "run"
    completed_run(run)
    after = score_run(run, comp, {})
    assert after.status == "invalid"
    assert after.error is not None and "did not write predictions.csv" in after.error.message


def test_score_run_leaves_a_failed_run_alone(comp: Competition, tmp_path: Path) -> None:
    run = tmp_path / "run"
    completed_run(run, status="failed")
    before = (run / "result.json").read_bytes()
    write_predictions(run, csv_text(IDS, LABELS))
    assert score_run(run, comp, {}).status == "failed"
    assert (run / "result.json").read_bytes() == before


def test_score_run_without_truth_raises_and_keeps_the_result(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, write_truth=False)
    run = tmp_path / "run"
    completed_run(run)
    before = (run / "result.json").read_bytes()
    write_predictions(run, csv_text(IDS, LABELS))
    with pytest.raises(TruthError):
        score_run(run, comp, {})
    assert (run / "result.json").read_bytes() == before


def test_check_run_needs_no_truth(tmp_path: Path) -> None:
    comp = make_competition(tmp_path, write_truth=False)
    run = tmp_path / "run"
    run.mkdir()
    write_predictions(run, csv_text(IDS, LABELS))
    assert check_run(run, comp) == []
    write_predictions(run, csv_text(IDS[:-1], LABELS[:-1]))
    assert check_run(run, comp) == [
        "1 id from data/test.csv has no prediction, e.g. 11060; write one row for every id of data/test.csv"
    ]
