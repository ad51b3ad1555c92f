"""Benchmarks (``make bench``): the default pipelines against their goals, and AutoKeras' own defaults.

Each prints what it measured; run with ``-s`` to see it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PIPELINES

from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("task", ["text", "image", "structured", "structured_regression"])
def test_default_pipeline_beats_its_baseline(task: str, home: Path) -> None:
    cfg = load_pipeline(PIPELINES / f"{task}.toml")
    result = run_search(cfg, SQLiteTracker(home / "tracker.db"), home)
    test, base = result.scores["test"], result.baseline["test"]
    print(f"\n{task}: test {result.scores['metric']} {test:.4f} vs {result.baseline['name']} {base:.4f}; "
          f"{result.n_trials} trials in {result.duration:.0f}s")
    assert result.duration < 15 * 60
    if task == "text":
        assert test >= 0.77
    elif cfg.problem == "classification":
        assert test >= base + 0.25
    else:
        assert test <= 0.85 * base


def test_autokeras_default_text_classifier_stays_near_the_majority_rate(home: Path) -> None:
    """The measurement behind the README's first workaround (3 trials x 10 epochs)."""
    import autokeras as ak

    split = prepare_data(load_pipeline(PIPELINES / "text.toml"))
    names = np.array(split.dataset.class_names)
    clf = ak.TextClassifier(max_trials=3, directory=str(home / "ak"), overwrite=True, seed=0)
    started = time.monotonic()
    clf.fit(split.x("train"), names[split.y("train")], epochs=10, verbose=0,
            validation_data=(split.x("validation"), names[split.y("validation")]))
    took = time.monotonic() - started
    pred = np.asarray(clf.predict(split.x("test"), verbose=0)).reshape(-1)
    acc = float(np.mean(pred == names[split.y("test")]))
    base = split.summary()["baseline"]["test"]
    print(f"\nautokeras TextClassifier defaults: test accuracy {acc:.4f} (majority {base:.4f}) in {took:.0f}s")
    assert acc < 0.70
