"""Charts for the site as SVG text, drawn at build time: no JavaScript library, works offline.

Pure functions: data in, a complete SVG document out, byte-for-byte the same for the same data
(the golden files depend on it). Every piece of text is XML-escaped, so a participant's name
is only ever text.

Each chart comes in two layouts: :data:`WIDE` for a desktop and :data:`NARROW` for a phone
(the page picks one with a ``<picture>`` media query, no script). An SVG shown as an image
scales its text with it, so a wide chart squeezed onto a phone would print 6-pixel labels; the
narrow one is drawn at about a phone's width, its legend under the plot.

Readable by design: every series colour has a contrast of at least 3:1 against the white
background (WCAG's minimum for graphics), the second five lines are dashed so that no two
lines differ by colour alone, and the axes are ticked at round values (1, 2 or 5 times a power
of ten; whole days or hours on a time axis).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from xml.sax.saxutils import escape, quoteattr

from grader.text import clip

BACKGROUND = "#fff"
# Okabe & Ito's colour-blind-safe hues, the light ones darkened to 3:1 or more on white; the
# second five are drawn dashed.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#B8447F", "#000000",
           "#9E6A00", "#6A3D9A", "#00798C", "#666666", "#B2182B")  # fmt: skip
DASHED_FROM = 5
TEXT = "#444"


@dataclass(frozen=True)
class Layout:
    """The geometry of a chart: its size, margins and type size, in SVG units."""

    width: int
    height: int  # of the plot and its axes; a legend below the plot adds to it
    left: int
    right: int
    top: int
    bottom: int
    font: int
    ticks: int  # about how many ticks an axis gets
    legend_below: bool

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom


WIDE = Layout(width=760, height=400, left=70, right=190, top=20, bottom=48, font=13, ticks=5, legend_below=False)
NARROW = Layout(width=360, height=300, left=58, right=14, top=16, bottom=48, font=13, ticks=4, legend_below=True)
LEGEND_ROW = 20


@dataclass(frozen=True)
class Series:
    """One participant's line: (time, best score so far) points, oldest first."""

    name: str
    points: Sequence[tuple[datetime, float]]


def best_over_time(
    series: Sequence[Series],
    *,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    score_label: str,
    layout: Layout = WIDE,
) -> str:
    """A step chart of each series' best score over time, between ``start`` and ``end``.

    Points outside the range are drawn at its edges.
    Each line starts at its first scored submission, steps up (or down) at each improvement
    and runs flat to ``end``. With no series the chart says so instead of drawing axes.
    """
    drawn = [s for s in series if s.points]
    if not drawn:
        return _empty("No scored submissions yet.", layout)
    values = [v for s in drawn for _, v in s.points]
    low, high = _padded(min(values), max(values))
    ticks = nice_ticks(low, high, layout.ticks)
    low, high = ticks[0], ticks[-1]
    t0, t1 = start.timestamp(), max(end.timestamp(), start.timestamp() + 1)
    lay = layout

    def x(moment: datetime) -> float:
        return lay.left + (min(max(moment.timestamp(), t0), t1) - t0) / (t1 - t0) * lay.plot_w

    def y(value: float) -> float:
        return lay.top + (high - value) / (high - low) * lay.plot_h

    parts = [_axes(ticks, y, score_label, lay)]
    for moment, label in time_ticks(start, end, tz, lay.ticks + (1 if lay is WIDE else 0)):
        parts.append(
            f'<text class="time" x="{x(moment):.1f}" y="{lay.height - lay.bottom + 20}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    legend_top = lay.height + 8 if lay.legend_below else lay.top + 8
    for i, line in enumerate(drawn):
        colour = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="7 4"' if i % len(PALETTE) >= DASHED_FROM else ""
        coords = [(x(moment), y(value)) for moment, value in line.points]
        steps = "".join(f" H{cx:.1f} V{cy:.1f}" for cx, cy in coords[1:])
        path = f"M{coords[0][0]:.1f},{coords[0][1]:.1f}{steps} H{lay.left + lay.plot_w}"
        title = f"{line.name}: best {line.points[-1][1]:.5f}"
        parts.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash}>'
            f"<title>{escape(title)}</title></path>"
        )
        row_y = legend_top + i * LEGEND_ROW
        key_x = lay.left if lay.legend_below else lay.width - lay.right + 14
        name = escape(clip(line.name, 30 if lay.legend_below else 22, squeeze=False))
        parts.append(
            f'<line x1="{key_x}" x2="{key_x + 22}" y1="{row_y}" y2="{row_y}" stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text x="{key_x + 28}" y="{row_y + 4}">{name}</text>'
        )
    extra = len(drawn) * LEGEND_ROW + 8 if lay.legend_below else 0
    return _document("Best public score over time", parts, lay, extra)


