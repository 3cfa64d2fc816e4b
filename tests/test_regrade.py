"""Regrading recorded submissions from their commits: real kernels, a real git repository, real SQLite.

Five tiny notebooks: one that writes predictions, one that hangs, one that kills its own
kernel, one that raises, and one recorded without a commit (it runs from the working tree).
Two shards run with --jobs 2 each, then `grader regrade merge` scores and compares them.
Then the worker processes themselves fail: one is killed by the notebook it runs (unconfined),
and, with a stand-in runner, one dies and one never answers; each costs only its own run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from grader import config, demo, pipeline, regrade
from grader.cli import main
from grader.config import Competition
from grader.errors import UsageError
from grader.result import Result
from grader.store import Store, SubmissionRow

NOW = datetime(2026, 11, 5, 10, tzinfo=UTC)
TIMEOUT = 6.0
WRITE = (
    "import csv\n"
    "ids = [row['id'] for row in csv.DictReader(open('data/test.csv'))]\n"
    "open('predictions.csv', 'w').write('id,label\\n' + ''.join(f'{i},0\\n' for i in ids))\n"
)
NOTEBOOKS = {  # login: (code, recorded status, recorded with a commit)
    "alice": (WRITE, "completed", True),
    "bob": ("import time\ntime.sleep(600)\n", "timeout", True),
    "carol": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "failed", True),
    "dave": ("raise ValueError('nope')\n", "failed", True),
    "erin": (WRITE + "# erin\n", "completed", False),
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def notebook(code: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb).encode()


def zeros_accuracy(comp: Competition) -> float:
    assert comp.truth.path is not None
    with comp.truth.path.open(encoding="utf-8") as handle:
        public = [row["label"] for row in csv.DictReader(handle) if row["split"] == "public"]
    return sum(1 for label in public if label == "0") / len(public)


def recorded(folder: Path, notebooks: dict[str, tuple[str, str, bool]]) -> tuple[Competition, Path]:
    """A scratch competition whose ``notebooks`` (login: code, status, with a commit) are committed and recorded."""
    comp = demo.scratch_copy(config.load(ROOT / "competition.yaml"), folder)
    repo = comp.root
    for login, (code, _, _) in notebooks.items():
        path = repo / "submissions" / login / "nb.ipynb"
        path.parent.mkdir(parents=True)
        path.write_bytes(notebook(code))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "submissions")
    head = git(repo, "rev-parse", "HEAD").strip()
    db = pipeline.default_db(comp)
    with Store(db) as s:
        for i, (login, (_, status, committed)) in enumerate(notebooks.items()):
            data = (repo / "submissions" / login / "nb.ipynb").read_bytes()
            score = zeros_accuracy(comp) if login == "erin" else 0.5 if status == "completed" else None
            result = Result(status=status, run_id=f"run-{login}", notebook="nb.ipynb",  # type: ignore[arg-type]
                            notebook_sha256=hashlib.sha256(data).hexdigest(), started_at="x", runtime_seconds=1.0,
                            public_score=score, private_score=score)  # fmt: skip
            s.record(result, user=login, competition=comp, now=NOW + timedelta(minutes=i),
                     notebook_path=f"submissions/{login}/nb.ipynb", head_sha=head if committed else None)  # fmt: skip
    return comp, db


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Competition, Path]:
    comp, db = recorded(tmp_path_factory.mktemp("regrade") / "comp", NOTEBOOKS)
    # After the commit, alice's working tree copy breaks: the regrade must run the committed one.
    (comp.root / "submissions" / "alice" / "nb.ipynb").write_bytes(notebook("raise RuntimeError('edited later')\n"))
    return comp, db


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_shards_with_two_jobs_survive_hangs_and_dead_kernels_then_merge_reports(
    setup: tuple[Competition, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    comp, db = setup
    config_file = str(comp.root / "competition.yaml")
    outs = [tmp_path / "shard1", tmp_path / "shard2"]
    manifests = []
    for index, out in enumerate(outs, start=1):
        code, stdout, stderr = cli(capsys, "--config", config_file, "regrade", "--jobs", "2", "--shard", f"{index}/2",
                                   "--out", str(out), "--timeout", str(TIMEOUT), "--no-progress")  # fmt: skip
        assert code == 0, stdout + stderr
        manifests.append(json.loads((out / f"manifest-{index}-of-2.json").read_text()))
        assert "status" in stdout and f"shard {index}/2" in stdout
    first, second = ({o["submission_id"]: o for o in m["outcomes"]} for m in manifests)
    assert sorted(first) == [1, 3, 5] and sorted(second) == [2, 4]  # id order, position modulo 2
    outcomes = {**first, **second}
    assert {i: outcomes[i]["status"] for i in outcomes} == {
        1: "completed",
        2: "timeout",
        3: "failed",
        4: "failed",
        5: "completed",
    }
    assert outcomes[1]["source"] == "commit" and outcomes[5]["source"] == "working tree"
    assert "no recorded commit" in outcomes[5]["message"]
    assert "kernel" in outcomes[3]["message"].lower()

    code, stdout, stderr = cli(capsys, "--config", config_file, "regrade", "merge", *map(str, outs), "--by", "teacher")
    assert code == 0, stdout + stderr
    with (db.parent / regrade.REPORT_NAME).open(encoding="utf-8") as handle:
        report = {int(row["id"]): row for row in csv.DictReader(handle)}
    assert {i: report[i]["verdict"] for i in report} == {1: "score differs", 2: "same", 3: "same", 4: "same", 5: "same"}
    assert float(report[1]["regraded_score"]) == pytest.approx(zeros_accuracy(comp))
    assert "private" not in (db.parent / regrade.REPORT_NAME).read_text()
    with Store(db) as s:
        assert s.submission(1).score == 0.5  # type: ignore[union-attr]  # reported, never changed
        action = s.admin_log()[-1]
    assert (action.action, action.actor) == ("regrade", "teacher") and "5 regraded, 1 differ" in action.reason

    with pytest.raises(UsageError, match="shard\\(s\\) 2 of 2 are missing"):
        regrade.merge(comp, db, [outs[0]], by="teacher", now=NOW)


def row(sid: int, login: str, status: str = "completed") -> SubmissionRow:
    return SubmissionRow(sid, f"r{sid}", "t", login, f"submissions/{login}/x.ipynb", "s", status, None, None, None,
                         None, None, None, None, None)  # fmt: skip


def test_selection_is_deterministic_and_refuses_bad_input(setup: tuple[Competition, Path]) -> None:
    rows = [row(i, "alice" if i % 2 else "bob", "rejected" if i == 4 else "completed") for i in range(9, 0, -1)]
    assert [r.id for r in regrade.select(rows, shard=(1, 3))] == [1, 5, 8]
    assert [r.id for r in regrade.select(rows, shard=(3, 3))] == [3, 7]
    shares = [r.id for k in (1, 2, 3) for r in regrade.select(rows, shard=(k, 3))]
    assert sorted(shares) == [1, 2, 3, 5, 6, 7, 8, 9]  # every run submission once; the rejected one never
    assert [r.id for r in regrade.select(rows, only=["bob", "#3"])] == [2, 3, 6, 8]
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(UsageError):
            regrade.parse_shard(bad)
    with pytest.raises(UsageError):
        regrade.select(rows, only=["../etc"])
    comp, _ = setup
    hostile = SubmissionRow(1, "r", "t", "x", "../../etc/passwd", "s", "completed", None, None, None, None, None,
                            "abc1234", None, None)  # fmt: skip
    assert regrade.notebook_source(comp.root, hostile, 10**6)[1] == "missing"
    flag = SubmissionRow(1, "r", "t", "x", "--output=/tmp/x", "s", "completed", None, None, None, None, None,
                         "abc1234", None, None)  # fmt: skip
    assert regrade.notebook_source(comp.root, flag, 10**6)[0] is None


def test_a_notebook_that_kills_its_worker_costs_only_its_own_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unconfined, a kernel can see the grader: killing its parent kills the worker process, not the batch."""
    monkeypatch.delenv("CI", raising=False)  # in CI the sandbox is forced, and the kernel cannot see the worker
    killer = "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(60)\n"
    notebooks = {
        "alice": (WRITE, "completed", True),
        "mallory": (killer, "failed", True),
        "zoe": (WRITE, "completed", True),
    }
    comp, db = recorded(tmp_path / "comp", notebooks)
    lines: list[str] = []
    batch = regrade.regrade(comp, db, tmp_path / "out", jobs=1, run_timeout=TIMEOUT, sandbox="off", echo=lines.append)
    outcomes = {o.username: o for o in batch.outcomes}
    assert {login: o.status for login, o in outcomes.items()} == {"alice": "completed", "mallory": "error",
                                                                  "zoe": "completed"}  # fmt: skip
    assert "worker process was killed by SIGKILL" in (outcomes["mallory"].message or "")
    assert outcomes["mallory"].source == "commit"
    assert any(line.startswith("! #2 mallory/nb.ipynb: error") for line in lines)  # zoe's run had a new worker
    assert json.loads(batch.manifest.read_text())["outcomes"][1]["status"] == "error"


