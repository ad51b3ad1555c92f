"""Why a trial failed: the trials this machine cannot run, refused before they train (recorded INVALID
with the reason), and the line of a failed trial's traceback that says what went wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping


def refusal(values: Mapping[str, Any], error: BaseException | None = None) -> str | None:
    """Why a trial's hyperparameters cannot run here, or None: AutoKeras' application blocks download
    ImageNet weights when ``pretrained`` (this machine is offline), and ``imagenet_size`` resizes every
    image to 224x224 (hours on a CPU). Such trials are recorded INVALID with this reason."""
    def chosen(suffix: str) -> list[str]:
        return [name.rsplit("/", 1)[0] for name, v in values.items() if name.endswith("/" + suffix) and v is True]

    if chosen("pretrained") and (error is not None or not _weights_cached()):
        return (f"{chosen('pretrained')[0]} asks for pretrained ImageNet weights, which must be downloaded; "
                "autosearch runs offline, so pretrained trials are refused")
    if chosen("imagenet_size") and error is None:
        return f"{chosen('imagenet_size')[0]} resizes every image to 224x224, too slow to train on a CPU"
    return None


def _weights_cached() -> bool:
    """Whether Keras' cache holds any ImageNet weights (``~/.keras/models``), e.g. copied there by hand."""
    import os

    folder = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    return folder.is_dir() and any(folder.glob("*.h5"))


_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def error_line(message: str | None) -> str:
    """The line of a traceback that says what went wrong (``ValueError: …``), not TensorFlow's trailing
    ``[[{{node …}}]]`` lines; else its last line."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    named = [line for line in lines if _ERROR_LINE.match(line)]
    return (named or lines or ["unknown error"])[-1]
