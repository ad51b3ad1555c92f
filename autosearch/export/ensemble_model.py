"""An ensemble of trials as one Keras model: the members nested under distinct names, their outputs
weighted and summed, all fed by the one fitted preprocessing they share.

Built from Keras' own layers only (``Rescaling`` by a member's weight, ``Add``) around copies of the members'
layers in one flat graph, so the bundle reloads in every format (H5 included) with the custom objects a
single trial needs. The members must share their preprocessing
(the same AutoKeras pipeline, so the same inputs and the same class order); their heads' outputs (class
probabilities, one sigmoid column for two classes, or regression values) are averaged as they are.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from autosearch.errors import ExportError


def _spec(model: Any) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(t.shape[1:]), str(t.dtype)) for t in model.inputs]


def _inlined(model: Any, feed: list, prefix: str) -> Any:
    """``model``'s output computed from ``feed`` by copies of its layers named ``prefix + name``, holding its
    weights: the members' layers sit in the ensemble's one flat graph. Nested, the members' models would be
    saved to H5 and read back without their adapted state (a Normalization's mean and variance: 0.8 off)."""
    import keras

    def renamed(layer: Any) -> Any:
        return layer.__class__.from_config({**layer.get_config(), "name": prefix + layer.name})

    clone = keras.models.clone_model(model, input_tensors=keras.tree.pack_sequence_as(model.input, feed),
                                     clone_function=renamed)
    copies = {layer.name: layer for layer in clone.layers}
    for layer in model.layers:
        if layer.weights:
            copy = copies[prefix + layer.name]
            copy.set_weights(layer.get_weights())
            if hasattr(copy, "finalize_state"):  # an adapted Normalization reads its mean and variance here
                copy.finalize_state()
    return clone.outputs[0]


def ensemble_model(members: Sequence[tuple[str, Any]], weights: Sequence[float]) -> Any:
    """One Keras model averaging ``members`` ((name, model) pairs, names unique) with ``weights`` (summing
    to 1). ``ExportError`` when the members do not take the same inputs or give the same output shape."""
    import keras

    if len(members) != len(weights) or not members:
        raise ExportError(f"an ensemble needs one weight per member; got {len(members)} members, {len(weights)} "
                          "weights.")
    first = members[0][1]
    for name, model in members[1:]:
        if _spec(model) != _spec(first) or tuple(model.outputs[0].shape[1:]) != tuple(first.outputs[0].shape[1:]):
            raise ExportError(f"ensemble member {name} takes inputs {_spec(model)} and gives "
                              f"{tuple(model.outputs[0].shape[1:])}, unlike {members[0][0]}'s {_spec(first)} and "
                              f"{tuple(first.outputs[0].shape[1:])}: members must share their preprocessing.")
    inputs = [keras.Input(shape=shape, dtype=dtype, name=f"ensemble_input_{i}")
              for i, (shape, dtype) in enumerate(_spec(first))]
    feed = list(inputs)  # a list even for one input, as AutoKeras' models take it (a SavedModel serves a list)
    outputs = []
    for (name, model), weight in zip(members, weights):
        label = re.sub(r"\W", "_", str(name))
        outputs.append(keras.layers.Rescaling(float(weight), name=f"weight_{label}")(
            _inlined(model, feed, f"member_{label}_")))
    mean = keras.layers.Add(name="ensemble_mean")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(feed, mean, name="ensemble")