def stand_in(job: regrade.Job, submission: SubmissionRow) -> regrade.Outcome:
    """A runner for :func:`regrade.run_all` (in the worker process) that dies, hangs or succeeds at once."""
    if submission.username == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    if submission.username == "hangs":
        time.sleep(600)
    return regrade.Outcome(submission.id, submission.username, submission.notebook_path, "commit", "completed", 0.1)


def test_workers_that_die_or_stop_answering_are_replaced(setup: tuple[Competition, Path], tmp_path: Path) -> None:
    comp, _ = setup
    job = regrade.Job(comp, tmp_path, None, "off")
    rows = [row(1, "dies"), row(2, "hangs"), row(3, "alice"), row(4, "bob"), row(5, "carol")]
    outcomes: list[regrade.Outcome] = []
    patience = 10.0
    regrade.run_all(job, rows, jobs=2, done=outcomes.append, patience=patience, runner=stand_in)
    found = {o.username: o for o in outcomes}
    assert [o.submission_id for o in outcomes].count(1) == 1 and len(outcomes) == 5
    assert {login: o.status for login, o in found.items()} == {"dies": "error", "hangs": "error", "alice": "completed",
                                                               "bob": "completed", "carol": "completed"}  # fmt: skip
    assert "was killed by SIGKILL" in (found["dies"].message or "")
    assert "did not end within its time limit" in (found["hangs"].message or "")
    assert found["hangs"].runtime_seconds >= patience
