"""Small, dependency-free SVG charts for the offline HTML report.

Axes are ticked at round values (1, 2 or 5 times a power of ten; whole numbers only on integer axes such as
epochs; minutes, hours or days on time axes). Every chart scales down with the page (``viewBox``), and is
drawn wide enough for its title.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
W, H, PAD = 580, 320, 56
TITLE_PX = 7.6  # width of a character of a 13 px bold title, generously
# A colour scale from poor (purple) to good (yellow), viridis' end points and three stops between.
SCALE = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
TIME_STEPS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400]

Formatter = Callable[[float], str]


def _e(text: object) -> str:
    return html.escape(str(text))


def nice_step(lo: float, hi: float, n: int = 5, integer: bool = False) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most about ``n`` intervals over [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    return max(step, 1.0) if integer else step


def ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round values inside [lo, hi]: ``ticks(1, 2)`` is 1, 1.2, ... 2; with ``integer`` just 1 and 2."""
    if hi < lo:
        return []
    step = nice_step(lo, hi, n, integer)
    start = math.ceil(lo / step - 1e-9) * step
    count = int(math.floor((hi - start) / step + 1e-9)) + 1
    return [round(start + i * step, 12) for i in range(max(count, 0))]


def time_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round wall-clock times (whole minutes, hours or days, UTC) inside [lo, hi] (seconds since the epoch)."""
    step = next((s for s in TIME_STEPS if (hi - lo) / s <= n), TIME_STEPS[-1])
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) // step) + 1)] if hi >= start else []


def time_label(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%m-%d %H:%M")


def tick_formatter(values: Sequence[float], percent: bool = False) -> Formatter:
    """Labels with just the decimals the step between ``values`` needs (``0.92``, ``0.94``; ``92%``)."""
    step = min((abs(b - a) for a, b in zip(values, values[1:]) if b != a), default=1.0)
    if percent:
        step *= 100
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if percent:
        return lambda v: f"{v * 100:.{digits}f}%"
    return lambda v: f"{v:.{digits}f}"


def title_width(title: str, minimum: float = 0) -> int:
    """The width a chart needs for its title not to be clipped."""
    return int(max(minimum, len(title) * TITLE_PX + 24))


def color_at(t: float) -> str:
    """The colour scale at ``t`` in [0, 1] (0 poor, 1 good)."""
    t = min(max(t, 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(t), len(SCALE) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(SCALE[i], SCALE[i + 1]))
    return f"rgb({r},{g},{b})"


def _svg(title: str, width: float, height: float, body: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" font-size="11" font-family="sans-serif">'
            f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}'
            f'</text>{body}</svg>')


class Chart:
    """An x/y plot area with round ticks; series are added as SVG elements.

    ``x_kind``/``y_kind``: ``"real"`` (default), ``"integer"`` (epochs, trial numbers: whole ticks only),
    ``"percent"`` (fractions labelled as percentages) or ``"time"`` (seconds since the epoch).
    """

    def __init__(self, title: str, xlabel: str, ylabel: str, xs: Sequence[float], ys: Sequence[float],
                 width: int = W, height: int = H, x_kind: str = "real", y_kind: str = "real"):
        self.title, self.height = title, height
        self.width = title_width(title, width)
        self.x_kind, self.y_kind = x_kind, y_kind
        self.x0, self.x1 = self._domain(xs, x_kind)
        self.y0, self.y1 = self._domain(ys, y_kind)
        self.parts: list[str] = []
        self.xlabel, self.ylabel = xlabel, ylabel
        yt, yf = self._axis_ticks(self.y0, self.y1, y_kind)
        self.left = max(PAD, 30 + 6.5 * max((len(yf(t)) for t in yt), default=0))  # room for the y labels

    @staticmethod
    def _domain(values: Sequence[float], kind: str) -> tuple[float, float]:
        finite = [float(v) for v in values if math.isfinite(v)] or [0.0, 1.0]
        lo, hi = min(finite), max(finite)
        if hi == lo:
            half = {"integer": 0.5, "time": 1800.0}.get(kind, abs(lo) * 0.05 or 0.5)
            return lo - half, hi + half
        return lo, hi

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.width - self.left - PAD)

    def py(self, y: float) -> float:
        return self.height - PAD - (y - self.y0) / (self.y1 - self.y0) * (self.height - 2 * PAD)

    def line(self, xs: Sequence[float], ys: Sequence[float], color: str, label: str, width: float = 1.5,
             step: bool = False) -> None:
        pts = [(self.px(x), self.py(y)) for x, y in zip(xs, ys) if math.isfinite(y)]
        if step and pts:
            stepped = [pts[0]]
            for p in pts[1:]:
                stepped += [(p[0], stepped[-1][1]), p]
            pts = stepped
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.parts.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="{width}" '
                          f'points="{d}"><title>{_e(label)}</title></polyline>')

    def dots(self, xs: Sequence[float], ys: Sequence[float], color: str | Sequence[str], labels: Sequence[str],
             r: float = 3.5, attrs: Sequence[str] | None = None, cls: str = "series") -> None:
        colors = [color] * len(labels) if isinstance(color, str) else list(color)
        extra = list(attrs) if attrs is not None else [""] * len(labels)
        for x, y, c, label, a in zip(xs, ys, colors, labels, extra):
            if math.isfinite(x) and math.isfinite(y):
                self.parts.append(f'<circle class="{cls}" cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{r}" '
                                  f'fill="{c}" fill-opacity="0.8" {a}><title>{_e(label)}</title></circle>')

    def _axis_ticks(self, lo: float, hi: float, kind: str) -> tuple[list[float], Formatter]:
        if kind == "time":
            return time_ticks(lo, hi), time_label
        values = ticks(lo, hi, integer=kind == "integer")
        return values, tick_formatter(values, percent=kind == "percent")

    def render(self) -> str:
        w, h = self.width, self.height
        left = self.left
        axes = [f'<line x1="{left:.0f}" y1="{h - PAD}" x2="{w - PAD}" y2="{h - PAD}" stroke="#444"/>',
                f'<line x1="{left:.0f}" y1="{PAD}" x2="{left:.0f}" y2="{h - PAD}" stroke="#444"/>']
        xt, xf = self._axis_ticks(self.x0, self.x1, self.x_kind)
        for t in xt:
            axes.append(f'<text x="{self.px(t):.1f}" y="{h - PAD + 16}" text-anchor="middle">{_e(xf(t))}</text>')
        yt, yf = self._axis_ticks(self.y0, self.y1, self.y_kind)
        for t in yt:
            axes.append(f'<text x="{left - 6:.0f}" y="{self.py(t) + 4:.1f}" text-anchor="end">{_e(yf(t))}</text>'
                        f'<line x1="{left:.0f}" x2="{w - PAD}" y1="{self.py(t):.1f}" y2="{self.py(t):.1f}" '
                        'stroke="#eee"/>')
        axes.append(f'<text x="{w / 2:.0f}" y="{h - 12}" text-anchor="middle">{_e(self.xlabel)}</text>')
        axes.append(f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" '
                    f'text-anchor="middle">{_e(self.ylabel)}</text>')
        return _svg(self.title, w, h, "".join(axes) + "".join(self.parts))


def heatmap(title: str, matrix: Sequence[Sequence[int]], rows: Sequence[str], cols: Sequence[str],
            xlabel: str, ylabel: str) -> str:
    n, m = len(rows), len(cols)
    cell = max(18, min(48, 360 // max(n, m, 1)))
    left, top = 90, 40
    height = top + n * cell + 50
    width = title_width(title, left + m * cell + 20)
    peak = max((v for row in matrix for v in row), default=1) or 1
    parts = []
    for i, row in enumerate(matrix):
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end">{_e(rows[i])}</text>')
        for j, v in enumerate(row):
            shade = int(255 - 200 * v / peak)
            parts.append(f'<rect class="series" x="{left + j * cell}" y="{top + i * cell}" width="{cell}" '
                         f'height="{cell}" fill="rgb({shade},{shade},255)" stroke="#fff"><title>{_e(rows[i])} -> '
                         f'{_e(cols[j])}: {v}</title></rect><text x="{left + j * cell + cell / 2}" '
                         f'y="{top + i * cell + cell / 2 + 4}" text-anchor="middle">{v}</text>')
    for j, name in enumerate(cols):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top + n * cell + 14}" text-anchor="middle">'
                     f'{_e(name)}</text>')
    parts.append(f'<text x="{left + m * cell / 2}" y="{height - 8}" text-anchor="middle">{_e(xlabel)}</text>')
    parts.append(f'<text x="12" y="{top + n * cell / 2}" transform="rotate(-90 12 {top + n * cell / 2})" '
                 f'text-anchor="middle">{_e(ylabel)}</text>')
    return _svg(title, width, height, "".join(parts))


@dataclass(frozen=True)
class Axis:
    """One parallel-coordinates axis: each row's position in [0, 1] and labelled ticks (position, label)."""

    name: str
    positions: Sequence[float]
    ticks: Sequence[tuple[float, str]]


