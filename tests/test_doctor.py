"""grader doctor: a competition's files and its repository's settings, checked one line per finding.

The GitHub half runs against the local stand-in server (tests/fake_github.py) answering the
documented endpoints with the documented shapes; each setting is tried good and bad, and the
bad one must produce exactly its own finding, naming the place to fix it.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run_grader
from fake_github import FakeGitHub

from grader import doctor

REPO = "octo-org/grading"
NOW = "2026-12-01T12:00:00Z"  # inside the demo competition's dates


def good_settings() -> dict[str, Any]:
    """What docs/github.md asks for, as GitHub's REST API returns it."""
    secret = {"created_at": "2026-10-01T00:00:00Z", "updated_at": "2026-10-01T00:00:00Z"}
    return {
        "": {"full_name": REPO, "private": False, "default_branch": "main", "visibility": "public"},
        "/environments": {
            "total_count": 2,
            "environments": [
                {
                    "id": 1,
                    "name": "scoring",
                    "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
                    "protection_rules": [],
                },
                {
                    "id": 2,
                    "name": "github-pages",
                    "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
                    "protection_rules": [],
                },
            ],
        },
        "/environments/scoring/deployment-branch-policies": {
            "total_count": 1,
            "branch_policies": [{"id": 7, "name": "main", "type": "branch"}],
        },
        "/environments/scoring/secrets": {
            "total_count": 2,
            "secrets": [{"name": "GRADER_TRUTH_KEY", **secret}, {"name": "GRADER_PRIVATE_KEY", **secret}],
        },
        "/environments/github-pages/secrets": {"total_count": 0, "secrets": []},
        "/actions/secrets": {"total_count": 0, "secrets": []},
        "/actions/variables": {"total_count": 0, "variables": []},
        "/pages": {
            "url": "https://api.github.com/repos/octo-org/grading/pages",
            "status": "built",
            "build_type": "workflow",
        },
        "/actions/permissions/workflow": {
            "default_workflow_permissions": "read",
            "can_approve_pull_request_reviews": False,
        },
        "/actions/permissions/fork-pr-contributor-approval": {"approval_policy": "all_external_contributors"},
        "/rules/branches/main": [
            {"type": "pull_request", "ruleset_source_type": "Repository", "ruleset_source": REPO, "ruleset_id": 42}
        ],
        "/rulesets/42": {
            "id": 42,
            "name": "main",
            "target": "branch",
            "enforcement": "active",
            "bypass_actors": [
                {"actor_id": doctor.ACTIONS_APP_ID, "actor_type": "Integration", "bypass_mode": "always"}
            ],
        },
    }


@pytest.fixture
def competition(tmp_path: Path) -> Path:
    """A competition repository like a teacher's: the demo's files committed, the truth beside them, not committed."""
    folder = tmp_path / "course"
    folder.mkdir()
    for name in ("competition.yaml", "data", "environment", ".github"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    (folder / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "truth.csv", folder / "examples" / "truth.csv")
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "competition.yaml", "data", "environment", ".github"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "competition"], check=True)
    return folder


def run_doctor(folder: Path, settings: dict[str, Any] | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"GRADER_NOW": NOW, "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": "", "GH_TOKEN": ""}
    if settings is None:
        return run_grader("doctor", *args, cwd=folder, env=env)
    with FakeGitHub(REPO) as fake:
        fake.settings.update(settings)
        return run_grader("doctor", *args, cwd=folder, env={**env, "GITHUB_API_URL": fake.url, "GH_TOKEN": "t0ken"})


def problems(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("PROBLEM")]


def test_a_ready_competition(competition: Path) -> None:
    proc = run_doctor(competition, good_settings())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert problems(proc) == []
    assert proc.stdout.rstrip().endswith("Ready.")
    for expected in (
        "secret GRADER_TRUTH_KEY is set",
        "secret GRADER_PRIVATE_KEY is set",
        "published by GitHub Actions",
    ):
        assert expected in proc.stdout
    # A public repository: the teacher is told every notebook is public.
    assert "every submitted notebook is public" in proc.stdout
    # The Hugging Face token is optional while the variable that turns the mirror on is not set.
    assert "note    Settings → Environments → github-pages: secret HF_TOKEN is not set" in proc.stdout


