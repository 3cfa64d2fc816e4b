"""``grader doctor``: everything docs/github.md asks an organiser to set, checked.

Two halves. The local half reads the competition (competition.yaml, its metric, its dates, the
notebooks' environment, whether the truth is committed). The GitHub half reads the
repository's settings through the API (:meth:`grader.github.GitHub.settings`) and compares
them with what the workflows need: the environments and their branch rules, the secrets each
job uses (their names only: the API never returns a secret's value), Pages, the Actions
settings, the protection of the default branch. Both halves are pure over what was read, so
each rule is tested without a network.

Each finding is one line: what is wrong, and the exact place to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

Level = Literal["ok", "problem", "note"]

# The GitHub Actions app: the actor a ruleset must let through for score.yml's pushes.
ACTIONS_APP_ID = 15368
SETTINGS = "Settings"
_SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_AUTOMATIC = "GITHUB_TOKEN"
_VARIABLE = re.compile(r"vars\.([A-Za-z_][A-Za-z0-9_]*)")
# What each approval policy means for a course (docs/teachers.md, "Approvals").
APPROVAL_POLICIES = {
    "all_external_contributors": "every pull request from outside the repository's collaborators and organisation "
    "waits for a maintainer",
    "first_time_contributors": "only people who never contributed wait once; a stranger who once had a pull request "
    "approved runs freely",
    "first_time_contributors_new_to_github": "only new GitHub accounts wait: any other stranger runs notebooks on your "
    "runners",
}


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str  # where: "competition.yaml", "Settings → Environments → scoring", ...
    message: str  # what is wrong and how to fix it (or, for ok, what holds)

    def line(self) -> str:
        mark = {"ok": "ok     ", "problem": "PROBLEM", "note": "note   "}[self.level]
        return f"{mark} {self.subject}: {self.message}" if self.subject else f"{mark} {self.message}"


@dataclass(frozen=True)
class Need:
    """A secret a workflow job uses, in the environment the job runs in."""

    environment: str | None
    secret: str
    workflow: str
    only_if: str | None = None  # the repository variable whose presence turns the step on


@dataclass(frozen=True)
class Environment:
    name: str
    protected_branches: bool  # deployment branches: "Protected branches only"
    branches: tuple[str, ...] | None  # custom branch rules; None when there are none
    secrets: frozenset[str]


@dataclass(frozen=True)
class Settings:
    """What the API says about the repository (None: could not be read, with ``unreadable`` saying why)."""

    private: bool
    default_branch: str
    environments: Mapping[str, Environment]
    secrets: frozenset[str]  # repository secrets (names)
    variables: frozenset[str]
    pages_build: str | None  # "workflow", "legacy", or None when Pages is off
    workflow_permissions: str | None  # "read" or "write"
    approval_policy: str | None
    branch_rules: frozenset[str]  # rule types that apply to the default branch (rulesets and classic protection)
    actions_can_bypass: bool  # the GitHub Actions app may push past those rules
    unreadable: Mapping[str, str] = field(default_factory=dict)  # what could not be read → why


# --- the workflows' needs --------------------------------------------------------------------


def workflow_needs(workflows: Mapping[str, Any]) -> list[Need]:
    """The secrets each job of the parsed workflow files uses, with the job's environment."""
    needs: list[Need] = []
    for name, workflow in sorted(workflows.items()):
        jobs = workflow.get("jobs") if isinstance(workflow, dict) else None
        for job in (jobs or {}).values():
            if not isinstance(job, dict):
                continue
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment.get("name")
            env_name = str(environment) if environment else None
            for step in job.get("steps") or []:
                if not isinstance(step, dict):
                    continue
                condition = _VARIABLE.search(str(step.get("if", "")))
                for secret in set(_SECRET.findall(_text(step))) - {_AUTOMATIC}:
                    needs.append(Need(env_name, secret, name, condition.group(1) if condition else None))
    unique = {(n.environment, n.secret, n.only_if): n for n in needs}
    return sorted(unique.values(), key=lambda n: (n.environment or "", n.secret))


