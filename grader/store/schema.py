"""The leaderboard database's schema: versioned migrations, applied in order (``PRAGMA user_version``).

A database written by a newer grader is refused. Each migration is a list of statements or a
function of the connection, run inside the opening transaction of :class:`grader.store.Store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from grader.errors import StoreError

ADMIN_ACTIONS_V2 = ("remove", "disqualify", "restore", "reset", "seal", "reveal")
ADMIN_ACTIONS_V3 = (*ADMIN_ACTIONS_V2, "rescore", "regrade")
ADMIN_ACTIONS_V4 = (*ADMIN_ACTIONS_V3, "baseline")
ADMIN_ACTIONS = (*ADMIN_ACTIONS_V4, "select", "unselect")
STATUSES = ("pending", "running", "completed", "failed", "timeout", "invalid", "rejected")

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]


def _migration_3(conn: sqlite3.Connection) -> None:
    """Scorer versions, stored predictions (for rescoring), and the rescore and regrade actions.

    SQLite cannot change a CHECK constraint in place, so ``admin_actions`` is rebuilt with the
    same rows (:func:`_rebuild_admin_actions`).
    """
    _rebuild_admin_actions(conn, ADMIN_ACTIONS_V3)
    # Which scorer (metric, its arguments, the truth, grader's major.minor) produced the scores of a row.
    conn.execute("ALTER TABLE submissions ADD COLUMN scorer_version TEXT")
    # What a completed run predicted, packed (see grader.rescore), sealed with the private key when there is one.
    conn.execute(
        """CREATE TABLE predictions (
            submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
            ids_digest TEXT NOT NULL,
            sealed INTEGER NOT NULL CHECK (sealed IN (0, 1)),
            data BLOB NOT NULL
        )"""
    )


def _migration_4(conn: sqlite3.Connection) -> None:
    """Baselines: the organisers' reference accounts, shown on the board but never ranked."""
    _rebuild_admin_actions(conn, ADMIN_ACTIONS_V4)
    conn.execute(
        """CREATE TABLE baselines (
            username TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            action_id INTEGER NOT NULL REFERENCES admin_actions (id)
        )"""
    )


def _migration_5(conn: sqlite3.Connection) -> None:
    """Teams and final choices.

    ``username`` is the entrant (a solo participant's login, or a team's name) and ``author``
    the login that submitted; before teams existed they were the same. ``selections`` holds the
    submissions a participant chose for the private leaderboard (``/final``), each with the
    audit row of the choice.
    """
    _rebuild_admin_actions(conn, ADMIN_ACTIONS)
    conn.execute("ALTER TABLE submissions ADD COLUMN author TEXT")
    conn.execute("UPDATE submissions SET author = username")
    conn.execute(
        """CREATE TABLE selections (
            submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
            action_id INTEGER NOT NULL REFERENCES admin_actions (id)
        )"""
    )


def _migration_8(conn: sqlite3.Connection) -> None:
    """Each entrant's submissions as a chain of ids instead of an index by login (see :func:`relink`)."""
    conn.execute("ALTER TABLE submissions ADD COLUMN previous_id INTEGER")
    conn.execute("CREATE TABLE chains (username TEXT PRIMARY KEY, last_id INTEGER NOT NULL)")
    relink(conn)
    conn.execute("DROP INDEX IF EXISTS submissions_user")


def relink(conn: sqlite3.Connection) -> None:
    """Link every submission to the one its entrant made before it, and every entrant to their latest.

    An index by login inserted each new row somewhere in the middle of leaderboard.db, and git
    stored those changes again in most versions of the file it keeps: over 1 KB of repository per
    recorded submission at 5,000 (docs/performance.md). ``previous_id`` is written once, with the
    row, at the end of the file; ``chains`` has a row per entrant, changed in place. A
    participant's submissions are found by following the chain (:data:`_MINE`).
    """
    latest: dict[str, int] = {}
    changed = []
    for sid, user, previous in conn.execute("SELECT id, username, previous_id FROM submissions ORDER BY id"):
        if previous != latest.get(user):
            changed.append((latest.get(user), sid))
        latest[user] = sid
    conn.executemany("UPDATE submissions SET previous_id = ? WHERE id = ?", changed)
    conn.execute("DELETE FROM chains")
    conn.executemany("INSERT INTO chains VALUES (?, ?)", sorted(latest.items()))


def _rebuild_admin_actions(conn: sqlite3.Connection, actions: Sequence[str]) -> None:
    """Create ``admin_actions`` again with ``actions`` in its CHECK constraint: copied, dropped, created, refilled.

    Other tables reference it and foreign keys cannot be switched off inside a transaction, so
    the check is deferred to the commit, by which time every referenced row is back.
    """
    conn.execute("PRAGMA defer_foreign_keys = ON")
    conn.execute("CREATE TABLE admin_actions_copy AS SELECT * FROM admin_actions")
    conn.execute("DROP TABLE admin_actions")
    conn.execute(
        f"""CREATE TABLE admin_actions (
            id INTEGER PRIMARY KEY,
            timestamp TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ({", ".join(repr(a) for a in actions)})),
            target_kind TEXT NOT NULL CHECK (target_kind IN ('submission', 'participant', 'competition')),
            target TEXT NOT NULL,
            reason TEXT NOT NULL
        )"""
    )
    conn.execute("INSERT INTO admin_actions SELECT * FROM admin_actions_copy ORDER BY id")
    conn.execute("DROP TABLE admin_actions_copy")


