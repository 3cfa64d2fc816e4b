"""The workflows themselves: linted (zizmor, actionlint), checked against the team's rules, and run with act.

act runs the real workflow files on this machine (``-P ubuntu-latest=-self-hosted``, no
Docker). What needs GitHub is replaced by local stand-ins (tests/act_standins/):
``actions/upload-artifact`` and ``actions/download-artifact`` through act's
``--local-repository`` (they copy to and from a folder), ``actions/checkout`` (act has
copied the scratch repository into the workspace; it checks out the ref), the repository's
``.github/actions/setup-grader`` (puts this virtualenv's ``grader`` on the PATH), and
``sudo`` (records the command). GitHub's API is tests/fake_github.py, reached through GITHUB_API_URL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PAYLOADS, ROOT
from fake_github import FakeGitHub

WORKFLOWS = ROOT / ".github" / "workflows"
STANDINS = Path(__file__).parent / "act_standins"
BIN = Path(sys.executable).parent
ACT = BIN / "act"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
DOWNLOAD = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
CACHE = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"
NOTEBOOK = ROOT / "examples" / "submissions" / "alice"


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))


# -- lint -----------------------------------------------------------------------------------------


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", ".github"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_actionlint_finds_nothing() -> None:
    proc = subprocess.run([BIN / "actionlint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_workflows_exist() -> None:
    assert ALL == ["admin.yml", "ci.yml", "evaluate.yml", "final.yml", "regrade.yml", "score.yml"]


@pytest.mark.parametrize("name", ALL)
def test_team_rules(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    flow = load(name)
    assert "pull_request_target" not in text
    assert flow["permissions"] == {}
    steps: list[dict[str, Any]] = []
    for job_name, job in flow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{job_name} has no timeout-minutes"
        assert "permissions" in job, f"{job_name} does not say its permissions"
        steps += job["steps"]
    for step in steps:
        uses = step.get("uses", "")
        if uses and not uses.startswith("./"):
            assert PINNED.match(uses), f"{uses} is not pinned to a full commit SHA"
            assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+", text), f"{uses} has no version comment"
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", ""), f"an expression inside run: in {step.get('name')}"


@pytest.mark.parametrize("action", sorted(p.parent.name for p in (ROOT / ".github" / "actions").glob("*/action.yml")))
def test_composite_actions_pin_what_they_use(action: str) -> None:
    path = ROOT / ".github" / "actions" / action / "action.yml"
    text = path.read_text()
    for step in yaml.safe_load(text)["runs"]["steps"]:
        uses = step.get("uses", "")
        if uses:
            assert PINNED.match(uses), f"{uses} is not pinned to a full commit SHA"
            assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+", text), f"{uses} has no version comment"
        assert "${{" not in step.get("run", ""), f"an expression inside run: in {action}"


@pytest.mark.parametrize(
    ("workflow", "job", "before"),
    [
        ("evaluate.yml", "evaluate", "Run the notebook in the sandbox"),
        ("regrade.yml", "regrade", "Run this shard's notebooks in the sandbox"),
    ],
)
def test_notebooks_run_only_after_the_environment_is_built_from_the_lock(workflow: str, job: str, before: str) -> None:
    steps = [step.get("name") for step in load(workflow)["jobs"][job]["steps"]]
    uses = [step.get("uses") for step in load(workflow)["jobs"][job]["steps"]]
    built = uses.index("./.github/actions/notebook-env")
    assert built < steps.index(before)
    if workflow == "evaluate.yml":  # only once the pull request is known to change nothing but its notebook
        assert steps.index("Find the submitted notebook") < built
    action = yaml.safe_load((ROOT / ".github" / "actions" / "notebook-env" / "action.yml").read_text())
    restore, build, save = action["runs"]["steps"]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert "hashFiles('environment/**')" in restore["with"]["key"]
    assert build["run"] == "grader env build --no-progress"
    assert save["uses"].startswith("actions/cache/save@") and save["if"] == "steps.restore.outputs.cache-hit != 'true'"
    assert save["with"] == {"path": restore["with"]["path"], "key": "${{ steps.restore.outputs.cache-primary-key }}"}


def test_the_install_every_job_runs_ships_every_package_of_the_grader() -> None:
    """setup-grader installs the grader from pyproject.toml (not editable): a subpackage left out of it
    (grader.store once was) makes every job's grader fail on import, which the act tests, running this
    virtualenv's editable grader, cannot see."""
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    shipped = set(find_packages(str(ROOT), include=find["include"]))
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "grader").rglob("__init__.py")}
    assert on_disk <= shipped and "grader.store" in on_disk


