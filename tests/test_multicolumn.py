"""Several prediction columns: class probabilities scored against one label column, and several targets.

The contract is checked as strictly as one column (names in any order, types, NaN, [0, 1], rows
summing to 1); scores equal scikit-learn's computed here independently; the example competition
under examples/probabilities is graded end to end by the real `grader grade` with a real kernel.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_grader
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, roc_auc_score

from grader import config, predictions
from grader.config import Competition
from grader.errors import ConfigError, InvalidPredictions, TruthError
from grader.predictions import check_predictions, expected_ids, pack_checked, read_predictions, unpack
from grader.score import compute_scores
from grader.truth import load as load_truth

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "probabilities"
EXAMPLE_YAML = (EXAMPLE / "competition.yaml").read_text(encoding="utf-8")
HEADER = "id,setosa,versicolor,virginica"
IDS = ["1", "2", "3", "4", "5", "6"]
SPECIES = ["setosa", "versicolor", "virginica", "virginica", "setosa", "versicolor"]
SPLITS = ["public", "private", "public", "private", "public", "private"]

TARGETS_YAML = EXAMPLE_YAML.replace(
    """  prediction_columns:           # one probability per class, named after the class
    - {name: setosa, type: probability}
    - {name: versicolor, type: probability}
    - {name: virginica, type: probability}
  distribution: true            # each row sums to 1 (within distribution_tolerance, default 0.01)
""",
    """  prediction_columns:
    - {name: petals, type: integer}
    - {name: height, type: float}
""",
).replace("  label_column: species         # one class label per id; the probabilities are scored against it\n", "")


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def make(root: Path, yaml: str = EXAMPLE_YAML, truth: str | None = None) -> Competition:
    """A competition in ``root`` with six test ids and its truth (one label column by default)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "test.csv").write_text("id,x\n" + "".join(f"{i},0\n" for i in IDS), encoding="utf-8")
    if truth is None:
        truth = "id,species,split\n" + "".join(f"{i},{s},{p}\n" for i, s, p in zip(IDS, SPECIES, SPLITS, strict=True))
    (root / "truth.csv").write_text(truth, encoding="utf-8")
    return config.parse(yaml, root=root)


def check(comp: Competition, text: str) -> pd.DataFrame:
    path = comp.root / "predictions.csv"
    path.write_text(text, encoding="utf-8")
    return check_predictions(read_predictions(path, comp.submission), expected_ids(comp), comp.submission)


def problems(comp: Competition, text: str) -> list[str]:
    with pytest.raises(InvalidPredictions) as caught:
        check(comp, text)
    return caught.value.problems


def rows(*values: str) -> str:
    """A predictions file: the header, then one given row of probabilities for every id."""
    return HEADER + "\n" + "".join(f"{i},{values[n % len(values)]}\n" for n, i in enumerate(IDS))


GOOD = rows("0.8,0.15,0.05", "0.1,0.7,0.2", "0,0,1")


# --- the contract --------------------------------------------------------------------------


def test_columns_in_any_order_are_read_in_the_declared_order_as_floats(tmp_path: Path) -> None:
    comp = make(tmp_path)
    shuffled = "virginica,id,versicolor,setosa\n" + "".join(f"0.05,{i},0.15,0.8\n" for i in reversed(IDS))
    frame = check(comp, shuffled)
    assert list(frame.columns) == ["setosa", "versicolor", "virginica"]
    assert list(frame.index) == IDS
    assert frame.dtypes.tolist() == [np.float64] * 3
    assert frame.loc["3"].tolist() == [0.8, 0.15, 0.05]


def test_a_missing_probability_column_is_named(tmp_path: Path) -> None:
    text = "id,setosa,versicolor\n" + "".join(f"{i},0.5,0.5\n" for i in IDS)
    assert problems(make(tmp_path), text) == [
        "the header must have exactly the columns `id,setosa,versicolor,virginica`, in any order, but it is "
        "`id,setosa,versicolor` (missing `virginica`); write only these 4 columns"
    ]


def test_an_extra_column_is_named(tmp_path: Path) -> None:
    text = HEADER + ",iris\n" + "".join(f"{i},0.8,0.1,0.1,0\n" for i in IDS)
    (problem,) = problems(make(tmp_path), text)
    assert "(unexpected iris); write only these 4 columns" in problem