def numeric_axis(name: str, values: Sequence[float], percent: bool = False, integer: bool = False,
                 choices: bool = False) -> Axis:
    """An axis over ``values``: ticked at round values, or (``choices``, six or fewer distinct values such as
    a hyperparameter's) at each value."""
    lo, hi = min(values), max(values)
    if hi == lo:
        return Axis(name, [0.5] * len(values), [(0.5, f"{lo * 100:.2f}%" if percent else f"{lo:.4g}")])
    distinct = sorted(set(values))
    if choices and len(distinct) <= 6:  # a few choices (units 32, 64): label each one
        return Axis(name, [(v - lo) / (hi - lo) for v in values],
                    [((v - lo) / (hi - lo), f"{v:.0f}" if integer else f"{v:.4g}") for v in distinct])
    marks = ticks(lo, hi, n=4, integer=integer)
    fmt = tick_formatter(marks, percent)
    return Axis(name, [(v - lo) / (hi - lo) for v in values], [((t - lo) / (hi - lo), fmt(t)) for t in marks])


def category_axis(name: str, labels: Sequence[str]) -> Axis:
    cats = sorted(set(labels))
    pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    return Axis(name, [pos[c] for c in labels], [(pos[c], c) for c in cats])


def parallel_coordinates(title: str, axes: Sequence[Axis], labels: Sequence[str], goodness: Sequence[float],
                         scale: Axis) -> str:
    """Each row a line across ``axes``, coloured by ``goodness`` (0 poor .. 1 good) on a colour bar whose
    ticks come from ``scale`` (positions in [0, 1] along the bar, labels in the objective's units)."""
    plot_w = max(W - 120, 130 * max(len(axes) - 1, 1))
    width, height, bar_x = title_width(title, plot_w + 2 * PAD + 110), H, PAD + plot_w + 50
    gap = plot_w / max(len(axes) - 1, 1)
    y = lambda v: height - PAD - v * (height - 2 * PAD)  # noqa: E731
    parts = []
    for i, axis in enumerate(axes):
        x = PAD + i * gap
        parts.append(f'<line x1="{x:.1f}" y1="{PAD}" x2="{x:.1f}" y2="{height - PAD}" stroke="#444"/>'
                     f'<text x="{x:.1f}" y="{height - PAD + 18}" text-anchor="middle" font-weight="bold">'
                     f'{_e(axis.name)}</text>')
        parts += [f'<line x1="{x - 3:.1f}" x2="{x:.1f}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#444"/>'
                  f'<text x="{x - 5:.1f}" y="{y(p) + 3:.1f}" text-anchor="end" font-size="9">{_e(t)}</text>'
                  for p, t in axis.ticks]
    for r, (label, g) in enumerate(zip(labels, goodness)):
        pts = " ".join(f"{PAD + i * gap:.1f},{y(a.positions[r]):.1f}" for i, a in enumerate(axes))
        parts.append(f'<polyline class="series" fill="none" stroke="{color_at(g)}" stroke-width="2" '
                     f'stroke-opacity="0.85" points="{pts}"><title>{_e(label)}</title></polyline>')
    parts.append(_color_bar(bar_x, y, scale))
    return _svg(title, width, height, "".join(parts))


def _color_bar(x: float, y: Callable[[float], float], scale: Axis) -> str:
    stops = "".join(f'<stop offset="{i / (len(SCALE) - 1):.2f}" stop-color="{color_at(i / (len(SCALE) - 1))}"/>'
                    for i in range(len(SCALE)))
    ticks_ = "".join(f'<line x1="{x + 12}" x2="{x + 16}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#444"/>'
                     f'<text x="{x + 18}" y="{y(p) + 3:.1f}" font-size="9">{_e(t)}</text>' for p, t in scale.ticks)
    return (f'<defs><linearGradient id="goodness" x1="0" y1="1" x2="0" y2="0">{stops}</linearGradient></defs>'
            f'<rect class="colour-scale" x="{x}" y="{y(1):.1f}" width="12" height="{y(0) - y(1):.1f}" '
            f'fill="url(#goodness)" stroke="#444" stroke-width="0.5"/>{ticks_}'
            f'<text x="{x + 6}" y="{y(1) - 8:.1f}" text-anchor="middle" font-size="10">{_e(scale.name)}</text>')
