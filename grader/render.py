"""Text for people: results, leaderboards and histories as terminal tables. Pure functions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from grader.ranking import Entry, Standing, place_standings
from grader.result import Result
from grader.rules import Recorded

if TYPE_CHECKING:
    from grader.config import Competition

LEADERBOARD_KEYS = ("rank", "username", "best_score", "submission_count", "last_submission_at")

_MARKS = {"completed": "✓", "failed": "✗", "timeout": "⏱", "invalid": "✗", "rejected": "⊘"}


def score(value: float | None) -> str:
    """Scores are ranked on full precision and shown rounded."""
    return "—" if value is None else f"{value:.5f}"


def result_line(result: Result) -> str:
    """One line: what happened to a run."""
    mark = _MARKS.get(result.status, "?")
    head = f"{mark} {result.notebook}: {result.status}"
    if result.status == "completed":
        if result.public_score is not None:
            head += f", public score {score(result.public_score)}"
        return head + f" ({result.runtime_seconds:.1f} s)"
    if result.error is not None:
        first, *rest = result.error.message.splitlines() or [""]
        head += f": {first}" + "".join(f"\n    {line}" for line in rest)
    return head


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A plain aligned table; ``align`` has one letter per column, 'r' right-aligns it."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align.ljust(len(headers), "l")

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align, strict=True)
        ).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def short_time(iso: str, tz: tzinfo) -> str:
    """'2026-11-28T10:15:00.000000Z' in Europe/Paris → '2026-11-28 11:15 CET'."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def packages(pinned: Sequence[tuple[str, str]], *, python: str, markdown: bool = False) -> str:
    """The notebook environment's packages (from its lock), as a terminal table or a Markdown one."""
    rows = sorted(pinned, key=lambda p: p[0].lower())
    if not markdown:
        return f"Python {python}, {len(rows)} packages:\n" + table(("package", "version"), rows) + "\n"
    lines = [f"Python {python} and these {len(rows)} packages (with the standard library):", ""]
    lines += ["| package | version |", "|---|---|"] + [f"| `{name}` | {version} |" for name, version in rows]
    return "\n".join(lines) + "\n"


def leaderboard(
    fmt: str, competition: Competition, standings: Sequence[Standing], baselines: Sequence[Entry] = ()
) -> str:
    """The ranking as ``table`` (for people; baselines shown where their scores sit), ``json`` or ``csv``."""
    if fmt == "json":
        return json.dumps([dict(zip(LEADERBOARD_KEYS, _cells(s), strict=True)) for s in standings], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LEADERBOARD_KEYS)
        writer.writerows(_cells(s) for s in standings)
        return out.getvalue().removesuffix("\n")
    return leaderboard_table(competition, standings, baselines)


def leaderboard_table(competition: Competition, standings: Sequence[Standing], baselines: Sequence[Entry] = ()) -> str:
    """The ranking as a table; each baseline is a row marked "baseline" instead of a rank, where its score sits."""
    greater = competition.metric.greater_is_better
    shown = place_standings(list(standings), baselines, greater_is_better=greater)
    if not shown:
        return "No completed submissions yet."
    direction = "higher is better" if greater else "lower is better"
    title = f"{competition.title} — {competition.metric.name} ({direction})"
    body = table(
        ("rank", "participant", "best score", "entries", "last submission"),
        [
            (
                "baseline" if rank is None else rank,
                e.username,
                score(e.best_score),
                e.submission_count,
                short_time(e.last_submission_at, competition.timezone),
            )
            for rank, e in shown
        ],
        align="rlrrl",
    )
    return f"{title}\n\n{body}"


def _cells(s: Standing) -> tuple[int, str, float, int, str]:
    return (s.rank, s.username, s.best_score, s.submission_count, s.last_submission_at)


def recorded_line(recorded: Recorded) -> str:
    """What `grader record` and `grader grade` say about a recorded submission."""
    if recorded.already_recorded:
        prefix = f"Already recorded as submission #{recorded.submission_id}; nothing changed."
    else:
        prefix = f"Recorded as submission #{recorded.submission_id}"
    if recorded.status == "rejected":
        return f"{prefix} — rejected: {recorded.reason}"
    parts = [prefix if recorded.already_recorded else prefix + f" ({recorded.status})."]
    if recorded.late:
        parts.append("Scored late (after the end): not ranked.")
    elif recorded.rank is not None:
        moved = ""
        if recorded.previous_rank is not None and recorded.previous_rank != recorded.rank:
            moved = f", was {recorded.previous_rank}"
        parts.append(f"Rank {recorded.rank}{moved}; best score {score(recorded.best_score)}.")
    parts.append(
        f"{recorded.remaining_today} submission(s) left today (resets {recorded.quota_resets_at:%Y-%m-%d %H:%M %Z})."
    )
    return " ".join(parts)
