"""Model outputs as readable predictions (no TensorFlow)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def class_probabilities(pipeline: Any, raw: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Model outputs as an (n, classes) array in ``class_names`` order.

    AutoKeras orders its label encoder its own way and gives a binary head one
    sigmoid column; this maps both back to the data set's class order.
    """
    encoder = next(p for p in reversed(pipeline.outputs[0]) if hasattr(p, "labels"))
    labels = list(encoder.labels)
    raw = np.asarray(raw, dtype="float64").reshape(len(raw), -1)
    probs = np.hstack([1.0 - raw, raw]) if raw.shape[1] == 1 else raw
    return probs[:, [labels.index(name) for name in class_names]]
