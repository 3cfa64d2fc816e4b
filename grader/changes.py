"""One way to change the leaderboard: open the store, apply one change, rewrite the CSV files, and
(when asked) commit the leaderboard folder and push it.

Recording a run (:func:`grader.pipeline.record`), every organiser action (admin, finals,
rescore, regrade) and a participant's final choice go through :func:`change`. ``push`` is a
:class:`~grader.gitsync.Git` (the clone, the remote and branch, the token, how many tries) or
None to change the files only; with it the change runs on top of the remote branch and is
retried on a push race (:func:`grader.gitsync.push_with_retry`), so ``apply`` must be
idempotent. The store is opened with the private key of ``environ`` (it never reads the
environment itself).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from grader.config import Competition
from grader.gitsync import Git, Pushed, SyncError, push_with_retry
from grader.rules import check_reason
from grader.sealing import key_in
from grader.store import Store

T = TypeVar("T")
_SUBJECT_CHARS = 100


def change(
    competition: Competition,
    db: Path,
    apply: Callable[[Store], T],
    *,
    message: str,
    push: Git | None = None,
    full: bool = True,
    environ: Mapping[str, str] = os.environ,
) -> tuple[T, Pushed | None]:
    """Open the store, ``apply`` one change, rewrite the CSV files; then commit ``message`` and push with ``push``.

    ``full``: rewrite ``submissions.csv`` whole (an organiser's action changes rows already
    exported); recording only appends to it.
    """

    def once() -> T:
        with Store(db, private_key=key_in(environ)) as store:
            outcome = apply(store)
            store.export_csv(competition, full=full)
            return outcome

    if push is None:
        return once(), None
    return push_with_retry(push, once, paths=[leaderboard_folder(competition, db)], message=message)


def leaderboard_folder(competition: Competition, db: Path) -> str:
    """The folder of ``db`` relative to the repository (what is committed); SyncError when it is outside."""
    try:
        return db.parent.resolve().relative_to(competition.root.resolve()).as_posix()
    except ValueError:
        raise SyncError(f"{db} is not inside the repository {competition.root}; cannot push it.") from None


def commit_message(action: str, target: str, reason: str) -> str:
    """The commit message of an organiser's action: ``admin: disqualify alice — copied a solution``.

    One line whatever the reason holds (it is untrusted text), clipped to stay readable.
    """
    reason = check_reason(reason)
    subject = f"admin: {action} {' '.join(target.split())} — {reason}"
    return subject if len(subject) <= _SUBJECT_CHARS else subject[: _SUBJECT_CHARS - 1] + "…"
