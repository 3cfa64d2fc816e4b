"""The leaderboard as it was: at a moment (from the database's timestamps) or at a git commit."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from grader.config import Competition
from grader.errors import UsageError
from grader.gitsync import Git
from grader.ranking import Standing
from grader.store import Store


def at_time(competition: Competition, db: Path, at: datetime) -> list[Standing]:
    """Replay the database up to ``at`` (see :meth:`grader.store.Store.leaderboard_at`)."""
    if not db.is_file():
        raise UsageError(f"{db} does not exist; pass the leaderboard with --db.")
    with Store(db) as store:
        return store.leaderboard_at(competition, at)


def at_commit(competition: Competition, db: Path, commit: str) -> list[Standing]:
    """The board stored in ``db`` as committed in ``commit`` (read with ``git show``, into a temporary file)."""
    root = competition.root
    if commit.startswith("-") or not commit.strip():
        raise UsageError(f"{commit!r} is not a commit; give a commit id, a branch or a tag.")
    try:
        relative = db.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise UsageError(f"{db} is not inside the repository {root}; --at COMMIT reads it from git.") from None
    git = Git(root)
    resolved = git.read("rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{commit}}")
    if resolved is None:
        raise UsageError(f"{commit!r} is not a commit of {root}, nor a date (use YYYY-MM-DD or an ISO date and time).")
    sha = resolved.decode().strip()
    shown = git.read("show", f"{sha}:{relative}")
    if shown is None:
        raise UsageError(f"commit {sha[:12]} has no {relative}: nobody had submitted yet.")
    fd, tmp = tempfile.mkstemp(suffix=".db", prefix="grader-at-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(shown)
        with Store(tmp) as store:  # a copy: migrating it changes nothing in the repository
            return store.leaderboard(competition)
    finally:
        Path(tmp).unlink(missing_ok=True)
