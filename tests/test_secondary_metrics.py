"""Secondary metrics: computed for every scored run, shown everywhere the score is, never ranked, sealed when private.

Real SQLite files (their raw bytes are searched for the private values), the real `grader` CLI.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT, run_grader
from sklearn.metrics import f1_score
from test_score import IDS, LABELS, SPLITS, completed_run, make_competition, write_predictions
from test_store import NOW, rec, result, yaml_text

from grader import answer as answers
from grader import config, sealing, site
from grader import result as results
from grader.config import Competition
from grader.errors import ConfigError, UsageError
from grader.result import Result
from grader.score import score
from grader.store import Store

KEY = sealing.new_key()
PRIVATE_SECRET = 0.314159265358979  # a private secondary score whose text would be easy to find
SECONDARY = """\
  secondary:
    - {name: f1_score, greater_is_better: true, args: {average: macro}}
    - {name: mean_absolute_error, greater_is_better: false}
"""


def with_secondary(comp: Competition) -> Competition:
    text = yaml_text()  # the store tests' competition, accuracy ranked, plus two secondary metrics
    text = text.replace("  greater_is_better: true\n", "  greater_is_better: true\n" + SECONDARY, 1)
    (comp.root / "competition.yaml").write_text(text, encoding="utf-8")
    return config.parse(text, root=comp.root)


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return with_secondary(config.parse(yaml_text(), root=tmp_path))


def scored(run_id: str, public: float, f1: float, private_f1: float = 0.5) -> Result:
    """A scored run whose secondary f1 is ``f1`` (public) and ``private_f1`` (private)."""
    extra = {"secondary": {"f1_score": {"public": f1, "private": private_f1},
                           "mean_absolute_error": {"public": 1.5, "private": 2.5}}}  # fmt: skip
    return dataclasses.replace(result(run_id, score=public, private=0.25), extra=extra)


# --- the config -----------------------------------------------------------------------------


def test_secondary_metrics_are_read_in_order(comp: Competition) -> None:
    assert [(m.name, m.greater_is_better, m.args) for m in comp.metric.secondary] == [
        ("f1_score", True, {"average": "macro"}),
        ("mean_absolute_error", False, {}),
    ]


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        ("mean_absolute_error, greater", "f1_score, greater", "metric.secondary.1.name",
         "f1_score is listed twice; list each secondary metric once."),
        ("{name: f1_score, greater_is_better: true, args: {average: macro}}", "{name: f1_score}",
         "metric.secondary.0", "'greater_is_better' is required here."),
        ("args: {average: macro}", "weights: {average: macro}", "metric.secondary.0",
         "unknown key 'weights'"),
    ],
)  # fmt: skip
def test_secondary_config_mistakes_name_the_key(comp: Competition, old: str, new: str, key: str, expected: str) -> None:
    text = (comp.root / "competition.yaml").read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(ConfigError) as caught:
        config.parse(text.replace(old, new), root=comp.root)
    assert caught.value.key == key
    assert expected in str(caught.value)


# --- scoring --------------------------------------------------------------------------------


def test_scoring_adds_each_secondary_metric_equal_to_scikit_learn_and_drops_claimed_ones(tmp_path: Path) -> None:
    base = make_competition(tmp_path)
    comp = dataclasses.replace(base, metric=with_secondary(base).metric)
    predicted = [1, 2, 5, 6, 1, 0, 3, 8, 9, 7]
    run = tmp_path / "run"
    claimed = completed_run(run)
    write_predictions(run, "id,label\n" + "".join(f"{i},{p}\n" for i, p in zip(IDS, predicted, strict=True)))
    results.write(dataclasses.replace(claimed, extra={"secondary": {"f1_score": {"public": 1.0, "private": 1.0},
                                                                    "made_up": {"public": 9}}}), run)  # fmt: skip
    extra = score(run, comp, {}).result.extra["secondary"]
    assert list(extra) == ["f1_score", "mean_absolute_error"]  # ours only, in order: the claimed made_up is gone
    for split in ("public", "private"):
        rows = [n for n, s in enumerate(SPLITS) if s == split]
        expected = f1_score([LABELS[n] for n in rows], [predicted[n] for n in rows], average="macro")
        assert extra["f1_score"][split] == expected
    assert json.loads((run / "result.json").read_text())["extra"]["secondary"] == extra


def test_an_invalid_run_keeps_no_claimed_secondary_scores(tmp_path: Path) -> None:
    base = make_competition(tmp_path)
    comp = dataclasses.replace(base, metric=with_secondary(base).metric)
    run = tmp_path / "run"
    claimed = completed_run(run)
    write_predictions(run, "id,label\n1,2\n")
    results.write(dataclasses.replace(claimed, extra={"secondary": {"f1_score": {"public": 1.0}}}), run)
    outcome = score(run, comp, {}).result
    assert outcome.status == "invalid"
    assert "secondary" not in outcome.extra


FAILING = """\
  secondary:
    - {name: roc_auc_score, greater_is_better: true}
    - {name: "odd_metric:nan_without_fives", greater_is_better: true}