def histogram(values: Sequence[float], *, score_label: str, layout: Layout = WIDE) -> str:
    """A histogram of ``values`` (NaN and infinities are left out) in bins of equal width.

    The bins are cut at round values: a quarter of the step between two ticks of the axis.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return _empty("No scored submissions yet.", layout)
    low, high = min(finite), max(finite)
    if high == low:
        low, high = low - 0.5, high + 0.5
    ticks = nice_ticks(low, high, layout.ticks)
    start, end = ticks[0], ticks[-1]
    bins = 4 * (len(ticks) - 1)
    width = (end - start) / bins
    counts = [0] * bins
    for v in finite:
        counts[min(int((v - start) / width), bins - 1)] += 1
    counted = nice_ticks(0, max(counts), layout.ticks, integer=True)
    top = counted[-1]
    lay = layout

    def y(count: float) -> float:
        return lay.top + (top - count) / top * lay.plot_h

    step = lay.plot_w / bins
    parts = [_axes(counted, y, "submissions", lay)]
    for i, count in enumerate(counts):
        if not count:
            continue
        height = count / top * lay.plot_h
        a, b = start + width * i, start + width * (i + 1)
        parts.append(
            f'<rect x="{lay.left + i * step + 1:.1f}" y="{lay.top + lay.plot_h - height:.1f}" width="{step - 2:.1f}" '
            f'height="{height:.1f}" fill="{PALETTE[0]}"><title>{a:.5f} to {b:.5f}: {count}</title></rect>'
        )
    for i, value in enumerate(ticks):
        parts.append(
            f'<text class="xtick" x="{lay.left + lay.plot_w * i / (len(ticks) - 1):.1f}" '
            f'y="{lay.height - lay.bottom + 20}" '
            f'text-anchor="middle">{_tick_label(value, ticks)}</text>'
        )
    parts.append(
        f'<text x="{lay.left + lay.plot_w / 2:.1f}" y="{lay.height - 8}" text-anchor="middle">'
        f"{escape(score_label)}</text>"
    )
    return _document("Distribution of public scores", parts, lay)


@dataclass(frozen=True)
class Move:
    """One entrant of the final board: its final rank and its rank on the public board (None: it had none)."""

    name: str
    final_rank: int
    public_rank: int | None

    @property
    def places(self) -> int | None:
        """Places gained from the public board to the final one (negative: lost)."""
        return None if self.public_rank is None else self.public_rank - self.final_rank


# The shake-up chart: names on the left, the move in words on the right, a row per entrant.
SHAKE_WIDE = Layout(width=760, height=0, left=230, right=120, top=16, bottom=48, font=13, ticks=6, legend_below=False)
SHAKE_NARROW = Layout(width=360, height=0, left=128, right=78, top=16, bottom=48, font=13, ticks=4, legend_below=False)
SHAKE_ROW = 26
UP, DOWN, SAME = PALETTE[0], PALETTE[1], PALETTE[8]


def shake_up(moves: Sequence[Move], *, layout: Layout = SHAKE_WIDE) -> str:
    """A bar per entrant (best final rank first) of the places won or lost from the public board to the final one.

    A gain is a bar to the right of zero, a loss one to the left; the colour only repeats what the
    side and the words say ("2 → 1 ▲1"). The axis of places is ticked at round whole numbers.
    """
    if not moves:
        empty = dataclasses.replace(layout, height=layout.top + 2 * SHAKE_ROW + layout.bottom)
        return _empty("No final ranking yet.", empty)
    labels = [_move_label(m) for m in moves]
    # The right margin fits the longest "4321 → 10 ▲4311" (about 0.6 em a character).
    right = max(layout.right, math.ceil(12 + 0.6 * layout.font * max(len(label) for label in labels)))
    lay = dataclasses.replace(layout, height=layout.top + len(moves) * SHAKE_ROW + layout.bottom, right=right)
    places = [m.places for m in moves if m.places is not None]
    ticks = nice_ticks(min(0, *places), max(0, 1, *places), lay.ticks, integer=True)
    low, high = ticks[0], ticks[-1]

    def x(value: float) -> float:
        return lay.left + (value - low) / (high - low) * lay.plot_w

    zero = x(0)
    frame = f'<rect x="{lay.left}" y="{lay.top}" width="{lay.plot_w}" height="{lay.plot_h}" fill="none" stroke="#999"/>'
    parts = [frame]
    for value in ticks:
        at = x(value)
        parts.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{lay.top}" y2="{lay.top + lay.plot_h}" stroke="#ccc" '
            f'stroke-dasharray="3 3"/><text class="xtick" x="{at:.1f}" y="{lay.height - lay.bottom + 20}" '
            f'text-anchor="middle">{_tick_label(value, ticks)}</text>'
        )
    parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{lay.top}" y2="{lay.top + lay.plot_h}" stroke="#666"/>')
    # "10. " and the name fit the left margin at about 0.6 em a character.
    chars = 24 if lay.width >= WIDE.width else 12
    for i, (move, label) in enumerate(zip(moves, labels, strict=True)):
        middle = lay.top + (i + 0.5) * SHAKE_ROW
        name = escape(clip(f"{move.final_rank}. {move.name}", chars, squeeze=False))
        parts.append(f'<text x="{lay.left - 8}" y="{middle + 4:.1f}" text-anchor="end">{name}</text>')
        gained = move.places
        before = "no public rank" if move.public_rank is None else f"public rank {move.public_rank}"
        if gained is None or gained == 0:
            said = "" if gained is None else ", same place"
        else:
            said = f", {'up' if gained > 0 else 'down'} {abs(gained)} place{'s' if abs(gained) != 1 else ''}"
        title = f"<title>{escape(f'{move.name}: {before} → final rank {move.final_rank}{said}')}</title>"
        if gained:
            left, right_end = sorted((zero, x(gained)))
            colour = UP if gained > 0 else DOWN
            parts.append(
                f'<rect x="{left:.1f}" y="{middle - 8:.1f}" width="{right_end - left:.1f}" height="16" '
                f'fill="{colour}">{title}</rect>'
            )
        elif gained == 0:
            parts.append(
                f'<rect x="{zero - 3:.1f}" y="{middle - 8:.1f}" width="6" height="16" fill="{SAME}">{title}</rect>'
            )
        parts.append(
            f'<text class="move" x="{lay.width - 6}" y="{middle + 4:.1f}" text-anchor="end">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{lay.left + lay.plot_w / 2:.1f}" y="{lay.height - 8}" text-anchor="middle">places gained</text>'
    )
    return _document("Shake-up: from the public rank to the final rank", parts, lay)


def _move_label(move: Move) -> str:
    """'3 → 1 ▲2', '1 → 3 ▼2', '2 → 2 =' or '— → 4', as the final board's Move column says it."""
    gained = move.places
    if gained is None:
        return f"— → {move.final_rank}"
    mark = f"▲{gained}" if gained > 0 else f"▼{-gained}" if gained < 0 else "="
    return f"{move.public_rank} → {move.final_rank} {mark}"


