"""validate → run → score → record, end to end, with the demo competition's real notebooks."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from grader import config, demo, pipeline
from grader.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "submissions"
PARIS = ZoneInfo("Europe/Paris")

pytestmark = pytest.mark.slow


@pytest.fixture
def comp(tmp_path: Path) -> config.Competition:
    return demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")


def test_grade_scores_equal_scikit_learn_and_a_resubmission_is_a_duplicate(
    comp: config.Competition, tmp_path: Path
) -> None:
    db = pipeline.default_db(comp)
    now = datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
    first = pipeline.grade(
        EXAMPLES / "alice" / "knn.ipynb", comp, user="alice", out_dir=tmp_path / "a1", db=db, now=now
    )
    assert first.result.status == "completed"
    assert (first.recorded.status, first.recorded.rank) == ("completed", 1)

    predictions = pd.read_csv(tmp_path / "a1" / "predictions.csv")
    truth = pd.read_csv(ROOT / "examples" / "truth.csv")
    merged = truth.merge(predictions, on="id", suffixes=("_true", "_pred"))
    for split, got in (("public", first.result.public_score), ("private", first.result.private_score)):
        rows = merged[merged["split"] == split]
        assert got == accuracy_score(rows["label_true"], rows["label_pred"])  # exactly, not approximately
    assert 0.9 < first.result.public_score < 1.0

    again = pipeline.grade(
        EXAMPLES / "alice" / "knn.ipynb", comp, user="alice", out_dir=tmp_path / "a2", db=db, now=now
    )
    assert again.recorded.status == "rejected"
    assert "already submitted as #1" in (again.recorded.reason or "")
    assert not (tmp_path / "a2" / "executed.ipynb").exists()  # refused before running
    with Store(db) as store:
        assert [r.status for r in store.history("alice")] == ["completed", "rejected"]
        assert store.leaderboard(comp)[0].submission_count == 1


def test_grade_after_the_deadline_is_rejected_without_running(comp: config.Competition, tmp_path: Path) -> None:
    late = datetime(2027, 3, 1, 0, 0, tzinfo=PARIS)
    graded = pipeline.grade(
        EXAMPLES / "alice" / "knn.ipynb",
        comp,
        user="alice",
        out_dir=tmp_path / "late",
        db=pipeline.default_db(comp),
        now=late,
    )
    assert graded.recorded.status == "rejected"
    assert "closed" in (graded.recorded.reason or "")
    assert not (tmp_path / "late" / "executed.ipynb").exists()


def test_demo_command_grades_every_example_and_leaves_the_repository_alone(tmp_path: Path) -> None:
    before = sorted(p.relative_to(ROOT) for p in ROOT.glob("leaderboard/**/*"))
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "demo", "--timeout", "6", "--keep", str(tmp_path / "demo")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()

    def outcome(name: str) -> str:
        return next(line for line in lines if name in line)

    assert ": completed, public score" in outcome("knn.ipynb")
    assert ": completed, public score" in outcome("1-logistic.ipynb")
    assert ": completed, public score" in outcome("2-svm.ipynb")
    assert "failed: cell 3 raised KeyError" in outcome("typo.ipynb")
    assert ": timeout" in outcome("forever.ipynb")
    assert ": invalid" in outcome("broken.ipynb")
    assert ": invalid" in outcome("wrong-format.ipynb") and "label" in outcome("wrong-format.ipynb")
    assert "rejected" in lines[[i for i, line in enumerate(lines) if "knn.ipynb" in line][-1]]

    board = proc.stdout[proc.stdout.index("rank  participant") :].splitlines()[2:]
    assert [row.split()[:2] for row in board if row.strip() and row.split()[0].isdigit()] == [
        ["1", "bob"],
        ["2", "alice"],
    ]
    assert sorted(p.relative_to(ROOT) for p in ROOT.glob("leaderboard/**/*")) == before
    assert (tmp_path / "demo" / "leaderboard" / "leaderboard.csv").is_file()
