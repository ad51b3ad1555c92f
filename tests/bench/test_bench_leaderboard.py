"""Benchmark: `autosearch leaderboard` on a tracker with 10,000 trials x 20 epochs, as a whole command."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from autosearch.tracking import (
    EpochMetrics,
    RunInfo,
    TrialKind,
    TrialRecord,
    TrialState,
)
from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.slow
TRIALS, EPOCHS = 10_000, 20


def fill(home: Path) -> str:
    tracker = SQLiteTracker(home / "tracker.db")
    run_id = "20261124-120000-beef"
    tracker.start_run(RunInfo(run_id=run_id, pipeline="text", task="text_classification", dataset="rotten_tomatoes",
                              seed=0, started_at=0.0, config={"search": {"objective": "val_accuracy",
                                                                         "direction": "max"}}))
    rng = np.random.default_rng(0)
    for i in range(TRIALS):
        accs = np.sort(rng.uniform(0.5, 0.8, EPOCHS))
        epochs = tuple(EpochMetrics(e, {"loss": 1 - a, "val_loss": 1.1 - a, "accuracy": a, "val_accuracy": a}, i + e / 100)
                       for e, a in enumerate(accs))
        tracker.log_trial(TrialRecord(
            trial_id=f"{run_id}/{i:05d}", run_id=run_id, kind=TrialKind.SEARCH, state=TrialState.COMPLETED,
            hyperparameters={"learning_rate": float(rng.choice([1e-3, 3e-3])), "text_block/embedding_dim": int(rng.choice([64, 128])),
                             "text_block/dropout": float(rng.choice([0.0, 0.3]))},
            seed=i, started_at=float(i), ended_at=i + 0.9, objective=float(accs[-1]), best_epoch=EPOCHS - 1,
            trainable_params=1_280_065, extra={"peak_rss_bytes": 700 * 2**20, "cpu_percent_mean": 150.0}, epochs=epochs))
    tracker.close()
    return run_id


def test_leaderboard_command_on_10k_trials_under_a_second(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill(home)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "autosearch", "leaderboard", "--top", "20"], cwd=ROOT,
                             capture_output=True, text=True, env={"AUTOSEARCH_HOME": str(home), "PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - t0)
        assert res.returncode == 0, res.stderr
    print(f"\nautosearch leaderboard, {TRIALS} trials x {EPOCHS} epochs: best of 3 = {min(times):.2f}s "
          f"(all: {', '.join(f'{t:.2f}' for t in times)})")
    assert min(times) < 1.0
