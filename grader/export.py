"""Course grades: one row per student of a roster, for a learning-management system to import.

The roster (a CSV with at least a ``login`` and an ``id`` column) maps GitHub logins to the
course's own student ids. It is personal data: it must never be committed to the public
repository, so :func:`grades` refuses a roster tracked by git and an output file inside the
repository that git does not ignore. Both files are untrusted text: every text cell written
is defused against spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.config import Competition
from grader.errors import StoreError, UsageError
from grader.gitsync import Git
from grader.rules import check_login
from grader.store import Store
from grader.store.exports import write_csv

GRADE_COLUMNS = ("login", "roster_id", "best_public", "best_private", "rank", "private_rank", "submissions", "note")
MAX_ROSTER_BYTES = 10 * 1024**2


@dataclass(frozen=True)
class Grades:
    """What :func:`grades` wrote."""

    out: Path
    students: int
    with_score: int
    revealed: bool
    not_on_roster: tuple[str, ...]  # participants with submissions who are missing from the roster


def read_roster(path: Path, *, login_column: str = "login", id_column: str = "id") -> list[tuple[str, str]]:
    """(login, roster id) pairs in file order. Every problem is reported at once, with its line."""
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise UsageError(f"{path} is larger than {MAX_ROSTER_BYTES // 1024**2} MiB; is it really a roster?")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as ex:
        raise UsageError(f"cannot read the roster {path} ({ex.strerror}).") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; save the roster as CSV UTF-8.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [name for name in (login_column, id_column) if name not in header]
    if missing:
        raise UsageError(
            f"{path} has no column {', '.join(repr(m) for m in missing)} (its columns: {', '.join(header) or 'none'}); "
            "use --login-column and --id-column to name them."
        )
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        login = (row.get(login_column) or "").strip().removeprefix("@")
        roster_id = (row.get(id_column) or "").strip()
        if not login and not roster_id:
            continue
        try:
            check_login(login)
        except UsageError:
            problems.append(f"line {line}: {login[:40]!r} is not a GitHub login")
            continue
        key = login.lower()  # GitHub logins are case-insensitive
        if key in seen:
            problems.append(f"line {line}: {login} is already on line {seen[key]}")
            continue
        seen[key] = line
        pairs.append((login, roster_id))
    if problems:
        raise UsageError(f"{path} has {len(problems)} problem(s); fix them and run again:\n" + "\n".join(problems))
    return pairs


def grades(
    competition: Competition,
    db: Path,
    roster: Path,
    out: Path,
    *,
    login_column: str = "login",
    id_column: str = "id",
) -> Grades:
    """Write ``out``: for each roster student, their best public (and, after the reveal, private) score and rank."""
    _refuse_public(competition.root, roster, out)
    students = read_roster(roster, login_column=login_column, id_column=id_column)
    with Store(db) as store:
        public = {s.username.lower(): s for s in store.leaderboard(competition)}
        revealed = store.revealed_at() is not None
        private = {s.username.lower(): s for s in store.private_leaderboard(competition)} if revealed else {}
        counts, notes = _counts_and_notes(store)
    rows = []
    for login, roster_id in students:
        key = login.lower()
        entrant = competition.entrant(login).lower()  # a team's scores and rank are each member's
        standing, final = public.get(entrant), private.get(entrant)
        rows.append(
            (
                login, roster_id,
                repr(standing.best_score) if standing else "",
                repr(final.best_score) if final else "",
                standing.rank if standing else "",
                final.rank if final else "",
                counts.get(key, 0),
                notes.get(entrant, ""),
            )
        )  # fmt: skip
    _write(out, rows)
    on_roster = {login.lower() for login, _ in students}
    strangers = tuple(sorted(name for name in counts if name not in on_roster))
    return Grades(out, len(rows), sum(1 for r in rows if r[2] != ""), revealed, strangers)


def _counts_and_notes(store: Store) -> tuple[dict[str, int], dict[str, str]]:
    """Submissions that count (not rejected) per login (a member's own, in a team), and notes per entrant taken off."""
    counts: dict[str, int] = {}
    notes: dict[str, str] = {}
    for row in store.all_submissions():
        key = row.login.lower()
        if row.status != "rejected":
            counts[key] = counts.get(key, 0) + 1
        else:
            counts.setdefault(key, 0)
    for login, (kind, reason) in store.participants().items():
        notes[login.lower()] = f"{kind}: {reason}"
    return counts, notes


def _refuse_public(root: Path, roster: Path, out: Path) -> None:
    """The roster and the grades must stay out of the repository (personal data)."""
    if _tracked(root, roster):
        raise UsageError(
            f"{roster} is committed to the repository: a roster is personal data and must not be in a public "
            "repository. Remove it from git (git rm --cached) and keep it elsewhere."
        )
    if _inside(root, out) and not _ignored(root, out):
        raise UsageError(
            f"{out} is inside the repository and git does not ignore it: a committed grade file would publish "
            "the roster ids. Write it outside the repository (e.g. --out ~/grades.csv)."
        )


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _tracked(root: Path, path: Path) -> bool:
    return _inside(root, path) and Git(root).succeeds("ls-files", "--error-unmatch", "--", str(path.resolve()))


def _ignored(root: Path, path: Path) -> bool:
    return Git(root).succeeds("check-ignore", "-q", "--", str(path.resolve()))


def _write(out: Path, rows: Sequence[Sequence[object]]) -> None:
    """Atomically: a half-written grade file is never imported. Readable by its owner only: personal data."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(out, GRADE_COLUMNS, rows, ("login", "roster_id", "note"), mode=0o600)
    except (OSError, StoreError) as ex:
        raise UsageError(str(ex) if isinstance(ex, StoreError) else f"cannot write {out} ({ex.strerror}).") from None