def test_a_private_repository_is_told_what_private_mode_costs(competition: Path) -> None:
    settings = good_settings()
    settings[""]["private"] = True
    proc = run_doctor(competition, settings)
    assert proc.returncode == 0, proc.stdout
    assert "note    Repository: private: students need read access" in proc.stdout
    assert "Actions minutes are billed" in proc.stdout


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(settings: dict[str, Any]) -> None:
        if value is None:
            del settings[path]
        else:
            settings[path] = value

    return change


def _env_policy(name: str, protected: bool, custom: bool) -> Callable[[dict[str, Any]], None]:
    def change(settings: dict[str, Any]) -> None:
        for env in settings["/environments"]["environments"]:
            if env["name"] == name:
                env["deployment_branch_policy"] = {"protected_branches": protected, "custom_branch_policies": custom}

    return change


def _no_environment(name: str) -> Callable[[dict[str, Any]], None]:
    def change(settings: dict[str, Any]) -> None:
        envs = settings["/environments"]["environments"]
        settings["/environments"]["environments"] = [e for e in envs if e["name"] != name]

    return change


BAD = {
    "no scoring environment": (
        _no_environment("scoring"),
        "Settings → Environments → scoring: missing: create the environment scoring",
    ),
    "scoring open to every branch": (
        _env_policy("scoring", protected=False, custom=False),
        "Settings → Environments → scoring: deployment branches allow any branch",
    ),
    "scoring open to another branch": (
        _set(
            "/environments/scoring/deployment-branch-policies", {"total_count": 1, "branch_policies": [{"name": "*"}]}
        ),
        "Settings → Environments → scoring: deployment branches allow *",
    ),
    "truth secret missing": (
        _set("/environments/scoring/secrets", {"total_count": 1, "secrets": [{"name": "GRADER_PRIVATE_KEY"}]}),
        "Settings → Environments → scoring: secret GRADER_TRUTH_KEY is missing",
    ),
    "Hugging Face mirror on without its token": (
        _set("/actions/variables", {"total_count": 1, "variables": [{"name": "HF_SPACE", "value": "course/board"}]}),
        "Settings → Environments → github-pages: secret HF_TOKEN is missing (the variable HF_SPACE is set)",
    ),
    "Pages off": (_set("/pages", None), "Settings → Pages: off: set Source to 'GitHub Actions'"),
    "Pages from a branch": (
        _set("/pages", {"status": "built", "build_type": "legacy"}),
        "Settings → Pages: built from a branch",
    ),
    "write token by default": (
        _set("/actions/permissions/workflow", {"default_workflow_permissions": "write"}),
        "Settings → Actions → General: workflow permissions are read and write by default",
    ),
    "strangers run without approval": (
        _set("/actions/permissions/fork-pr-contributor-approval", {"approval_policy": "first_time_contributors"}),
        "Settings → Actions → General: fork pull request approval is 'first_time_contributors'",
    ),
    "default branch unprotected": (
        _set("/rules/branches/main", []),
        "Settings → Rules → main: the default branch is not protected",
    ),
    "the bot cannot push the leaderboard": (
        _set("/rulesets/42", {"id": 42, "bypass_actors": []}),
        "Settings → Rules → main: pull requests are required and GitHub Actions cannot bypass the rule",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_each_wrong_setting_is_one_finding_naming_where_to_fix_it(competition: Path, case: str) -> None:
    change, expected = BAD[case]
    settings = copy.deepcopy(good_settings())
    change(settings)
    proc = run_doctor(competition, settings)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = problems(proc)
    assert len(found) == 1, found
    assert found[0].startswith(f"PROBLEM {expected}"), found
    assert "https://github.com/octo-org/grading/settings/" in found[0]
    assert proc.stdout.rstrip().endswith("1 problem found.")


def test_classic_branch_protection_with_the_actions_app_allowed(competition: Path) -> None:
    settings = good_settings()
    settings["/rules/branches/main"] = []
    reviews = {"bypass_pull_request_allowances": {"users": [], "teams": [], "apps": [{"slug": "github-actions"}]}}
    settings["/branches/main/protection"] = {"required_pull_request_reviews": reviews}
    proc = run_doctor(competition, settings)
    assert (proc.returncode, problems(proc)) == (0, [])
    reviews["bypass_pull_request_allowances"]["apps"] = []
    proc = run_doctor(competition, settings)
    assert [p.split(":")[0] for p in problems(proc)] == ["PROBLEM Settings → Rules → main"]


def test_a_token_that_cannot_read_the_settings_says_so(competition: Path) -> None:
    settings = good_settings()
    del settings["/environments/scoring/secrets"]
    with FakeGitHub(REPO) as fake:
        fake.settings.update(settings)
        fake.fail("GET", r"/repos/octo-org/grading/environments/scoring/secrets", 403, body={"message": "Forbidden"})
        env = {"GRADER_NOW": NOW, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": fake.url, "GH_TOKEN": "t0ken"}
        proc = run_grader("doctor", cwd=competition, env={**env, "GITHUB_TOKEN": ""})
    assert proc.returncode == 1
    assert any("scoring's secrets: could not be read (HTTP 403" in line for line in problems(proc)), proc.stdout


def test_a_committed_truth_and_an_unknown_metric_are_caught_before_any_student_runs(competition: Path) -> None:
    subprocess.run(["git", "-C", str(competition), "add", "examples/truth.csv"], check=True)
    yaml = competition / "competition.yaml"
    yaml.write_text(yaml.read_text().replace("name: accuracy_score", "name: acuracy_score"))
    proc = run_doctor(competition, None, "--offline")
    assert proc.returncode == 1
    found = problems(proc)
    assert len(found) == 2, found
    assert found[0].startswith("PROBLEM competition.yaml: metric.name: 'acuracy_score' is not a function of sklearn")
    assert "did you mean 'accuracy_score'" in found[0]
    assert found[1].startswith("PROBLEM truth → examples/truth.csv: the plain truth is committed")


def test_a_stale_lock_and_a_broken_config(competition: Path) -> None:
    requirements = competition / "environment" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "rich\n")
    proc = run_doctor(competition, None, "--offline")
    assert [line.split(":")[0] for line in problems(proc)] == ["PROBLEM environment"]
    assert "grader env lock" in proc.stdout
    (competition / "competition.yaml").write_text("title: [unclosed\n")
    proc = run_doctor(competition, None, "--offline")
    assert proc.returncode == 1 and len(problems(proc)) == 1
    assert "Traceback" not in proc.stdout + proc.stderr


def test_without_a_token_only_the_local_half_runs_and_it_says_so(competition: Path) -> None:
    proc = run_doctor(competition, None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "note    GitHub: settings not checked: give a token (GH_TOKEN=$(gh auth token))" in proc.stdout


def test_dates_are_told_against_the_moment_given() -> None:
    from datetime import UTC, datetime

    from grader import config

    competition = config.load(ROOT / "competition.yaml")
    before = doctor._dates(competition, datetime(2026, 10, 1, tzinfo=UTC), "competition.yaml")
    after = doctor._dates(competition, datetime(2027, 4, 1, tzinfo=UTC), "competition.yaml")
    during = doctor._dates(competition, datetime(2026, 12, 1, tzinfo=UTC), "competition.yaml")
    assert [f.level for f in (*before, *after, *during)] == ["note", "note", "ok"]
    assert "opens on" in before[0].message and "ended on" in after[0].message


def test_the_workflows_needs_are_read_from_the_workflow_files() -> None:
    needs = doctor.workflow_needs(doctor.read_workflows(ROOT / ".github" / "workflows"))
    scoring = {n.secret for n in needs if n.environment == "scoring"}
    assert scoring, "the score workflow uses secrets in the scoring environment"
    assert all(n.secret != "GITHUB_TOKEN" for n in needs)
    hf = [n for n in needs if n.secret == "HF_TOKEN"]
    assert [(n.environment, n.only_if) for n in hf] == [("github-pages", "HF_SPACE")]


@pytest.mark.parametrize(
    ("remote", "repo"),
    [
        ("https://github.com/octo-org/grading.git", "octo-org/grading"),
        ("git@github.com:octo-org/grading.git", "octo-org/grading"),
        ("https://github.com/octo-org/grading", "octo-org/grading"),
        ("https://gitlab.com/octo-org/grading.git", None),
    ],
)
def test_the_repository_is_found_from_the_origin_remote(tmp_path: Path, remote: str, repo: str | None) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    assert doctor.origin_repo(tmp_path) == repo