MIGRATIONS: list[tuple[int, Migration]] = [
    (
        1,
        (
            f"""CREATE TABLE submissions (
                id INTEGER PRIMARY KEY,
                run_id TEXT UNIQUE NOT NULL,
                username TEXT NOT NULL,
                timestamp TEXT NOT NULL,
                notebook_path TEXT NOT NULL,
                notebook_sha256 TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
                score REAL,
                private_score REAL,
                error_type TEXT,
                error_message TEXT,
                error_cell INTEGER,
                runtime_seconds REAL,
                pr_number INTEGER,
                head_sha TEXT,
                grader_version TEXT
            )""",
            "CREATE INDEX submissions_user_time ON submissions (username, timestamp)",
            """CREATE INDEX submissions_user_completed_sha ON submissions (username, notebook_sha256)
                WHERE status = 'completed'""",
            """CREATE TABLE leaderboard (
                username TEXT PRIMARY KEY,
                best_score REAL,
                best_submission_id INTEGER NOT NULL REFERENCES submissions (id),
                best_timestamp TEXT NOT NULL,
                last_updated TEXT NOT NULL,
                submission_count INTEGER NOT NULL
            )""",
            "CREATE INDEX leaderboard_order ON leaderboard (best_score, best_timestamp, username)",
        ),
    ),
    (
        2,
        (
            # The audit trail: every admin action, who, when, why. Never updated, never deleted.
            f"""CREATE TABLE admin_actions (
                id INTEGER PRIMARY KEY,
                timestamp TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ({", ".join(repr(a) for a in ADMIN_ACTIONS_V2)})),
                target_kind TEXT NOT NULL CHECK (target_kind IN ('submission', 'participant', 'competition')),
                target TEXT NOT NULL,
                reason TEXT NOT NULL
            )""",
            # A removed or disqualified participant: none of their submissions rank while the row exists.
            """CREATE TABLE participants (
                username TEXT PRIMARY KEY,
                removed TEXT NOT NULL CHECK (removed IN ('removed', 'disqualified')),
                reason TEXT NOT NULL,
                action_id INTEGER NOT NULL REFERENCES admin_actions (id)
            )""",
            # What a reset took off the board, as it stood.
            """CREATE TABLE leaderboard_archive (
                reset_id INTEGER NOT NULL REFERENCES admin_actions (id),
                rank INTEGER NOT NULL,
                username TEXT NOT NULL,
                best_score REAL,
                best_submission_id INTEGER NOT NULL,
                submission_count INTEGER NOT NULL,
                last_updated TEXT NOT NULL,
                PRIMARY KEY (reset_id, username)
            )""",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "ALTER TABLE submissions ADD COLUMN removed TEXT CHECK (removed IN ('removed', 'disqualified'))",
            "ALTER TABLE submissions ADD COLUMN removed_reason TEXT",
            "ALTER TABLE submissions ADD COLUMN reset_id INTEGER REFERENCES admin_actions (id)",
            # The private score as a Fernet token until the reveal (then NULL, and private_score holds it).
            "ALTER TABLE submissions ADD COLUMN private_sealed TEXT",
            # Rows with a plaintext private score: empty once sealed, so the check on each record is free.
            "CREATE INDEX submissions_private_plain ON submissions (id) WHERE private_score IS NOT NULL",
        ),
    ),
    (3, _migration_3),
    (4, _migration_4),
    (5, _migration_5),
    (
        6,
        (
            # Fewer, narrower indexes with random keys. Each record inserts into them somewhere in the
            # middle of the file, and git stores those changes once for every version of leaderboard.db
            # it keeps (docs/performance.md, "Repository growth"). A participant's submissions (for the
            # duplicate check, the quota, the history) are found through submissions_user, then filtered.
            "DROP INDEX IF EXISTS submissions_user_completed_sha",
            "DROP INDEX IF EXISTS submissions_user_time",
            "CREATE INDEX IF NOT EXISTS submissions_user ON submissions (username)",
        ),
    ),
    (
        7,
        (
            # As migration 6, for the leaderboard's order by score: every new best moved an entry of it. The
            # board is sorted when it is exported, and a rank is counted by scanning the leaderboard
            # table (one row per participant: 0.6 ms at 5,000), so it saved little; what it cost in the
            # repository was within the noise of benchmarks/record.py (docs/performance.md).
            "DROP INDEX IF EXISTS leaderboard_order",
        ),
    ),
    (8, _migration_8),
    (
        9,
        (
            # Secondary metrics (metric.secondary), as JSON objects name -> value: the public ones in clear,
            # the private ones in clear only without a key or after the reveal, else sealed like private_score.
            "ALTER TABLE submissions ADD COLUMN secondary TEXT",
            "ALTER TABLE submissions ADD COLUMN secondary_private TEXT",
            "ALTER TABLE submissions ADD COLUMN secondary_sealed TEXT",
        ),
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def upgrade(conn: sqlite3.Connection, name: str) -> None:
    """Apply the migrations ``conn`` has not had yet (call it inside a write transaction)."""
    version = user_version(conn, name)
    for number, step in MIGRATIONS:
        if number <= version:
            continue
        if callable(step):
            step(conn)
        else:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")


def user_version(conn: sqlite3.Connection, name: str) -> int:
    """The schema version of ``conn`` (the database ``name``); StoreError when a newer grader wrote it."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{name} was written by a newer grader (schema version {version}; this grader knows "
            f"up to {SCHEMA_VERSION}). Upgrade grader (pip install -U grader) and run the command again."
        )
    return version