"""


def test_a_secondary_metric_that_fails_or_gives_nan_leaves_the_run_scored_and_shows_a_dash(tmp_path: Path) -> None:
    # roc_auc_score raises on many classes given labels (it wants scores); the organiser's own metric
    # gives NaN on the private rows only (the only ones holding a 5) and 0.5 on the public ones.
    (tmp_path / "odd_metric.py").write_text(
        "def nan_without_fives(y_true, y_pred):\n    return float('nan') if 5 in list(y_true) else 0.5\n"
    )
    base = make_competition(tmp_path)
    text = yaml_text().replace("  greater_is_better: true\n", "  greater_is_better: true\n" + FAILING, 1)
    (tmp_path / "competition.yaml").write_text(text, encoding="utf-8")  # for grader history
    comp = dataclasses.replace(base, metric=config.parse(text, root=tmp_path).metric)
    run = tmp_path / "run"
    completed_run(run)
    write_predictions(run, "id,label\n" + "".join(f"{i},{p}\n" for i, p in zip(IDS, LABELS, strict=True)))
    scored_run = score(run, comp, {}).result
    assert (scored_run.status, scored_run.public_score, scored_run.private_score) == ("completed", 1.0, 1.0)
    assert scored_run.extra["secondary"] == {
        "roc_auc_score": {"public": "failed on the public rows (ValueError)",
                          "private": "failed on the private rows (ValueError)"},
        "odd_metric:nan_without_fives": {"public": 0.5, "private": "returned nan on the private rows"},
    }  # fmt: skip

    db = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(db) as s:
        outcome = rec(s, scored_run, comp, "alice", NOW)
        s.export_csv(comp)
        (row,) = s.history("alice")
    assert outcome.rank == 1
    assert row.secondary_scores == {"roc_auc_score": None, "odd_metric:nan_without_fives": 0.5}
    assert json.loads(row.secondary or "")["roc_auc_score"] == "failed on the public rows (ValueError)"  # kept
    found = answers.recorded(scored_run, outcome, comp, pr=7, head_sha="abc", notebook="a.ipynb", run_url=None)
    assert "| roc_auc_score | — (public; higher is better; shown, not ranked) |" in answers.comment(found)
    assert (db.parent / "leaderboard.csv").read_text().splitlines()[1].endswith(",,,0.5")  # blank, then 0.5
    history = run_grader("history", "alice", "--db", str(db), cwd=tmp_path)
    assert "completed  1.00000  —" in history.stdout, history.stderr


# --- ranking, sealing, exports ---------------------------------------------------------------


def test_a_secondary_metric_that_orders_participants_differently_never_moves_the_rank(
    tmp_path: Path, comp: Competition
) -> None:
    db = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(db) as s:
        rec(s, scored("a1", public=0.9, f1=0.1), comp, "alice", NOW)
        rec(s, scored("b1", public=0.8, f1=0.99), comp, "bob", NOW + timedelta(minutes=1))
        late = rec(s, scored("b2", public=0.85, f1=1.0), comp, "bob", NOW + timedelta(minutes=2))
        board = [(x.rank, x.username, x.best_score) for x in s.leaderboard(comp)]
        s.export_csv(comp)
    assert late.rank == 2  # bob's far better f1 leaves him second
    assert board == [(1, "alice", 0.9), (2, "bob", 0.85)]
    lines = (db.parent / "leaderboard.csv").read_text().splitlines()
    assert lines[0].endswith(",baseline,f1_score,mean_absolute_error")
    assert lines[1].startswith("1,alice,0.9,1,") and lines[1].endswith(",,0.1,1.5")
    assert lines[2].startswith("2,bob,0.85,3,") and lines[2].endswith(",,1.0,1.5")  # of his best submission (b2)


def test_without_secondary_metrics_the_leaderboard_csv_keeps_its_columns(tmp_path: Path) -> None:
    comp = config.parse(yaml_text(), root=tmp_path)
    db = tmp_path / "leaderboard.db"
    with Store(db) as s:
        rec(s, scored("a1", public=0.9, f1=0.1), comp, "alice", NOW)
        s.export_csv(comp)
    assert (tmp_path / "leaderboard.csv").read_text().splitlines()[0] == (
        "rank,username,best_score,best_submission_id,submission_count,last_updated,baseline"
    )


def test_private_secondary_scores_are_sealed_until_the_reveal(tmp_path: Path, comp: Competition) -> None:
    db = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(db) as s:  # no key yet: kept in clear, then sealed when the first run is recorded with one
        rec(s, scored("a1", public=0.9, f1=0.1, private_f1=0.75), comp, "alice", NOW)
    with Store(db, private_key=KEY) as s:
        rec(s, scored("b1", public=0.8, f1=0.2, private_f1=PRIVATE_SECRET), comp, "bob", NOW)
        s.export_csv(comp)
        with pytest.raises(UsageError, match="hidden until the reveal"):
            s.private_secondary()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT secondary, secondary_private, secondary_sealed FROM submissions").fetchall()
    conn.close()
    assert [json.loads(public)["f1_score"] for public, _, _ in rows] == [0.1, 0.2]  # the public ones stay readable
    assert all(plain is None and token.startswith("gAAAA") for _, plain, token in rows)
    data = db.read_bytes()
    assert repr(PRIVATE_SECRET).encode() not in data and b"0.75" not in data
    for name in ("leaderboard.csv", "submissions.csv"):
        assert "0.3141" not in (db.parent / name).read_text()

    with Store(db, private_key=KEY) as s:
        s.reveal(by="organiser", now=comp.end, competition=comp)
        opened = s.private_secondary()
    assert opened == {
        1: {"f1_score": 0.75, "mean_absolute_error": 2.5},
        2: {"f1_score": PRIVATE_SECRET, "mean_absolute_error": 2.5},
    }


def test_private_leaderboard_csv_gets_the_private_secondary_scores_only_after_the_reveal(
    tmp_path: Path, comp: Competition
) -> None:
    db = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(db, private_key=KEY) as s:
        rec(s, scored("a1", public=0.9, f1=0.1, private_f1=PRIVATE_SECRET), comp, "alice", NOW)
        rec(s, scored("b1", public=0.8, f1=0.2, private_f1=0.75), comp, "bob", NOW + timedelta(minutes=1))
        s.export_csv(comp)
    assert not (db.parent / "private_leaderboard.csv").exists()
    for path in db.parent.iterdir():  # no file the repository holds shows a private secondary score before
        assert b"0.31415" not in path.read_bytes() and b"0.75" not in path.read_bytes(), path.name

    with Store(db, private_key=KEY) as s:
        s.reveal(by="organiser", now=comp.end, competition=comp)
        s.export_csv(comp)
    lines = (db.parent / "private_leaderboard.csv").read_text().splitlines()
    assert lines[0] == (
        "rank,username,best_score,best_submission_id,submission_count,last_updated,f1_score,mean_absolute_error"
    )
    assert lines[1].startswith("1,alice,0.25,1,1,") and lines[1].endswith(f",{PRIVATE_SECRET!r},2.5")
    assert lines[2].startswith("2,bob,0.25,2,1,") and lines[2].endswith(",0.75,2.5")  # earliest wins the tie


def test_without_secondary_metrics_private_leaderboard_csv_keeps_its_columns(tmp_path: Path) -> None:
    comp = config.parse(yaml_text(), root=tmp_path)
    db = tmp_path / "leaderboard.db"
    with Store(db) as s:
        rec(s, scored("a1", public=0.9, f1=0.1), comp, "alice", NOW)
        s.reveal(by="organiser", now=comp.end, competition=comp)
        s.export_csv(comp)
    assert (tmp_path / "private_leaderboard.csv").read_text().splitlines()[0] == (
        "rank,username,best_score,best_submission_id,submission_count,last_updated"
    )


def test_a_reveal_without_the_right_key_opens_no_secondary_score_and_loses_none(
    tmp_path: Path, comp: Competition
) -> None:
    db = tmp_path / "leaderboard.db"
    with Store(db, private_key=KEY) as s:
        rec(s, scored("a1", public=0.9, f1=0.1, private_f1=0.75), comp, "alice", NOW)
    with sqlite3.connect(db) as conn:  # only secondary scores are sealed
        conn.execute("UPDATE submissions SET private_sealed = NULL")
    conn.close()
    for key in (sealing.new_key(), None):
        with Store(db, private_key=key) as s, pytest.raises(sealing.SealError):
            s.reveal(by="organiser", now=comp.end, competition=comp)
    with Store(db, private_key=KEY) as s:
        assert s.revealed_at() is None
        s.reveal(by="organiser", now=comp.end, competition=comp)
        assert s.private_secondary()[1]["f1_score"] == 0.75


# --- where they are shown ------------------------------------------------------------------------


def test_the_comment_shows_the_public_secondary_scores_and_never_the_private_ones(
    tmp_path: Path, comp: Competition
) -> None:
    run = scored("a1", public=0.9, f1=0.123456, private_f1=PRIVATE_SECRET)
    with Store(tmp_path / "leaderboard.db") as s:
        outcome = rec(s, run, comp, "alice", NOW)
    found = answers.recorded(run, outcome, comp, pr=7, head_sha="abc", notebook="solution.ipynb", run_url=None)
    text = answers.comment(answers.Answer.from_json(found.to_json()))
    assert "| f1_score | 0.12346 (public; higher is better; shown, not ranked) |" in text
    assert "| mean_absolute_error | 1.50000 (public; lower is better; shown, not ranked) |" in text
    assert "0.31416" not in text and "0.3141" not in found.to_json()


def test_grader_history_shows_a_column_per_secondary_metric(tmp_path: Path, comp: Competition) -> None:
    db = tmp_path / "leaderboard.db"
    with Store(db) as s:
        rec(s, scored("a1", public=0.9, f1=0.123456), comp, "alice", NOW)
        rec(s, result("a2", status="failed"), comp, "alice", NOW + timedelta(minutes=1))
    proc = run_grader("history", "alice", "--db", str(db), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["#", "submitted", "by", "notebook", "status", "score", "f1_score",
                                "mean_absolute_error", "final", "note"]  # fmt: skip
    assert "completed  0.90000  0.12346   1.50000" in lines[2]
    assert "failed     —" in lines[3]


def test_the_site_board_shows_the_secondary_scores_of_the_best_submission(tmp_path: Path, comp: Competition) -> None:
    db = tmp_path / "leaderboard.db"
    with Store(db) as s:
        rec(s, scored("a1", public=0.9, f1=0.123456), comp, "alice", NOW)
        rec(s, scored("a2", public=0.7, f1=0.999), comp, "alice", NOW + timedelta(minutes=1))
    page = site.render(site.load(comp, db, now=datetime(2026, 12, 1, tzinfo=UTC)))
    board = page.fragments["board-public"]
    assert '<th data-sort="num" title="shown, not ranked">f1_score</th>' in board
    assert '<td data-v="0.123456">0.12346</td>' in board  # the best submission's, not the latest
    assert "0.99900" not in board


def test_the_history_pages_show_public_secondary_scores_and_private_ones_only_after_the_reveal(
    tmp_path: Path, comp: Competition
) -> None:
    db = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(db, private_key=KEY) as s:
        rec(s, scored("a1", public=0.9, f1=0.123456, private_f1=PRIVATE_SECRET), comp, "alice", NOW)
        rec(s, result("a2", status="failed"), comp, "alice", NOW + timedelta(minutes=1))
    when = datetime(2026, 12, 1, tzinfo=UTC)

    def pages() -> tuple[dict[str, Any], str]:
        files = site.render(site.load(comp, db, now=when)).files
        (name,) = [n for n in files if n.startswith("participants/") and n.endswith(".json")]
        return json.loads(files[name])["alice"], files[name.removesuffix(".json") + ".html"]

    history, plain = pages()
    assert history["secondary"] == [[0.12346, 1.5], None]  # the completed row's, in the yaml's order, as shown
    assert "private_secondary" not in history
    assert "<th>Public score</th><th>f1_score</th><th>mean_absolute_error</th><th>Note</th>" in plain
    assert "<td>0.90000<td>0.12346<td>1.50000<td>" in plain and "<td>—<td>—<td>—<td>" in plain  # the failed row
    assert "0.31416" not in plain and "0.31415" not in json.dumps(history)
    markup = site.render(site.load(comp, db, now=when)).files["participants.md"]
    assert 'data-secondary="[&quot;f1_score&quot;, &quot;mean_absolute_error&quot;]"' in markup

    with Store(db, private_key=KEY) as s:
        s.reveal(by="organiser", now=comp.end, competition=comp)
    history, plain = pages()
    assert history["private_secondary"] == [0.31416, 2.5]
    assert "; private f1_score 0.31416, mean_absolute_error 2.50000 (shown, not ranked); public rank 1" in plain


def test_without_secondary_metrics_a_history_has_no_secondary_keys(tmp_path: Path) -> None:
    comp = config.parse(yaml_text(), root=tmp_path)
    db = tmp_path / "leaderboard.db"
    with Store(db) as s:
        rec(s, scored("a1", public=0.9, f1=0.1), comp, "alice", NOW)  # values a run claims, but none is configured
        s.reveal(by="organiser", now=comp.end, competition=comp)
    files = site.render(site.load(comp, db, now=datetime(2026, 12, 1, tzinfo=UTC))).files
    history = json.loads(next(v for k, v in files.items() if k.endswith(".json")))["alice"]
    assert "secondary" not in history and "private_secondary" not in history
    assert "data-secondary" not in files["participants.md"]


def test_a_secondary_metric_added_later_is_filled_in_by_rescore_and_sealed(tmp_path: Path) -> None:
    from test_rescore import grade, truth_rows

    from grader import demo, pipeline, rescore

    plain = demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")
    grade(tmp_path, plain, "alice", "a1", 4, 0)  # recorded before the teacher added a secondary metric
    yaml = (plain.root / "competition.yaml").read_text(encoding="utf-8")
    added = yaml.replace("  greater_is_better: true\n", "  greater_is_better: true\n" + SECONDARY, 1)
    (plain.root / "competition.yaml").write_text(added, encoding="utf-8")
    comp = config.load(plain.root / "competition.yaml")
    environ = {sealing.KEY_ENV: KEY}
    rescore.rescore(comp, pipeline.default_db(comp), by="teacher", reason="show the macro F1", now=NOW,
                    environ=environ)  # fmt: skip

    rows = truth_rows(comp)
    predicted = pd.read_csv(tmp_path / "runs" / "a1" / "predictions.csv").set_index("id")
    public = [r for r in rows if r["split"] == "public"]
    expected = f1_score([int(r["label"]) for r in public], predicted.loc[[int(r["id"]) for r in public], "label"],
                        average="macro")  # fmt: skip
    with Store(pipeline.default_db(comp), private_key=KEY) as s:
        (row,) = s.history("alice")
        assert row.secondary_scores["f1_score"] == pytest.approx(expected, rel=1e-12)
        with pytest.raises(UsageError, match="hidden until the reveal"):
            s.private_secondary()
    with sqlite3.connect(pipeline.default_db(comp)) as conn:
        assert conn.execute(
            "SELECT secondary_private IS NULL, secondary_sealed IS NOT NULL FROM submissions"
        ).fetchone() == (1, 1)
    conn.close()
