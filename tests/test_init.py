"""grader init: a teacher's copy of this repository becomes their own competition, green and ready.

The copy is this checkout's files (tracked and new, as `git ls-files` lists them) committed in a
fresh git repository in tmp_path, as GitHub's "Use this template" would make it. The teacher's data
is a small synthetic set written here. `grader init` runs through the real CLI with stdin not a
terminal; then its result is read back with the grader's own functions, the CI step a teacher's
copy runs is run exactly as ci.yml says, and `grader doctor` is asked against the fake GitHub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from fake_github import FakeGitHub
from test_doctor import NOW, REPO, good_settings

from grader import config, scaffold
from grader import truth as truths

BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=teacher", "-c", "user.email=teacher@example.org"]


def git(folder: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout


def grader(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `grader` command with stdin that is not a terminal (so it never prompts)."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GRADER_TRUTH_KEY": "", **(env or {})},
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository as a teacher's new repository holds it: the files, in a fresh git repository."""
    folder = tmp_path_factory.mktemp("template") / "course"
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    git(folder.parent, "init", "-q", "-b", "main", str(folder))
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "Initial commit (from the template)")
    return folder


@pytest.fixture
def course(template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    shutil.copytree(template, folder, symlinks=True)
    return folder


@pytest.fixture
def teacher_data(tmp_path: Path) -> dict[str, Path]:
    """A small regression-free classification set: 12 training rows, 10 test rows, their labels split 5/5."""
    folder = tmp_path / "mine"
    folder.mkdir()
    train = "id,size,label\n" + "".join(f"t{i},{i},{int(i > 5)}\n" for i in range(12))
    test = "id,size\n" + "".join(f"q{i},{i}\n" for i in range(10))
    truth = "id,label,split\n" + "".join(f"q{i},{int(i > 5)},{'public' if i % 2 else 'private'}\n" for i in range(10))
    paths = {"train": folder / "houses-train.csv", "test": folder / "houses-test.csv", "truth": folder / "labels.csv"}
    for name, text in (("train", train), ("test", test), ("truth", truth)):
        paths[name].write_text(text)
    return paths


def options(data: dict[str, Path], **changes: str) -> list[str]:
    values = {
        "--title": "Houses: big or small?",
        "--metric": "accuracy_score",
        "--start": "2026-11-01",
        "--end": "2027-03-01",
        "--timezone": "Europe/Paris",
        "--per-day": "3",
        "--train": str(data["train"]),
        "--test": str(data["test"]),
        "--truth": str(data["truth"]),
        **changes,
    }
    return [part for name, value in values.items() if value for part in (name, value)]


def printed_key(stdout: str) -> str:
    lines = stdout.splitlines()
    after = lines.index("    gh secret set GRADER_TRUTH_KEY --env scoring")
    return next(line for line in lines[after + 1 :] if line.strip())


def ci_step(folder: Path, name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((folder / ".github" / "workflows" / "ci.yml").read_text())
    return next(step for step in workflow["jobs"]["test"]["steps"] if step.get("name") == name)


def reference_notebook(folder: Path) -> Path:
    """A teacher's reference solution, where docs/teachers.md says to put it."""
    code = (
        "import pandas as pd\n"
        "test = pd.read_csv('data/houses-test.csv')\n"
        "test['label'] = (test['size'] > 5).astype(int)\n"
        "test[['id', 'label']].to_csv('predictions.csv', index=False)"
    )
    path = folder / "examples" / "submissions" / "teacher" / "reference.ipynb"
    path.parent.mkdir(parents=True)
    write_notebook(path, code)
    return path


def write_notebook(path: Path, code: str) -> None:
    cell: dict[str, Any] = {
        "cell_type": "code",
        "id": "solution",
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": code,
    }
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))


def run_ci_check(folder: Path, runner_temp: Path) -> subprocess.CompletedProcess[str]:
    """Exactly the script ci.yml's test job runs on a copy without tests/, with this virtualenv's grader."""
    step = ci_step(folder, "Check the competition")
    runner_temp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(runner_temp),
        "CI": "true",  # as on GitHub: the sandbox is required
        "GRADER_NOW": NOW,
    }
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=folder, capture_output=True, text=True, timeout=600, env=env
    )


