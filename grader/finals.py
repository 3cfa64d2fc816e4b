"""Final choices: which submissions count for the private leaderboard.

By default an entrant's (a participant's, or a team's) best public submission counts. With
``ranking.final_submissions: N`` (default 2) they may choose up to N instead, and then their
best private score among the chosen ones counts. They choose by commenting on the pull
request that submitted it:

``/final``
    choose this pull request's latest scored submission;
``/final #12``
    choose submission #12 (the id the grader's comment shows), any scored submission of the
    commenter's, from any of their pull requests;
``/final off`` / ``/final off #12``
    take it back.

The final workflow (``final.yml``, on ``issue_comment``) runs :func:`from_comment`: it reads
the comment event as untrusted data, takes the commenter from it (GitHub sets that field;
only a member of the entrant may choose), records the choice with its audit row, pushes the
leaderboard, and answers in one comment on the pull request (edited in place), listing the
commenter's choices as they now stand, a refusal included. Organisers
choose for someone with ``grader select ID --organiser``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from grader import render
from grader.changes import change, commit_message
from grader.config import Competition
from grader.errors import UsageError
from grader.gitsync import Git, Pushed
from grader.rules import check_login
from grader.store import Selection, Store, SubmissionRow

_COMMAND = re.compile(r"/final(?:[ \t]+(off|undo|no))?(?:[ \t]+#?([0-9]{1,9}))?[ \t]*", re.IGNORECASE)
MARKER_KEY = "final"
STUDENT_IDS = (
    "the grader's answer on each of your pull requests shows its submission's id (Submission: #12), "
    "and so does your history on the site"
)


@dataclass(frozen=True)
class Comment:
    """The facts of an ``issue_comment`` event that matter here."""

    pr: int
    commenter: str
    final: bool  # /final (True) or /final off (False)
    submission_id: int | None = None  # /final #12; None: the pull request's latest scored submission


@dataclass(frozen=True)
class Chosen:
    """What a choice did: the store's answer, a sentence for people, and the push (None without one)."""

    selection: Selection
    summary: str
    pushed: Pushed | None = None


def command(body: str) -> bool | None:
    """The comment's first line as a command: True for ``/final``, False for ``/final off``, None otherwise."""
    parsed = parse(body)
    return None if parsed is None else parsed[0]


def parse(body: str) -> tuple[bool, int | None] | None:
    """The comment's first line as (choose?, submission id or None), or None when it is not a ``/final`` command."""
    lines = body.strip().splitlines()
    found = _COMMAND.fullmatch(lines[0].strip()) if lines else None
    if found is None:
        return None
    return found.group(1) is None, int(found.group(2)) if found.group(2) else None


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
    parsed = parse(body)
    if parsed is None:
        return None
    login = user.get("login")
    if not isinstance(login, str) or not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise UsageError("the comment event has no usable pull request number or commenter login.")
    final, sid = parsed
    return Comment(pr=number, commenter=check_login(login), final=final, submission_id=sid)


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
    where_ids: str = "`grader history LOGIN` lists the ids",
) -> Chosen:
    """Choose (or, with ``final=False``, take back) a submission, given by id or by its pull request.

    ``where_ids``: where the chooser finds the ids, told when the id is unknown.
    """
    if (submission_id is None) == (pr is None):
        raise UsageError("give a submission id or a pull request number (exactly one).")

    def apply(store: Store) -> Selection:  # on the leaderboard as pushed (change() syncs first)
        if submission_id is not None and store.submission(submission_id) is None:
            raise UsageError(f"there is no submission #{submission_id}; {where_ids}.")
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


def current(competition: Competition, db: Path, login: str) -> list[SubmissionRow]:
    """The submissions ``login``'s entrant (they, or their team) has chosen, oldest first."""
    if not db.is_file():
        return []
    entrant = competition.entrant(login).casefold()  # logins ignore case
    with Store(db) as store:
        chosen = [sid for who, ids in store.selections().items() if who.casefold() == entrant for sid in ids]
        rows = [store.submission(sid) for sid in chosen]
    return [row for row in rows if row is not None]


def choices_list(rows: list[SubmissionRow], cap: int) -> str:
    """The commenter's choices as Markdown: each with its public score and pull request."""
    if not rows:
        return "Your final choices: none yet, so your best public submission counts."
    items = [
        f"- #{row.id}: public score {render.score(row.score)}"
        + (f", pull request #{row.pr_number}" if row.pr_number else "")
        for row in rows
    ]
    return "\n".join([f"Your final choices ({len(rows)} of {cap}):", *items])


def reply(comment: Comment, outcome: Chosen | None, problem: str | None, chosen: str | None = None) -> str:
    """The Markdown answer on the pull request to a ``/final`` comment; ``chosen``: :func:`choices_list`."""
    listed = f"\n\n{chosen}" if chosen else ""
    if outcome is not None:
        return f"**Final choice** (@{comment.commenter}): {outcome.summary}{listed}"
    return (
        f"**Final choice** (@{comment.commenter}): not changed. {problem}{listed}\n\n"
        "Comment `/final` on your own pull request to choose its latest scored submission for the private "
        "leaderboard, `/final #ID` to choose any of your scored submissions by the id the grader's comment "
        "shows, or `/final off` (`/final off #ID`) to take one back."
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
    by_id = comment.submission_id is not None
    try:
        outcome = choose(competition, db, by=comment.commenter, now=now, final=comment.final, push=push,
                         submission_id=comment.submission_id, pr=None if by_id else comment.pr,
                         where_ids=STUDENT_IDS)  # fmt: skip
    except UsageError as ex:
        problem = str(ex)
    listed = choices_list(current(competition, db, comment.commenter), competition.ranking.final_submissions)
    text = reply(comment, outcome, problem, listed if competition.ranking.final_submissions else None)
    api.upsert_comment(comment.pr, text, key=MARKER_KEY)
    return text
