"""What a search space is: ``SpaceSpec`` and the values every space shares (light, no TensorFlow).

The lowest floor of ``spaces``: the registry and the built-in spaces both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from autosearch.errors import ConfigError

OPTIMIZERS = ("adam", "sgd", "adam_weight_decay")
COMPILE = {"optimizer": "adam", "learning_rate": [0.001]}  # every space owns these two (see autosearch.spaces.registry)


KINDS = ("text", "image", "structured")
AUTO = "auto"  # a setting fitted to the training split


@dataclass(frozen=True)
class SpaceSpec:
    name: str
    kinds: tuple[str, ...]
    settings: Mapping[str, Any]
    hyperparameters: Mapping[str, Any] | None  # None: open (a user's bare builder takes any values)
    builder: str  # "module:function", imported on use
    doc: str = ""
    fitter: str | None = None  # "module:function"(values, train inputs) -> the "auto" settings, fitted
    # (space key, hyperparameter name): a greedy search's first trials take that key's listed values in
    # turn, one trial each, before the tuner mutates the best (e.g. one trial per model family)
    first_trials: tuple[str, str] | None = None

    def initial_trials(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The hyperparameter values of the first trials for the pipeline's ``params`` (see ``first_trials``)."""
        if self.first_trials is None:
            return []
        key, name = self.first_trials
        values = params.get(key)
        return [{name: v} for v in values] if isinstance(values, list) and len(values) > 1 else []

    @property
    def module(self) -> str:
        """The module that defines the builder: a bundle of this space imports it before loading."""
        return self.builder.partition(":")[0]

    def build(self, params: Mapping[str, Any], problem: str, columns: tuple[str, ...] = ()) -> tuple[Any, Any]:
        """(input node, output node) of the AutoKeras graph for these values."""
        return resolve(self.builder)(params, problem, columns)

    def fit(self, params: Mapping[str, Any], train_inputs: Any) -> dict[str, Any]:
        """``params`` with every ``"auto"`` setting replaced by the value fitted to ``train_inputs``."""
        auto = [k for k, v in params.items() if v == AUTO]
        if not auto:
            return dict(params)
        fitted = resolve(self.fitter)(params, train_inputs) if self.fitter else {}
        missing = [k for k in auto if k not in fitted]
        if missing:
            raise ConfigError(f"space '{self.name}' cannot fit {', '.join(missing)} to the data; give values.")
        return {**params, **{k: fitted[k] for k in auto}}


def resolve(ref: str) -> Any:
    """The object ``"package.module:name"`` names (its module imported on use)."""
    import importlib

    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
