"""Final choices: which submissions count for the private leaderboard.

By default an entrant's (a participant's, or a team's) best public submission counts. With
``ranking.final_submissions: N`` (default 2) they may choose up to N instead, and then their
best private score among the chosen ones counts. They choose by commenting on the pull
request that submitted it:

``/final``
    choose this pull request's latest scored submission;
``/final off``
    take it back.

The final workflow (``final.yml``, on ``issue_comment``) runs :func:`from_comment`: it reads
the comment event as untrusted data, takes the commenter from it (GitHub sets that field;
only a member of the entrant may choose), records the choice with its audit row, pushes the
leaderboard, and answers in one comment on the pull request (edited in place). Organisers
choose for someone with ``grader select ID --organiser``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.changes import change, commit_message
from grader.config import Competition
from grader.errors import UsageError
from grader.gitsync import Git, Pushed
from grader.rules import check_login
from grader.store import Selection, Store

_COMMAND = re.compile(r"/final(?:[ \t]+(off|undo|no))?[ \t]*", re.IGNORECASE)
MARKER_KEY = "final"


@dataclass(frozen=True)
class Comment:
    """The facts of an ``issue_comment`` event that matter here."""

    pr: int
    commenter: str
    final: bool  # /final (True) or /final off (False)


@dataclass(frozen=True)
class Chosen:
    """What a choice did: the store's answer, a sentence for people, and the push (None without one)."""

    selection: Selection
    summary: str
    pushed: Pushed | None = None


def command(body: str) -> bool | None:
    """The comment's first line as a command: True for ``/final``, False for ``/final off``, None otherwise."""
    lines = body.strip().splitlines()
    found = _COMMAND.fullmatch(lines[0].strip()) if lines else None
    if found is None:
        return None
    return found.group(1) is None


def read_comment(event: Mapping[str, Any]) -> Comment | None:
    """The command of an ``issue_comment`` event on a pull request; None when it is not one for us.

    The payload is untrusted data: every field is checked for its type and shape.
    """
    issue, comment = event.get("issue"), event.get("comment")
    if event.get("action") != "created" or not isinstance(issue, dict) or not isinstance(comment, dict):
        return None
    if not isinstance(issue.get("pull_request"), dict):
        return None  # a comment on an issue, not on a pull request
    body, user, number = comment.get("body"), comment.get("user"), issue.get("number")
    if not isinstance(body, str) or not isinstance(user, dict) or user.get("type") == "Bot":
        return None
    final = command(body)
    if final is None:
        return None
    login = user.get("login")
    if not isinstance(login, str) or not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise UsageError("the comment event has no usable pull request number or commenter login.")
    return Comment(pr=number, commenter=check_login(login), final=final)


def submission_of(store: Store, pr: int) -> int:
    """The pull request's latest scored submission (the one ``/final`` means), or a UsageError saying why not."""
    rows = store.for_pull_request(pr)
    scored = [r for r in rows if r.status == "completed" and r.score is not None and r.removed is None]
    if scored:
        return scored[-1].id
    if not rows:
        raise UsageError(
            f"pull request #{pr} has no recorded submission yet; wait for the grader's answer, then comment "
            "`/final` again."
        )
    last = rows[-1]
    raise UsageError(
        f"pull request #{pr} has no scored submission (its latest, #{last.id}, is {last.status}); only a "
        "submission with a public score can be chosen."
    )


def choose(
    competition: Competition,
    db: Path,
    *,
    by: str,
    now: datetime,
    submission_id: int | None = None,
    pr: int | None = None,
    final: bool = True,
    organiser: bool = False,
    reason: str | None = None,
    push: Git | None = None,
) -> Chosen:
    """Choose (or, with ``final=False``, take back) a submission, given by id or by its pull request."""
    if (submission_id is None) == (pr is None):
        raise UsageError("give a submission id or a pull request number (exactly one).")

    def apply(store: Store) -> Selection:
        sid = submission_id if submission_id is not None else submission_of(store, int(pr or 0))
        return store.select(sid, by=by, competition=competition, now=now, final=final, organiser=organiser,
                            reason=reason)  # fmt: skip

    target = f"#{submission_id}" if submission_id is not None else f"the submission of pull request #{pr}"
    verb = "select" if final else "unselect"
    message = commit_message(verb, target, reason or f"by {by}")
    selection, pushed = change(competition, db, apply, message=message, push=push)
    return Chosen(selection, summary(selection), pushed)


def summary(selection: Selection) -> str:
    """One sentence on where the entrant's choices stand."""
    sid, chosen, cap = selection.submission_id, selection.chosen, selection.cap
    listed = ", ".join(f"#{i}" for i in chosen) if chosen else "none"
    if selection.final:
        state = "now" if selection.changed else "already"
    else:
        state = "no longer" if selection.changed else "not"
    head = f"Submission #{sid} is {state} one of {selection.entrant}'s final choices."
    if chosen:
        tail = (
            f"Chosen: {listed} ({len(chosen)} of {cap}); the best private score among them counts when the "
            "private leaderboard is revealed."
        )
    else:
        tail = "None chosen: the best public submission counts when the private leaderboard is revealed."
    return f"{head} {tail}"


def reply(comment: Comment, outcome: Chosen | None, problem: str | None) -> str:
    """The Markdown answer on the pull request to a ``/final`` comment."""
    if outcome is not None:
        return f"**Final choice** (@{comment.commenter}): {outcome.summary}"
    return (
        f"**Final choice** (@{comment.commenter}): not changed. {problem}\n\n"
        "Comment `/final` on your own pull request to choose its latest scored submission for the private "
        "leaderboard, or `/final off` to take it back."
    )


def from_comment(
    competition: Competition,
    db: Path,
    event: Mapping[str, Any],
    *,
    api: Any,
    now: datetime,
    push: Git | None = None,
) -> str | None:
    """Handle a ``/final`` comment end to end; returns the answer posted (None: the comment was not a command).

    A refusal (not theirs, over the cap, closed, not scored) is answered on the pull request,
    not raised: the commenter is the one who needs to read it.
    """
    comment = read_comment(event)
    if comment is None:
        return None
    outcome: Chosen | None = None
    problem: str | None = None
    try:
        outcome = choose(competition, db, by=comment.commenter, now=now, pr=comment.pr, final=comment.final,
                         push=push)  # fmt: skip
    except UsageError as ex:
        problem = str(ex)
    text = reply(comment, outcome, problem)
    api.upsert_comment(comment.pr, text, key=MARKER_KEY)
    return text
