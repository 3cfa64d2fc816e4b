"""The CSV files: the one writer and the one formula-defusing function, for every CSV the grader writes.

``leaderboard.csv``, ``submissions.csv`` and ``private_leaderboard.csv`` beside the database, the
site's downloads, regrade's report and the teacher's grade export all go through :func:`write_csv`
(atomic: a reader or a crash never sees half a file) and :func:`defuse` (a text cell a spreadsheet
would run as a formula is prefixed with ``'``). ``submissions.csv`` only grows while submissions are
recorded, so it is appended to (:func:`append_rows`) when its last line is what the database says
it should be (:func:`appendable`).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from grader.errors import StoreError

LEADERBOARD_CSV = "leaderboard.csv"
SUBMISSIONS_CSV = "submissions.csv"
PRIVATE_LEADERBOARD_CSV = "private_leaderboard.csv"  # written only after the reveal

RANKING_COLUMNS = ("rank", "username", "best_score", "best_submission_id", "submission_count", "last_updated")
# leaderboard.csv: a baseline's row has an empty rank and "yes" in the last column, placed where its score
# sits (the column is always there, so the file's format never changes). private_leaderboard.csv ranks
# participants only.
LEADERBOARD_COLUMNS = (*RANKING_COLUMNS, "baseline")
RANKING_TEXT = ("username", "last_updated")
SUBMISSION_COLUMNS = (
    "id", "timestamp", "username", "notebook_path", "notebook_sha256", "status", "score",
    "error_type", "error_message", "error_cell", "runtime_seconds", "pr_number", "head_sha", "grader_version",
    "removed", "removed_reason", "reset_id", "author",
)  # fmt: skip
SUBMISSION_TEXT = ("timestamp", "username", "notebook_path", "notebook_sha256", "status", "error_type",
                   "error_message", "head_sha", "grader_version", "removed", "removed_reason", "author")  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse(value: str | None) -> str | None:
    """A text cell defused against spreadsheet formulas, with LF line breaks only."""
    if not value:
        return value
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def csv_line(row: Sequence[Any], header: Sequence[str], text: Sequence[str]) -> str:
    """One row exactly as :func:`write_csv` writes it."""
    buffer = io.StringIO()
    cells = list(row)
    for i in (header.index(name) for name in text):
        cells[i] = defuse(cells[i])
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], text: Sequence[str] = (), *, mode: int = 0o644
) -> None:
    """Write a CSV file atomically: a reader (or a crash) never leaves half a file.

    Columns named in ``text`` go through :func:`defuse`; the others are numbers, which the csv
    module writes with ``repr`` (full precision, round-trips) and None as an empty cell.
    ``mode``: the file's permissions (0o600 for personal data). Raises StoreError.
    """
    positions = [header.index(name) for name in text]

    def clean(row: Sequence[Any]) -> Sequence[Any]:
        for i in positions:
            value = row[i]
            if value and (value.startswith(FORMULA_STARTS) or "\r" in value):  # rare: copy the row
                cells = list(row)
                for j in positions:
                    cells[j] = defuse(cells[j])
                return cells
        return row

    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    except OSError as ex:
        raise StoreError(f"cannot write {path} ({ex.strerror}); check that {path.parent} is writable.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(map(clean, rows))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as ex:
        Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"cannot write {path} ({ex.strerror}); check the folder and free disk space.") from None


def appendable(path: Path, header: Sequence[str], text: Sequence[str], row: Callable[[int], Any]) -> int | None:
    """The id of the last row of the CSV at ``path`` when the file is intact up to it, else None.

    Intact: the header is ours and the last line is byte for byte ``row(id)`` (the database's
    row with that id; None when there is none) as :func:`csv_line` writes it. An interrupted
    append or a hand edit fails this, and the file is to be rewritten.
    """
    try:
        with path.open("rb") as handle:
            first = handle.readline()
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 65536))
            tail = handle.read()
    except OSError:
        return None
    if first.decode("utf-8", "replace") != ",".join(header) + "\n" or not tail.endswith(b"\n"):
        return None
    last = tail[:-1].rsplit(b"\n", 1)[-1] + b"\n"
    head = last.split(b",", 1)[0]
    if not head.isdigit():
        return None
    found = row(int(head))
    if found is None or csv_line(found, header, text).encode("utf-8") != last:
        return None
    return int(head)


def append_rows(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str], text: Sequence[str]) -> None:
    """Append ``rows`` to the CSV at ``path``; on a failure (a disk full, say) no half-written row is left."""
    if not rows:
        return
    data = "".join(csv_line(row, header, text) for row in rows).encode("utf-8")
    try:
        with path.open("r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            try:
                handle.write(data)
                handle.flush()
            except OSError:
                handle.truncate(size)
                raise
    except OSError as ex:
        raise StoreError(f"cannot write {path} ({ex.strerror}); check the folder and free space.") from None
