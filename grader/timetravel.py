"""The leaderboard to show: as it stands, as it was (at a moment, from the database's timestamps, or at a
git commit), or the private one after the reveal; with the baselines where the board shows them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from grader.config import Competition
from grader.errors import UsageError
from grader.gitsync import Git
from grader.ranking import Entry, Standing
from grader.store import Store


@dataclass(frozen=True)
class Board:
    """A ranking to show, and the baselines to show beside it (none for a board of the past or the private one)."""

    standings: list[Standing]
    baselines: list[Entry]


def board(competition: Competition, db: Path, *, at: str | None = None, private: bool = False) -> Board:
    """The board `grader leaderboard` shows: now, ``at`` a date or commit (:func:`moment`), or the ``private`` one."""
    if at is not None and private:
        raise UsageError("--at and --private cannot be combined.")
    if at is not None:
        when = moment(at, competition.timezone)
        standings = at_time(competition, db, when) if when is not None else at_commit(competition, db, at)
        return Board(standings, [])
    with Store(db) as store:
        if private:
            return Board(store.private_leaderboard(competition), [])
        baselines = [b.best for b in store.baselines(competition) if b.best is not None]
        return Board(store.leaderboard(competition), baselines)


def moment(text: str, tz: tzinfo) -> datetime | None:
    """``--at`` as a moment: a date is the end of that day, a date and time without an offset is in ``tz``.

    None when ``text`` is neither (then it names a commit).
    """
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) - timedelta(microseconds=1)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


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