def test_secrets_only_where_needed() -> None:
    score = load("score.yml")["jobs"]
    holders = {
        (job, step.get("name")): set(step.get("env", {}))
        for job, body in score.items()
        for step in body["steps"]
        if "secrets." in json.dumps(step)
    }
    assert holders == {
        ("score", "Score against the hidden truth"): {"GRADER_TRUTH_KEY"},
        ("score", "Record and push the leaderboard"): {"GITHUB_TOKEN", "GRADER_PRIVATE_KEY"},
        ("publish", "Mirror to the Hugging Face Space"): {"HF_TOKEN", "HF_SPACE"},
    }
    assert score["answer"]["permissions"] == {"pull-requests": "write", "statuses": "write"}
    assert score["pending"]["permissions"] == {"pull-requests": "write", "statuses": "write"}
    assert "environment" not in score["pending"]
    # The verdict must come after "scoring", never before it.
    assert score["pending"]["needs"] == "verify" and "pending" in score["answer"]["needs"]
    assert "contents" not in score["answer"]["permissions"]
    assert "environment" not in score["verify"] and "environment" not in score["answer"]
    assert load("evaluate.yml")["jobs"]["evaluate"]["permissions"] == {"contents": "read"}
    assert "secrets." not in (WORKFLOWS / "evaluate.yml").read_text()
    assert "secrets." not in (WORKFLOWS / "final.yml").read_text()
    assert load("final.yml")["jobs"]["choose"]["permissions"] == {"contents": "write", "pull-requests": "write"}


SECRETS = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)")
# What a job that holds the truth's key may run: commands that print only grader-made text.
# `grader run` and `grader pr verify` print what the student wrote (error messages, file names);
# plain `grader score` prints the notebook's error; `pr record` without --answer-file puts the
# answer (which quotes it) in a step output.
STUDENT_TEXT = (
    re.compile(r"\bgrader run\b"),
    re.compile(r"\bgrader pr verify\b"),
    re.compile(r"\bgrader pr answer\b"),
    re.compile(r"\bgrader score\b(?!.*--quiet)"),
    re.compile(r"\bgrader pr record\b(?!.*--answer-file)"),
    re.compile(r"\bgrader check\b"),
    re.compile(r"\bgrader history\b"),
)


@pytest.mark.parametrize("name", ALL)
def test_the_truth_is_never_a_secret_only_its_one_line_key(name: str) -> None:
    """A multi-line secret is masked line by line in the public log: an oracle. Only keys are secrets."""
    used = set(SECRETS.findall((WORKFLOWS / name).read_text()))
    assert used <= {"GRADER_TRUTH_KEY", "GRADER_PRIVATE_KEY", "HF_TOKEN"}, used


@pytest.mark.parametrize("name", ALL)
def test_a_job_holding_the_truth_key_prints_and_outputs_no_student_text(name: str) -> None:
    for job_name, job in load(name)["jobs"].items():
        if "secrets.GRADER_TRUTH_KEY" not in json.dumps(job):
            continue
        assert set(job.get("outputs", {})) <= {"recorded"}, f"{name}: {job_name} outputs {set(job['outputs'])}"
        for step in job["steps"]:
            run = " ".join(step.get("run", "").split())
            for pattern in STUDENT_TEXT:
                assert not pattern.search(run), f"{name}: {job_name} / {step.get('name')} runs {run!r}"


