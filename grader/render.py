"""Text for people: results, leaderboards and histories as terminal tables. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from grader.result import Result

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
