"""Spaces of a user's own that fail on purpose, for tests/test_failure_paths.py (``space = "failing_spaces:…"``).

- ``raising``: a table MLP whose block raises while it is built when ``layers`` > 1 (``width`` sizes it);
- ``diverging``: a table MLP whose outputs are NaN, so the loss is NaN from the first batch;
- ``diverging_first``: the same in the first trial only.
"""

from __future__ import annotations

import autokeras as ak
import keras

from autosearch.spaces.hp import tune


BUILDS = 0  # models built in this process; AutoKeras builds one before the search, then one per trial


@keras.utils.register_keras_serializable(package="failing_spaces")
class FragileMLP(ak.Block):
    def __init__(self, spec: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = dict(spec or {})

    def get_config(self) -> dict:
        return {**super().get_config(), "spec": self.spec}

    def build(self, hp, inputs=None):
        x = keras.layers.Normalization()(keras.tree.flatten(inputs)[0])
        layers = tune(hp, "layers", self.spec.get("layers", 1))
        if layers > 1:
            raise ValueError(f"a block with {layers} layers fails on purpose")
        x = keras.layers.Dense(tune(hp, "width", self.spec.get("width", 8)), activation="relu")(x)
        global BUILDS
        BUILDS += 1
        if self.spec.get("nan") is True or self.spec.get("nan") == BUILDS:
            x = keras.layers.Rescaling(float("nan"))(x)
        return x


def _graph(params: dict, problem: str, columns: tuple[str, ...], nan: bool):
    node = ak.StructuredDataInput(column_names=list(columns) or None, name="table")
    spec = {"layers": params.get("layers", 1), "width": params.get("width", 8), "nan": nan}
    out = FragileMLP(spec=spec, name="fragile")(node)
    return node, ak.ClassificationHead(name="target")(out)


def raising(params: dict, problem: str, columns: tuple[str, ...]):
    return _graph(params, problem, columns, nan=False)


def diverging(params: dict, problem: str, columns: tuple[str, ...]):
    return _graph(params, problem, columns, nan=True)


def diverging_first(params: dict, problem: str, columns: tuple[str, ...]):
    """NaN in the first trial only (the second model this process builds; reset ``BUILDS`` first)."""
    return _graph(params, problem, columns, nan=BUILDS + 2)