def nice_ticks(low: float, high: float, count: int, *, integer: bool = False) -> list[float]:
    """Round tick values covering ``low``..``high``: about ``count`` of them, a step of 1, 2 or 5 times a
    power of ten (Heckbert's "nice numbers"), the first at or below ``low`` and the last at or above ``high``.

    ``integer``: the step is a whole number (counts).
    """
    if not high > low:
        high = low + 1
    exponent = math.floor(math.log10((high - low) / max(1, count - 1))) - 1
    # The finest round step that needs no more than one tick over ``count``.
    for step in (m * 10.0**e for e in range(exponent, exponent + 4) for m in (1, 2, 5)):
        if integer and step < 1:
            continue
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first + 1 <= count + 1:
            break
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return [round(k * step, decimals) for k in range(first, last + 1)]


def time_ticks(start: datetime, end: datetime, tz: tzinfo, count: int) -> list[tuple[datetime, str]]:
    """Moments between ``start`` and ``end`` on round local times (whole hours or midnights), at most
    ``count`` of them, each with its label."""
    span = max((end - start).total_seconds(), 1)
    hours = next((h for h in (1, 2, 3, 6, 12, 24, 48, 96, 168, 336, 672, 1344, 2688) if span / 3600 / h < count), 5376)
    local = start.astimezone(tz)
    if hours < 24:
        moment = local.replace(minute=0, second=0, microsecond=0)
        moment = moment.replace(hour=moment.hour - moment.hour % hours)
        shape = "%H:%M" if local.date() == end.astimezone(tz).date() else "%d %b %H:%M"
    else:
        moment = local.replace(hour=0, minute=0, second=0, microsecond=0)
        shape = "%d %b" if span < 300 * 86400 else "%b %Y"
    out = []
    while moment <= end:
        if moment >= start:
            out.append((moment, moment.strftime(shape)))
        moment += timedelta(hours=hours)  # aware arithmetic is wall-clock: a day stays a day across summer time
    return out


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _axes(ticks: Sequence[float], y: Callable[[float], float], label: str, lay: Layout) -> str:
    """Frame, horizontal grid lines at the ticks with their values, and the vertical axis label."""
    out = [f'<rect x="{lay.left}" y="{lay.top}" width="{lay.plot_w}" height="{lay.plot_h}" fill="none" stroke="#999"/>']
    for value in ticks:
        at = y(value)
        out.append(
            f'<line x1="{lay.left}" x2="{lay.left + lay.plot_w}" y1="{at:.1f}" y2="{at:.1f}" stroke="#ccc" '
            f'stroke-dasharray="3 3"/><text class="ytick" x="{lay.left - 6}" y="{at + 4:.1f}" '
            f'text-anchor="end">{_tick_label(value, ticks)}</text>'
        )
    out.append(
        f'<text transform="rotate(-90)" x="{-(lay.top + lay.plot_h / 2):.1f}" y="{lay.font + 2}" '
        f'text-anchor="middle">{escape(label)}</text>'
    )
    return "".join(out)


def _padded(low: float, high: float) -> tuple[float, float]:
    if high == low:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.02
    return low - pad, high + pad


def _document(title: str, parts: list[str], lay: Layout, extra: int = 0) -> str:
    body = "\n".join(parts)
    height = lay.height + extra
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {lay.width} {height}" width="{lay.width}" '
        f'height="{height}" role="img" aria-label={quoteattr(title)} font-family="system-ui, sans-serif" '
        f'font-size="{lay.font}" fill="{TEXT}">\n'
        f'<rect width="{lay.width}" height="{height}" fill="{BACKGROUND}"/>\n'
        f"<title>{escape(title)}</title>\n{body}\n</svg>\n"
    )


def _empty(message: str, lay: Layout) -> str:
    return _document(
        message,
        [f'<text x="{lay.width / 2:.0f}" y="{lay.height / 2:.0f}" text-anchor="middle">{escape(message)}</text>'],
        lay,
    )
