"""The leaderboard database: one SQLite file (``leaderboard/leaderboard.db``), its transactions and its SQL.

Every change is one ``BEGIN IMMEDIATE`` transaction, so concurrent graders queue up (for up
to ``timeout`` seconds) instead of failing, and a failure leaves nothing half-written. The
journal mode is DELETE, so a committed database is a single file with nothing beside it.
The schema is versioned with ``PRAGMA user_version`` and upgraded by :mod:`grader.store.schema`.

The rules a submission must pass (open/closed, daily quota, duplicate notebook) are
:mod:`grader.rules`; the store hands them the entrant's submissions and applies their verdict
inside the recording transaction, against the clock the caller passes in (``now``; the store
never reads the system clock). ``now`` is also the submission's timestamp: the trusted time of
recording, not ``result.started_at``, which comes from the untrusted run. A rejected submission
is still stored, with status ``rejected`` and the reason (``error_type`` is ``deadline``,
``quota`` or ``duplicate``), but without scores (so the CSV cannot leak the score of a run over
quota), and it never ranks and never uses quota. Under ``late: scored`` a submission recorded
after the end is kept and scored like any other but is late (:func:`grader.rules.is_late`):
it leaves the leaderboard table alone, never ranks, cannot be chosen for the private board,
and is not on the board of any moment.

A :class:`Store` holds one connection: use one per thread or process.

:meth:`Store.record` does not write the CSV files: call :meth:`Store.export_csv` afterwards
(or :meth:`Store.record_and_export`); the files are written by :mod:`grader.store.exports`.
Private scores are stored but never exported and never returned by the read methods; they stay
secret until a reveal. They are sealed with the private key the store is opened with
(``private_key``; the store never reads it from the environment).

What a completed run predicted (kept so that it can be rescored) is not in the database but
beside it, in append-only files (:mod:`grader.store.vault`) written in the recording transaction.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from grader import rules
from grader.config import Competition
from grader.errors import StoreError, UsageError
from grader.ranking import Entry, Scored, Standing, improves, place, places, rank, rankable
from grader.result import Result
from grader.rules import Own, Place, Recorded, check_login, check_reason, timestamp
from grader.store import exports, schema, vault
from grader.store.exports import (
    LEADERBOARD_COLUMNS,
    LEADERBOARD_CSV,
    PRIVATE_LEADERBOARD_CSV,
    RANKING_COLUMNS,
    RANKING_TEXT,
    SUBMISSION_COLUMNS,
    SUBMISSION_TEXT,
    SUBMISSIONS_CSV,
)
from grader.store.vault import Kept, Packed

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from grader.sealing import Sealer

DB_NAME = "leaderboard.db"
DEFAULT_TIMEOUT = 60.0  # seconds a writer waits for the lock before giving up

# The CSV's columns are fixed (others parse them); the scorer version is read from the database.
_ROW_COLUMNS = ("id", "run_id", *SUBMISSION_COLUMNS[1:], "scorer_version", "secondary")
# A submission that can rank: accepted, not taken off the board by an organiser, not archived by a
# reset, and not a baseline's.
_COUNTS = (
    "status != 'rejected' AND removed IS NULL AND reset_id IS NULL "
    "AND username NOT IN (SELECT username FROM participants) AND username NOT IN (SELECT username FROM baselines)"
)
# The submissions of the entrants that ``{seed}`` selects from ``chains``, as a WHERE term: the chain of
# previous_id from each one's latest (ids only go down, so a damaged chain ends rather than loops).
_CHAIN = (
    "id IN (WITH RECURSIVE mine(id) AS (SELECT last_id FROM chains WHERE {seed} UNION ALL "
    "SELECT s.previous_id FROM submissions s JOIN mine ON s.id = mine.id WHERE s.previous_id < s.id) "
    "SELECT id FROM mine)"
)
# One entrant's submissions (the login is given twice: for the chain, then to check each row).
_MINE = _CHAIN.format(seed="username = ?") + " AND username = ?"
# A baseline's submission that counts, shown beside the ranking and never in it.
_BASELINES = "username IN (SELECT username FROM baselines)"
_BASELINE_COUNTS = (
    f"status != 'rejected' AND removed IS NULL AND reset_id IS NULL AND {_BASELINES} AND "
    + _CHAIN.format(seed=_BASELINES)
)


def _on_time(competition: Competition) -> str:
    """A WHERE term that leaves out late submissions (``late: scored``, after the end): they never rank.

    Empty under ``late: refused``, where a submission after the end is rejected (and moving the end
    later changes nothing recorded). The timestamp is the store's fixed-width form: digits only.
    """
    if competition.late != "scored":
        return ""
    return f" AND timestamp < '{timestamp(competition.end)}'"


@dataclass(frozen=True)
class SubmissionRow:
    """One stored submission. ``error_cell`` is 0-based. The private score is deliberately absent."""

    id: int
    run_id: str
    timestamp: str
    username: str
    notebook_path: str
    notebook_sha256: str
    status: str
    score: float | None
    error_type: str | None
    error_message: str | None
    error_cell: int | None
    runtime_seconds: float | None
    pr_number: int | None
    head_sha: str | None
    grader_version: str | None
    removed: str | None = None  # "removed" or "disqualified" by an organiser (the submission itself)
    removed_reason: str | None = None
    reset_id: int | None = None  # the reset that archived it
    scorer_version: str | None = None  # the scorer that produced ``score`` (see grader.rescore)
    author: str | None = None  # the login that submitted; ``username`` is the entrant (their team, or the login)
    secondary: str | None = None  # the public secondary scores, JSON (see :attr:`secondary_scores`)

    @property
    def secondary_scores(self) -> dict[str, float | None]:
        """The public score of each secondary metric (metric.secondary), by name; {} when there are none."""
        return secondary_scores(self.secondary)

    @property
    def login(self) -> str:
        """Who submitted (for a team: the member; before teams were recorded: the entrant)."""
        return self.author or self.username


@dataclass(frozen=True)
class Versions:
    """Which scorer produced the scores: the current one and how many completed submissions each has."""

    current: str | None  # None: no version yet (every scored submission ranks, as before versions existed)
    completed: dict[str | None, int]  # scorer version (None: unknown) → completed submissions
    with_predictions: int  # completed submissions whose predictions are stored (they can be rescored)


@dataclass(frozen=True)
class AdminAction:
    """One row of the audit trail."""

    id: int
    timestamp: str
    actor: str
    action: str
    target_kind: str
    target: str
    reason: str


@dataclass(frozen=True)
class Selection:
    """What :meth:`Store.select` did."""

    submission_id: int
    entrant: str
    final: bool  # chosen (True) or taken back (False)
    changed: bool  # False: it already was so
    chosen: tuple[int, ...]  # the entrant's chosen submissions now
    cap: int  # how many they may choose


@dataclass(frozen=True)
class Baseline:
    """An organiser's reference account: shown on the board, marked, never ranked."""

    username: str
    reason: str
    best: Entry | None  # its best submission, as a participant's would be; None without a score yet


def secondary_scores(text: str | None) -> dict[str, float | None]:
    """Secondary scores stored as JSON (name → number), read back; {} for none or a damaged cell."""
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(name): float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        for name, value in raw.items()
    }


def _secondary(result: Result) -> tuple[str | None, str | None]:
    """The public and private secondary scores of a scored ``result`` (result.json's ``extra.secondary``), as JSON."""
    raw = result.extra.get("secondary")
    if not isinstance(raw, dict) or not raw:
        return None, None
    pairs = {
        str(name): (pair.get("public"), pair.get("private")) for name, pair in raw.items() if isinstance(pair, dict)
    }
    return _secondary_json(pairs)


