"""GitHub's side, behind one small module: the event that started a workflow, and the REST API.

Everything the workflows ask GitHub goes through :class:`GitHub` (PyGithub underneath):
the pull request's author, head commit and files, the one result comment per pull request
(found again by a hidden marker and edited in place), and commit statuses.

Retries: reads and edits (GET, PATCH) are retried by PyGithub's ``GithubRetry`` on 5xx, 429
and rate-limit 403 answers, honouring ``Retry-After`` and ``X-RateLimit-Reset``. Creating a
comment is not idempotent, so a failed POST is never blindly repeated: :meth:`upsert_comment`
lists the comments again before deciding to create, and a POST that did create before failing
is found and edited instead of duplicated.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from grader.errors import GraderError, UsageError
from grader.verify import ChangedFile, PullRequest

if TYPE_CHECKING:
    from grader.doctor import Settings

DEFAULT_API_URL = "https://api.github.com"
BOT_LOGINS = ("github-actions[bot]",)
STATUS_CONTEXT = "grader"
MAX_EVENT_BYTES = 25 * 1024**2
MAX_FILES = 300  # a submission changes one file; past this, stop listing and refuse
READ_ATTEMPTS = 3  # reads of a pull request whose head moves while its files are listed
_RETRYABLE = frozenset({429, *range(500, 600)})

log = logging.getLogger(__name__)
T = TypeVar("T")


class GitHubError(GraderError):
    """GitHub's API did not answer as expected (after retries). The message says what to check."""


@dataclass(frozen=True)
class WorkflowRun:
    """The parts of a ``workflow_run`` event the scoring side relies on (set by GitHub, not the student)."""

    id: int
    head_sha: str
    head_repo: str | None
    pull_numbers: tuple[int, ...]  # empty for pull requests from forks
    conclusion: str | None
    event: str
    created_at: str
    html_url: str