def test_init_makes_a_competition_that_ci_and_doctor_accept(course: Path, teacher_data: dict[str, Path]) -> None:
    proc = grader(course, "init", *options(teacher_data))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # competition.yaml says what the teacher said, and the grader loads it.
    competition = config.load(course / "competition.yaml")
    assert competition.title == "Houses: big or small?"
    assert (competition.metric.name, competition.metric.greater_is_better) == ("accuracy_score", True)
    assert competition.start.isoformat() == "2026-11-01T00:00:00+01:00"
    assert competition.quota.per_day == 3
    assert competition.data.test == course / "data" / "houses-test.csv"
    assert (competition.submission.prediction_column, competition.submission.prediction_type) == ("label", "integer")
    assert "decided: prediction type integer (from the truth's values)" in proc.stdout

    # The data replaced the demo's; the truth opens with the key printed once, and only its sealed form is committed.
    assert sorted(p.name for p in (course / "data").iterdir()) == ["houses-test.csv", "houses-train.csv"]
    assert (course / "data" / "houses-test.csv").read_bytes() == teacher_data["test"].read_bytes()
    key = printed_key(proc.stdout)
    assert proc.stdout.count(key) == 1
    opened = truths.open_sealed(course / scaffold.TRUTH_SEALED, key, key_env="GRADER_TRUTH_KEY", root=course)
    assert opened.text == teacher_data["truth"].read_text()
    for removed in scaffold.REMOVED:
        assert not (course / removed).exists(), removed
    assert (course / "leaderboard" / "README.md").is_file()
    assert (course / "README.md").read_text().startswith("# Houses: big or small?\n")
    git(course, "add", "-A")
    git(course, "commit", "-qm", "Our competition")
    committed = git(course, "ls-files").splitlines()
    assert scaffold.TRUTH_SEALED in committed and scaffold.TRUTH_PLAIN not in committed
    assert not any(name.startswith(("examples/", "tests/")) for name in committed)

    # ci.yml's test job: the suite only where tests/ exists; here, the competition check, green.
    assert ci_step(course, "Run the tests")["if"] == "hashFiles('tests/**/*.py') != ''"
    assert ci_step(course, "Check the competition")["if"] == "hashFiles('tests/**/*.py') == ''"
    reference_notebook(course)
    checked = run_ci_check(course, course.parent / "runner")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Ready." in checked.stdout
    assert "examples/submissions/teacher/reference.ipynb: ready to submit" in checked.stdout
    assert (course.parent / "runner" / "site" / "index.html").is_file()

    # grader doctor, with the settings docs/github.md asks for: ready.
    with FakeGitHub(REPO) as fake:
        fake.settings.update(good_settings())
        env = {"GRADER_NOW": NOW, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": fake.url, "GH_TOKEN": "t0ken"}
        doctor = grader(course, "doctor", env={**env, "GITHUB_TOKEN": ""})
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "ok      competition.yaml: 'Houses: big or small?' loads" in doctor.stdout
    assert doctor.stdout.rstrip().endswith("Ready.")

    # Run again: refused, the competition is untouched.
    again = grader(course, "init", *options(teacher_data, **{"--title": "Other"}))
    assert again.returncode == 2
    assert "initialised already" in again.stderr
    assert config.load(course / "competition.yaml").title == "Houses: big or small?"


def test_the_ci_check_fails_on_a_broken_reference_notebook(course: Path, teacher_data: dict[str, Path]) -> None:
    assert grader(course, "init", *options(teacher_data)).returncode == 0
    notebook = reference_notebook(course)
    # The reference solution no longer fits the data: it writes predictions without the id column.
    source = json.loads(notebook.read_text())["cells"][0]["source"]
    write_notebook(notebook, source.replace("[['id', 'label']]", "[['label']]"))
    checked = run_ci_check(course, course.parent / "runner")
    assert checked.returncode != 0, checked.stdout
    assert "reference.ipynb: ready to submit" not in checked.stdout


def _truth_without_a_test_id(data: dict[str, Path]) -> dict[str, str]:
    short = data["truth"].with_name("short.csv")
    short.write_text("\n".join(data["truth"].read_text().splitlines()[:-1]) + "\n")
    return {"--truth": str(short)}


BAD: dict[str, tuple[Callable[[dict[str, Path]], dict[str, str]], str]] = {
    "unknown metric": (
        lambda d: {"--metric": "acuracy_score"},
        "'acuracy_score' is not a function of sklearn.metrics (did you mean 'accuracy_score'?)",
    ),
    "end before start": (lambda d: {"--end": "2026-10-01"}, "--end (2026-10-01) must come after --start"),
    "bad date": (lambda d: {"--start": "1 Nov"}, "--start '1 Nov' is not a date"),
    "unknown time zone": (lambda d: {"--timezone": "Europe/Pariss"}, "--timezone 'Europe/Pariss' is not a time zone"),
    "truth missing an id": (_truth_without_a_test_id, "1 test ids have no truth"),
    "missing file": (lambda d: {"--train": str(d["train"].with_name("nope.csv"))}, "nope.csv: no such file"),
    "no id column": (lambda d: {"--id-column": "key"}, "--test"),
    "missing options": (lambda d: {"--title": "", "--metric": ""}, "missing --title, --metric"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_answers_are_refused_in_one_line_with_nothing_written(
    course: Path, teacher_data: dict[str, Path], case: str
) -> None:
    change, expected = BAD[case]
    proc = grader(course, "init", *options(teacher_data, **change(teacher_data)))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert git(course, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""


def test_a_changed_checkout_is_refused_without_force(course: Path, teacher_data: dict[str, Path]) -> None:
    (course / "competition.yaml").write_text((course / "competition.yaml").read_text() + "\n# mine\n")
    proc = grader(course, "init", *options(teacher_data))
    assert proc.returncode == 2
    assert "1 tracked file changed and not committed" in proc.stderr
    assert (course / "examples").is_dir()
    forced = grader(course, "init", "--force", *options(teacher_data))
    assert forced.returncode == 0, forced.stderr
    assert not (course / "examples").exists()