# -- act ------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, Path]:
    """A competition repository (main, with the truth sealed + a pull request adding alice's notebook), its remote."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("competition.yaml", "mkdocs.yml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, repo)
    shutil.copytree(ROOT / "data", repo / "data")
    shutil.copytree(ROOT / "environment", repo / "environment")
    shutil.copytree(ROOT / ".github", repo / ".github")
    shutil.copy(STANDINS / "setup-grader" / "action.yml", repo / ".github" / "actions" / "setup-grader" / "action.yml")
    (repo / "leaderboard").mkdir()
    (repo / "leaderboard" / ".keep").write_text("")
    # As a real competition does: the truth is committed sealed, the key is the secret.
    config_file = repo / "competition.yaml"
    text = config_file.read_text().replace("  split_column:", "  sealed: truth/truth.csv.sealed\n  split_column:", 1)
    config_file.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_TRUTH_KEY"}
    sealed = subprocess.run(
        [sys.executable, "-m", "grader", "truth", "seal", str(ROOT / "examples" / "truth.csv")],
        cwd=repo, capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    key = next(line for line in sealed.stdout.splitlines() if len(line) == 44 and " " not in line)
    (tmp_path / "truth-key").write_text(key)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "competition")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "fetch", "-q", "origin")
    git(repo, "checkout", "-q", "-b", "pr")
    notebook = next(NOTEBOOK.glob("*.ipynb"))
    (repo / "submissions" / "alice").mkdir(parents=True)
    shutil.copy(notebook, repo / "submissions" / "alice" / notebook.name)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=alice", "-c", "user.email=a@a", "commit", "-qm", "my submission")
    return {"repo": repo, "remote": bare, "tmp": tmp_path, "notebook": repo / "submissions" / "alice" / notebook.name,
            "key": tmp_path / "truth-key"}  # fmt: skip


def act(
    repo: Path,
    tmp: Path,
    event_name: str,
    workflow: str,
    event: dict[str, Any],
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    event_file = tmp / f"{event_name}.json"
    event_file.write_text(json.dumps(event))
    variables = {
        "ACT_ARTIFACTS": str(tmp / "artifacts"),
        "ACT_SUDO_LOG": str(tmp / "sudo.log"),
        "ACT_SOURCE_REPO": str(repo),
        "GRADER_VENV_BIN": str(BIN),
        "GRADER_CACHE_DIR": os.environ["GRADER_CACHE_DIR"],  # the notebook environment, built once
        **(env or {}),
    }
    command = [
        str(ACT),
        event_name,
        "-W",
        f".github/workflows/{workflow}",
        "-e",
        str(event_file),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-cache-path",
        str(tmp / "act-cache"),
        "--local-repository",
        f"{UPLOAD}={STANDINS / 'upload-artifact'}",
        "--local-repository",
        f"{DOWNLOAD}={STANDINS / 'download-artifact'}",
        "--local-repository",
        f"{CHECKOUT}={STANDINS / 'checkout'}",
        "--local-repository",
        f"{CACHE}={STANDINS / 'cache'}",
        *[arg for key, value in variables.items() for arg in ("--env", f"{key}={value}")],
        *extra,
    ]
    path = f"{STANDINS / 'bin'}:{BIN}:{os.environ['PATH']}"
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    proc = subprocess.run(
        command,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": path, "HOME": str(home)},
    )
    (tmp / f"act-{workflow}.log").write_text(proc.stdout + proc.stderr)
    return proc


def pull_request_event(repo: Path) -> dict[str, Any]:
    event = json.loads((PAYLOADS / "pull_request.opened.payload.json").read_text())
    event["pull_request"]["number"] = 2  # the number the assertions below name
    event["pull_request"]["user"]["login"] = "alice"
    event["pull_request"]["head"]["sha"] = git(repo, "rev-parse", "HEAD").strip()
    return event


def workflow_run_event(repo: Path, fake: FakeGitHub, head_sha: str) -> dict[str, Any]:
    """The corpus's workflow_run payload of a fork's pull request (pull_requests is empty), for this run."""
    event = json.loads((PAYLOADS / "workflow_run.completed.payload.json").read_text())
    run = event["workflow_run"]
    run.update(
        event="pull_request",
        head_sha=head_sha,
        id=777,
        run_attempt=1,
        conclusion="success",
        created_at="2026-11-02T10:00:00Z",
        name="evaluate",
        path=".github/workflows/evaluate.yml",
        html_url=f"https://github.com/{fake.repo}/actions/runs/777",
        pull_requests=[],
    )
    run["head_repository"]["full_name"] = f"alice/{fake.repo.split('/')[1]}"
    event["repository"].update(full_name=fake.repo, default_branch="main")
    return event


def issue_comment_event(fake: FakeGitHub, number: int, login: str, body: str) -> dict[str, Any]:
    """An issue_comment payload on pull request ``number`` as GitHub documents it, around the corpus's repository."""
    base = json.loads((PAYLOADS / "pull_request.opened.payload.json").read_text())
    base["repository"].update(full_name=fake.repo, default_branch="main")
    user = {"login": login, "id": 1, "type": "User"}
    return {
        "action": "created",
        "issue": {"number": number, "state": "open", "user": user,
                  "pull_request": {"url": f"https://api.github.com/repos/{fake.repo}/pulls/{number}"}},
        "comment": {"id": 99, "body": body, "user": user, "author_association": "NONE"},
        "repository": base["repository"],
        "sender": user,
    }  # fmt: skip


