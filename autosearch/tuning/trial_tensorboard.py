"""TensorBoard per trial attempt, with the HParams plugin's records.

``<run dir>/tensorboard/<attempt>/`` holds one trial attempt (``3``, a re-run ``3-a2``, a reproduction
``3-r1``): Keras' per-epoch scalars in ``train/`` and ``validation/``, and in the folder itself the HParams
plugin's session (its hyperparameters as the build left them, written as the fit begins; its status as it
ends) and the trial's objective, a scalar named after it at the best epoch's step. TensorBoard's HParams
dashboard infers its table from these: one row per attempt, a column per hyperparameter, the objective
and the last value of every per-epoch scalar. KerasTuner would do part of this only for a callback class
named ``TensorBoard`` (``kt_adapter.epoch_tensorboard``), per KerasTuner id, so an attempt re-run after an
interruption would draw on the curves of the one before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from autosearch.tracking import TrialState
from autosearch.tracking.records import split_trial_id


def attempt_folder(trial_id: str) -> str:
    """The folder name of a trial attempt: its id in the run (``3``, ``3-a2``, ``3-r1``)."""
    return split_trial_id(trial_id)[1]


def aim(callbacks: list, trial_id: str) -> Path | None:
    """Point the search's TensorBoard callback (one of ``callbacks``, already copied for this fit) at the
    folder of trial attempt ``trial_id``; that folder, or None without such a callback."""
    for callback in callbacks:
        root = getattr(callback, "trials_root", None)
        if root is not None:
            callback.log_dir = str(Path(root) / attempt_folder(trial_id))
            return Path(callback.log_dir)
    return None


def _value(value: Any) -> bool | int | float | str:
    """A hyperparameter value as the HParams plugin takes it (bool, int, float or str)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # a NumPy scalar
        return value.item()
    return str(value)


class HParamsSession:
    """The HParams plugin's session of one trial attempt, written into its folder."""

    def __init__(self, log_dir: Path, trial_id: str):
        import tensorflow as tf

        self.name = attempt_folder(trial_id)
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def start(self, hyperparameters: Mapping[str, Any]) -> None:
        """Record the attempt's hyperparameters (TensorBoard lists it as running until ``end``)."""
        from tensorboard.plugins.hparams import api as hp

        values = {name: _value(v) for name, v in hyperparameters.items() if v is not None}
        with self.writer.as_default():
            hp.hparams(values, trial_id=self.name)
        self.writer.flush()

    def end(self, state: TrialState, objective: tuple[str, float, int] | None = None) -> None:
        """Record how the attempt ended and, when it scored, ``(objective name, value, best epoch)``."""
        import tensorflow as tf
        from tensorboard.plugins.hparams import api_pb2
        from tensorboard.plugins.hparams import summary as hp_summary

        status = {TrialState.COMPLETED: api_pb2.STATUS_SUCCESS, TrialState.FAILED: api_pb2.STATUS_FAILURE,
                  TrialState.INVALID: api_pb2.STATUS_FAILURE}.get(state, api_pb2.STATUS_UNKNOWN)
        with self.writer.as_default():
            if objective is not None:
                name, value, step = objective
                tf.summary.scalar(name, value, step=step,
                                  description="the trial's objective: its best epoch's value, as the tracker has it")
            tf.summary.experimental.write_raw_pb(hp_summary.session_end_pb(status).SerializeToString(), step=0)
        self.writer.close()
