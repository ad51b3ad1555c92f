"""The one place numbers are formatted for people: the terminal tables and the HTML report both use it.

Each kind of number keeps one style everywhere:

- scores: 4 decimals (``0.9333``), or a percentage with 2 decimals (``93.33%``) for accuracy-like metrics;
- sizes: ``512 B``, ``24.1 KB``, ``3.2 MB``, ``23.54 GB`` (powers of 1024);
- durations: ``3.7 s``, ``42 s``, ``2 min 05 s``, ``1 h 02 min``;
- parameter counts: ``950``, ``67.3k``, ``1.2M``;
- integers as integers (``128``, never ``128.0``);
- time budgets as the pipeline wrote them (``12m``), or in that notation when only the seconds are known.

Missing values (None, NaN, pandas' NA) are ``MISSING``. Pure Python: no pandas, numpy or TensorFlow import.
"""

from __future__ import annotations

import math
import numbers
from datetime import datetime, timezone
from typing import Any

MISSING = "-"

# Metric names whose values are fractions people read as percentages (val_accuracy, auc, f1, ...).
PERCENT_TOKENS = frozenset({"accuracy", "acc", "auc", "precision", "recall", "f1"})


def is_missing(value: Any) -> bool:
    """None, a float NaN or pandas' NA (recognised by type name, so pandas is not imported)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and math.isnan(value)


def is_percent_metric(metric: str | None) -> bool:
    """True for accuracy-like metrics (``val_accuracy``, ``binary_accuracy``, ``auc``, ``f1_score``)."""
    if not metric:
        return False
    return bool(PERCENT_TOKENS & set(str(metric).lower().replace("-", "_").split("_")))


def decimal(value: Any, digits: int = 4) -> str:
    """A real number to ``digits`` decimals; magnitudes too small to show that way in scientific notation."""
    if is_missing(value):
        return MISSING
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value != 0 and abs(value) < 0.5 * 10 ** -digits:
        return f"{value:.{max(digits - 2, 1)}e}"
    return f"{value:.{digits}f}"


def percent(fraction: Any, digits: int = 2) -> str:
    """A fraction as a percentage: 0.93333 -> ``93.33%``."""
    return MISSING if is_missing(fraction) else f"{float(fraction) * 100:.{digits}f}%"


def score(value: Any, metric: str | None = None) -> str:
    """A score or loss: a percentage with 2 decimals for accuracy-like ``metric``, else 4 decimals.
    A standard error or difference of such a score reads the same way: pass the same ``metric``."""
    return percent(value) if is_percent_metric(metric) else decimal(value)


def integer(value: Any) -> str:
    """An integral number without a fraction: 128.0 -> ``128``; a non-integral float keeps 4 significant digits."""
    if is_missing(value):
        return MISSING
    if isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer()):
        return str(int(value))
    return f"{float(value):.4g}"


def count(value: Any) -> str:
    """A parameter count or other large count: 950, ``67.3k``, ``1.2M``, ``3.4B``."""
    if is_missing(value):
        return MISSING
    n = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size * 0.9995:  # 999_960 reads 1.0M, not 1000.0k
            return f"{n / size:.1f}{unit}"
    return integer(value)


def size(num_bytes: Any) -> str:
    """A size in bytes: ``512 B``, ``24.1 KB``, ``3.2 MB``, ``23.54 GB`` (powers of 1024)."""
    if is_missing(num_bytes):
        return MISSING
    n = float(num_bytes)
    for unit, power in (("TB", 4), ("GB", 3), ("MB", 2), ("KB", 1)):
        if abs(n) >= 1024 ** power:
            scaled = n / 1024 ** power
            return f"{scaled:.2f} {unit}" if scaled < 100 and unit in ("GB", "TB") else f"{scaled:.1f} {unit}"
    return f"{int(n)} B"


def size_mb(megabytes: Any) -> str:
    """A size the tracker records in MB (peak memory, disk use), in the same style as ``size``."""
    return MISSING if is_missing(megabytes) else size(float(megabytes) * 1024 ** 2)


def duration(seconds: Any) -> str:
    """One duration style: ``0.4 s``, ``3.7 s``, ``42 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if is_missing(seconds):
        return MISSING
    s = float(seconds)
    if s < 9.95:
        return f"{s:.1f} s"
    total = int(round(s))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    minutes = int(round(s / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min"


def budget(seconds: Any, written: str | None = None) -> str:
    """A time budget as the pipeline wrote it (``written``, e.g. ``12m``) or, knowing only the seconds, in the
    pipeline's notation (720 -> ``12m``, 5400 -> ``1h30m``, 90 -> ``1m30s``); no budget is ``MISSING``."""
    if written not in (None, ""):
        return str(written)
    if is_missing(seconds):
        return MISSING
    total = int(round(float(seconds)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return text or "0s"


def timestamp(epoch_seconds: Any) -> str:
    """A wall-clock time (seconds since the epoch) to the minute, in UTC: ``2026-12-03 21:06 UTC``."""
    if is_missing(epoch_seconds):
        return MISSING
    return datetime.fromtimestamp(float(epoch_seconds), tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def hyperparameter(value: Any) -> str:
    """A hyperparameter value: integers as integers, floats with 4 significant digits (``0.001``, ``1e-05``),
    booleans and strings as they are."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    return integer(value) if float(value).is_integer() else f"{float(value):.4g}"


def value(v: Any) -> str:
    """Any value whose kind is not known: integers as integers, other reals to 4 significant digits, text as is."""
    return hyperparameter(v)
