"""Pipeline values as KerasTuner hyperparameters: a scalar is fixed, a list a choice, a table
``{min, max, step, sampling}`` a range (whole numbers: Int, else Float)."""

from __future__ import annotations

from typing import Any, Mapping


def tune(hp: Any, name: str, value: Any) -> Any:
    """Register ``name`` on ``hp`` (a ``keras_tuner.HyperParameters``) and return its value for this trial."""
    if isinstance(value, Mapping):
        return range_hp(hp, name, value)
    if isinstance(value, (list, tuple)):
        return hp.Choice(name, list(value), default=value[0])
    return hp.Fixed(name, value)


def range_hp(hp: Any, name: str, value: Mapping[str, Any]) -> Any:
    lo, hi, step = value["min"], value["max"], value.get("step")
    sampling = value.get("sampling", "linear")
    if all(isinstance(v, int) for v in (lo, hi, step or 1)):
        return hp.Int(name, lo, hi, step=step or 1, sampling=sampling)
    return hp.Float(name, float(lo), float(hi), step=step, sampling=sampling)


def hyperparameter(name: str, value: Any) -> Any:
    """A stand-alone hyperparameter object (for an AutoKeras block argument) recorded as ``<block>/<name>``."""
    from keras_tuner.engine import hyperparameters as hps

    if isinstance(value, Mapping):
        lo, hi, step = value["min"], value["max"], value.get("step")
        sampling = value.get("sampling", "linear")
        if all(isinstance(v, int) for v in (lo, hi, step or 1)):
            return hps.Int(name, lo, hi, step=step or 1, sampling=sampling)
        return hps.Float(name, float(lo), float(hi), step=step, sampling=sampling)
    if isinstance(value, (list, tuple)):
        return hps.Choice(name, list(value), default=value[0])
    return hps.Fixed(name, value)