def test_a_probability_above_one_is_refused(tmp_path: Path) -> None:
    text = rows("0.8,0.1,0.1").replace("4,0.8,0.1,0.1", "4,1.2,0.1,0.1")
    assert problems(make(tmp_path), text) == [
        '1 prediction in `setosa` is not a probability between 0 and 1, e.g. id 4: "1.2"; '
        "predict probabilities (e.g. with predict_proba)"
    ]


def test_a_negative_probability_is_refused(tmp_path: Path) -> None:
    text = rows("0.8,0.1,0.1").replace("2,0.8,0.1,0.1", "2,0.8,-0.1,0.3")
    (problem,) = problems(make(tmp_path), text)
    assert problem.startswith('1 prediction in `versicolor` is not a probability between 0 and 1, e.g. id 2: "-0.1"')


@pytest.mark.parametrize("value", ["2", "-1", "1.000001", "-0.000001"])
def test_a_probability_out_of_range_is_refused_however_it_is_spelt(tmp_path: Path, value: str) -> None:
    # "2" reads as an integer: the range holds for it as for "1.2".
    text = rows("0,0,1").replace("4,0,0,1", f"4,0,0,{value}")
    (problem,) = problems(make(tmp_path), text)
    assert problem.startswith(f'1 prediction in `virginica` is not a probability between 0 and 1, e.g. id 4: "{value}"')


def test_zero_and_one_are_probabilities_and_read_as_floats(tmp_path: Path) -> None:
    frame = check(make(tmp_path), rows("1,0,0", "0,1,0", "0.0,0.0,1.0"))
    assert frame.loc["1"].tolist() == [1.0, 0.0, 0.0] and frame.loc["3"].tolist() == [0.0, 0.0, 1.0]
    assert frame.dtypes.tolist() == [np.float64] * 3


def test_with_a_column_missing_the_values_of_the_others_are_still_checked(tmp_path: Path) -> None:
    text = "id,versicolor,virginica\n" + "".join(f"{i},0.5,{'x' if i == '2' else '0.5'}\n" for i in IDS)
    header, values = problems(make(tmp_path), text)
    assert "(missing `setosa`)" in header
    assert values.startswith('1 prediction in `virginica` is not a number, e.g. id 2: "x"')


def test_a_row_summing_to_0_7_is_refused_with_its_sum(tmp_path: Path) -> None:
    text = rows("0.8,0.1,0.1").replace("5,0.8,0.1,0.1", "5,0.5,0.1,0.1")
    assert problems(make(tmp_path), text) == [
        "the probabilities of 1 row do not sum to 1, e.g. id 5 (sum 0.7); `setosa`, `versicolor`, `virginica` "
        "are the probabilities of the classes: each row must sum to 1 (within 0.01), as predict_proba gives"
    ]


def test_a_sum_within_the_tolerance_passes_and_a_stricter_tolerance_refuses_it(tmp_path: Path) -> None:
    text = rows("0.334,0.334,0.334")  # rounded to three decimals: sums to 1.002
    assert check(make(tmp_path / "default"), text).shape == (6, 3)
    strict = edit(EXAMPLE_YAML, "  distribution: true ", "  distribution_tolerance: 0.001\n  distribution: true ")
    (problem,) = problems(make(tmp_path / "strict", strict), text)
    assert "the probabilities of 6 rows do not sum to 1, e.g. id 1 (sum 1.002)" in problem
    assert "(within 0.001)" in problem


def test_nan_and_a_wrong_type_are_refused_per_column(tmp_path: Path) -> None:
    text = rows("0.8,0.1,0.1").replace("1,0.8,0.1,0.1", "1,nan,0.1,0.1").replace("6,0.8,0.1,0.1", "6,0.8,high,0.1")
    assert problems(make(tmp_path), text) == [
        "1 prediction in `setosa` is NaN or infinite, e.g. for id 1; predict a finite number for every id",
        '1 prediction in `versicolor` is not a number, e.g. id 6: "high"; this competition expects probabilities '
        "(numbers from 0 to 1)",
    ]


def test_several_targets_keep_their_own_types_and_need_not_sum_to_one(tmp_path: Path) -> None:
    comp = make(tmp_path, TARGETS_YAML)
    frame = check(comp, "id,height,petals\n" + "".join(f"{i},{n}.5,{n}\n" for n, i in enumerate(IDS)))
    assert list(frame.columns) == ["petals", "height"]
    assert frame.dtypes.tolist() == [np.int64, np.float64]
    assert frame.loc["2"].tolist() == [1, 1.5]
    bad = "id,height,petals\n" + "".join(f"{i},{n}.5,{n}.5\n" for n, i in enumerate(IDS))
    (problem,) = problems(comp, bad)
    assert problem.startswith("6 predictions in `petals` are not a whole number")


