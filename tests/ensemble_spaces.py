"""A space of a user's own whose trials see one column each, for tests/test_ensemble_search.py
(``space = "ensemble_spaces:one_column"``): on data whose label needs both columns, each trial alone is
weak and the average of two trials that look at different columns is strong, so an ensemble wins."""

from __future__ import annotations

import autokeras as ak
import keras
import numpy as np
import pandas as pd

from autosearch.spaces.hp import tune


def two_column_table(path, rows: int = 1200, seed: int = 0):
    """A CSV whose label is the sign of a + b (plus a little noise): each column alone gets ~3/4 right."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    label = np.where(a + b + rng.normal(scale=0.2, size=rows) > 0, "yes", "no")
    pd.DataFrame({"a": a, "b": b, "label": label}).to_csv(path, index=False)
    return path


@keras.utils.register_keras_serializable(package="ensemble_spaces")
class PickColumn(keras.layers.Layer):
    def __init__(self, index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, inputs):
        return inputs[:, self.index : self.index + 1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "index": self.index}


@keras.utils.register_keras_serializable(package="ensemble_spaces")
class OneColumn(ak.Block):
    def __init__(self, spec: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = dict(spec or {})

    def get_config(self) -> dict:
        return {**super().get_config(), "spec": self.spec}

    def build(self, hp, inputs=None):
        x = keras.tree.flatten(inputs)[0]
        x = PickColumn(tune(hp, "column", self.spec.get("column", [0, 1])))(x)
        return keras.layers.Dense(4, activation="tanh")(x)


def one_column(params: dict, problem: str, columns: tuple[str, ...]):
    node = ak.StructuredDataInput(column_names=list(columns) or None, name="table")
    out = OneColumn(spec={"column": params.get("column", [0, 1])}, name="one")(node)
    return node, ak.ClassificationHead(name="target", dropout=0)(out)
