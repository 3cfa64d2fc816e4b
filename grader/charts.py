"""Charts for the site as SVG text, drawn at build time: no JavaScript library, works offline.

Pure functions: data in, a complete SVG document out, byte-for-byte the same for the same data
(the golden files depend on it). Every piece of text is XML-escaped, so a participant's name
is only ever text. Colours are fixed and read on light and dark backgrounds alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 760, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 180, 20, 44  # margins; the legend lives in the right one
# Okabe & Ito's colour-blind-safe palette, then two greys.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#888888", "#555555")
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class Series:
    """One participant's line: (time, best score so far) points, oldest first."""

    name: str
    points: Sequence[tuple[datetime, float]]


def best_over_time(series: Sequence[Series], *, start: datetime, end: datetime, tz: tzinfo, score_label: str) -> str:
    """A step chart of each series' best score over time, between ``start`` and ``end``.

    Points outside the range are drawn at its edges.
    Each line starts at its first scored submission, steps up (or down) at each improvement
    and runs flat to ``end``. With no series the chart says so instead of drawing axes.
    """
    if not series or not any(s.points for s in series):
        return _empty("No scored submissions yet.")
    values = [v for s in series for _, v in s.points]
    low, high = _padded(min(values), max(values))
    t0, t1 = start.timestamp(), max(end.timestamp(), start.timestamp() + 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + (min(max(moment.timestamp(), t0), t1) - t0) / (t1 - t0) * plot_w

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * plot_h

    parts = [_axes(low, high, y, score_label)]
    shown = "%d %b %Y" if t1 - t0 > 3 * 86400 else "%d %b %H:%M"
    for i in range(5):
        moment = datetime.fromtimestamp(t0 + (t1 - t0) * i / 4, tz)
        parts.append(
            f'<text x="{x(moment):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{moment:{shown}}</text>'
        )
    for i, line in enumerate(s for s in series if s.points):
        colour = PALETTE[i % len(PALETTE)]
        coords = [(x(moment), y(value)) for moment, value in line.points]
        steps = "".join(f" H{cx:.1f} V{cy:.1f}" for cx, cy in coords[1:])
        path = f"M{coords[0][0]:.1f},{coords[0][1]:.1f}{steps} H{LEFT + plot_w}"
        title = f"{line.name}: best {line.points[-1][1]:.5f}"
        parts.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"><title>{escape(title)}</title></path>'
        )
        legend_y = TOP + 8 + i * 18
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 14}" y="{legend_y - 8}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 32}" y="{legend_y + 2}">{escape(_clip(line.name, 22))}</text>'
        )
    return _document("Best public score over time", parts)


def histogram(values: Sequence[float], *, score_label: str, bins: int = 20) -> str:
    """A histogram of ``values`` in ``bins`` equal-width bins (NaN and infinities are left out)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return _empty("No scored submissions yet.")
    low, high = min(finite), max(finite)
    if high == low:
        low, high = low - 0.5, high + 0.5
    counts = [0] * bins
    for v in finite:
        counts[min(int((v - low) / (high - low) * bins), bins - 1)] += 1
    top = 4 * max(1, math.ceil(max(counts) / 4))  # the axis ends on a whole number of submissions per grid line
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / bins
    parts = [_axes(0, top, lambda c: TOP + (top - c) / top * plot_h, "submissions", integer=True)]
    for i, count in enumerate(counts):
        if not count:
            continue
        height = count / top * plot_h
        a, b = low + (high - low) * i / bins, low + (high - low) * (i + 1) / bins
        parts.append(
            f'<rect x="{LEFT + i * step + 1:.1f}" y="{TOP + plot_h - height:.1f}" width="{step - 2:.1f}" '
            f'height="{height:.1f}" fill="{PALETTE[0]}"><title>{a:.5f} to {b:.5f}: {count}</title></rect>'
        )
    for i in range(5):
        value = low + (high - low) * i / 4
        parts.append(
            f'<text x="{LEFT + plot_w * i / 4:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{value:.4g}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(score_label)}</text>'
    )
    return _document("Distribution of public scores", parts)


def _axes(low: float, high: float, y: Callable[[float], float], label: str, *, integer: bool = False) -> str:
    """Frame, horizontal grid lines with their values, and the vertical axis label."""
    plot_w = WIDTH - LEFT - RIGHT
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#999"/>']
    for i in range(5):
        value = low + (high - low) * i / 4
        at = y(value)
        shown = f"{value:.0f}" if integer else f"{value:.4g}"
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{at:.1f}" y2="{at:.1f}" stroke="#ccc" stroke-dasharray="3 3"/>'
            f'<text x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{shown}</text>'
        )
    out.append(
        f'<text transform="rotate(-90)" x="{-(TOP + (HEIGHT - TOP - BOTTOM) / 2):.1f}" y="14" '
        f'text-anchor="middle">{escape(label)}</text>'
    )
    return "".join(out)


def _padded(low: float, high: float) -> tuple[float, float]:
    if high == low:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _document(title: str, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label={quoteattr(title)} {_FONT} fill="#444">\n'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>\n'
        f"<title>{escape(title)}</title>\n{body}\n</svg>\n"
    )


def _empty(message: str) -> str:
    return _document(
        message,
        [f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle">{escape(message)}</text>'],
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
