"""What the organisers do to a running competition, each action one transaction with an audit row.

Remove, disqualify or restore a submission or a participant; mark a baseline (restore
turns it back into a participant); reset the board (archived first); seal the private
scores; reveal them. Every action records who (``by``, a GitHub login), when (``now``) and
why (``reason``) in the ``admin_actions`` table, rewrites the CSV exports in full (rows
already exported change), and with ``push`` commits the leaderboard folder with the message
of :func:`commit_message` and pushes it like ``grader record --push`` does
(:func:`grader.gitsync.push_with_retry`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from grader.changes import change, commit_message
from grader.config import Competition
from grader.errors import UsageError
from grader.gitsync import Git, Pushed
from grader.rules import check_login, check_reason
from grader.store import AdminAction, Store

Verb = Literal["remove", "disqualify", "restore"]
_SUBMISSION = re.compile(r"#?([0-9]+)")


@dataclass(frozen=True)
class Target:
    """A submission (``submission_id``) or a participant (``login``): exactly one is set."""

    submission_id: int | None = None
    login: str | None = None

    def __str__(self) -> str:
        return f"#{self.submission_id}" if self.submission_id is not None else str(self.login)


@dataclass(frozen=True)
class Done:
    """An action that was applied: its audit row, a sentence for people, and the push (None without --push)."""

    action: AdminAction
    summary: str
    pushed: Pushed | None = None


def parse_target(text: str) -> Target:
    """``12`` or ``#12``: submission 12; ``alice`` or ``@alice``: a participant (``@`` for all-digit logins)."""
    text = text.strip()
    found = _SUBMISSION.fullmatch(text)
    if found:
        return Target(submission_id=int(found.group(1)))
    return Target(login=check_login(text.removeprefix("@")))


def take_off(
    competition: Competition,
    db: Path,
    target: Target,
    *,
    verb: Verb,
    reason: str,
    by: str,
    now: datetime,
    push: Git | None = None,
) -> Done:
    """Remove, disqualify or restore ``target``; its submissions leave (or rejoin) the ranking."""
    check_login(by)
    reason = check_reason(reason)
    if target.login is not None:
        target = Target(login=competition.entrant(target.login))  # a team member's login stands for the team

    def apply(store: Store) -> AdminAction:
        if verb == "restore":
            if target.submission_id is not None:
                return store.restore_submission(
                    target.submission_id, reason=reason, by=by, now=now, competition=competition
                )
            return store.restore_participant(str(target.login), reason=reason, by=by, now=now, competition=competition)
        kind = "removed" if verb == "remove" else "disqualified"
        if target.submission_id is not None:
            return store.remove_submission(
                target.submission_id, kind=kind, reason=reason, by=by, now=now, competition=competition
            )
        return store.remove_participant(str(target.login), kind=kind, reason=reason, by=by, now=now,
                                        competition=competition)  # fmt: skip

    message = commit_message(verb, _shown(target), reason)
    action, pushed = change(competition, db, apply, message=message, push=push)
    what = f"submission {target}" if target.submission_id is not None else str(target)
    done = {"remove": "removed", "disqualify": "disqualified", "restore": "restored"}[verb]
    return Done(action, f"{what[0].upper()}{what[1:]} {done} by {by}: {action.reason}", pushed)


def baseline(
    competition: Competition,
    db: Path,
    login: str,
    *,
    reason: str,
    by: str,
    now: datetime,
    push: Git | None = None,
) -> Done:
    """Mark ``login`` as a baseline (an organiser's reference account): shown on the board, marked, never ranked.

    ``take_off(..., verb="restore")`` with the login turns it back into a participant.
    """
    check_login(by)
    login = check_login(login.removeprefix("@"))
    reason = check_reason(reason)
    action, pushed = change(
        competition, db,
        lambda store: store.mark_baseline(login, reason=reason, by=by, now=now, competition=competition),
        message=commit_message("baseline", login, reason), push=push,
    )  # fmt: skip
    return Done(action, f"{login} is a baseline (shown, never ranked), marked by {by}: {action.reason}", pushed)


def reset(
    competition: Competition,
    db: Path,
    *,
    reason: str,
    by: str,
    now: datetime,
    push: Git | None = None,
) -> Done:
    """Archive the board as it stands and start afresh (see :meth:`grader.store.Store.reset`)."""
    check_login(by)
    reason = check_reason(reason)
    (action, archived), pushed = change(
        competition, db, lambda store: store.reset(reason=reason, by=by, now=now, competition=competition),
        message=commit_message("reset", "the leaderboard", reason), push=push,
    )  # fmt: skip
    return Done(action, f"Reset the leaderboard (archive #{action.id}: {archived} participants) by {by}.", pushed)


def seal(
    competition: Competition,
    db: Path,
    *,
    by: str,
    now: datetime,
    push: Git | None = None,
) -> int:
    """Seal private scores stored in clear (from before the key was set). Returns how many."""
    check_login(by)
    count, _ = change(
        competition, db, lambda store: store.seal(by=by, now=now),
        message=commit_message("seal", "private scores", "seal the private scores"), push=push,
    )  # fmt: skip
    return count


def reveal(
    competition: Competition,
    db: Path,
    *,
    by: str,
    now: datetime,
    early: bool = False,
    push: Git | None = None,
) -> Done:
    """Open the sealed private scores and publish the private leaderboard (``private_leaderboard.csv``).

    Refused before the competition's end unless ``early``.
    """
    check_login(by)
    if now < competition.end and not early:
        raise UsageError(
            f"the competition runs until {competition.end.isoformat()}; the reveal comes after it. "
            "To reveal now anyway, pass --early."
        )
    reason = "the reveal" + (" (before the end)" if now < competition.end else "")
    count, pushed = change(
        competition, db, lambda store: store.reveal(by=by, now=now, competition=competition, reason=reason),
        message=commit_message("reveal", "private leaderboard", reason), push=push,
    )  # fmt: skip
    with Store(db) as store:
        action = store.admin_log()[-1]
    return Done(action, f"Revealed {count} private scores; the private leaderboard is public.", pushed)


def _shown(target: Target) -> str:
    return f"submission #{target.submission_id}" if target.submission_id is not None else str(target.login)
