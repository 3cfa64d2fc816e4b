"""Pushing the leaderboard: two recorders in two clones of one bare remote race, and nothing is lost or doubled.

Real git, real SQLite, the real competition.yaml in a scratch copy of the repository.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from grader import config, pipeline
from grader import result as results
from grader.gitsync import Git, SyncError, changed_files, push_with_retry
from grader.result import Result

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
sys.path.insert(0, str(ROOT / "benchmarks"))  # rush.py: the deadline rush's harness, run small here


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote whose main holds competition.yaml, data/ and an empty leaderboard/."""
    seed = tmp_path / "seed"
    seed.mkdir()
    shutil.copy(ROOT / "competition.yaml", seed)
    shutil.copytree(ROOT / "data", seed / "data")
    (seed / "leaderboard").mkdir()
    (seed / "leaderboard" / ".keep").write_text("")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


def clone(remote: Path, where: Path) -> config.Competition:
    git(remote.parent, "clone", "-q", str(remote), str(where))
    return config.load(where / "competition.yaml")


def scored_run(folder: Path, run_id: str, score: float) -> Path:
    results.write(
        Result(
            status="completed",
            run_id=run_id,
            notebook="nb.ipynb",
            notebook_sha256=run_id.ljust(64, "0"),
            started_at="2026-11-02T09:00:00.000000Z",
            runtime_seconds=1.0,
            public_score=score,
            private_score=score / 2,
        ),
        folder / run_id,
    )
    return folder / run_id


def recorder(comp: config.Competition, run: Path, user: str) -> Any:
    return lambda: pipeline.record(run, comp, user=user, db=pipeline.default_db(comp), now=NOW, run_id=run.name)


def remote_rows(remote: Path, tmp_path: Path) -> list[tuple[str, str]]:
    check = tmp_path / "check"
    shutil.rmtree(check, ignore_errors=True)
    git(remote.parent, "clone", "-q", str(remote), str(check))
    with sqlite3.connect(check / "leaderboard" / "leaderboard.db") as conn:
        return sorted(conn.execute("SELECT run_id, username FROM submissions").fetchall())


def test_a_push_race_loses_nothing_and_duplicates_nothing(remote: Path, tmp_path: Path) -> None:
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    runs = tmp_path / "runs"
    record_a = recorder(a, scored_run(runs, "run-a", 0.9), "alice")
    record_b = recorder(b, scored_run(runs, "run-b", 0.8), "bob")
    calls = {"b": 0}

    def b_change() -> Any:
        calls["b"] += 1
        if calls["b"] == 1:  # while b records, a records and pushes first: b's push will be rejected
            push_with_retry(Git(a.root), record_a, paths=["leaderboard"], message="a")
        return record_b()

    outcome, pushed = push_with_retry(Git(b.root), b_change, paths=["leaderboard"], message="b", sleep=lambda s: None)
    assert pushed.attempts == 2 and pushed.commit is not None
    assert outcome.status == "completed"
    assert remote_rows(remote, tmp_path) == [("run-a", "alice"), ("run-b", "bob")]
    log = git(remote, "log", "--format=%s%x09%an", "main").splitlines()
    assert log == ["b\tgithub-actions[bot]", "a\tgithub-actions[bot]", "seed\tt"]  # linear: never a merge
    csv = git(remote, "show", "main:leaderboard/leaderboard.csv")
    assert "alice" in csv and "bob" in csv


def test_the_same_run_recorded_twice_is_pushed_once(remote: Path, tmp_path: Path) -> None:
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    run = scored_run(tmp_path / "runs", "run-1", 0.9)
    _, first = push_with_retry(Git(a.root), recorder(a, run, "alice"), paths=["leaderboard"], message="a")
    outcome, second = push_with_retry(Git(b.root), recorder(b, run, "alice"), paths=["leaderboard"], message="b")
    assert first.commit is not None and second.commit is None and outcome.already_recorded
    assert remote_rows(remote, tmp_path) == [("run-1", "alice")]
    assert len(git(remote, "log", "--format=%s", "main").splitlines()) == 2