GOLDEN = Path(__file__).parent / "golden" / "answers"


def act_golden(name: str, body: str, head_sha: str) -> None:
    """A comment posted through the real workflows, compared with tests/golden/answers/act-NAME.md.

    Only what differs between runs is normalised: the scratch commit's SHA and the notebook's
    runtime. GRADER_UPDATE_GOLDEN=1 rewrites the file: review its diff before committing it.
    """
    text = body.replace(head_sha[:12], "<head-sha>")
    text = re.sub(r"\| Runtime \| \d+\.\d s \|", "| Runtime | <runtime> |", text)
    path = GOLDEN / f"act-{name}.md"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_act_a_pull_request_is_graded_then_recorded_answered_and_pushed(scratch: dict[str, Path]) -> None:
    """evaluate.yml on a pull_request event runs alice's notebook; score.yml on the workflow_run event
    verifies, says it is scoring, scores, records, pushes and answers, twice (the second time changes nothing);
    final.yml on an issue_comment event records alice's /final #1 and refuses someone else's /final."""
    repo, tmp, remote = scratch["repo"], scratch["tmp"], scratch["remote"]
    event = pull_request_event(repo)
    head_sha = event["pull_request"]["head"]["sha"]
    # GRADER_NOW: the check before running judges while the competition is open, whatever day the suite runs on.
    evaluated = act(repo, tmp, "pull_request", "evaluate.yml", event, env={"GRADER_NOW": "2026-11-02T10:05:00Z"})
    assert evaluated.returncode == 0, evaluated.stdout[-6000:]
    assert "Run it: no rule refuses it for sure." in evaluated.stdout
    assert re.search(r"Found the notebook environment \(\d+ packages, Python 3\.11", evaluated.stdout)
    run = tmp / "artifacts" / "run"
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "completed", result
    assert result["private_score"] is None and result["public_score"] is None  # evaluate never scores
    assert json.loads((run / "pull_request.json").read_text()) == {"number": 2, "head_sha": head_sha}
    assert (run / "executed.ipynb").is_file() and (run / "predictions.csv").is_file()
    sudo = (tmp / "sudo.log").read_text()
    assert "apt-get install -y -qq bubblewrap" in sudo and "kernel.apparmor_restrict_unprivileged_userns=0" in sudo

    git(repo, "checkout", "-q", "main")  # score.yml runs the default branch's code
    key = scratch["key"].read_text()
    with FakeGitHub("octo-org/grading") as fake:
        fake.add_pull(
            2, author="alice", head_sha=head_sha, files=[(scratch["notebook"].relative_to(repo).as_posix(), "added")]
        )
        wr = workflow_run_event(repo, fake, head_sha)
        secrets = ["-s", f"GRADER_TRUTH_KEY={key}", "-s", "GITHUB_TOKEN=test-token", "-j", "answer"]
        # GRADER_NOW: /final is judged while the competition is open, whatever day the suite runs on.
        env = {"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repo, "GRADER_NOW": "2026-12-01T12:00:00Z"}
        bodies = []
        for _ in range(2):  # the second run of the same evaluate run changes nothing
            scored = act(repo, tmp, "workflow_run", "score.yml", wr, *secrets, env=env)
            assert scored.returncode == 0, scored.stdout[-8000:] + scored.stderr[-2000:]
            assert len(fake.comments[2]) == 1  # one comment, edited in place
            bodies.append(fake.comments[2][0]["body"])
        statuses = fake.statuses

        written = [body for number, body in fake.written if number == 2]

        # final.yml: alice comments /final #1 (the id her answer shows); someone else's /final is refused.
        finals = {}
        for login, said in (("mallory", "/final"), ("alice", "/final #1")):
            comment = issue_comment_event(fake, 2, login, said)
            chosen = act(repo, tmp, "issue_comment", "final.yml", comment, "-s", "GITHUB_TOKEN=test-token", env=env)
            assert chosen.returncode == 0, chosen.stdout[-8000:] + chosen.stderr[-2000:]
            answers = [c["body"] for c in fake.comments[2] if "<!-- grader:final -->" in c["body"]]
            assert len(answers) == 1, answers
            finals[login] = answers[0]

    body = bodies[0]
    act_golden("scored", body, head_sha)
    assert "Scored" in body and "| Rank | **1** (new on the leaderboard) |" in body
    assert bodies[1] == body.replace("**1** (new on the leaderboard)", "**1**").replace(
        "| Progress | Your first public score |\n", ""
    )
    # Each run of score.yml first says it is scoring (status and comment), then gives the verdict.
    assert [(s["sha"], s["state"]) for s in statuses] == [(head_sha, "pending"), (head_sha, "success")] * 2
    assert [b.splitlines()[1][:13] for b in written] == ["### ⏳ Scoring", "### ✅ Scored:"] * 2
    act_golden("pending", written[0], head_sha)
    assert "submission #1 is alice's" in finals["mallory"] and "Your final choices: none yet" in finals["mallory"]
    act_golden("final-id", finals["alice"], head_sha)
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log == [
        "admin: select #1 — by alice",
        "Record alice's submission from #2 (github-777-1)",
        "competition",
    ]
    check = tmp / "check"
    git(tmp, "clone", "-q", str(remote), str(check))
    with sqlite3.connect(check / "leaderboard" / "leaderboard.db") as conn:
        rows = conn.execute(
            "SELECT username, run_id, pr_number, head_sha, status, private_score FROM submissions"
        ).fetchall()
    assert len(rows) == 1 and rows[0][:5] == ("alice", "github-777-1", 2, head_sha, "completed")
    private = f"{rows[0][5]:.5f}"
    assert f"{rows[0][5]:.5f}" != f"{0.0:.5f}"
    assert private not in body and private not in (tmp / "act-score.yml.log").read_text()


def test_act_a_failing_notebook_cannot_probe_the_truth_through_the_scoring_log(scratch: dict[str, Path]) -> None:
    """The attack: a notebook whose error lists guessed truth rows, one right and one wrong. With the truth
    as a multi-line secret, the runner would mask the right guess in the scoring job's public log (or drop
    the job output quoting it). Now the job holding the key prints none of it, and the answer, written by a
    job without secrets, quotes both guesses alike."""
    import nbformat

    repo, tmp = scratch["repo"], scratch["tmp"]
    right, wrong = "10203,1,private", "10203,0,private"  # examples/truth.csv's first row, and a wrong guess
    assert (
        right in (ROOT / "examples" / "truth.csv").read_text()
        and wrong not in (ROOT / "examples" / "truth.csv").read_text()
    )
    source = f'raise ValueError("my guesses:\\n{right}\\n{wrong}")'
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), str(scratch["notebook"]))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=alice", "-c", "user.email=a@a", "commit", "-qm", "probe the truth")
    event = pull_request_event(repo)
    head_sha = event["pull_request"]["head"]["sha"]
    act(repo, tmp, "pull_request", "evaluate.yml", event, env={"GRADER_NOW": "2026-11-02T10:05:00Z"})
    result = json.loads((tmp / "artifacts" / "run" / "result.json").read_text())
    assert result["status"] == "failed" and right in result["error"]["message"], result

    git(repo, "checkout", "-q", "main")
    with FakeGitHub("octo-org/grading") as fake:
        fake.add_pull(
            2, author="alice", head_sha=head_sha, files=[(scratch["notebook"].relative_to(repo).as_posix(), "added")]
        )
        wr = workflow_run_event(repo, fake, head_sha)
        wr["workflow_run"]["conclusion"] = "failure"
        secrets = ["-s", f"GRADER_TRUTH_KEY={scratch['key'].read_text()}", "-s", "GITHUB_TOKEN=test-token"]
        env = {"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repo, "GRADER_NOW": "2026-12-01T12:00:00Z"}
        scored = act(repo, tmp, "workflow_run", "score.yml", wr, *secrets, "-j", "answer", env=env)
        assert scored.returncode == 0, scored.stdout[-8000:] + scored.stderr[-2000:]
        body = fake.comments[2][0]["body"]

    log = (tmp / "act-score.yml.log").read_text().splitlines()
    holding_the_key = "\n".join(line for line in log if re.match(r"\[score/Score and record\s*\]", line))
    assert right not in holding_the_key and wrong not in holding_the_key
    assert "Not scored: the run ended failed" in holding_the_key and "Recorded: failed" in holding_the_key
    assert "***" not in holding_the_key
    assert "my guesses" not in holding_the_key and scratch["notebook"].name not in holding_the_key
    # The student still reads their own error, both guesses alike: nothing tells the right one apart.
    assert right in body and wrong in body and "***" not in body
    act_golden("failed", body, head_sha)


def test_act_a_pull_request_that_changes_the_grader_is_refused_with_its_reasons(scratch: dict[str, Path]) -> None:
    """evaluate.yml refuses to run a pull request that also changes score.yml (no notebook runs); score.yml
    verifies the pull request through the API, refuses it, and the answer job says why: no pending step."""
    repo, tmp, remote = scratch["repo"], scratch["tmp"], scratch["remote"]
    workflow = repo / ".github" / "workflows" / "score.yml"
    workflow.write_text(workflow.read_text() + "# and a little change\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=alice", "-c", "user.email=a@a", "commit", "-qm", "tweak the grader")
    event = pull_request_event(repo)
    head_sha = event["pull_request"]["head"]["sha"]
    evaluated = act(repo, tmp, "pull_request", "evaluate.yml", event)
    assert evaluated.returncode != 0 and "will not be graded" in evaluated.stdout, evaluated.stdout[-6000:]
    assert not (tmp / "artifacts" / "run" / "result.json").exists()  # the notebook never ran

    git(repo, "checkout", "-q", "main")
    files = [(scratch["notebook"].relative_to(repo).as_posix(), "added"), (".github/workflows/score.yml", "modified")]
    with FakeGitHub("octo-org/grading") as fake:
        fake.add_pull(2, author="alice", head_sha=head_sha, files=files)
        wr = workflow_run_event(repo, fake, head_sha)
        wr["workflow_run"]["conclusion"] = "failure"
        secrets = ["-s", f"GRADER_TRUTH_KEY={scratch['key'].read_text()}", "-s", "GITHUB_TOKEN=test-token"]
        env = {"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repo, "GRADER_NOW": "2026-12-01T12:00:00Z"}
        scored = act(repo, tmp, "workflow_run", "score.yml", wr, *secrets, "-j", "answer", env=env)
        assert scored.returncode == 0, scored.stdout[-8000:] + scored.stderr[-2000:]
        written, statuses = list(fake.written), list(fake.statuses)

    assert len(written) == 1 and [(s["sha"], s["state"]) for s in statuses] == [(head_sha, "failure")]
    act_golden("refused", written[0][1], head_sha)
    assert git(remote, "log", "--format=%s", "main").splitlines() == ["competition"]  # nothing recorded


def test_act_a_notebook_sure_to_be_refused_is_not_run_and_the_scoring_side_refuses_it(
    scratch: dict[str, Path],
) -> None:
    """A pull request made after the end (the default, `late: refused`): evaluate.yml's check before running
    skips the sandbox, the environment and the run, and uploads a result saying so; score.yml judges it again
    and records and answers the refusal."""
    repo, tmp = scratch["repo"], scratch["tmp"]
    event = pull_request_event(repo)
    event["pull_request"]["updated_at"] = "2027-03-02T10:00:00Z"
    head_sha = event["pull_request"]["head"]["sha"]
    evaluated = act(repo, tmp, "pull_request", "evaluate.yml", event, env={"GRADER_NOW": "2027-03-02T10:05:00Z"})
    assert evaluated.returncode == 0, evaluated.stdout[-6000:]
    assert "Not run: the competition closed on 2027-03-01 00:00 Europe/Paris" in evaluated.stdout
    assert "Found the notebook environment" not in evaluated.stdout  # nothing was built
    assert not (tmp / "sudo.log").exists()  # no bubblewrap installed, no sysctl
    run = tmp / "artifacts" / "run"
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "failed" and result["error"]["type"] == "NotRun", result
    assert not (run / "predictions.csv").exists()

    git(repo, "checkout", "-q", "main")
    with FakeGitHub("octo-org/grading") as fake:
        fake.add_pull(
            2, author="alice", head_sha=head_sha, files=[(scratch["notebook"].relative_to(repo).as_posix(), "added")]
        )
        wr = workflow_run_event(repo, fake, head_sha)
        wr["workflow_run"]["created_at"] = "2027-03-02T10:01:00Z"
        secrets = ["-s", f"GRADER_TRUTH_KEY={scratch['key'].read_text()}", "-s", "GITHUB_TOKEN=test-token"]
        env = {"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repo}
        scored = act(repo, tmp, "workflow_run", "score.yml", wr, *secrets, "-j", "answer", env=env)
        assert scored.returncode == 0, scored.stdout[-8000:] + scored.stderr[-2000:]
        body = fake.comments[2][0]["body"]
        statuses = fake.statuses
    assert "Not scored: the evaluate run skipped the notebook" in scored.stdout
    assert "**Not scored:** the competition closed on 2027-03-01 00:00 Europe/Paris" in body
    assert [(s["sha"], s["state"]) for s in statuses] == [(head_sha, "pending"), (head_sha, "failure")]
