"""The built-in search spaces: their settings, hyperparameters and default values (light, no TensorFlow).

The builders they name live in ``autosearch.spaces.blocks`` and are imported when a model is built.
"""

from __future__ import annotations

from autosearch.spaces.registry import COMPILE, SpaceSpec, register_space

register_space(SpaceSpec(
    name="text_embedding_pool",
    kinds=("text",),
    settings={"max_tokens": 20000, "sequence_length": 64},
    hyperparameters={"embedding_dim": [64, 128], "dropout": [0.0, 0.3], "dense_units": [0, 64],
                     **COMPILE},
    builder="autosearch.spaces.blocks:text_embedding_pool",
    doc="lower-cased word tokenizer -> embedding -> masked global average pooling -> dense",
))
register_space(SpaceSpec(
    name="image_conv",
    kinds=("image",),
    settings={},
    hyperparameters={"conv_blocks": [1, 2], "filters": [32, 64], "dropout": [0.0, 0.25],
                     "dense_units": [64, 128], **COMPILE},
    builder="autosearch.spaces.blocks:image_conv",
    doc="normalization -> conv blocks (3x3 conv, relu, max pooling) -> dense",
))
register_space(SpaceSpec(
    name="structured_mlp",
    kinds=("structured",),
    settings={},
    hyperparameters={"layers": [1, 2], "units": [32, 64], "dropout": [0.0, 0.25], **COMPILE},
    builder="autosearch.spaces.blocks:structured_mlp",
    doc="categorical encoding -> normalization -> dense layers",
))
