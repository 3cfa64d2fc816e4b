"""The real `grader` command, in a subprocess, on a scratch copy of the demo competition."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import conftest
import nbformat
import pytest

from grader import config, demo

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("validate", "run", "score", "record", "grade", "check", "leaderboard", "history", "demo")

CONSTANT = """import csv
rows = list(csv.DictReader(open("data/test.csv")))
with open("predictions.csv", "w") as f:
    f.write("id,label\\n")
    for r in rows:
        f.write(f"{r['id']},{int(r['px36']) % 10}\\n")
"""


grader = conftest.run_grader
# The moment `grader` judges the rules at (deadline, quota): while the demo competition is open, on any day.
OPEN = {"GRADER_NOW": "2026-12-01T12:00:00Z"}


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def comp(tmp_path: Path) -> Path:
    """A scratch competition folder: competition.yaml, data/, the demo truth."""
    demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")
    return tmp_path / "comp"


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def test_help_lists_every_command_and_each_has_help(comp: Path) -> None:
    top = grader("--help", cwd=comp)
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        sub = grader(command, "--help", cwd=comp)
        assert sub.returncode == 0, sub.stderr
        assert "Usage: grader " + command in sub.stdout
        assert len(sub.stdout.split("\n\n")[1].strip()) > 20  # a sentence saying what it does


def test_unknown_command_and_missing_argument_are_usage_errors(comp: Path) -> None:
    for args in (("frobnicate",), ("run", "x.ipynb"), ("record", ".")):
        proc = grader(*args, cwd=comp)
        assert proc.returncode == 2, proc
        assert_clean(proc)


def test_broken_config_is_one_line_exit_2(comp: Path) -> None:
    text = (comp / "competition.yaml").read_text(encoding="utf-8").replace("per_day:", "per_dya:")
    (comp / "competition.yaml").write_text(text, encoding="utf-8")
    proc = grader("leaderboard", cwd=comp)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: competition.yaml: quota: unknown key 'per_dya' (did you mean 'per_day'?). "
        "Allowed keys: count_failed, per_day."
    ]


def test_no_config_found() -> None:
    # From /proc, not tmp_path: a competition.yaml above the temporary folder would be found.
    proc = grader("leaderboard", cwd=Path("/proc"))
    assert proc.returncode == 2
    assert "no competition.yaml in" in proc.stderr
    assert_clean(proc)


def test_validate_exit_codes_and_one_line_per_problem(comp: Path) -> None:
    good = notebook(comp / "good.ipynb", "print(1)")
    notebook(comp / "empty.ipynb")
    (comp / "junk.ipynb").write_bytes(b"\x00\xff garbage")
    ok = grader("validate", str(good), cwd=comp)
    assert (ok.returncode, ok.stdout.strip()) == (0, f"{good}: valid")
    bad = grader("validate", str(good), "empty.ipynb", "junk.ipynb", "missing.ipynb", cwd=comp)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert {line.split(":")[0] for line in lines} == {"empty.ipynb", "junk.ipynb", "missing.ipynb"}
    assert_clean(bad)


def validate_all(notebooks: list[Path], comp: Path) -> None:
    proc = grader("validate", *map(str, notebooks), cwd=comp)
    assert proc.returncode == 1  # some are invalid on purpose
    assert_clean(proc)
    verdicts = {line.split(": ")[0] for line in (proc.stdout + proc.stderr).splitlines()}
    assert verdicts == set(map(str, notebooks))  # every notebook gets a verdict


def test_odd_notebooks_validate_without_a_traceback(comp: Path) -> None:
    notebooks = sorted(conftest.NOTEBOOKS.rglob("*.ipynb"))
    assert len(notebooks) > 20
    validate_all(notebooks, comp)


@conftest.corpus
def test_corpus_notebooks_validate_without_a_traceback(comp: Path) -> None:
    corpus = conftest.corpus_notebooks("*/*.ipynb")
    assert len(corpus) > 30
    validate_all(corpus, comp)


@pytest.mark.slow
def test_run_score_record_leaderboard_history(comp: Path) -> None:
    nb = notebook(comp / "submissions" / "alice" / "pixel.ipynb", CONSTANT)
    run = grader("run", str(nb), "--out", "out", cwd=comp)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("✓ pixel.ipynb: completed")
    for name in ("executed.ipynb", "result.json", "predictions.csv"):
        assert (comp / "out" / name).is_file()

    scored = grader("score", "out", cwd=comp)
    assert scored.returncode == 0, scored.stderr
    result = json.loads((comp / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "completed"
    assert f"public score {result['public_score']:.5f}" in scored.stdout
    assert "private" not in scored.stdout  # private scores are never shown

    when = "2026-12-01T10:00:00+01:00"
    first = grader("record", "out", "--user", "alice", "--submitted-at", when, cwd=comp)
    assert first.returncode == 0, first.stderr
    assert "Recorded as submission #1 (completed). Rank 1" in first.stdout
    exported = (comp / "leaderboard" / "leaderboard.csv").read_bytes()
    again = grader("record", "out", "--user", "alice", "--submitted-at", when, cwd=comp)
    assert again.returncode == 0
    assert again.stdout.startswith("Already recorded as submission #1; nothing changed.")
    assert (comp / "leaderboard" / "leaderboard.csv").read_bytes() == exported

    board = grader("leaderboard", "--format", "csv", cwd=comp)
    rows = list(csv.DictReader(board.stdout.splitlines()))
    assert [(r["rank"], r["username"], float(r["best_score"])) for r in rows] == [
        ("1", "alice", result["public_score"])
    ]
    table = grader("leaderboard", cwd=comp)
    assert "Handwritten digits — accuracy_score (higher is better)" in table.stdout
    history = grader("history", "alice", cwd=comp)
    assert "pixel.ipynb" in history.stdout and "completed" in history.stdout
    nobody = grader("history", "bob", cwd=comp)
    assert (nobody.returncode, nobody.stdout.strip()) == (0, "bob has no submissions yet.")


@pytest.mark.slow
def test_run_failure_exit_1_names_the_cell(comp: Path) -> None:
    nb = notebook(comp / "boom.ipynb", "x = 1", "raise ValueError('no model yet')")
    proc = grader("run", str(nb), "--out", "out", cwd=comp)
    assert proc.returncode == 1
    assert "cell 2" in proc.stderr and "ValueError" in proc.stderr
    assert (comp / "out" / "executed.ipynb").is_file()
    assert json.loads((comp / "out" / "result.json").read_text(encoding="utf-8"))["status"] == "failed"
    assert_clean(proc)


@pytest.mark.slow
def test_check_before_a_pull_request(comp: Path) -> None:
    good = notebook(comp / "good.ipynb", CONSTANT)
    ok = grader("check", str(good), cwd=comp)
    assert ok.returncode == 0, ok.stderr
    assert "ready to submit" in ok.stdout
    half = notebook(comp / "half.ipynb", CONSTANT.replace("for r in rows:", "for r in rows[:10]:"))
    bad = grader("check", str(half), cwd=comp)
    assert bad.returncode == 1
    assert bad.stderr.startswith("predictions.csv: ")
    assert "no prediction" in bad.stderr
    assert_clean(bad)


@pytest.mark.slow
def test_grade_reads_the_sealed_truth_with_its_key_and_refuses_without_it(comp: Path) -> None:
    config_file = comp / "competition.yaml"
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(
        text.replace("  split_column:", "  sealed: truth.sealed\n  split_column:", 1), encoding="utf-8"
    )
    sealed = grader("truth", "seal", cwd=comp)
    assert sealed.returncode == 0, sealed.stderr
    key = next(line for line in sealed.stdout.splitlines() if len(line) == 44 and " " not in line)
    (comp / "examples" / "truth.csv").unlink()
    nb = notebook(comp / "pixel.ipynb", CONSTANT)
    proc = grader("grade", str(nb), "--user", "alice", cwd=comp, env={"GRADER_TRUTH_KEY": key, **OPEN})
    assert proc.returncode == 0, proc.stderr
    assert "public score" in proc.stdout and "Rank 1" in proc.stdout

    without = {k: v for k, v in os.environ.items() if k != "GRADER_TRUTH_KEY"}
    missing = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(nb), "--user", "bob"],
        cwd=comp,
        capture_output=True,
        text=True,
        timeout=120,
        env=without,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and "GRADER_TRUTH_KEY" in missing.stderr
    assert not (comp / "runs" / "bob").exists()  # refused before running anything
    assert_clean(missing)


def test_invalid_notebook_still_gets_an_executed_notebook_saying_why(comp: Path) -> None:
    (comp / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    proc = grader("run", "broken.ipynb", "--out", "out", cwd=comp)
    assert proc.returncode == 1
    assert proc.stderr.startswith("✗ broken.ipynb: invalid: the file is not valid JSON")
    executed = nbformat.read(comp / "out" / "executed.ipynb", as_version=4)
    nbformat.validate(executed)
    assert "This notebook was not run" in executed.cells[0].source
    result = json.loads((comp / "out" / "result.json").read_text(encoding="utf-8"))
    assert (result["status"], result["error"]["type"]) == ("invalid", "InvalidNotebook")


def test_the_cli_starts_without_heavy_imports() -> None:
    probe = (
        "import sys, grader.cli, grader.pipeline, grader.config, grader.store, grader.datasets;"
        "heavy = {'pandas', 'sklearn', 'papermill', 'nbclient', 'nbformat', 'numpy', 'jsonschema', 'yaml',"
        "'huggingface_hub'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
