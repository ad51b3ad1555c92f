"""Small, dependency-free SVG charts for the offline HTML report."""

from __future__ import annotations

import html
import math
from typing import Sequence

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
W, H, PAD = 640, 320, 48


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


class Chart:
    """An x/y plot area with axes; series are added as SVG elements."""

    def __init__(self, title: str, xlabel: str, ylabel: str, xs: Sequence[float], ys: Sequence[float],
                 width: int = W, height: int = H):
        self.title, self.width, self.height = title, width, height
        finite_x = [x for x in xs if math.isfinite(x)] or [0.0, 1.0]
        finite_y = [y for y in ys if math.isfinite(y)] or [0.0, 1.0]
        self.x0, self.x1 = min(finite_x), max(finite_x)
        self.y0, self.y1 = min(finite_y), max(finite_y)
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 0.5, self.y1 + 0.5
        self.parts: list[str] = []
        self.xlabel, self.ylabel = xlabel, ylabel

    def px(self, x: float) -> float:
        return PAD + (x - self.x0) / (self.x1 - self.x0) * (self.width - 2 * PAD)

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
                          f'points="{d}"><title>{html.escape(label)}</title></polyline>')

    def dots(self, xs: Sequence[float], ys: Sequence[float], color: str, labels: Sequence[str], r: float = 3.5) -> None:
        for x, y, label in zip(xs, ys, labels):
            if math.isfinite(x) and math.isfinite(y):
                self.parts.append(f'<circle class="series" cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{r}" '
                                  f'fill="{color}" fill-opacity="0.75"><title>{html.escape(label)}</title></circle>')

    def render(self) -> str:
        axes = [f'<line x1="{PAD}" y1="{self.height - PAD}" x2="{self.width - PAD}" y2="{self.height - PAD}" stroke="#444"/>',
                f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{self.height - PAD}" stroke="#444"/>']
        for t in _ticks(self.x0, self.x1):
            axes.append(f'<text x="{self.px(t):.1f}" y="{self.height - PAD + 16}" text-anchor="middle">{_fmt(t)}</text>')
        for t in _ticks(self.y0, self.y1):
            axes.append(f'<text x="{PAD - 6}" y="{self.py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
                        f'<line x1="{PAD}" x2="{self.width - PAD}" y1="{self.py(t):.1f}" y2="{self.py(t):.1f}" '
                        f'stroke="#eee"/>')
        axes.append(f'<text x="{self.width / 2}" y="{self.height - 8}" text-anchor="middle">{html.escape(self.xlabel)}</text>')
        axes.append(f'<text x="14" y="{self.height / 2}" transform="rotate(-90 14 {self.height / 2})" '
                    f'text-anchor="middle">{html.escape(self.ylabel)}</text>')
        return (f'<svg class="chart" role="img" aria-label="{html.escape(self.title)}" viewBox="0 0 {self.width} '
                f'{self.height}" width="{self.width}" height="{self.height}" font-size="11" font-family="sans-serif">'
                f'<text x="{self.width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">'
                f'{html.escape(self.title)}</text>{"".join(axes)}{"".join(self.parts)}</svg>')


def heatmap(title: str, matrix: Sequence[Sequence[int]], rows: Sequence[str], cols: Sequence[str],
            xlabel: str, ylabel: str) -> str:
    n, m = len(rows), len(cols)
    cell = max(18, min(48, 360 // max(n, m, 1)))
    left, top = 90, 40
    width, height = left + m * cell + 20, top + n * cell + 50
    peak = max((v for row in matrix for v in row), default=1) or 1
    parts = []
    for i, row in enumerate(matrix):
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end">{html.escape(rows[i])}</text>')
        for j, v in enumerate(row):
            shade = int(255 - 200 * v / peak)
            parts.append(f'<rect class="series" x="{left + j * cell}" y="{top + i * cell}" width="{cell}" height="{cell}" '
                         f'fill="rgb({shade},{shade},255)" stroke="#fff"><title>{html.escape(rows[i])} -> '
                         f'{html.escape(cols[j])}: {v}</title></rect>'
                         f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2 + 4}" '
                         f'text-anchor="middle">{v}</text>')
    for j, name in enumerate(cols):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top + n * cell + 14}" text-anchor="middle">{html.escape(name)}</text>')
    parts.append(f'<text x="{left + m * cell / 2}" y="{height - 8}" text-anchor="middle">{html.escape(xlabel)}</text>')
    parts.append(f'<text x="12" y="{top + n * cell / 2}" transform="rotate(-90 12 {top + n * cell / 2})" text-anchor="middle">{html.escape(ylabel)}</text>')
    return (f'<svg class="chart" role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" font-size="11" font-family="sans-serif">'
            f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{html.escape(title)}</text>'
            f'{"".join(parts)}</svg>')


def parallel_coordinates(title: str, axes: Sequence[str], rows: Sequence[Sequence[float]],
                         labels: Sequence[str], colors: Sequence[str], ticks: Sequence[Sequence[str]]) -> str:
    """``rows`` hold each trial's values already scaled to [0, 1] per axis."""
    width, height = max(W, 120 * len(axes)), H
    gap = (width - 2 * PAD) / max(len(axes) - 1, 1)
    parts = []
    for i, name in enumerate(axes):
        x = PAD + i * gap
        parts.append(f'<line x1="{x}" y1="{PAD}" x2="{x}" y2="{height - PAD}" stroke="#444"/>'
                     f'<text x="{x}" y="{height - PAD + 16}" text-anchor="middle">{html.escape(name)}</text>'
                     f'<text x="{x + 4}" y="{PAD - 4}" font-size="9">{html.escape(ticks[i][1])}</text>'
                     f'<text x="{x + 4}" y="{height - PAD - 4}" font-size="9">{html.escape(ticks[i][0])}</text>')
    for row, label, color in zip(rows, labels, colors):
        pts = " ".join(f"{PAD + i * gap:.1f},{height - PAD - v * (height - 2 * PAD):.1f}" for i, v in enumerate(row))
        parts.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.6" stroke-opacity="0.8" '
                     f'points="{pts}"><title>{html.escape(label)}</title></polyline>')
    return (f'<svg class="chart" role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" font-size="11" font-family="sans-serif">'
            f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{html.escape(title)}</text>'
            f'{"".join(parts)}</svg>')
