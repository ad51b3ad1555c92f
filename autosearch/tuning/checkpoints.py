"""Where an AutoKeras project keeps trial weights in a run directory, and pruning them.

A KerasTuner checkpoint holds the weights with the optimizer's state (about three
times the model's size); a default text run kept six of them (118 MB).
"""

from __future__ import annotations

from pathlib import Path

PROJECT = "autokeras"  # the AutoKeras project folder inside a run directory


def checkpoint_path(run_dir: Path, keras_trial_id: str) -> Path:
    """Where KerasTuner keeps a trial's weights (with optimizer state: ~3x the model's size)."""
    return Path(run_dir) / PROJECT / f"trial_{keras_trial_id}" / "checkpoint.weights.h5"


def prune_checkpoints(run_dir: Path, keep: set[str]) -> int:
    """Delete the trial checkpoints of every KerasTuner trial not in ``keep``; returns the bytes freed."""
    freed = 0
    for path in Path(run_dir, PROJECT).glob("trial_*/checkpoint.weights.h5"):
        if path.parent.name.removeprefix("trial_") not in keep:
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    return freed