def test_an_empty_file_asks_for_every_column(tmp_path: Path) -> None:
    assert problems(make(tmp_path), "") == [
        f"predictions.csv is empty; write the header `{HEADER}` and one row per test id"
    ]


# --- the config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        ("  id_column: id\n", "  id_column: id\n  prediction_column: label\n", "submission",
         "give either prediction_columns (several columns) or prediction_column and prediction_type (one column), "
         "not both; remove prediction_column."),
        ("{name: virginica, type: probability}", "{name: virginica, type: float}", "submission.distribution",
         "a distribution needs two or more columns, all of type probability (one per class); 'virginica' is not."),
        ("{name: virginica, type: probability}", "{name: setosa, type: probability}",
         "submission.prediction_columns.2.name", "the column 'setosa' is listed twice; list each column once."),
        ("{name: virginica, type: probability}", "{name: id, type: probability}",
         "submission.prediction_columns.2.name", "the column 'id' is also submission.id_column; name it differently."),
        ("  label_column: species ", "  # label_column: species ", "truth.label_column",
         "is required when submission.distribution is true: name the truth's column of class labels"),
        ("  distribution: true ", "  distribution: false ", "truth.label_column",
         "applies only when submission.distribution is true"),
        ("  label_column: species ", "  label_column: split ", "truth.label_column",
         "must differ from submission.id_column and truth.split_column."),
        ("{name: virginica, type: probability}", "{name: virginica, type: probabilty}",
         "submission.prediction_columns.2.type", "'probabilty' is not allowed; use one of: integer, float, string, "
         "probability."),
        ("  distribution: true ", "  distribution_tolerance: 0\n  distribution: true ",
         "submission.distribution_tolerance", "0 is less than or equal to the minimum of 0."),
    ],
)  # fmt: skip
def test_config_mistakes_name_the_key_and_the_fix(tmp_path: Path, old: str, new: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(tmp_path, edit(EXAMPLE_YAML, old, new))
    assert caught.value.key == key
    assert expected in str(caught.value)


def test_one_column_without_a_type_says_what_is_missing(tmp_path: Path) -> None:
    demo = (ROOT / "competition.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.parse(edit(demo, "  prediction_type: integer\n", ""), root=tmp_path)
    assert caught.value.key == "submission"
    assert "prediction_type is required here (or list several columns in prediction_columns)." in str(caught.value)


def test_a_distribution_key_on_one_column_is_refused(tmp_path: Path) -> None:
    demo = (ROOT / "competition.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.parse(edit(demo, "  prediction_type: integer\n", "  prediction_type: integer\n  distribution: true\n"),
                     root=tmp_path)  # fmt: skip
    assert caught.value.key == "submission.distribution"
    assert "applies only to prediction_columns (several probability columns)." in str(caught.value)


# --- the truth and the score ------------------------------------------------------------------


def test_a_truth_label_that_names_no_column_is_the_organisers_error(tmp_path: Path) -> None:
    truth = "id,species,split\n" + "".join(f"{i},{s},{p}\n" for i, s, p in zip(IDS, SPECIES, SPLITS, strict=True))
    comp = make(tmp_path, truth=truth.replace("2,versicolor", "2,Versicolor"))
    with pytest.raises(TruthError) as caught:
        load_truth(comp, {})
    assert "1 label of `species` is not the name of a prediction column (`setosa`, `versicolor`, `virginica`)" in str(
        caught.value
    )
    assert "Versicolor" not in str(caught.value)  # never a truth value


def test_probabilities_score_as_scikit_learn_with_every_class_even_when_a_split_lacks_one(tmp_path: Path) -> None:
    public_setosa_only = ["setosa", "versicolor", "setosa", "virginica", "setosa", "versicolor"]
    truth = "id,species,split\n" + "".join(
        f"{i},{s},{p}\n" for i, s, p in zip(IDS, public_setosa_only, SPLITS, strict=True)
    )
    comp = make(tmp_path, truth=truth)
    frame = check(comp, GOOD)
    public, private = compute_scores(frame, load_truth(comp, {}), comp)
    classes = ["setosa", "versicolor", "virginica"]
    y_true = pd.read_csv(tmp_path / "truth.csv").set_index("id")
    y_pred = pd.read_csv(tmp_path / "predictions.csv").set_index("id")
    for split, got in (("public", public), ("private", private)):
        ids = y_true.index[y_true["split"] == split]
        expected = log_loss(y_true.loc[ids, "species"], y_pred.loc[ids, classes], labels=classes)
        assert got == pytest.approx(expected, rel=1e-12)


def test_rows_within_the_tolerance_are_rescaled_to_sum_to_one_before_scoring(tmp_path: Path) -> None:
    comp = make(tmp_path)
    exact = compute_scores(check(comp, rows("0.5,0.25,0.25")), load_truth(comp, {}), comp)
    loose = compute_scores(check(comp, rows("0.502,0.251,0.251")), load_truth(comp, {}), comp)
    assert loose == pytest.approx(exact, rel=1e-12)


def test_roc_auc_with_multi_class_from_the_args_scores_as_scikit_learn(tmp_path: Path) -> None:
    yaml = edit(EXAMPLE_YAML, "  name: log_loss\n  greater_is_better: false\n",
                "  name: roc_auc_score\n  greater_is_better: true\n  args: {multi_class: ovr}\n")  # fmt: skip
    every_class = ["setosa", "virginica", "versicolor", "setosa", "virginica", "versicolor"]  # in each split
    truth = "id,species,split\n" + "".join(f"{i},{s},{p}\n" for i, s, p in zip(IDS, every_class, SPLITS, strict=True))
    comp = make(tmp_path, yaml, truth=truth)
    scores = compute_scores(
        check(comp, rows("0.8,0.15,0.05", "0.1,0.7,0.2", "0.3,0.3,0.4")), load_truth(comp, {}), comp
    )
    y_true = pd.read_csv(tmp_path / "truth.csv").set_index("id")
    y_pred = pd.read_csv(tmp_path / "predictions.csv").set_index("id")
    classes = ["setosa", "versicolor", "virginica"]
    expected = tuple(
        roc_auc_score(
            y_true.loc[y_true["split"] == s, "species"], y_pred.loc[y_true.index[y_true["split"] == s], classes],
            multi_class="ovr", labels=classes,
        )
        for s in ("public", "private")
    )  # fmt: skip
    assert scores == pytest.approx(expected, rel=1e-12)


def test_several_targets_score_as_scikit_learn_with_multioutput(tmp_path: Path) -> None:
    truth = "id,petals,height,split\n" + "".join(f"{i},{n % 3},{n * 0.5},{p}\n" for n, (i, p) in
                                                 enumerate(zip(IDS, SPLITS, strict=True)))  # fmt: skip
    yaml = edit(
        TARGETS_YAML,
        "  name: log_loss\n  greater_is_better: false\n",
        "  name: mean_squared_error\n  greater_is_better: false\n  args: {multioutput: [0.25, 0.75]}\n",
    )
    comp = make(tmp_path, yaml, truth=truth)
    frame = check(comp, "id,petals,height\n" + "".join(f"{i},{n % 2},{n * 0.4}\n" for n, i in enumerate(IDS)))
    scores = compute_scores(frame, load_truth(comp, {}), comp)
    y_true = pd.read_csv(tmp_path / "truth.csv").set_index("id")
    y_pred = pd.read_csv(tmp_path / "predictions.csv").set_index("id")
    expected = tuple(
        mean_squared_error(y_true.loc[y_true["split"] == s, ["petals", "height"]],
                           y_pred.loc[y_true.index[y_true["split"] == s], ["petals", "height"]],
                           multioutput=[0.25, 0.75])
        for s in ("public", "private")
    )  # fmt: skip
    assert scores == pytest.approx(expected, rel=1e-12)
    other = dataclasses.replace(comp, metric=dataclasses.replace(comp.metric, name="mean_absolute_error", args={}))
    assert compute_scores(frame, load_truth(comp, {}), other)[0] == pytest.approx(
        mean_absolute_error(y_true.loc[y_true["split"] == "public", ["petals", "height"]],
                            y_pred.loc[y_true.index[y_true["split"] == "public"], ["petals", "height"]])
    )  # fmt: skip


def test_packed_columns_come_back_as_the_same_checked_predictions(tmp_path: Path) -> None:
    comp = make(tmp_path)
    frame = check(comp, rows("0.1,0.30000000000000004,0.6", "1,0,0"))
    ids = expected_ids(comp)
    packed = pack_checked(frame, ids, comp)
    again = check_predictions(unpack(packed.data, list(ids), comp), ids, comp.submission)
    pd.testing.assert_frame_equal(again, frame)
    one_column = dataclasses.replace(
        comp, submission=dataclasses.replace(comp.submission, prediction_columns=(), prediction_column="p")
    )
    with pytest.raises(InvalidPredictions, match="do not match"):
        unpack(packed.data, list(ids), one_column)  # several columns never read back as one
    single = pack_checked(pd.DataFrame({"p": [0.5] * len(IDS)}, index=ids), ids, one_column)
    with pytest.raises(InvalidPredictions, match="do not match"):
        unpack(single.data, list(ids), comp)  # nor one column as several
    fewer = dataclasses.replace(
        comp, submission=dataclasses.replace(comp.submission, prediction_columns=comp.submission.prediction_columns[:2])
    )
    with pytest.raises(InvalidPredictions, match="do not match"):
        unpack(packed.data, list(ids), fewer)  # nor three columns as two


def test_the_scorer_version_changes_with_the_columns_and_the_tolerance(tmp_path: Path) -> None:
    comp = make(tmp_path)
    truth = load_truth(comp, {})
    looser = dataclasses.replace(comp, submission=dataclasses.replace(comp.submission, distribution_tolerance=0.02))
    fewer = dataclasses.replace(
        comp, submission=dataclasses.replace(comp.submission, prediction_columns=comp.submission.prediction_columns[:2])
    )
    versions = {predictions.scorer_version(c, truth, {}) for c in (comp, looser, fewer)}
    assert len(versions) == 3


# --- the example competition, end to end -------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of examples/probabilities beside a copy of the environment it names."""
    shutil.copytree(ROOT / "environment", tmp_path / "environment")
    target = tmp_path / "examples" / "probabilities"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.mark.slow
def test_the_example_is_graded_end_to_end_and_scores_equal_scikit_learn(example: Path, tmp_path: Path) -> None:
    def grade(login: str, notebook: str) -> tuple[int, str, Path]:
        out = tmp_path / "runs" / login
        proc = run_grader("grade", f"submissions/{login}/{notebook}", "--user", login, "--out", str(out),
                          "--db", str(tmp_path / "leaderboard.db"), "--submitted-at", "2026-12-01T10:00:00+01:00",
                          cwd=example)  # fmt: skip
        assert "Traceback" not in proc.stdout + proc.stderr
        return proc.returncode, proc.stdout + proc.stderr, out

    truth = pd.read_csv(example / "truth.csv").set_index("id")
    classes = ["setosa", "versicolor", "virginica"]
    scores = {}
    for login, notebook in (("grace", "logistic.ipynb"), ("henry", "knn.ipynb")):
        code, output, out = grade(login, notebook)
        assert code == 0, output
        predicted = pd.read_csv(out / "predictions.csv").set_index("id")
        result = json.loads((out / "result.json").read_text(encoding="utf-8"))
        for split in ("public", "private"):
            ids = truth.index[truth["split"] == split]
            expected = log_loss(truth.loc[ids, "species"], predicted.loc[ids, classes], labels=classes)
            assert result[f"{split}_score"] == pytest.approx(expected, rel=1e-12)
            auc = roc_auc_score(truth.loc[ids, "species"], predicted.loc[ids, classes], multi_class="ovr")
            assert result["extra"]["secondary"]["roc_auc_score"][split] == pytest.approx(auc, rel=1e-12)
        scores[login] = result["public_score"]
    assert 0 < scores["henry"] < scores["grace"] < 0.5  # both learn; lower is better

    code, output, _ = grade("ivan", "labels.ipynb")
    assert code == 1
    assert "invalid: the header must have exactly the columns `id,setosa,versicolor,virginica`" in output
    assert "(missing `setosa`, `versicolor`, `virginica`; unexpected species)" in output

    code, output, _ = grade("judy", "one-vs-rest.ipynb")
    assert code == 1
    assert "invalid: the probabilities of 59 rows do not sum to 1, e.g. id 1091 (sum 1.36219)" in output


def test_the_site_tells_students_every_column_and_the_sum(tmp_path: Path) -> None:
    from datetime import datetime

    from grader import site

    comp = make(tmp_path)
    page = site.render(site.load(comp, tmp_path / "none.db", now=datetime(2026, 12, 1, tzinfo=UTC)))
    submit = page.files["submit.md"]
    assert "with exactly the columns <code>id</code>, <code>setosa</code> (probabilities from 0 to 1)," in submit
    assert "each row must sum to 1 (within 0.01), as <code>predict_proba</code> gives." in submit