def test_concurrent_recorders_converge(remote: Path, tmp_path: Path) -> None:
    """Two real recorders in threads, three runs each, pushing as fast as they can."""
    comps = {name: clone(remote, tmp_path / name) for name in ("a", "b")}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(3):
                run = scored_run(tmp_path / f"runs-{name}", f"{name}-{i}", 0.5 + i / 10)
                push_with_retry(
                    Git(comps[name].root),
                    recorder(comps[name], run, f"user-{name}"),
                    paths=["leaderboard"],
                    message=f"{name}{i}",
                    attempts=10,
                    pause=0.01,
                )
        except BaseException as ex:  # surfaced below
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(name,)) for name in comps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    expected = sorted((f"{n}-{i}", f"user-{n}") for n in comps for i in range(3))
    assert remote_rows(remote, tmp_path) == expected


def test_the_retry_is_bounded(remote: Path, tmp_path: Path) -> None:
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    counter = iter(range(100))

    def always_beaten() -> None:  # every attempt of b is overtaken by a new push from a
        run = scored_run(tmp_path / "runs", f"a-{next(counter)}", 0.5)
        push_with_retry(Git(a.root), recorder(a, run, "alice"), paths=["leaderboard"], message="a")
        (b.root / "leaderboard" / "note.txt").write_text(str(next(counter)))

    with pytest.raises(SyncError, match="won the race 3 times"):
        push_with_retry(
            Git(b.root), always_beaten, paths=["leaderboard"], message="b", attempts=3, sleep=lambda s: None
        )


def test_the_retry_pauses_double_up_to_a_cap_and_stop_when_the_time_is_spent(remote: Path, tmp_path: Path) -> None:
    """Sized for a deadline rush: pauses 0.5, 1, 2, ... s capped at 15 s (before jitter), and no try past the budget."""
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    counter = iter(range(1000))
    now = [0.0]
    slept: list[float] = []

    def always_beaten() -> None:
        def a_change() -> None:
            (a.root / "leaderboard" / "other.txt").write_text(str(next(counter)))

        push_with_retry(Git(a.root), a_change, paths=["leaderboard"], message="a")
        (b.root / "leaderboard" / "note.txt").write_text(str(next(counter)))

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(SyncError, match=r"won the race 9 times in 60 s .*re-run this job"):
        push_with_retry(Git(b.root, budget=70), always_beaten, paths=["leaderboard"], message="b",
                        sleep=sleep, clock=lambda: now[0], jitter=lambda: 1.0)  # fmt: skip
    assert slept == [0.5, 1, 2, 4, 8, 15, 15, 15]  # a ninth pause would end past 70 s
    assert len(git(remote, "log", "--format=%s", "main").splitlines()) == 1 + 9  # a's nine; none of b's


def test_a_rush_of_record_steps_records_each_run_once_and_keeps_the_quota(tmp_path: Path) -> None:
    """benchmarks/rush.py, small: eight `grader pr record` processes, one bare remote. One participant submits
    seven runs against a quota of five: the race must not let a sixth through nor lose one."""
    import rush

    prepared = rush.prepare(tmp_path, 8)
    outcomes = rush.launch(prepared, spread=1.0)
    assert [o.returncode for o in outcomes] == [0] * 8, [o.output for o in outcomes if o.returncode]
    assert rush.check(prepared, tmp_path) == []
    assert {o.submission.user for o in outcomes} == {"heavy0", "student0"}


