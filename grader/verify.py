"""Is this pull request a submission the scoring side may grade? Pure rules, no I/O.

The scoring workflow runs with secrets, so it believes nothing the evaluated run says about
itself. It asks GitHub's API who opened the pull request, which files it changes and which
commit it is at, and :func:`verify_pull_request` decides from those facts alone:

- the pull request is open, and at the very commit the evaluate workflow ran on (a pull
  request number written in the artifact that points at someone else's pull request is
  caught here: that pull request is at another commit, or comes from another repository);
- its author's login is a well-formed GitHub login;
- it only adds or modifies files, all directly under ``submissions/<author>/``, all
  notebooks with a plain file name, and exactly one of them (so it cannot change a workflow,
  the grader, the data or another student's folder).

The same rules (:func:`check_files`) run early in the evaluate workflow, on the file list
from git, so a student hears at once why a pull request will not be graded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_LOGIN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_NOTEBOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ipynb")
_SHA = re.compile(r"[0-9a-f]{40}")
ACCEPTED_STATUSES = ("added", "modified")
_UNSAFE = re.compile(r"[^A-Za-z0-9._/ -]")
MAX_SHOWN = 5  # refusals list at most this many offending files


@dataclass(frozen=True)
class ChangedFile:
    """One file of a pull request, as GitHub's ``pulls/N/files`` (or ``git diff --name-status``) tells it."""

    path: str
    status: str  # added, modified, removed, renamed, copied, changed, unchanged
    previous_path: str | None = None


@dataclass(frozen=True)
class PullRequest:
    """What the API says about a pull request: the only source of truth about its author."""

    number: int
    author: str
    head_sha: str
    head_repo: str | None  # owner/name of the head repository; None when the fork was deleted
    state: str
    files: tuple[ChangedFile, ...]
    base_ref: str = ""  # the branch it asks to be merged into


@dataclass(frozen=True)
class Verdict:
    """Accepted (with the notebook to grade), or refused with reasons a student can act on.

    ``pull_verified`` says the pull request is proven to be the one that was evaluated (same
    head commit, same repository): only then may anything be written on it. A refusal with
    ``pull_verified=False`` is answered only with a commit status on the evaluated commit,
    never with a comment on a pull request the artifact may have named to harass someone.
    """

    accepted: bool
    reasons: tuple[str, ...] = ()
    notebook: str | None = None
    author: str | None = None
    pull_verified: bool = True

    @property
    def reason(self) -> str:
        return " ".join(self.reasons)


def well_formed_login(login: object) -> bool:
    """GitHub's rule: 1 to 39 letters, digits or single hyphens, no hyphen at either end."""
    return isinstance(login, str) and len(login) <= 39 and _LOGIN.fullmatch(login) is not None


def check_files(files: Sequence[ChangedFile], author: str, *, submissions_dir: str = "submissions") -> Verdict:
    """The file rules: one notebook added or modified directly under ``submissions/<author>/``."""
    if not well_formed_login(author):
        return Verdict(False, (f"the pull request's author `{_safe(author)}` is not a well-formed GitHub login.",))
    folder = f"{submissions_dir.strip('/')}/{author}/"
    if not files:
        return Verdict(False, (f"the pull request changes no file; add your notebook under `{folder}`.",), None, author)
    reasons: list[str] = []
    wrong_status = [f for f in files if f.status not in ACCEPTED_STATUSES]
    outside = [f for f in files if not f.path.startswith(folder) or "/" in f.path[len(folder) :]]
    inside = [f for f in files if f not in outside]
    not_notebooks = [f for f in inside if not _NOTEBOOK_NAME.fullmatch(f.path[len(folder) :])]
    if wrong_status:
        reasons.append(
            f"it {_listing(wrong_status, with_status=True)}; a submission may only add or modify files, "
            "never remove or rename them."
        )
    if outside:
        touches_workflows = any(f.path.startswith(".github/") or f.path == ".github" for f in outside)
        why = " (a submission can never change the workflows)" if touches_workflows else ""
        reasons.append(
            f"it changes {_listing(outside)} outside your folder `{folder}`{why}; "
            f"change only files directly in `{folder}`."
        )
    if not_notebooks:
        reasons.append(
            f"{_listing(not_notebooks)} {'is not a notebook' if len(not_notebooks) == 1 else 'are not notebooks'} "
            "with a plain name; submit only `.ipynb` files named with letters, digits, `.`, `_` or `-`."
        )
    notebooks = [f for f in inside if f not in not_notebooks and f not in wrong_status]
    if not reasons and len(notebooks) != 1:
        reasons.append(
            f"it changes {len(notebooks)} notebooks ({_listing(notebooks)}); submit one notebook per pull request."
        )
    if reasons:
        return Verdict(False, tuple(reasons), None, author)
    return Verdict(True, (), notebooks[0].path, author)