def _secondary_json(pairs: Mapping[str, tuple[Any, Any]]) -> tuple[str, str]:
    """name → (public, private) as the two JSON cells the store keeps.

    A value the scorer could not compute is kept as its reason (a short text, for organisers; the
    private one sealed with the private values); anything else that is no finite number is null.
    """
    public = {name: _value(pub) for name, (pub, _) in pairs.items()}
    private = {name: _value(priv) for name, (_, priv) in pairs.items()}
    return json.dumps(public, separators=(",", ":")), json.dumps(private, separators=(",", ":"))


def _value(value: Any) -> float | str | None:
    """A finite number as a float, a reason (text) clipped to 100 characters; anything else (None, NaN) as None."""
    if isinstance(value, str):
        return value[:100] or None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class Store:
    """The leaderboard database.

    ``db`` is a path (its folder is created), ``":memory:"``, or an open ``sqlite3.Connection``
    (the store then manages its transactions and does not close it). Opening applies pending
    migrations and refuses a database written by a newer grader.
    """

    def __init__(
        self, db: Path | str | sqlite3.Connection, *, timeout: float = DEFAULT_TIMEOUT, private_key: str | None = None
    ):
        self.timeout = timeout
        # The key that seals private scores and stored predictions (see grader.sealing); None: no key, kept in clear.
        self.private_key = private_key
        self._owns = not isinstance(db, sqlite3.Connection)
        if isinstance(db, sqlite3.Connection):
            self._conn = db
            self.path = _main_file(db)
        else:
            self.path = None if str(db) == ":memory:" else Path(db)
            if self.path is not None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as ex:
                    raise StoreError(
                        f"cannot create the folder {self.path.parent} for the leaderboard ({ex.strerror}). "
                        "Check that the path is right and writable."
                    ) from None
            try:
                self._conn = sqlite3.connect(str(db), timeout=timeout, isolation_level=None)
            except sqlite3.Error as ex:
                raise self._explain(ex) from None
        self._conn.isolation_level = None  # we issue BEGIN/COMMIT ourselves
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            # Freed space is zeroed, so a private score that was sealed leaves no plaintext bytes in the file.
            self._conn.execute("PRAGMA secure_delete = ON")
            if self.path is not None:
                self._conn.execute("PRAGMA journal_mode = DELETE").fetchone()
            self._migrate()
        except sqlite3.Error as ex:
            self.close()
            raise self._explain(ex) from None
        except BaseException:
            self.close()
            raise

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else ":memory:"

    def close(self) -> None:
        if self._owns:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- rules -------------------------------------------------------------------------

    def precheck(self, *, user: str, notebook_sha256: str, competition: Competition, now: datetime) -> str | None:
        """Why a submission by ``user`` of this notebook would be rejected now, or None.

        Run it before executing a notebook to save the run. It assumes the run will complete
        (and so use quota); :meth:`record` applies the same rules again, atomically.
        """
        check_login(user)
        rules.check_aware(now)
        with self._transaction(write=False):
            mine = self._mine(competition.entrant(user))
        verdict = rules.judge(mine, notebook_sha256, competition, now, uses_quota=True)
        return verdict.message if verdict else None

    def sure_refusal(
        self, *, user: str, notebook_sha256: str, competition: Competition, earliest: datetime, latest: datetime
    ) -> str | None:
        """Why a submission by ``user`` of this notebook made between ``earliest`` and ``latest`` is sure to be
        rejected (:func:`grader.rules.sure_refusal`), or None. Only reads; :meth:`record` decides."""
        check_login(user)
        with self._transaction(write=False):
            mine = self._mine(competition.entrant(user))
        verdict = rules.sure_refusal(mine, notebook_sha256, competition, earliest=earliest, latest=latest)
        return verdict.message if verdict else None

    # -- writing -----------------------------------------------------------------------

    def record(
        self,
        result: Result,
        *,
        user: str,
        competition: Competition,
        now: datetime,
        notebook_path: str,
        pr_number: int | None = None,
        head_sha: str | None = None,
        predictions: Packed | None = None,
    ) -> Recorded:
        """Store one run of a notebook by ``user`` at ``now``, applying the competition's rules.

        One transaction, idempotent by ``result.run_id``: recording the same run again changes
        nothing and returns ``already_recorded=True``. Does not write the CSV files.

        The scorer version is ``result.extra["scorer_version"]`` (set by :func:`grader.pipeline.score`);
        the first scored submission of a competition makes it the current one, and a submission
        scored by another version does not rank until ``grader rescore``. ``predictions`` of a
        completed run are stored in the same transaction (sealed when there is a private key),
        so that it can be rescored.
        """
        check_login(user)
        ts = timestamp(now)
        if not result.run_id:
            raise UsageError("the result has an empty run_id; it cannot be recorded idempotently.")
        sealer = self._sealer()
        entrant = competition.entrant(user)  # rules and ranking apply to the team, when there is one
        with self._transaction(write=True):
            self._sync_teams(competition)
            existing = self._row_where("run_id = ?", (result.run_id,))
            if existing is not None:
                if existing.login != user:
                    raise StoreError(
                        f"run {result.run_id} was already recorded as submission #{existing.id} "
                        f"by {existing.login}, not {user}; refusing to record it twice."
                    )
                standing = self._standing(existing.username, competition)
                late = existing.status != "rejected" and rules.is_late(existing.timestamp, competition)
                return rules.outcome(existing.id, existing.status, existing.error_message, already=True,
                                     before=standing, after=standing, mine=self._mine(existing.username),
                                     competition=competition, now=now, late=late)  # fmt: skip

            previous = self._standing(entrant, competition)
            mine = self._mine(entrant)
            verdict = rules.admit(result, user=user, mine=mine, competition=competition, now=now)
            row = rules.stored(result, verdict)
            private, sealed = row.private_score, None
            public_extra, private_extra = _secondary(result) if row.status == "completed" else (None, None)
            extra_sealed = None
            if (private is not None or private_extra) and sealer is not None and self._revealed_at() is None:
                sealed = sealer.seal(private) if private is not None else None
                extra_sealed = sealer.seal_text(private_extra) if private_extra else None
                private = private_extra = None
                self._seal_plaintext(sealer)  # rows recorded before the key was set (see docs/organisers.md)
            cursor = self._conn.execute(
                """INSERT INTO submissions (run_id, username, timestamp, notebook_path, notebook_sha256, status,
                    score, private_score, private_sealed, error_type, error_message, error_cell, runtime_seconds,
                    pr_number, head_sha, grader_version, scorer_version, author, previous_id, secondary,
                    secondary_private, secondary_sealed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (result.run_id, entrant, ts, notebook_path, result.notebook_sha256, row.status, row.score,
                 private, sealed, row.error_type, row.message, row.error_cell, result.runtime_seconds, pr_number,
                 head_sha, result.grader_version, row.scorer_version, user,
                 max((own.id for own in mine), default=None), public_extra, private_extra, extra_sealed),
            )  # fmt: skip
            submission_id = int(cursor.lastrowid or 0)
            self._conn.execute(
                "INSERT INTO chains VALUES (?, ?) ON CONFLICT (username) DO UPDATE SET last_id = excluded.last_id",
                (entrant, submission_id),
            )
            completed = row.status == "completed"
            if predictions is not None and completed:
                self._store_predictions(submission_id, predictions)
            if row.scorer_version is not None and completed and self._current_version() is None:
                self._adopt_version(row.scorer_version, competition)
            # A late submission (``late: scored``) is kept and scored, and leaves the leaderboard table as it was.
            late = row.status != "rejected" and rules.is_late(now, competition)
            ranks = completed and self._ranks(row.scorer_version)
            moved = (
                row.status != "rejected"
                and not late
                and self._update_leaderboard(
                    entrant, submission_id, ts, "completed" if ranks else "unranked", row.score, competition
                )
            )
            # Only this participant's best can change in this transaction, so their rank is
            # recounted only when it did (counting scans the leaderboard table, a row per participant).
            after = self._standing(entrant, competition) if moved else previous
            mine.append(Own(submission_id, ts, result.notebook_sha256, row.status, None))
            return rules.outcome(submission_id, row.status, row.message, already=False, before=previous, after=after,
                                 mine=mine, competition=competition, now=now, late=late)  # fmt: skip

    def record_and_export(
        self,
        result: Result,
        *,
        user: str,
        competition: Competition,
        now: datetime,
        notebook_path: str,
        pr_number: int | None = None,
        head_sha: str | None = None,
        predictions: Packed | None = None,
    ) -> Recorded:
        """:meth:`record`, then :meth:`export_csv`. If the export fails the record stands; export again."""
        outcome = self.record(result, user=user, competition=competition, now=now, notebook_path=notebook_path,
                              pr_number=pr_number, head_sha=head_sha, predictions=predictions)  # fmt: skip
        self.export_csv(competition)
        return outcome

    def rebuild(self, competition: Competition) -> None:
        """Recompute the ``leaderboard`` table and the chains from ``submissions`` (a repair; record is incremental)."""
        with self._transaction(write=True):
            schema.relink(self._conn)
            self._rebuild(competition)

    # -- admin actions (each one transaction, with its row in the audit trail) ----------

    def remove_submission(
        self, submission_id: int, *, kind: str, reason: str, by: str, now: datetime, competition: Competition
    ) -> AdminAction:
        """Take one submission off the board as ``kind`` ("removed" or "disqualified"), with a public reason."""
        rules.check_kind(kind)
        with self._transaction(write=True):
            row = self._existing(submission_id)
            if row.removed is not None:
                raise UsageError(
                    f"submission #{submission_id} is already {row.removed} ({row.removed_reason}); "
                    "restore it first to change that."
                )
            action = self._log(now, by, rules.REMOVAL_VERBS[kind], "submission", str(submission_id), reason)
            self._conn.execute(
                "UPDATE submissions SET removed = ?, removed_reason = ? WHERE id = ?",
                (kind, action.reason, submission_id),
            )
            self._rebuild(competition)
            return action

    def remove_participant(
        self, user: str, *, kind: str, reason: str, by: str, now: datetime, competition: Competition
    ) -> AdminAction:
        """Take every submission of ``user`` off the board (now and later) as ``kind``, with a public reason."""
        rules.check_kind(kind)
        check_login(user)
        with self._transaction(write=True):
            if self._baseline(user):
                raise UsageError(f"{user} is a baseline, which never ranks; `grader admin restore {user}` first.")
            self._known(user)
            current = self._conn.execute(
                "SELECT removed, reason FROM participants WHERE username = ?", (user,)
            ).fetchone()
            if current is not None:
                raise UsageError(f"{user} is already {current[0]} ({current[1]}); restore them first to change that.")
            action = self._log(now, by, rules.REMOVAL_VERBS[kind], "participant", user, reason)
            self._conn.execute("INSERT INTO participants VALUES (?, ?, ?, ?)", (user, kind, action.reason, action.id))
            self._rebuild(competition)
            return action

    def restore_submission(
        self, submission_id: int, *, reason: str, by: str, now: datetime, competition: Competition
    ) -> AdminAction:
        """Undo :meth:`remove_submission`."""
        with self._transaction(write=True):
            row = self._existing(submission_id)
            if row.removed is None:
                raise UsageError(f"submission #{submission_id} is not removed or disqualified; nothing to restore.")
            action = self._log(now, by, "restore", "submission", str(submission_id), reason)
            self._conn.execute(
                "UPDATE submissions SET removed = NULL, removed_reason = NULL WHERE id = ?", (submission_id,)
            )
            self._rebuild(competition)
            return action

    def restore_participant(
        self, user: str, *, reason: str, by: str, now: datetime, competition: Competition
    ) -> AdminAction:
        """Undo :meth:`remove_participant` or :meth:`mark_baseline` (submissions removed one by one stay removed)."""
        check_login(user)
        with self._transaction(write=True):
            table = "participants"
            if self._conn.execute("SELECT 1 FROM participants WHERE username = ?", (user,)).fetchone() is None:
                if not self._baseline(user):
                    raise UsageError(f"{user} is not removed, disqualified or a baseline; nothing to restore.")
                table = "baselines"
            action = self._log(now, by, "restore", "participant", user, reason)
            self._conn.execute(f"DELETE FROM {table} WHERE username = ?", (user,))  # noqa: S608 - a constant
            self._rebuild(competition)
            return action

    def mark_baseline(self, user: str, *, reason: str, by: str, now: datetime, competition: Competition) -> AdminAction:
        """Make ``user`` a baseline: their submissions are graded and shown, marked, but never rank.

        The login need not have submitted yet (mark the reference account before its first run).
        :meth:`restore_participant` turns it back into a participant.
        """
        check_login(user)
        with self._transaction(write=True):
            current = self._conn.execute(
                "SELECT removed, reason FROM participants WHERE username = ?", (user,)
            ).fetchone()
            if current is not None:
                raise UsageError(f"{user} is {current[0]} ({current[1]}); restore them first to make them a baseline.")
            if self._baseline(user):
                raise UsageError(f"{user} is already a baseline.")
            action = self._log(now, by, "baseline", "participant", user, reason)
            self._conn.execute("INSERT INTO baselines VALUES (?, ?, ?)", (user, action.reason, action.id))
            self._rebuild(competition)
            return action

    def baselines(self, competition: Competition) -> list[Baseline]:
        """The baselines, best score first (as the competition ranks), then those without a score by login."""
        with self._transaction(write=False):
            return self._baselines(competition)

    def reset(self, *, reason: str, by: str, now: datetime, competition: Competition) -> tuple[AdminAction, int]:
        """Start the board afresh: archive it as it stands, then set every submission so far aside.

        The submissions stay in the database (marked with this reset's id) and still count for
        the daily quota; a notebook submitted before may be submitted again. Returns the action
        and how many rows the archive holds.
        """
        with self._transaction(write=True):
            action = self._log(now, by, "reset", "competition", "leaderboard", reason)
            standings = self._standings(competition)
            self._conn.executemany(
                "INSERT INTO leaderboard_archive VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(action.id, s.rank, s.username, s.best_score, s.best_submission_id, s.submission_count,
                  s.last_submission_at) for s in standings],
            )  # fmt: skip
            self._conn.execute("UPDATE submissions SET reset_id = ? WHERE reset_id IS NULL", (action.id,))
            self._rebuild(competition)
            return action, len(standings)

    def archive(self, reset_id: int | None = None) -> list[tuple[int, int, str, float | None, int, int, str]]:
        """Rows of the archive (reset id, rank, username, best score, submission id, count, last update)."""
        with self._transaction(write=False):
            where, params = ("WHERE reset_id = ?", (reset_id,)) if reset_id is not None else ("", ())
            return [
                tuple(row)
                for row in self._conn.execute(
                    f"SELECT * FROM leaderboard_archive {where} ORDER BY reset_id, rank, username",  # noqa: S608
                    params,
                ).fetchall()
            ]

    def admin_log(self) -> list[AdminAction]:
        """The audit trail, oldest first."""
        with self._transaction(write=False):
            return [AdminAction(*row) for row in self._conn.execute("SELECT * FROM admin_actions ORDER BY id")]

    def participants(self) -> dict[str, tuple[str, str]]:
        """Participants taken off the board: login → (``removed`` or ``disqualified``, reason)."""
        with self._transaction(write=False):
            rows = self._conn.execute("SELECT username, removed, reason FROM participants ORDER BY username")
            return {user: (kind, reason) for user, kind, reason in rows.fetchall()}

    def participant_status(self, user: str) -> tuple[str, str] | None:
        """(``removed`` or ``disqualified``, reason) for a participant taken off the board, else None."""
        with self._transaction(write=False):
            row = self._conn.execute("SELECT removed, reason FROM participants WHERE username = ?", (user,)).fetchone()
        return (row[0], row[1]) if row else None

    # -- teams and final choices -------------------------------------------------------

    def sync_teams(self, competition: Competition) -> bool:
        """Regroup every submission under the teams of ``competition`` if they changed. Returns whether they did.

        Recording and exporting do this on their own; the audit trail of a team change is the
        commit that changed competition.yaml.
        """
        with self._transaction(write=False):
            if self._teams_digest() == _teams_key(competition) and self._late_digest() == _on_time(competition):
                return False
        with self._transaction(write=True):
            return self._sync_teams(competition)

    def select(
        self,
        submission_id: int,
        *,
        by: str,
        competition: Competition,
        now: datetime,
        final: bool = True,
        organiser: bool = False,
        reason: str | None = None,
    ) -> Selection:
        """``by`` chooses submission ``submission_id`` for the private leaderboard (``final=False``: takes it back).

        A participant may choose their own or their team's scored submissions, up to
        ``ranking.final_submissions``, until the end of the competition; ``organiser=True``
        acts for them (after the end too, never after the reveal). Each change is one
        transaction with its audit row; asking for what is already so changes nothing.
        """
        check_login(by)
        rules.check_aware(now)
        cap = competition.ranking.final_submissions
        with self._transaction(write=True):
            self._sync_teams(competition)
            row = self._existing(submission_id)
            entrant = row.username
            chosen = self._chosen(entrant)
            counts = self._conn.execute(
                f"SELECT 1 FROM submissions WHERE id = ? AND {_COUNTS}{_on_time(competition)}",  # noqa: S608
                (submission_id,),
            ).fetchone()
            candidate = rules.Candidate(
                submission_id,
                entrant,
                counts=row.status == "completed" and rankable(row.score) and counts is not None,
                why_not=row.removed
                or ("archived by a reset" if row.reset_id else None)
                or ("a late submission, made after the end" if rules.is_late(row.timestamp, competition) else None)
                or row.status,
            )
            changes = rules.check_choice(candidate, by=by, final=final, organiser=organiser, chosen=chosen,
                                         revealed_at=self._revealed_at(), competition=competition, now=now)  # fmt: skip
            if not changes:
                return Selection(submission_id, entrant, final, False, tuple(chosen), cap)
            if final:
                action = self._log(now, by, "select", "submission", f"#{submission_id}",
                                   reason or "chosen for the private leaderboard")  # fmt: skip
                self._conn.execute("INSERT INTO selections VALUES (?, ?)", (submission_id, action.id))
            else:
                self._log(now, by, "unselect", "submission", f"#{submission_id}",
                          reason or "no longer chosen for the private leaderboard")  # fmt: skip
                self._conn.execute("DELETE FROM selections WHERE submission_id = ?", (submission_id,))
            return Selection(submission_id, entrant, final, True, tuple(self._chosen(entrant)), cap)

    def selections(self) -> dict[str, list[int]]:
        """Each entrant's chosen submissions (ids, oldest first); entrants who chose none are absent."""
        with self._transaction(write=False):
            rows = self._conn.execute(
                "SELECT s.username, s.id FROM selections x JOIN submissions s ON s.id = x.submission_id ORDER BY s.id"
            ).fetchall()
        chosen: dict[str, list[int]] = {}
        for user, sid in rows:
            chosen.setdefault(user, []).append(int(sid))
        return chosen

    # -- private scores and the reveal ---------------------------------------------------

    def revealed_at(self) -> str | None:
        """When the private scores were revealed (store timestamp), or None before the reveal."""
        with self._transaction(write=False):
            return self._revealed_at()

    def seal(self, *, by: str, now: datetime, reason: str = "seal the private scores") -> int:
        """Encrypt every plaintext private score (from before sealing existed). Returns how many."""
        sealer = self._sealer(required=True)
        assert sealer is not None
        with self._transaction(write=True):
            if self._revealed_at() is not None:
                raise UsageError("the private scores were already revealed; there is nothing left to seal.")
            count = self._seal_plaintext(sealer)
            if count:
                self._log(now, by, "seal", "competition", "private scores", reason)
            return count

    def reveal(self, *, by: str, now: datetime, competition: Competition, reason: str = "the reveal") -> int:
        """Decrypt every sealed private score into ``private_score``; from now on they are public.

        One transaction: a token that the key cannot open changes nothing. Returns how many
        scores were decrypted.
        """
        with self._transaction(write=True):
            if self._revealed_at() is not None:
                raise UsageError(f"the private scores were already revealed on {self._revealed_at()}.")
            rows = self._conn.execute(
                "SELECT id, private_sealed FROM submissions WHERE private_sealed IS NOT NULL"
            ).fetchall()
            extra = self._conn.execute(
                "SELECT id, secondary_sealed FROM submissions WHERE secondary_sealed IS NOT NULL"
            ).fetchall()
            sealer = self._sealer(required=bool(rows or extra))
            opened = [(sealer.open(token) if sealer else None, sid) for sid, token in rows]
            opened_extra = [(sealer.open_text(token) if sealer else None, sid) for sid, token in extra]
            self._conn.executemany(
                "UPDATE submissions SET private_score = ?, private_sealed = NULL WHERE id = ?", opened
            )
            self._conn.executemany(
                "UPDATE submissions SET secondary_private = ?, secondary_sealed = NULL WHERE id = ?", opened_extra
            )
            action = self._log(now, by, "reveal", "competition", "private scores", reason)
            self._conn.execute("INSERT INTO meta VALUES ('revealed_at', ?)", (action.timestamp,))
            return len(rows)

    def private_leaderboard(self, competition: Competition) -> list[Standing]:
        """The final ranking, after the reveal: each participant's selected submission by its private score.

        The selected submission is the participant's best public one (the row the public
        board shows). Raises :class:`UsageError` before the reveal.
        """
        self.sync_teams(competition)  # and which submissions are late, as for the public board
        with self._transaction(write=False):
            if self._revealed_at() is None:
                raise UsageError("the private leaderboard is hidden until the reveal (grader reveal).")
            return self._private_standings(competition)

    def private_secondary(self) -> dict[int, dict[str, float | None]]:
        """Every submission's private secondary scores after the reveal (id → name → score); raises before it."""
        with self._transaction(write=False):
            if self._revealed_at() is None:
                raise UsageError("private scores are hidden until the reveal (grader reveal).")
            rows = self._conn.execute(
                "SELECT id, secondary_private FROM submissions WHERE secondary_private IS NOT NULL"
            ).fetchall()
            return {int(sid): secondary_scores(text) for sid, text in rows}

    def private_scores(self) -> dict[int, float | None]:
        """Every submission's private score after the reveal (id → score); raises before it."""
        with self._transaction(write=False):
            if self._revealed_at() is None:
                raise UsageError("private scores are hidden until the reveal (grader reveal).")
            return dict(self._conn.execute("SELECT id, private_score FROM submissions").fetchall())

    # -- scorer versions, stored predictions and rescoring --------------------------------

    def versions(self) -> Versions:
        """The current scorer version and which versions scored the completed submissions."""
        with self._transaction(write=False):
            rows = self._conn.execute(
                "SELECT scorer_version, COUNT(*) FROM submissions WHERE status = 'completed' GROUP BY scorer_version"
            ).fetchall()
            return Versions(self._current_version(), {v: int(n) for v, n in rows}, len(self._kept_predictions()))

    def stored_predictions(self) -> list[tuple[int, str, bytes]]:
        """(submission id, ids digest, packed data) of every completed submission with stored predictions.

        They come from the predictions files beside the database (:mod:`grader.store.vault`)
        and, for runs recorded before those files existed, from the ``predictions`` table.
        Sealed predictions are opened with the private key (:class:`~grader.sealing.SealError`
        when it is missing or wrong).
        """
        with self._transaction(write=False):
            kept = self._kept_predictions()
        box = self._fernet(required=any(k.sealed for k in kept.values()))
        return [
            (sid, k.ids_digest, vault.unseal(box, k.data) if k.sealed and box is not None else k.data)
            for sid, k in sorted(kept.items())
        ]

    def _kept_predictions(self) -> dict[int, Kept]:
        """Submission id → the stored predictions of every completed submission (call it inside a transaction)."""
        rows = self._conn.execute(
            """SELECT p.submission_id, p.ids_digest, p.sealed, p.data FROM predictions p
               JOIN submissions s ON s.id = p.submission_id WHERE s.status = 'completed'"""
        ).fetchall()
        kept = {int(sid): Kept(str(digest), bool(sealed), bytes(data)) for sid, digest, sealed, data in rows}
        folder = self._predictions_folder()
        if folder is not None:
            runs = dict(self._conn.execute("SELECT id, run_id FROM submissions WHERE status = 'completed'").fetchall())
            kept.update(vault.read(folder, runs))
        return kept

    def rescore(
        self,
        scores: Mapping[int, tuple[float, float]],
        *,
        version: str,
        by: str,
        reason: str,
        now: datetime,
        competition: Competition,
        secondary: Mapping[int, Mapping[str, tuple[float | str, float | str]]] | None = None,
    ) -> AdminAction:
        """Replace the scores of the submissions in ``scores`` (id → (public, private)) and make ``version`` current.

        ``secondary`` (id → metric name → (public, private)) replaces their secondary scores the same way.

        One transaction with its audit row, then the leaderboard table is rebuilt: from now on
        only submissions scored by ``version`` rank. Private scores are sealed when there is a
        private key (and always before the reveal once any score is sealed); after the reveal
        they are written in clear, like the rest.
        """
        if not version:
            raise ValueError("a rescore needs a scorer version")
        with self._transaction(write=True):
            revealed = self._revealed_at() is not None
            has_sealed = (
                self._conn.execute("SELECT 1 FROM submissions WHERE private_sealed IS NOT NULL LIMIT 1").fetchone()
                is not None
            )
            sealer = None if revealed else self._sealer(required=has_sealed)
            known = {int(r[0]) for r in self._conn.execute("SELECT id FROM submissions WHERE status = 'completed'")}
            unknown = sorted(set(scores) - known)
            if unknown:
                raise UsageError(f"submission #{unknown[0]} is not a completed submission; it cannot be rescored.")
            updates = []
            for sid, (public, private) in sorted(scores.items()):
                public_clean, private_clean = rules.clean_score(public), rules.clean_score(private)
                token = sealer.seal(private_clean) if sealer is not None and private_clean is not None else None
                updates.append((public_clean, None if token else private_clean, token, version, sid))
            self._conn.executemany(
                """UPDATE submissions SET score = ?, private_score = ?, private_sealed = ?, scorer_version = ?
                   WHERE id = ?""",
                updates,
            )
            # The private ones in clear for a moment: sealed below with the private scores, when there is a key.
            extra_updates = [
                (*(_secondary_json(values) if values else (None, None)), None, sid)
                for sid, values in sorted((secondary or {}).items())
            ]
            self._conn.executemany(
                "UPDATE submissions SET secondary = ?, secondary_private = ?, secondary_sealed = ? WHERE id = ?",
                extra_updates,
            )
            if sealer is not None:
                self._seal_plaintext(sealer)
            action = self._log(now, by, "rescore", "competition", f"scorer {version}", reason)
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('scorer_version', ?)", (version,))
            self._rebuild(competition)
            return action

    def log_action(self, action: str, target: str, *, by: str, reason: str, now: datetime) -> AdminAction:
        """Write one audit row about the competition (a regrade, say) that changes nothing else."""
        if action not in schema.ADMIN_ACTIONS:
            raise ValueError(f"unknown admin action {action!r}")
        with self._transaction(write=True):
            return self._log(now, by, action, "competition", target, reason)

    def _current_version(self) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'scorer_version'").fetchone()
        return str(row[0]) if row else None

    def _ranks(self, version: str | None) -> bool:
        current = self._current_version()
        return current is None or version == current

    def _adopt_version(self, version: str, competition: Competition) -> None:
        """Make the first scorer version seen the current one, unless unversioned scores exist.

        Submissions scored before versions were recorded (a database from before migration 3)
        keep ranking beside new ones until ``grader rescore`` sets the version explicitly.
        """
        legacy = self._conn.execute(
            "SELECT 1 FROM submissions WHERE status = 'completed' AND scorer_version IS NULL LIMIT 1"
        ).fetchone()
        if legacy is None:
            self._conn.execute("INSERT INTO meta VALUES ('scorer_version', ?)", (version,))

    def _store_predictions(self, submission_id: int, packed: Packed) -> None:
        """Keep a completed run's packed predictions, sealed with the private key until the reveal.

        A database file keeps them outside itself, in :mod:`grader.store.vault`'s files beside it;
        an in-memory database keeps them in its ``predictions`` table, where databases kept them before.
        """
        box = None if self._revealed_at() is not None else self._fernet()
        kept = Kept(packed.ids_digest, box is not None, vault.seal(box, packed.data))
        folder = self._predictions_folder()
        if folder is None:
            self._conn.execute("INSERT INTO predictions VALUES (?, ?, ?, ?)",
                               (submission_id, kept.ids_digest, int(kept.sealed), kept.data))  # fmt: skip
            return
        (run_id,) = self._conn.execute("SELECT run_id FROM submissions WHERE id = ?", (submission_id,)).fetchone()
        vault.keep(folder, submission_id, run_id, kept)

    def _predictions_folder(self) -> Path | None:
        return None if self.path is None else self.path.parent / vault.FOLDER

    def _fernet(self, *, required: bool = False) -> Fernet | None:
        """A Fernet for the private key (checked by :mod:`grader.sealing`), or None without a key."""
        if self._sealer(required=required) is None or self.private_key is None:
            return None
        return vault.fernet(self.private_key)

    # -- reading -----------------------------------------------------------------------

    def leaderboard(self, competition: Competition) -> list[Standing]:
        """Everyone with a score, ranked by the competition's metric direction and tie rule."""
        self.sync_teams(competition)
        with self._transaction(write=False):
            return self._standings(competition)

    def history(self, user: str) -> list[SubmissionRow]:
        """Every submission of ``user`` (rejected ones too), oldest first."""
        with self._transaction(write=False):
            return self._rows_where(f"{_MINE} ORDER BY timestamp, id", (user, user))

    def for_pull_request(self, number: int) -> list[SubmissionRow]:
        """Every submission recorded from pull request ``number``, in id order."""
        with self._transaction(write=False):
            return self._rows_where("pr_number = ? ORDER BY id", (number,))

    def all_submissions(self) -> list[SubmissionRow]:
        """Every submission, in id order."""
        with self._transaction(write=False):
            return self._rows_where("1 ORDER BY id", ())

    def leaderboard_at(self, competition: Competition, at: datetime) -> list[Standing]:
        """The board as it stood at ``at``: submissions recorded by then, admin actions taken by then.

        Replays the audit trail up to ``at`` (a removal later restored, a reset later on), so it
        does not depend on the current state of the rows.
        """
        limit = timestamp(at)
        greater = competition.metric.greater_is_better
        with self._transaction(write=False):
            rows = self._conn.execute(
                """SELECT id, username, timestamp, status, score, reset_id, scorer_version FROM submissions
                   WHERE timestamp <= ? AND status != 'rejected' ORDER BY id""",
                (limit,),
            ).fetchall()
            current = self._current_version()
            actions = self._conn.execute(
                "SELECT id, action, target_kind, target FROM admin_actions WHERE timestamp <= ? ORDER BY id", (limit,)
            ).fetchall()
        off_submissions: set[int] = set()
        off_users: set[str] = set()  # removed, disqualified or a baseline (a login is only ever one of them)
        resets: set[int] = set()
        for action_id, action, kind, target in actions:
            if action == "reset":
                resets.add(action_id)
            elif kind == "submission":
                (off_submissions.discard if action == "restore" else off_submissions.add)(int(target))
            elif kind == "participant":
                (off_users.discard if action == "restore" else off_users.add)(target)
        best: dict[str, Scored] = {}
        count: dict[str, int] = {}
        last: dict[str, str] = {}
        for sid, user, ts, status, score, reset_id, version in rows:
            if sid in off_submissions or user in off_users or reset_id in resets or rules.is_late(ts, competition):
                continue
            count[user] = count.get(user, 0) + 1
            last[user] = max(last.get(user, ts), ts)
            candidate = Scored(sid, score, ts)
            # Scores are those of today's scorer: a board of the past shows them, not the ones rescored since.
            ranks = status == "completed" and (current is None or version == current)
            if ranks and improves(candidate, best.get(user), greater_is_better=greater):
                best[user] = candidate
        return rank(
            (Entry(u, float(b.score), b.submission_id, b.timestamp, last[u], count[u])  # type: ignore[arg-type]
             for u, b in best.items()),
            greater_is_better=greater,
            ties=competition.ranking.ties,
        )  # fmt: skip

    def submission(self, submission_id: int) -> SubmissionRow | None:
        with self._transaction(write=False):
            return self._row_where("id = ?", (submission_id,))

    def export_csv(self, competition: Competition, directory: Path | None = None, *, full: bool = False) -> None:
        """Write ``leaderboard.csv`` and ``submissions.csv`` beside the database (or in ``directory``).

        Deterministic (same database, same bytes), no private scores, and text cells that a
        spreadsheet would run as a formula are prefixed with ``'``. ``leaderboard.csv`` is
        rewritten atomically. ``submissions.csv`` only grows while submissions are recorded,
        so new rows are appended when the file's last row is exactly what the database says
        it should be, and the file is rewritten atomically otherwise (or with ``full``, after
        a change to rows already exported): recording stays as cheap at 100,000 submissions
        as at 100.
        """
        if directory is None:
            if self.path is None:
                raise UsageError("this leaderboard is in memory; pass the directory to write the CSV files to.")
            directory = self.path.parent
        greater = competition.metric.greater_is_better
        # The write lock, though nothing is written to the database: two graders exporting at
        # once would both append the same rows, or the older snapshot would replace the newer.
        with self._transaction(write=True):
            self._sync_teams(competition)
            baselines = [
                (b.best.best_score, b.username, (b.username, b.best.best_score, b.best.best_submission_id,
                                                 b.best.submission_count, b.best.last_submission_at))
                for b in self._baselines(competition) if b.best is not None
            ]  # fmt: skip
            shown = place(self._ranked_rows(competition), baselines, greater_is_better=greater)
            board = [(n, *row, "" if n is not None else "yes") for n, row in shown]
            header: tuple[str, ...] = LEADERBOARD_COLUMNS
            names = [m.name for m in competition.metric.secondary]
            if names:  # each secondary metric's public score of the best submission
                extra = self._secondary_of([row[3] for row in board], "secondary")
                board = [(*row, *(extra.get(row[3], {}).get(name) for name in names)) for row in board]
                header = (*LEADERBOARD_COLUMNS, *names)
            exports.write_csv(directory / LEADERBOARD_CSV, header, board, RANKING_TEXT)
            # Rows already exported changed (teams regrouped): rewrite the file, then forget it (in this transaction).
            stale = self._conn.execute("DELETE FROM meta WHERE key = 'export_full' RETURNING 1").fetchone()
            self._export_submissions(directory / SUBMISSIONS_CSV, full=full or stale is not None)
            if self._revealed_at() is not None:
                final = [
                    (s.rank, s.username, s.best_score, s.best_submission_id, s.submission_count, s.last_submission_at)
                    for s in self._private_standings(competition)
                ]
                # After the reveal only (the values are opened by then): each secondary metric's private score.
                opened = self._secondary_of([row[3] for row in final], "secondary_private") if names else {}
                shown_final = [(*row, *(opened.get(row[3], {}).get(name) for name in names)) for row in final]
                private_header = (*RANKING_COLUMNS, *names)
                exports.write_csv(directory / PRIVATE_LEADERBOARD_CSV, private_header, shown_final, RANKING_TEXT)

    # -- internals ---------------------------------------------------------------------

    def _rebuild(self, competition: Competition) -> None:
        self._conn.execute("DELETE FROM leaderboard")
        self._conn.executemany(
            "INSERT INTO leaderboard VALUES (?, ?, ?, ?, ?, ?)",
            [(e.username, e.best_score, e.best_submission_id, e.achieved_at, e.last_submission_at, e.submission_count)
             for e in self._best_entries(_COUNTS + _on_time(competition), competition)],
        )  # fmt: skip

    def _sync_teams(self, competition: Competition) -> bool:
        """Inside a write transaction: regroup submissions when competition.yaml's teams changed (and rebuild the
        board when which submissions are late did: ``late`` or ``end`` changed)."""
        late = _on_time(competition)
        moved = self._late_digest() != late
        if moved:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('late', ?)", (late,))
        key = _teams_key(competition)
        if self._teams_digest() == key:
            if moved:
                self._rebuild(competition)
            return moved
        authors = [a for (a,) in self._conn.execute("SELECT DISTINCT author FROM submissions WHERE author IS NOT NULL")]
        self._conn.executemany(
            "UPDATE submissions SET username = ? WHERE author = ? AND username != ?",
            [(competition.entrant(a), a, competition.entrant(a)) for a in authors],
        )
        schema.relink(self._conn)
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('teams', ?)", (key,))
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('export_full', '1')")  # see export_csv
        self._rebuild(competition)
        return True

    def _late_digest(self) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'late'").fetchone()
        return str(row[0]) if row else ""

    def _teams_digest(self) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'teams'").fetchone()
        return str(row[0]) if row else _NO_TEAMS

    def _chosen(self, entrant: str) -> list[int]:
        rows = self._conn.execute(
            """SELECT x.submission_id FROM selections x JOIN submissions s ON s.id = x.submission_id
               WHERE s.username = ? ORDER BY x.submission_id""",
            (entrant,),
        ).fetchall()
        return [int(sid) for (sid,) in rows]

    def _baselines(self, competition: Competition) -> list[Baseline]:
        reasons = dict(self._conn.execute("SELECT username, reason FROM baselines").fetchall())
        scored = rank(self._best_entries(_BASELINE_COUNTS + _on_time(competition), competition),
                      greater_is_better=competition.metric.greater_is_better, ties="earliest")  # fmt: skip
        shown = [Baseline(s.username, reasons[s.username], s.entry) for s in scored]
        done = {b.username for b in shown}
        return shown + [Baseline(user, reasons[user], None) for user in sorted(reasons) if user not in done]

    def _baseline(self, user: str) -> bool:
        return self._conn.execute("SELECT 1 FROM baselines WHERE username = ?", (user,)).fetchone() is not None

    def _best_entries(self, where: str, competition: Competition) -> list[Entry]:
        """Each author's best among the submissions matching ``where`` (a constant of this module), by login."""
        greater = competition.metric.greater_is_better
        rows = self._conn.execute(
            f"""SELECT id, username, timestamp, status, score, scorer_version FROM submissions
                WHERE {where} ORDER BY id"""  # noqa: S608
        ).fetchall()
        best: dict[str, Scored] = {}
        count: dict[str, int] = {}
        last: dict[str, str] = {}
        current = self._current_version()
        for sid, user, ts, status, score, version in rows:
            count[user] = count.get(user, 0) + 1
            last[user] = max(last.get(user, ts), ts)
            candidate = Scored(sid, score, ts)
            ranks = status == "completed" and (current is None or version == current)
            if ranks and improves(candidate, best.get(user), greater_is_better=greater):
                best[user] = candidate
        return [
            Entry(u, b.score, b.submission_id, b.timestamp, last[u], count[u])  # type: ignore[arg-type]
            for u, b in sorted(best.items())
        ]

    def _log(self, now: datetime, by: str, action: str, kind: str, target: str, reason: str) -> AdminAction:
        """Write one row of the audit trail (inside the caller's transaction)."""
        check_login(by)
        reason = check_reason(reason)
        ts = timestamp(now)
        cursor = self._conn.execute(
            """INSERT INTO admin_actions (timestamp, actor, action, target_kind, target, reason)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (ts, by, action, kind, target, reason),
        )
        return AdminAction(int(cursor.lastrowid or 0), ts, by, action, kind, target, reason)

    def _existing(self, submission_id: int) -> SubmissionRow:
        row = self._row_where("id = ?", (submission_id,))
        if row is None:
            raise UsageError(f"there is no submission #{submission_id}; `grader history LOGIN` lists the ids.")
        return row

    def _known(self, user: str) -> None:
        if self._conn.execute("SELECT 1 FROM chains WHERE username = ?", (user,)).fetchone() is None:
            raise UsageError(f"{user} has no submissions; check the login (`grader leaderboard` lists participants).")

    def _revealed_at(self) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'revealed_at'").fetchone()
        return str(row[0]) if row else None

    def _secondary_of(
        self, ids: list[Any], column: Literal["secondary", "secondary_private"]
    ) -> dict[Any, dict[str, float | None]]:
        """The secondary scores in ``column`` (public, or opened private) of the submissions ``ids`` (with some)."""
        sql = f"SELECT id, {column} FROM submissions WHERE {column} IS NOT NULL"  # noqa: S608 - one of two names
        rows = self._conn.execute(sql).fetchall()
        wanted = set(ids)
        return {sid: secondary_scores(text) for sid, text in rows if sid in wanted}

    def _sealer(self, *, required: bool = False) -> Sealer | None:
        from grader.sealing import sealer

        return sealer(self.private_key, required=required, environ={})  # the key is the caller's to give

    def _seal_plaintext(self, sealer: Sealer) -> int:
        rows = self._conn.execute(
            "SELECT id, private_score FROM submissions WHERE private_score IS NOT NULL"
        ).fetchall()
        self._conn.executemany(
            "UPDATE submissions SET private_score = NULL, private_sealed = ? WHERE id = ?",
            [(sealer.seal(float(score)), sid) for sid, score in rows],
        )
        extra = self._conn.execute(
            "SELECT id, secondary_private FROM submissions WHERE secondary_private IS NOT NULL"
        ).fetchall()
        self._conn.executemany(
            "UPDATE submissions SET secondary_private = NULL, secondary_sealed = ? WHERE id = ?",
            [(sealer.seal_text(text), sid) for sid, text in extra],
        )
        return len(rows)

    def _private_standings(self, competition: Competition) -> list[Standing]:
        """Each entrant's best private score among their chosen submissions, or of their best public one."""
        greater = competition.metric.greater_is_better
        chosen: dict[str, Scored | None] = {}
        for user, sid, private, ts in self._conn.execute(
            f"""SELECT username, id, private_score, timestamp FROM submissions
                WHERE id IN (SELECT submission_id FROM selections) AND status = 'completed' AND {_COUNTS}
                {_on_time(competition)}
                ORDER BY id"""  # noqa: S608 - constants
        ):
            candidate = Scored(int(sid), private, str(ts))
            best = chosen.get(user)
            chosen[user] = candidate if improves(candidate, best, greater_is_better=greater) else best
        rows = self._conn.execute(
            """SELECT l.username, s.private_score, l.best_submission_id, l.best_timestamp, l.last_updated,
                      l.submission_count
               FROM leaderboard l JOIN submissions s ON s.id = l.best_submission_id"""
        ).fetchall()
        entries = []
        for user, private, sid, ts, last, count in rows:
            if user in chosen:
                pick = chosen[user]
                if pick is None or pick.score is None:
                    continue  # chose only submissions without a private score
                private, sid, ts = pick.score, pick.submission_id, pick.timestamp
            if private is not None:
                entries.append(Entry(user, private, sid, ts, last, count))
        return rank(entries, greater_is_better=greater, ties=competition.ranking.ties)

    def _export_submissions(self, path: Path, *, full: bool) -> None:
        select = f"SELECT {', '.join(SUBMISSION_COLUMNS)} FROM submissions"  # noqa: S608 - constants

        def row(submission_id: int) -> Any:
            return self._conn.execute(select + " WHERE id = ?", (submission_id,)).fetchone()

        last_id = None if full else exports.appendable(path, SUBMISSION_COLUMNS, SUBMISSION_TEXT, row)
        if last_id is None:
            rows = self._conn.execute(select + " ORDER BY id").fetchall()
            exports.write_csv(path, SUBMISSION_COLUMNS, rows, SUBMISSION_TEXT)
            return
        new = self._conn.execute(select + " WHERE id > ? ORDER BY id", (last_id,)).fetchall()
        exports.append_rows(path, new, SUBMISSION_COLUMNS, SUBMISSION_TEXT)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[None]:
        """One transaction; any sqlite3 error rolls it back and becomes a StoreError."""
        try:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield
            self._conn.execute("COMMIT")
        except BaseException as ex:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):  # the original error is the one to report
                    self._conn.execute("ROLLBACK")
            if isinstance(ex, sqlite3.Error):
                raise self._explain(ex, write=write) from None
            raise

    def _migrate(self) -> None:
        if schema.user_version(self._conn, self.name) == schema.SCHEMA_VERSION:
            return
        with self._transaction(write=True):
            schema.upgrade(self._conn, self.name)  # from the version read again: another process may have migrated

    def _mine(self, user: str) -> list[Own]:
        """Each submission of ``user`` (:class:`~grader.rules.Own`), in one walk of their chain."""
        rows = self._conn.execute(
            f"SELECT id, timestamp, notebook_sha256, status, reset_id FROM submissions WHERE {_MINE}",  # noqa: S608
            (user, user),
        ).fetchall()
        return [Own._make(row) for row in rows]

    def _update_leaderboard(
        self, user: str, submission_id: int, ts: str, status: str, score: float | None, competition: Competition
    ) -> bool:
        """Fold one accepted submission into its author's row (the rest of the table is untouched).

        Returns whether their best score changed (or they joined the leaderboard).
        """
        if self._conn.execute("SELECT 1 FROM participants WHERE username = ?", (user,)).fetchone() is not None:
            return False  # taken off the board by an organiser: their new submissions do not rank either
        if self._baseline(user):
            return False  # a baseline never ranks; Store.baselines shows its best
        row = self._conn.execute(
            "SELECT best_score, best_submission_id, best_timestamp FROM leaderboard WHERE username = ?", (user,)
        ).fetchone()
        candidate = Scored(submission_id, score, ts)
        greater = competition.metric.greater_is_better
        if row is None:
            if status != "completed" or not improves(candidate, None, greater_is_better=greater):
                return False  # no score yet: a participant joins the leaderboard with their first scored run
            count, last = self._conn.execute(
                f"SELECT COUNT(*), MAX(timestamp) FROM submissions WHERE {_MINE} AND {_COUNTS}{_on_time(competition)}",  # noqa: S608
                (user, user),
            ).fetchone()
            self._conn.execute(
                "INSERT INTO leaderboard VALUES (?, ?, ?, ?, ?, ?)", (user, score, submission_id, ts, last, count)
            )
            return True
        self._conn.execute(
            """UPDATE leaderboard SET submission_count = submission_count + 1,
                last_updated = MAX(last_updated, ?) WHERE username = ?""",
            (ts, user),
        )
        if status == "completed" and improves(candidate, Scored(row[1], row[0], row[2]), greater_is_better=greater):
            self._conn.execute(
                "UPDATE leaderboard SET best_score = ?, best_submission_id = ?, best_timestamp = ? WHERE username = ?",
                (score, submission_id, ts, user),
            )
            return True
        return False

    def _standing(self, user: str, competition: Competition) -> Place:
        """(rank, best score) of one participant, counted in SQL instead of ranking everyone."""
        row = self._conn.execute(
            "SELECT best_score, best_timestamp FROM leaderboard WHERE username = ?", (user,)
        ).fetchone()
        if row is None or not rankable(row[0]):
            return rules.UNPLACED
        score, ts = row
        op = ">" if competition.metric.greater_is_better else "<"
        ahead = f"SELECT COUNT(*) FROM leaderboard WHERE best_score {op} ?"  # noqa: S608 - op is < or >
        params: tuple[Any, ...] = (score,)
        if competition.ranking.ties == "earliest":
            ahead = (
                f"SELECT ({ahead}) + (SELECT COUNT(*) FROM leaderboard "  # noqa: S608 - constants
                "WHERE best_score = ? AND (best_timestamp, username) < (?, ?))"
            )
            params = (score, score, ts, user)
        return Place(int(self._conn.execute(ahead, params).fetchone()[0]) + 1, float(score))

    def _standings(self, competition: Competition) -> list[Standing]:
        rows = self._conn.execute(
            """SELECT username, best_score, best_submission_id, best_timestamp, last_updated, submission_count
               FROM leaderboard WHERE best_score IS NOT NULL"""
        ).fetchall()
        return rank(
            (Entry(*row) for row in rows),
            greater_is_better=competition.metric.greater_is_better,
            ties=competition.ranking.ties,
        )

    def _ranked_rows(self, competition: Competition) -> list[tuple[int, float, tuple[Any, ...]]]:
        """(rank, best score, leaderboard.csv row without rank) in leaderboard order: :meth:`_standings`,
        sorted by SQLite (which compares REALs exactly, and stores no NaN), without an object per participant.

        The order is :func:`grader.ranking.rank`'s; tests/test_store.py checks that both agree.
        """
        direction = "DESC" if competition.metric.greater_is_better else "ASC"
        then = "best_timestamp, " if competition.ranking.ties == "earliest" else ""
        rows = self._conn.execute(
            f"""SELECT username, best_score, best_submission_id, submission_count, last_updated FROM leaderboard
                WHERE best_score IS NOT NULL ORDER BY best_score {direction}, {then}username"""  # noqa: S608
        ).fetchall()
        numbers = places([row[1] for row in rows], competition.ranking.ties)
        return [(n, row[1], row) for n, row in zip(numbers, rows, strict=True)]

    def _rows_where(self, where: str, params: tuple[Any, ...]) -> list[SubmissionRow]:
        # ``where`` is always a literal from this module; values go through ``params``.
        sql = f"SELECT {', '.join(_ROW_COLUMNS)} FROM submissions WHERE {where}"  # noqa: S608
        rows = self._conn.execute(sql, params)
        return [SubmissionRow(**dict(zip(_ROW_COLUMNS, row, strict=True))) for row in rows.fetchall()]

    def _row_where(self, where: str, params: tuple[Any, ...]) -> SubmissionRow | None:
        rows = self._rows_where(where, params)
        return rows[0] if rows else None

    def _explain(self, ex: sqlite3.Error, *, write: bool = True) -> StoreError:
        """A sqlite3 error as a message that says what to do."""
        text = str(ex)
        low = text.lower()
        where = self.name
        folder = self.path.parent if self.path is not None else "its folder"
        unchanged = " Nothing was changed." if write else ""
        if "not a database" in low or "malformed" in low or "encrypted" in low:
            message = (
                f"{where} is not a readable SQLite database ({text}). If it is the committed leaderboard, "
                f"restore it from git (git checkout -- {where}) or from the last good commit; "
                "never merge it by hand."
            )
        elif "locked" in low or "busy" in low:
            message = (
                f"{where} stayed locked by another grader for more than {self.timeout:g} s ({text}). "
                f"Wait for it to finish and run the command again.{unchanged}"
            )
        elif "readonly" in low or "read-only" in low or "unable to open" in low or "permission" in low:
            message = (
                f"cannot write {where} ({text}): the file or its folder is read-only or missing. "
                f"Check the permissions of the file and of {folder}; SQLite also needs to create "
                f"a journal file beside it.{unchanged}"
            )
        elif "full" in low:
            message = f"cannot write {where}: the disk is full ({text}). Free some space and try again.{unchanged}"
        elif "i/o" in low:
            message = f"cannot read or write {where}: a disk error ({text}). Check the disk and try again.{unchanged}"
        else:
            message = f"the leaderboard database {where} failed: {text}.{unchanged}"
        return StoreError(message)


def _teams_key(competition: Competition) -> str:
    """The teams of ``competition`` in a canonical form, to notice when they change."""
    teams = {team: sorted(login.casefold() for login in logins) for team, logins in competition.teams.items()}
    return json.dumps(teams, sort_keys=True, separators=(",", ":"))


_NO_TEAMS = "{}"


def _main_file(conn: sqlite3.Connection) -> Path | None:
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return Path(file) if file else None
    return None