def test_a_push_that_keeps_losing_fails_loudly_and_the_next_run_records_it(tmp_path: Path) -> None:
    """Past the retry's bound the record step exits 3 with one line saying what to do; nothing is half-pushed,
    and running it again records the run once."""
    import rush

    prepared = rush.prepare(tmp_path, 8)
    recorder, run = prepared.clones[0], prepared.runs[0]
    rival = tmp_path / "rival"
    git(tmp_path, "clone", "-q", str(prepared.remote), str(rival))
    beat = tmp_path / "beat.sh"  # before each push of the recorder is received, a rival pushes first
    beat.write_text(
        "#!/bin/sh\n"
        f"git -C {rival} pull -q --rebase && git -C {rival} -c user.name=r -c user.email=r@r commit -q "
        f"--allow-empty -m rival && git -C {rival} push -q\n"
        'exec git-receive-pack "$@"\n'
    )
    beat.chmod(0o755)
    git(recorder, "config", "remote.origin.receivepack", str(beat))
    grader = [str(rush.GRADER), "pr", "record", str(run), "--answer-file", str(tmp_path / "answer.json")]
    env = {"PATH": f"{rush.GRADER.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    lost = subprocess.run([*grader, "--attempts", "2"], cwd=recorder, env=env, capture_output=True, text=True)
    assert lost.returncode == 3, lost.stdout + lost.stderr
    assert "won the race 2 times" in lost.stderr and "not recorded yet" in lost.stderr
    assert "Traceback" not in lost.stderr and len(lost.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "answer.json").exists()
    assert git(prepared.remote, "log", "--format=%s", "main").splitlines() == ["rival", "rival", "competition"]

    git(recorder, "config", "--unset", "remote.origin.receivepack")
    again = subprocess.run(grader, cwd=recorder, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert remote_rows(prepared.remote, tmp_path) == [(prepared.submissions[0].run_id, "heavy0")]


def test_a_push_refused_for_another_reason_is_not_retried(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    git(a.root, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    with pytest.raises(SyncError, match="git fetch failed"):
        push_with_retry(Git(a.root), lambda: None, paths=["leaderboard"], message="a")


def test_the_token_never_lands_in_the_clone(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    run = scored_run(tmp_path / "runs", "run-1", 0.9)
    push_with_retry(Git(a.root, token="ghs_secret"), recorder(a, run, "alice"), paths=["leaderboard"], message="a")
    assert "ghs_secret" not in (a.root / ".git" / "config").read_text()


def test_changed_files_name_statuses_like_the_api(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "keep.txt").write_text("1")
    (repo / "gone.txt").write_text("1")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    (repo / "keep.txt").write_text("2")
    (repo / "gone.txt").unlink()
    (repo / "new file.ipynb").write_text("{}")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pr")
    found = sorted((f.path, f.status) for f in changed_files(repo))
    assert found == [("gone.txt", "removed"), ("keep.txt", "modified"), ("new file.ipynb", "added")]


def test_record_keys_by_the_given_run_id(remote: Path, tmp_path: Path) -> None:
    a = clone(remote, tmp_path / "a")
    run = scored_run(tmp_path / "runs", "from-result-json", 0.9)
    db = pipeline.default_db(a)
    first = pipeline.record(run, a, user="alice", db=db, now=NOW, run_id="github-1-1", pr_number=7, head_sha="c" * 40)
    again = pipeline.record(run, a, user="alice", db=db, now=NOW, run_id="github-1-1")
    assert not first.already_recorded and again.already_recorded
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT run_id, pr_number, head_sha FROM submissions").fetchall() == [
            ("github-1-1", 7, "c" * 40)
        ]
    assert replace(first, already_recorded=True).submission_id == again.submission_id


def test_pr_prepare_finds_the_notebook_or_refuses(remote: Path, tmp_path: Path) -> None:
    """evaluate.yml's first step, through the CLI, on a real merge-like commit."""
    import json
    import sys

    repo = tmp_path / "repo"
    clone(remote, repo)
    (repo / "submissions" / "alice").mkdir(parents=True)
    (repo / "submissions" / "alice" / "a.ipynb").write_text("{}")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pr")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 5, "head": {"sha": "d" * 40}, "user": {"login": "alice"}}}))
    grader = [str(Path(sys.executable).parent / "grader"), "pr", "prepare", "--event", str(event)]
    output = tmp_path / "github_output"
    ok = subprocess.run(
        [*grader, "--out", str(tmp_path / "run")],
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "submissions/alice/a.ipynb", ok.stderr
    assert "notebook<<ghadelimiter_" in output.read_text()
    assert json.loads((tmp_path / "run" / "pull_request.json").read_text()) == {"number": 5, "head_sha": "d" * 40}
    (repo / ".github").mkdir()
    (repo / ".github" / "evil.yml").write_text("x")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pr2")
    refused = subprocess.run([*grader, "--out", str(tmp_path / "run2")], cwd=repo, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "will not be graded" in refused.stderr and "can never change the workflows" in refused.stderr
