"""TensorFlow and gRPC without their start-up chatter, their warnings that matter kept and shown once.

TensorFlow's C++ start-up lines (``cpu_feature_guard``, oneDNN's "custom operations are on") are INFO logs, and
``TF_CPP_MIN_LOG_LEVEL`` is read once, when TensorFlow loads: set later, it is too late. gRPC (KerasTuner's
oracle service, imported with it) logs through absl, whose messages before ``absl::InitializeLog()`` all go to
stderr, each of them preceded by the line "WARNING: All log messages before absl::InitializeLog() is called
are written to STDERR"; ``GRPC_VERBOSITY`` sets its threshold. ``quiet_native_logs`` runs when the
``autosearch`` package is imported, before anything can import TensorFlow, and sets only the variables the user
did not set. It never sets ``TF_ENABLE_ONEDNN_OPTS``: turning oneDNN off would change the numerics.

Python-side, Keras logs through absl's Python logger; ``quiet_python_logs`` (called once TensorFlow is about
to be used, ``tuning.automodel.quiet_tensorflow``) drops the messages known to be harmless here and shows any
other one once.
"""

from __future__ import annotations

import logging
import os
from typing import MutableMapping

# INFO lines of TensorFlow's C++ core dropped, its warnings and errors kept; gRPC's errors only
NATIVE_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "1", "GRPC_VERBOSITY": "ERROR"}

# Python log messages of Keras (through absl) that say nothing to an autosearch user, by their start
HARMLESS = (
    # autosearch writes H5 on purpose (--h5, or when the .keras format fails), beside model.keras when it can
    "You are saving your model as an HDF5 file",
    # an H5 model loaded to predict: its metrics are never needed
    "Compiled the loaded model, but the compiled metrics have yet to be built",
)


def quiet_native_logs(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set TensorFlow's and gRPC's log thresholds (``NATIVE_DEFAULTS``) unless the user set them."""
    for name, value in NATIVE_DEFAULTS.items():
        environ.setdefault(name, value)


class ShownOnce(logging.Filter):
    """Drops the ``HARMLESS`` messages, and any message this process has logged before."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(HARMLESS):
            return False
        key = (record.name, record.levelno, message)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def quiet_python_logs() -> None:
    """Filter the absl logger (Keras' warnings) through one ``ShownOnce``, once per process."""
    from absl import logging as absl_logging  # TensorFlow imports it anyway; the logger is absl's own class

    logger = absl_logging.get_absl_logger()
    if not any(isinstance(f, ShownOnce) for f in logger.filters):
        logger.addFilter(ShownOnce())
