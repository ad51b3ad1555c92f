"""A search space of your own: a residual MLP block for tables, searched by autosearch.

Run it (from the repository root):
    PYTHONPATH=examples/user_space .venv/bin/autosearch search --pipeline examples/user_space/pipeline.toml
"""

from __future__ import annotations

import autokeras as ak
import keras

from autosearch.spaces.hp import tune


@keras.utils.register_keras_serializable(package="my_spaces")  # so that bundles reload it
class ResidualMLP(ak.Block):
    """Dense layers with skip connections; its hyperparameters come from the pipeline's [space]."""

    def __init__(self, spec: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.spec = dict(spec or {})

    def get_config(self) -> dict:
        return {**super().get_config(), "spec": self.spec}

    def build(self, hp, inputs=None):
        x = keras.layers.Normalization()(keras.tree.flatten(inputs)[0])
        units = tune(hp, "units", self.spec["units"])  # a list in [space] is a choice, a scalar is fixed
        x = keras.layers.Dense(units, activation="relu")(x)
        for _ in range(tune(hp, "blocks", self.spec["blocks"])):
            skip = x
            x = keras.layers.Dense(units, activation="relu")(x)
            x = keras.layers.Dropout(tune(hp, "dropout", self.spec["dropout"]))(x)
            x = keras.layers.Add()([x, skip])
        return x


def build(params: dict, problem: str, columns: tuple[str, ...]):
    """The space's builder: (input node, output node) of the AutoKeras graph for these [space] values."""
    node = ak.StructuredDataInput(column_names=list(columns) or None, name="table")
    out = ResidualMLP(spec={k: params[k] for k in ("units", "blocks", "dropout")}, name="residual")(node)
    head = ak.ClassificationHead(name="target") if problem == "classification" else ak.RegressionHead(
        metrics=["mean_absolute_error"], name="target")
    return node, head(out)
