"""The leaderboard record: the database (:mod:`.db`), its schema (:mod:`.schema`), the CSV files
(:mod:`.exports`) and the stored predictions (:mod:`.vault`).

``from grader.store import Store`` is the way in; the names below are the package's public ones.
"""

from grader.rules import Recorded
from grader.store.db import (
    DB_NAME,
    DEFAULT_TIMEOUT,
    AdminAction,
    Baseline,
    Selection,
    Store,
    SubmissionRow,
    Versions,
)
from grader.store.exports import (
    LEADERBOARD_COLUMNS,
    LEADERBOARD_CSV,
    PRIVATE_LEADERBOARD_CSV,
    RANKING_COLUMNS,
    SUBMISSION_COLUMNS,
    SUBMISSIONS_CSV,
    defuse,
)
from grader.store.schema import ADMIN_ACTIONS, MIGRATIONS, SCHEMA_VERSION, STATUSES
from grader.store.vault import FOLDER as PREDICTIONS_DIR
from grader.store.vault import PER_FILE as PREDICTIONS_PER_FILE
from grader.store.vault import Packed

__all__ = [
    "ADMIN_ACTIONS",
    "DB_NAME",
    "DEFAULT_TIMEOUT",
    "LEADERBOARD_COLUMNS",
    "LEADERBOARD_CSV",
    "MIGRATIONS",
    "PREDICTIONS_DIR",
    "PREDICTIONS_PER_FILE",
    "PRIVATE_LEADERBOARD_CSV",
    "RANKING_COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "SUBMISSIONS_CSV",
    "SUBMISSION_COLUMNS",
    "AdminAction",
    "Baseline",
    "Packed",
    "Recorded",
    "Selection",
    "Store",
    "SubmissionRow",
    "Versions",
    "defuse",
]
