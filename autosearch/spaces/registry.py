"""Registered search spaces.

A pipeline file names a space and sets its values in ``[space]``. A space has
*settings* (fixed scalars that shape preprocessing, e.g. vocabulary size; a
setting declared ``"auto"`` is fitted to the training split unless the pipeline
fixes it) and *hyperparameters*: a scalar fixes one, a list makes it a choice,
a table ``{min, max, step, sampling}`` a range the tuner searches. Every space
also owns the compile-time ``optimizer`` and ``learning_rate`` that AutoKeras
would otherwise search itself.

A pipeline may also name a space in the user's own code, ``"package.module:name"``:
a ``SpaceSpec`` (declared settings and hyperparameters, validated like the
built-in ones) or a bare builder ``build(params, problem, columns) -> (inputs,
outputs)`` whose ``[space]`` values are passed through.

This module is light (no TensorFlow) so that pipelines validate instantly;
the builders import AutoKeras when a search actually runs.
"""

from __future__ import annotations

from typing import Any, Mapping

from autosearch.errors import ConfigError
from autosearch.spaces.builtin import BUILTIN_SPACES
from autosearch.spaces.spec import AUTO, COMPILE, KINDS, OPTIMIZERS, SpaceSpec, resolve

SPACES: dict[str, SpaceSpec] = {}


def register_space(spec: SpaceSpec) -> SpaceSpec:
    SPACES[spec.name] = spec
    return spec


def _check_value(src: str, key: str, value: Any, default: Any, tunable: bool) -> Any:
    if default == AUTO:  # fitted unless fixed: "auto" or a positive whole number
        if isinstance(value, (list, Mapping)):
            raise ConfigError(f"{src}: space.{key} is a fixed setting; give one value (\"auto\" or a number), "
                              "not a list.")
        if value == AUTO or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return value
        raise ConfigError(f"{src}: space.{key} = {value!r} is not allowed; give \"auto\" (fitted to the training "
                          "data) or a positive whole number.")
    if isinstance(value, Mapping):
        if not tunable:
            raise ConfigError(f"{src}: space.{key} is a fixed setting; give one value, not a range.")
        return check_range(src, f"space.{key}", value)
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
    if isinstance(sample, str) and isinstance(default, list) and any(v not in default for v in values):
        raise ConfigError(f"{src}: space.{key} = {value!r} is not allowed; use some of {', '.join(default)}.")
    cast = (lambda v: v) if isinstance(sample, str) else (float if isinstance(sample, float) else int)
    out = [cast(v) for v in values]
    return out if isinstance(value, list) else out[0]


def check_range(src: str, where: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """A searched range ``{min, max, step?, sampling?}``: whole numbers make an Int, else a Float."""
    where = f"{src}: {where}" if src else where
    allowed = ("min", "max", "step", "sampling")
    unknown = [k for k in value if k not in allowed]
    if unknown or "min" not in value or "max" not in value:
        raise ConfigError(f"{where} = {dict(value)!r} is not a range; give {{min = 1, max = 4}} with optional "
                          "step and sampling = \"linear\" or \"log\".")
    lo, hi, step = value["min"], value["max"], value.get("step")
    numbers = [v for v in (lo, hi, step) if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers) or not lo < hi:
        raise ConfigError(f"{where}: min and max must be numbers with min < max (got {lo!r}, {hi!r}).")
    sampling = value.get("sampling", "linear")
    if sampling not in ("linear", "log") or (sampling == "log" and lo <= 0):
        raise ConfigError(f"{where}: sampling must be \"linear\" or \"log\" (log needs min > 0).")
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: step must be positive (got {step!r}).")
    return {k: value[k] for k in allowed if k in value}


def get_space(name: str, src: str = "search.space") -> SpaceSpec:
    """A registered space, or the user's ``"package.module:name"`` (a ``SpaceSpec`` or a bare builder)."""
    if name in SPACES:
        return SPACES[name]
    if ":" not in name:
        raise ConfigError(f"{src}: search.space = '{name}' is unknown; use one of {', '.join(sorted(SPACES))}, "
                          "or 'package.module:builder' for a space in your own code.")
    module = name.partition(":")[0]
    try:
        found = resolve(name)
    except ImportError as exc:
        raise ConfigError(f"{src}: search.space = '{name}': cannot import {module} ({exc}); make it importable "
                          "(pip install -e your package, or add its folder to PYTHONPATH).") from None
    except AttributeError:
        raise ConfigError(f"{src}: search.space = '{name}': {module} has no {name.partition(':')[2]}.") from None
    if isinstance(found, SpaceSpec):
        return found
    if not callable(found):
        raise ConfigError(f"{src}: search.space = '{name}' is neither a SpaceSpec nor a builder function.")
    return SpaceSpec(name=name, kinds=KINDS, settings={}, hyperparameters=None, builder=name,
                     doc=(found.__doc__ or "").strip().splitlines()[0] if found.__doc__ else "")


def validate_space(src: str, name: str, kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Space ``name``'s ``values`` (a pipeline's ``[space]``) with defaults filled in, checked against
    its declaration; ``src`` names the pipeline file in errors, ``kind`` is its data kind."""
    spec = get_space(name, src)
    if kind not in spec.kinds:
        fits = [n for n, s in SPACES.items() if kind in s.kinds]
        raise ConfigError(f"{src}: space '{spec.name}' is for {'/'.join(spec.kinds)} data; use {', '.join(fits)}.")
    if spec.hyperparameters is None:  # a bare builder of the user's: its values pass through
        open_values = {**COMPILE, **values}
        for key, value in open_values.items():
            if key in COMPILE:
                open_values[key] = _check_value(src, key, value, COMPILE[key], True)
        return open_values
    allowed = {**spec.settings, **spec.hyperparameters}
    for key in values:
        if key not in allowed:
            raise ConfigError(f"{src}: unknown key 'space.{key}'; allowed keys in [space]: {', '.join(allowed)}.")
    return {
        key: _check_value(src, key, values.get(key, default), default, key in spec.hyperparameters)
        for key, default in allowed.items()
    }


GRAPH = "graph"  # the space of a pipeline that declares its AutoKeras graph in [graph] tables
register_space(SpaceSpec(name=GRAPH, kinds=KINDS, settings={}, hyperparameters=COMPILE,
                         builder="autosearch.spaces.graph_build:build_graph",
                         doc="the AutoKeras graph declared in the pipeline's [graph] tables"))
for _builtin in BUILTIN_SPACES:
    register_space(_builtin)