def verify_pull_request(
    pull: PullRequest,
    *,
    run_head_sha: str,
    run_head_repo: str | None,
    run_pull_numbers: Sequence[int] = (),
    submissions_dir: str = "submissions",
    default_branch: str | None = None,
) -> Verdict:
    """Decide whether the evaluated run of ``pull`` may be scored.

    ``run_head_sha`` and ``run_head_repo`` come from the ``workflow_run`` event (GitHub's
    word about what was evaluated); ``run_pull_numbers`` is the event's ``pull_requests``
    list, which is empty for pull requests from forks. ``default_branch``: only pull
    requests into it are graded (one into an old branch was evaluated with that branch's
    workflow, grader and rules).
    """
    if run_pull_numbers and pull.number not in run_pull_numbers:
        shown = ", ".join(f"#{n}" for n in run_pull_numbers)
        return Verdict(
            False,
            (f"the evaluated run belongs to pull request {shown}, not #{pull.number}; the artifact is forged.",),
            pull_verified=False,
        )
    if not _SHA.fullmatch(run_head_sha):
        return Verdict(
            False, (f"the evaluated commit `{_safe(run_head_sha)}` is not a full commit SHA.",), pull_verified=False
        )
    if pull.head_sha != run_head_sha:
        return Verdict(
            False,
            (
                f"pull request #{pull.number} is at commit {_safe(pull.head_sha[:12])}, but the evaluated run was of "
                f"{_safe(run_head_sha[:12])}: either a newer push is being evaluated (its result will follow) "
                "or the artifact names the wrong pull request.",
            ),
            pull_verified=False,
        )
    if run_head_repo is not None and pull.head_repo is not None and pull.head_repo != run_head_repo:
        return Verdict(
            False,
            (
                f"pull request #{pull.number} comes from `{_safe(pull.head_repo)}`, but the evaluated run was of "
                f"`{_safe(run_head_repo)}`; the artifact names the wrong pull request.",
            ),
            pull_verified=False,
        )
    if pull.state != "open":
        return Verdict(
            False, (f"pull request #{pull.number} is {_safe(pull.state)}; only open pull requests are graded.",)
        )
    if default_branch is not None and pull.base_ref != default_branch:
        return Verdict(False, (into_default_branch(pull.base_ref, default_branch),))
    return check_files(pull.files, pull.author, submissions_dir=submissions_dir)


def into_default_branch(base_ref: str, default_branch: str) -> str:
    """The refusal of a pull request into another branch than the default one."""
    return (
        f"only pull requests into `{_safe(default_branch)}` are graded, and this one goes into "
        f"`{_safe(base_ref)}`: change its base branch to `{_safe(default_branch)}` (Edit, next to its title)."
    )


def _listing(files: Sequence[ChangedFile], *, with_status: bool = False) -> str:
    def one(f: ChangedFile) -> str:
        return f"{_safe(f.status)} `{_safe(f.path)}`" if with_status else f"`{_safe(f.path)}`"

    shown = ", ".join(one(f) for f in files[:MAX_SHOWN])
    more = f" and {len(files) - MAX_SHOWN} more" if len(files) > MAX_SHOWN else ""
    return shown + more


def _safe(text: str, width: int = 120) -> str:
    """Student-controlled names as shown in a refusal: plain characters only, so they cannot break markdown."""
    plain = _UNSAFE.sub("?", text)
    return plain if len(plain) <= width else plain[: width - 1] + "…"