def _text(node: Any) -> str:
    if isinstance(node, dict):
        return " ".join(_text(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(_text(v) for v in node)
    return str(node)


def read_workflows(folder: Path) -> dict[str, Any]:
    """The repository's workflow files, parsed (a file that is not YAML is left out: actionlint says why)."""
    import yaml

    workflows: dict[str, Any] = {}
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        try:
            workflows[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
    return workflows


# --- the GitHub half -------------------------------------------------------------------------


def check_github(settings: Settings, needs: Iterable[Need], repo: str) -> list[Finding]:
    """Findings about the repository's settings, for the workflows' ``needs``."""
    findings: list[Finding] = []
    findings += _visibility(settings)
    findings += _environments(settings, list(needs), repo)
    findings += _pages(settings, repo)
    findings += _actions(settings, repo)
    findings += _protection(settings, repo)
    for what, why in sorted(settings.unreadable.items()):
        findings.append(
            Finding("problem", what, f"could not be read ({why}); run doctor with a token of a repository admin")
        )
    return findings


def _visibility(settings: Settings) -> list[Finding]:
    if settings.private:
        return [
            Finding(
                "note",
                "Repository",
                "private: students need read access (course organisation) to fork and open pull requests; "
                "Actions minutes are billed (see docs/teachers.md, Privacy)",
            )
        ]
    return [
        Finding(
            "note",
            "Repository",
            "public: every submitted notebook is public from the moment its pull request opens "
            "(docs/teachers.md, Privacy)",
        )
    ]


def _environments(settings: Settings, needs: list[Need], repo: str) -> list[Finding]:
    findings: list[Finding] = []
    where = f"https://github.com/{repo}/settings/environments"
    for env_name in sorted({n.environment for n in needs if n.environment}):
        subject = f"{SETTINGS} → Environments → {env_name}"
        env = settings.environments.get(env_name)
        if env is None:
            if "environments" in settings.unreadable:
                continue
            findings.append(Finding("problem", subject, f"missing: create the environment {env_name} at {where}"))
            continue
        default = settings.default_branch
        if env.protected_branches:
            findings.append(Finding("ok", subject, "deployments from protected branches only"))
        elif env.branches is not None and set(env.branches) == {default}:
            findings.append(Finding("ok", subject, f"deployments from {default} only"))
        else:
            allowed = "any branch" if env.branches is None else ", ".join(env.branches) or "no rule"
            findings.append(
                Finding(
                    "problem",
                    subject,
                    f"deployment branches allow {allowed}: set Deployment branches to 'Selected branches' with "
                    f"only {default} at {where}, so no other branch's workflow can read its secrets",
                )
            )
        for need in sorted({n.secret: n for n in needs if n.environment == env_name}.values(), key=lambda n: n.secret):
            if need.secret in env.secrets:
                findings.append(Finding("ok", subject, f"secret {need.secret} is set"))
            elif need.only_if and need.only_if not in settings.variables:
                findings.append(
                    Finding(
                        "note",
                        subject,
                        f"secret {need.secret} is not set (used only when the variable {need.only_if} is set)",
                    )
                )
            else:
                why = f" (the variable {need.only_if} is set)" if need.only_if else ""
                findings.append(
                    Finding(
                        "problem",
                        subject,
                        f"secret {need.secret} is missing{why}: {need.workflow} needs it; add it under "
                        f"Environment secrets at {where}/ (see docs/github.md)",
                    )
                )
    return findings


def _pages(settings: Settings, repo: str) -> list[Finding]:
    subject = f"{SETTINGS} → Pages"
    if "pages" in settings.unreadable:
        return []
    if settings.pages_build == "workflow":
        return [Finding("ok", subject, "published by GitHub Actions")]
    now = "off" if settings.pages_build is None else "built from a branch"
    return [
        Finding(
            "problem",
            subject,
            f"{now}: set Source to 'GitHub Actions' at https://github.com/{repo}/settings/pages",
        )
    ]


def _actions(settings: Settings, repo: str) -> list[Finding]:
    findings: list[Finding] = []
    subject = f"{SETTINGS} → Actions → General"
    where = f"https://github.com/{repo}/settings/actions"
    if settings.workflow_permissions == "read":
        findings.append(Finding("ok", subject, "workflow permissions are read-only by default"))
    elif settings.workflow_permissions is not None:
        findings.append(
            Finding(
                "problem",
                subject,
                "workflow permissions are read and write by default: choose 'Read repository contents and packages "
                f"permissions' at {where} (each job asks for what it needs)",
            )
        )
    policy = settings.approval_policy
    if policy == "all_external_contributors":
        findings.append(Finding("ok", subject, "fork pull requests from outside the course wait for approval"))
    elif policy is not None:
        meaning = APPROVAL_POLICIES.get(policy, "an approval policy grader does not know")
        findings.append(
            Finding(
                "problem",
                subject,
                f"fork pull request approval is '{policy}': {meaning}. Choose 'Require approval for all external "
                f"contributors' at {where} and make students members of the course organisation so their runs "
                "start without a click (docs/teachers.md, Approvals)",
            )
        )
    return findings


def _protection(settings: Settings, repo: str) -> list[Finding]:
    subject = f"{SETTINGS} → Rules → {settings.default_branch}"
    where = f"https://github.com/{repo}/settings/rules"
    if "rules" in settings.unreadable:
        return []
    if "pull_request" not in settings.branch_rules:
        return [
            Finding(
                "problem",
                subject,
                f"the default branch is not protected: add a ruleset requiring pull requests at {where}, so "
                "leaderboard/ and the workflows change only by review or by the grader's own pushes",
            )
        ]
    if not settings.actions_can_bypass:
        return [
            Finding(
                "problem",
                subject,
                "pull requests are required and GitHub Actions cannot bypass the rule: score.yml's push of "
                f"leaderboard/ will be refused. Add 'GitHub Actions' to the ruleset's bypass list at {where}",
            )
        ]
    return [Finding("ok", subject, "pull requests required; GitHub Actions may push leaderboard/")]


# --- the local half --------------------------------------------------------------------------


def check_local(root: Path, competition_path: Path, now: datetime) -> list[Finding]:
    """Findings about the competition in ``root`` (its config, metric, dates, environment, truth)."""
    from grader.config import load
    from grader.errors import ConfigError

    subject = competition_path.name
    try:
        competition = load(competition_path)
    except ConfigError as ex:  # its message names the file and the key
        return [Finding("problem", "", str(ex))]
    findings = [Finding("ok", subject, f"'{competition.title}' loads")]
    findings += _metric(competition)
    findings += _dates(competition, now, subject)
    findings += _environment(competition)
    findings += _data(competition)
    findings += _truth(competition, root)
    return findings


def _metric(competition: Any) -> list[Finding]:
    from grader.errors import GraderError
    from grader.score import resolve_metric

    subject = "competition.yaml → metric"
    try:
        resolve_metric(competition.metric, competition.root)
    except GraderError as ex:  # its message names the file and the key
        return [Finding("problem", "", str(ex))]
    return [Finding("ok", subject, f"{competition.metric.name} exists")]


def _dates(competition: Any, now: datetime, subject: str) -> list[Finding]:
    if now >= competition.end:
        ended = competition.end.isoformat()
        return [
            Finding("note", f"{subject} → end", f"the competition ended on {ended}: new submissions are not ranked")
        ]
    if now < competition.start:
        return [Finding("note", f"{subject} → start", f"the competition opens on {competition.start.isoformat()}")]
    return [Finding("ok", f"{subject} → dates", f"open until {competition.end.isoformat()}")]


def _environment(competition: Any) -> list[Finding]:
    from grader import environment
    from grader.errors import GraderError

    subject = "environment"
    try:
        lock = environment.read_lock(competition.environment)
    except GraderError as ex:
        return [Finding("problem", subject, str(ex))]
    return [Finding("ok", subject, f"{len(lock.packages)} packages locked for Python {lock.python}")]


def _data(competition: Any) -> list[Finding]:
    """No Git LFS pointer in the data folder; the files of ``data.hub`` in place, or what the next
    ``grader data fetch`` will do (nothing is fetched)."""
    from grader import datasets

    problem = datasets.pointer_problem(competition.data)
    pointers = [Finding("problem", f"data → {competition.data.directory.name}/", problem)] if problem else []
    states = datasets.status(competition.data)
    if not states:
        return pointers
    hub = competition.data.hub
    subject = f"data.hub → {hub.repo}"
    changed = [name for name, state in states.items() if state == "changed"]
    absent = [name for name, state in states.items() if state in ("cached", "missing")]
    findings = []
    if changed:
        findings.append(
            Finding(
                "note",
                subject,
                f"{_names(changed)} in {competition.data.directory.name}/ "
                f"{'differs' if len(changed) == 1 else 'differ'} from the sha256 in competition.yaml: "
                f"`grader data fetch` replaces {'it' if len(changed) == 1 else 'them'} with the dataset's "
                "(the workflows do so before every run)",
            )
        )
    if absent:
        findings.append(
            Finding(
                "note",
                subject,
                f"{_names(absent)} not fetched here yet: `grader data fetch` (the workflows fetch before every run)",
            )
        )
    if not findings:
        count = f"{len(states)} file{'s' if len(states) != 1 else ''}"
        findings.append(Finding("ok", subject, f"{count} in place, checked"))
    return pointers + findings


def _names(names: list[str], shown: int = 3) -> str:
    listed = ", ".join(names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _truth(competition: Any, root: Path) -> list[Finding]:
    from grader.gitsync import Git

    path = competition.truth.path
    if path is None or not path.exists():
        return []
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return []
    if Git(root).succeeds("ls-files", "--error-unmatch", "--", str(relative)):
        return [
            Finding(
                "problem",
                f"truth → {relative}",
                f"the plain truth is committed, so anyone can read it: `git rm --cached {relative}`, keep it out "
                "of the repository (.gitignore) and commit it sealed instead: `grader truth seal` (docs/github.md)",
            )
        ]
    return [Finding("ok", f"truth → {relative}", "not committed")]


def origin_repo(root: Path) -> str | None:
    """OWNER/NAME of the ``origin`` remote when it is on github.com (None otherwise)."""
    from grader.gitsync import Git

    remote = Git(root).run("remote", "get-url", "origin", check=False).stdout.strip()
    match = re.fullmatch(
        r"(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([\w.-]+/[\w.-]+?)(?:\.git)?/?", remote
    )
    return match.group(1) if match else None