def read_event(path: Path | str | None = None, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The webhook payload of the running workflow (``$GITHUB_EVENT_PATH``)."""
    where = path or environ.get("GITHUB_EVENT_PATH")
    if not where:
        raise UsageError("no event: set GITHUB_EVENT_PATH (GitHub Actions does) or pass --event PATH.")
    try:
        with open(where, "rb") as handle:
            raw = handle.read(MAX_EVENT_BYTES + 1)
        if len(raw) > MAX_EVENT_BYTES:
            raise UsageError(f"{where}: larger than {MAX_EVENT_BYTES} bytes; not a GitHub event payload.")
        event = json.loads(raw)
    except OSError as ex:
        raise UsageError(f"cannot read the event {where} ({ex.strerror}).") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"{where}: not a JSON event payload.") from None
    if not isinstance(event, dict):
        raise UsageError(f"{where}: not a JSON event payload.")
    return event


def workflow_run(event: Mapping[str, Any]) -> WorkflowRun:
    """Read a ``workflow_run`` event (see the payloads in the shared corpus for its shape)."""
    run = event.get("workflow_run")
    if not isinstance(run, dict):
        raise UsageError("the event is not a workflow_run event; run this from the score workflow.")
    numbers = tuple(
        pr["number"]
        for pr in run.get("pull_requests") or []
        if isinstance(pr, dict) and isinstance(pr.get("number"), int)
    )
    head_repo = run.get("head_repository")
    return WorkflowRun(
        id=int(run["id"]),
        head_sha=str(run["head_sha"]),
        head_repo=head_repo.get("full_name") if isinstance(head_repo, dict) else None,
        pull_numbers=numbers,
        conclusion=run.get("conclusion"),
        event=str(run.get("event", "")),
        created_at=str(run.get("created_at", "")),
        html_url=str(run.get("html_url", "")),
    )


def pull_request_event(event: Mapping[str, Any]) -> tuple[int, str, str]:
    """(number, head SHA, author login) of a ``pull_request`` event."""
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        raise UsageError("the event is not a pull_request event; run this from the evaluate workflow.")
    return int(pull["number"]), str(pull["head"]["sha"]), str(pull["user"]["login"])


def pull_request_base(event: Mapping[str, Any]) -> str:
    """The branch a ``pull_request`` event's pull request asks to be merged into ("" when unknown)."""
    base = (event.get("pull_request") or {}).get("base")
    return str(base.get("ref", "")) if isinstance(base, dict) else ""


def default_branch(event: Mapping[str, Any]) -> str | None:
    """The repository's default branch, as the event names it (None when it does not)."""
    repository = event.get("repository")
    branch = repository.get("default_branch") if isinstance(repository, dict) else None
    return branch if isinstance(branch, str) and branch else None


def marker(name: str = "result") -> str:
    """The hidden line that identifies grader's own comment on a pull request."""
    return f"<!-- grader:{name} -->"


class GitHub:
    """One repository's API. ``base_url`` points at GitHub, GitHub Enterprise, or a test server.

    ``attempts``, ``backoff`` and ``max_wait`` bound the retries; ``sleep`` and ``pace=False``
    let tests run without waiting.
    """

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        attempts: int = 5,
        backoff: float = 1.0,
        max_wait: float = 120.0,
        bots: tuple[str, ...] = BOT_LOGINS,
        sleep: Callable[[float], None] = time.sleep,
        pace: bool = True,
    ):
        from github import Auth, Github, GithubRetry

        if not token:
            raise UsageError("no GitHub token: set GITHUB_TOKEN (the workflow passes secrets.GITHUB_TOKEN).")
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.bots = bots
        self._sleep = sleep
        retry = GithubRetry(
            total=attempts - 1,
            backoff_factor=backoff,
            status_forcelist=sorted(_RETRYABLE),
            allowed_methods={"GET", "HEAD", "PATCH", "PUT", "DELETE"},  # never POST: see upsert_comment
            max_rate_limit_wait=max_wait,
            secondary_rate_wait=min(60.0, max_wait),
        )
        # ``pace``: PyGithub spaces requests (0.25 s) and writes (1 s) as GitHub asks integrations to.
        spacing: dict[str, Any] = {} if pace else {"seconds_between_requests": None, "seconds_between_writes": None}
        self._gh = Github(
            auth=Auth.Token(token), base_url=base_url.rstrip("/"), retry=retry, lazy=True, timeout=30, **spacing
        )
        self._repo = self._gh.get_repo(repo)
        self.repo = repo

    def pull_request(self, number: int) -> PullRequest:
        """The pull request as the API sees it, with the files of exactly its head commit.

        The files are listed after the head is read, so a push in between would pair the files
        of one commit with the head of another: the head is read again afterwards, and the
        whole read repeated until both agree.
        """
        for _ in range(READ_ATTEMPTS):
            pull = self._pull_request(number)
            if self._head(number) == pull.head_sha:
                return pull
        raise GitHubError(
            f"pull request #{number} kept changing while it was read ({READ_ATTEMPTS} times); "
            "its newest commit is graded by its own run."
        )

    def _head(self, number: int) -> str:
        """The pull request's head commit, read now (the client is lazy: touching an attribute reads it)."""
        pull = self._gh.get_repo(self.repo).get_pull(number)
        return str(self._call(lambda: pull.head.sha, f"read pull request #{number}"))

    def _pull_request(self, number: int) -> PullRequest:
        pull = self._call(lambda: self._gh.get_repo(self.repo).get_pull(number), f"read pull request #{number}")
        head_sha = self._call(lambda: pull.head.sha, f"read pull request #{number}")  # the head first, then its files
        files: list[ChangedFile] = []

        def read_files() -> None:
            files.clear()
            for item in pull.get_files():
                files.append(ChangedFile(item.filename, item.status, item.previous_filename))
                if len(files) > MAX_FILES:
                    break

        self._call(read_files, f"list the files of pull request #{number}")
        head_repo = self._call(lambda: pull.head.repo, f"read pull request #{number}")
        return PullRequest(
            number=pull.number,
            author=pull.user.login,
            head_sha=head_sha,
            head_repo=head_repo.full_name if head_repo is not None else None,
            state=pull.state,
            files=tuple(files),
            base_ref=pull.base.ref,
        )

    def upsert_comment(self, number: int, body: str, *, key: str = "result") -> int:
        """Create or edit grader's one comment on pull request ``number``; returns its id.

        Only a comment by the workflow's bot that carries the marker is edited: a student who
        copies the marker into a comment of their own does not redirect the answer.
        """
        tag = marker(key)
        text = body if tag in body else f"{tag}\n{body}"
        issue = self._repo.get_issue(number)  # lazy: no request

        def attempt() -> int:
            for comment in issue.get_comments():
                if tag in (comment.body or "") and comment.user is not None and comment.user.login in self.bots:
                    if comment.body != text:
                        comment.edit(text)
                    return int(comment.id)
            return int(issue.create_comment(text).id)

        return self._retrying(attempt, f"write the result comment on pull request #{number}")

    def set_status(
        self, sha: str, state: str, description: str, *, target_url: str | None = None, context: str = STATUS_CONTEXT
    ) -> None:
        """Set the commit status ``context`` on ``sha`` (state: pending, success, failure or error)."""
        from github.GithubObject import NotSet

        commit = self._repo.get_commit(sha)  # lazy: no request
        clipped = description if len(description) <= 140 else description[:139] + "…"
        self._retrying(
            lambda: commit.create_status(state, target_url or NotSet, clipped, context),
            f"set the commit status on {sha[:12]}",
        )

    # -- settings (grader doctor) -----------------------------------------------------

    def settings(self) -> Settings:
        """The repository's settings that the workflows rely on (names of secrets, never values)."""
        from grader.doctor import ACTIONS_APP_ID, Environment, Settings

        unreadable: dict[str, str] = {}

        def get(path: str, what: str, *, absent: Any = None) -> Any:
            from github import GithubException

            try:
                return self._call(lambda: self._repo.requester.requestJsonAndCheck("GET", path)[1], f"read {what}")
            except GitHubError as ex:
                cause = ex.__cause__ or ex.__context__
                if isinstance(cause, GithubException) and cause.status == 404 and absent is not None:
                    return absent
                unreadable[what] = str(ex).removeprefix(f"could not read {what}: ")
                return absent

        base = f"/repos/{self.repo}"
        repo = get(base, "the repository") or {}
        default = str(repo.get("default_branch") or "main")
        environments: dict[str, Environment] = {}
        listed = get(f"{base}/environments?per_page=100", "environments", absent={"environments": []})
        for env in (listed or {}).get("environments") or []:
            name = str(env.get("name", ""))
            policy = env.get("deployment_branch_policy") or {}
            branches: tuple[str, ...] | None = None
            if policy.get("custom_branch_policies"):
                rules = get(
                    f"{base}/environments/{name}/deployment-branch-policies", f"{name}'s branch rules", absent={}
                )
                branches = tuple(str(r.get("name")) for r in (rules or {}).get("branch_policies") or [])
            secrets = get(f"{base}/environments/{name}/secrets?per_page=100", f"{name}'s secrets", absent={})
            environments[name] = Environment(
                name=name,
                protected_branches=bool(policy.get("protected_branches")),
                branches=branches,
                secrets=frozenset(str(x.get("name")) for x in (secrets or {}).get("secrets") or []),
            )
        secrets = get(f"{base}/actions/secrets?per_page=100", "repository secrets", absent={}) or {}
        variables = get(f"{base}/actions/variables?per_page=30", "repository variables", absent={}) or {}
        pages = get(f"{base}/pages", "pages", absent={}) or {}
        workflow = get(f"{base}/actions/permissions/workflow", "workflow permissions", absent={}) or {}
        approval = get(f"{base}/actions/permissions/fork-pr-contributor-approval", "fork approval", absent={}) or {}
        rules = get(f"{base}/rules/branches/{default}", "rules", absent=[]) or []
        rule_types = {str(r.get("type")) for r in rules if isinstance(r, dict)}
        bypass = False
        ruleset_ids = {r["ruleset_id"] for r in rules if isinstance(r, dict) and isinstance(r.get("ruleset_id"), int)}
        for ruleset_id in sorted(ruleset_ids):
            ruleset = get(f"{base}/rulesets/{ruleset_id}", "rules", absent={}) or {}
            actors = ruleset.get("bypass_actors") or []
            if any(a.get("actor_type") == "Integration" and a.get("actor_id") == ACTIONS_APP_ID for a in actors):
                bypass = True
        # Classic branch protection, where a ruleset is not used.
        classic = get(f"{base}/branches/{default}/protection", "rules", absent={}) or {}
        reviews = classic.get("required_pull_request_reviews")
        if isinstance(reviews, dict):
            rule_types.add("pull_request")
            apps = (reviews.get("bypass_pull_request_allowances") or {}).get("apps") or []
            bypass = bypass or any(isinstance(a, dict) and a.get("slug") == "github-actions" for a in apps)
        return Settings(
            private=bool(repo.get("private")),
            default_branch=default,
            environments=environments,
            secrets=frozenset(str(x.get("name")) for x in secrets.get("secrets") or []),
            variables=frozenset(str(x.get("name")) for x in variables.get("variables") or []),
            pages_build=pages.get("build_type") if pages else None,
            workflow_permissions=workflow.get("default_workflow_permissions"),
            approval_policy=approval.get("approval_policy"),
            branch_rules=frozenset(rule_types),
            actions_can_bypass=bypass,
            unreadable=unreadable,
        )

    # -- retries -----------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], doing: str) -> T:
        """Run ``fn`` (whose requests GithubRetry already retries) and explain a final failure."""
        from github import GithubException

        try:
            return fn()
        except GithubException as ex:
            raise self._explain(ex, doing) from None
        except OSError as ex:
            raise GitHubError(f"could not {doing}: {ex}. Check the network and re-run the job.") from None

    def _retrying(self, fn: Callable[[], T], doing: str) -> T:
        """Repeat a whole read-then-write step (``fn``) on a server error or a rate limit, a bounded number of times."""
        from github import GithubException

        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except GithubException as ex:
                wait = self._wait(ex, attempt)
                if wait is None or attempt == self.attempts:
                    raise self._explain(ex, doing) from None
                log.info("could not %s (HTTP %s); retrying in %.1f s", doing, ex.status, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, ex: Any, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when the error is not worth retrying."""
        headers = {k.lower(): v for k, v in (ex.headers or {}).items()}
        limited = ex.status == 429 or (
            ex.status == 403 and ("retry-after" in headers or headers.get("x-ratelimit-remaining") == "0")
        )
        if ex.status not in _RETRYABLE and not limited:
            return None
        wait = self.backoff * 2 ** (attempt - 1)
        if "retry-after" in headers and str(headers["retry-after"]).isdigit():
            wait = max(wait, float(headers["retry-after"]))
        elif limited and str(headers.get("x-ratelimit-reset", "")).isdigit():
            wait = max(wait, float(headers["x-ratelimit-reset"]) - time.time() + 1)
        return wait if wait <= self.max_wait else None

    def _explain(self, ex: Any, doing: str) -> GitHubError:
        data = ex.data if isinstance(getattr(ex, "data", None), dict) else {}
        message = str(data.get("message") or ex)
        hint = {
            401: "the token is missing or expired",
            403: "the token lacks a permission (see the job's `permissions:`) or the rate limit is used up",
            404: "check the repository name and the number, and that the token can see them",
        }.get(ex.status, "GitHub may be having trouble; re-run the job later")
        return GitHubError(f"could not {doing}: HTTP {ex.status} {message}; {hint}.")
