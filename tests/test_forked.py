"""The process `grader grade` and `grader check` fork before the run: same answers, nothing left behind.

Real forked processes, the real truth of a scratch copy of the demo competition, the real
commands with a real kernel for the interruptions.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from test_rescore import run_dir

from grader import config, demo, pipeline, predictions
from grader import result as results
from grader.config import Competition
from grader.errors import ConfigError, TruthError
from grader.forked import Forked
from grader.pipeline import score_and_pack
from grader.predictions import check_run
from grader.score import Scored
from grader.store import Store

# When the graded notebooks are submitted: inside the demo competition, whatever day the suite runs on.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")


def forked() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "grader-forked"]


def scoring(comp: Competition, out: Path) -> Forked[Scored]:
    return Forked(lambda: pipeline._import_scoring(comp), score_and_pack, out, comp, os.environ)


def test_it_scores_and_packs_exactly_as_the_grader_does(comp: Competition, tmp_path: Path) -> None:
    there = run_dir(tmp_path, "there", comp, wrong_every=7)
    here = tmp_path / "here"
    shutil.copytree(there, here)

    scored = scoring(comp, there).result()

    assert isinstance(scored, Scored)
    assert results.read(there) == pipeline.score(here, comp)
    assert 0.8 < (results.read(there).public_score or 0) < 0.9
    assert scored.packed == predictions.pack(here, comp)
    assert not forked()  # it ends once it has answered


def test_it_checks_predictions_as_the_grader_does(comp: Competition, tmp_path: Path) -> None:
    out = run_dir(tmp_path, "run", comp, wrong_every=0)
    assert Forked(lambda: None, check_run, out, comp).result() == []
    (out / "predictions.csv").write_text("id,label\n1,2\n1,x\n", encoding="utf-8")
    problems = Forked(lambda: None, check_run, out, comp).result()
    assert problems == check_run(out, comp) and len(problems or []) >= 2


def test_bad_predictions_are_judged_there_and_a_broken_truth_is_left_to_the_grader(
    comp: Competition, tmp_path: Path
) -> None:
    bad = run_dir(tmp_path, "bad", comp, wrong_every=0)
    (bad / "predictions.csv").write_text("id,label\n1,2\n", encoding="utf-8")
    judged = scoring(comp, bad).result()
    assert judged == Scored(results.read(bad), packed=None)
    assert results.read(bad).status == "invalid"  # the student's mistake, reported in result.json

    good = run_dir(tmp_path, "good", comp, wrong_every=0)
    assert comp.truth.path is not None
    comp.truth.path.write_text("not,the\ntruth,at all\n", encoding="utf-8")
    assert scoring(comp, good).result() is None  # the organiser's: the grader reports it
    assert results.read(good).public_score is None


def test_a_dead_scoring_process_leaves_the_scoring_to_the_grader(comp: Competition, tmp_path: Path) -> None:
    out = run_dir(tmp_path, "run", comp, wrong_every=0)
    helper = scoring(comp, out)
    [process] = forked()
    os.kill(process.pid or 0, signal.SIGKILL)
    process.join()
    assert helper.result() is None
    assert results.read(out).public_score is None  # nothing was decided there


def test_closing_it_unused_stops_it_at_once() -> None:
    code = "from grader.forked import Forked\n"
    code += "Forked(lambda: __import__('time').sleep(3600), print, 'never').close()\n"  # imports that never end
    code += "import multiprocessing\nprint(len(multiprocessing.active_children()))\n"
    # killed, not waited for: waiting would run into the timeout
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "0\n", "")


def test_without_fork_it_only_imports_ahead_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")  # where fork is not how processes start
    imported = threading.Event()
    helper = Forked(imported.set, print, "never")
    assert imported.wait(10)
    assert helper.result() is None  # the caller does the work itself
    assert not forked()


def processes() -> dict[int, tuple[int, bytes]]:
    """Every process: its parent and its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
                found[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def running(parent: int) -> tuple[set[int], bool]:
    """The processes ``parent`` forked (the same command line), and whether its kernel has started."""
    table = processes()
    command = table.get(parent, (0, b""))[1]
    children = {pid for pid, (ppid, line) in table.items() if ppid == parent and line == command}
    tree, grew = {parent}, True
    while grew:
        below = {pid for pid, (ppid, _) in table.items() if ppid in tree} - tree
        tree, grew = tree | below, bool(below)
    return children, any(b"ipykernel" in table[pid][1] for pid in tree - {parent})


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
@pytest.mark.parametrize("command", [["grade", "--user", "alice"], ["check"]], ids=["grade", "check"])
def test_a_grader_stopped_mid_run_leaves_no_forked_process(
    comp: Competition, tmp_path: Path, stop: signal.Signals, command: list[str]
) -> None:
    nb = tmp_path / "slow.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(30)")]), nb)
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", command[0], str(nb), *command[1:]],  # in the sandbox where it works
        cwd=comp.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "GRADER_NOW": NOW.isoformat()},  # open: grade runs the notebook rather than refuse it
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not all(now := running(proc.pid)):  # stopped mid-run: once the kernel has started
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    kids = now[0]
    time.sleep(0.5)
    os.killpg(proc.pid, stop) if stop == signal.SIGINT else proc.send_signal(stop)  # Ctrl-C hits the group
    _, err = proc.communicate(timeout=60)
    if stop == signal.SIGINT:
        assert (proc.returncode, err.strip().splitlines()) == (130, ["Aborted."]), err
    assert "Traceback" not in err
    deadline = time.monotonic() + 20  # after SIGKILL the forked process ends when its imports do
    while any(alive(pid) for pid in kids):
        assert time.monotonic() < deadline, f"left running: {[pid for pid in kids if alive(pid)]}"
        time.sleep(0.1)


@pytest.mark.slow
def test_grade_reports_a_broken_truth_as_scoring_here_does(comp: Competition, tmp_path: Path) -> None:
    """The forked process cannot score; grade scores itself, and says what scoring says."""
    out = run_dir(tmp_path, "expected", comp, wrong_every=0)
    assert comp.truth.path is not None
    comp.truth.path.write_text("not,the\ntruth,at all\n", encoding="utf-8")
    with pytest.raises(TruthError) as expected:
        pipeline.score(out, comp)
    with pytest.raises(TruthError) as got:
        pipeline.grade(ROOT / "examples" / "submissions" / "alice" / "knn.ipynb", comp, user="alice",
                       out_dir=tmp_path / "graded", db=pipeline.default_db(comp), now=NOW)  # fmt: skip
    assert str(got.value) == str(expected.value)
    assert results.read(tmp_path / "graded").status == "completed"  # run, then not scored, and not recorded
    with Store(pipeline.default_db(comp)) as store:
        assert store.history("alice") == []
    assert not forked()


@pytest.mark.slow
def test_check_reports_broken_test_ids_as_checking_here_does(comp: Competition, tmp_path: Path) -> None:
    """The forked process cannot check; check checks itself, and says what checking says."""
    nb = tmp_path / "writes.ipynb"
    cell = "open('predictions.csv', 'w').write('id,label\\n1,0\\n')"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)]), nb)
    comp.data.test.write_text("ident,px0\n1,0\n", encoding="utf-8")  # no `id` column: the organiser's mistake
    with pytest.raises(ConfigError) as got:
        pipeline.check(nb, tmp_path / "checked", comp)
    with pytest.raises(ConfigError) as expected:
        check_run(tmp_path / "checked", comp)
    assert str(got.value) == str(expected.value)
    assert "no `id` column" in str(got.value)
    assert not forked()
