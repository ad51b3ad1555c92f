"""Registered search spaces.

A pipeline file names a space and sets its values in ``[space]``. A space has
*settings* (fixed scalars that shape preprocessing, e.g. vocabulary size) and
*hyperparameters*: a scalar fixes one, a list makes it a choice the tuner
searches. Every space also owns the compile-time ``optimizer`` and
``learning_rate`` that AutoKeras would otherwise search itself.

This module is light (no TensorFlow) so that pipelines validate instantly;
the builders import AutoKeras when a search actually runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from autosearch.errors import ConfigError

OPTIMIZERS = ("adam", "sgd", "adam_weight_decay")
COMPILE = {"optimizer": "adam", "learning_rate": [0.001]}  # every space owns these two (see module doc)


@dataclass(frozen=True)
class SpaceSpec:
    name: str
    kinds: tuple[str, ...]
    settings: Mapping[str, Any]
    hyperparameters: Mapping[str, Any]
    builder: str  # "module:function" in autosearch.spaces.blocks, imported on use
    doc: str

    def build(self, params: Mapping[str, Any], problem: str, columns: tuple[str, ...] = ()) -> tuple[Any, Any]:
        """(input node, output node) of the AutoKeras graph for these values."""
        import importlib

        module, _, func = self.builder.partition(":")
        return getattr(importlib.import_module(module), func)(params, problem, columns)


SPACES: dict[str, SpaceSpec] = {}


def register_space(spec: SpaceSpec) -> SpaceSpec:
    SPACES[spec.name] = spec
    return spec


def _check_value(src: str, key: str, value: Any, default: Any, tunable: bool) -> Any:
    values = value if isinstance(value, list) else [value]
    if not tunable and isinstance(value, list):
        raise ConfigError(f"{src}: space.{key} is a fixed setting; give one value, not a list.")
    if not values:
        raise ConfigError(f"{src}: space.{key} is an empty list; give at least one value.")
    sample = default[0] if isinstance(default, list) else default
    for v in values:
        ok = isinstance(v, str) if isinstance(sample, str) else (
            isinstance(v, (int, float)) and not isinstance(v, bool)
            and (isinstance(sample, float) or float(v).is_integer())
        )
        if not ok or (not isinstance(v, str) and v < 0):
            raise ConfigError(
                f"{src}: space.{key} = {value!r} is not allowed; give "
                f"{'a name' if isinstance(sample, str) else 'non-negative numbers'} like {default!r}."
            )
    if key == "optimizer" and any(v not in OPTIMIZERS for v in values):
        raise ConfigError(f"{src}: space.optimizer = {value!r} is not allowed; use {', '.join(OPTIMIZERS)}.")
    cast = (lambda v: v) if isinstance(sample, str) else (float if isinstance(sample, float) else int)
    out = [cast(v) for v in values]
    return out if isinstance(value, list) else out[0]


def validate_space(src: str, name: str, kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Space ``name``'s ``values`` (a pipeline's ``[space]``) with defaults filled in, checked against
    its declaration; ``src`` names the pipeline file in errors, ``kind`` is its data kind."""
    spec = SPACES.get(name)
    if spec is None:
        raise ConfigError(f"{src}: search.space = '{name}' is unknown; use one of {', '.join(sorted(SPACES))}.")
    if kind not in spec.kinds:
        fits = [n for n, s in SPACES.items() if kind in s.kinds]
        raise ConfigError(f"{src}: space '{spec.name}' is for {'/'.join(spec.kinds)} data; use {', '.join(fits)}.")
    allowed = {**spec.settings, **spec.hyperparameters}
    for key in values:
        if key not in allowed:
            raise ConfigError(f"{src}: unknown key 'space.{key}'; allowed keys in [space]: {', '.join(allowed)}.")
    return {
        key: _check_value(src, key, values.get(key, default), default, key in spec.hyperparameters)
        for key, default in allowed.items()
    }


def get_space(name: str) -> SpaceSpec:
    return SPACES[name]


import autosearch.spaces.builtin  # noqa: E402,F401  (registers the built-in spaces)

