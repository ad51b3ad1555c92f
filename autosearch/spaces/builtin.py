"""The built-in search spaces: their settings, hyperparameters and default values (light, no TensorFlow).

The builders they name live in ``autosearch.spaces.blocks`` and are imported when a model is built.
"""

from __future__ import annotations

from autosearch.spaces.spec import AUTO, COMPILE, SpaceSpec

# fitted to the training texts unless fixed; "preprocessing": the text preprocessing's version (a run
# recorded without one is version 1: autosearch.spaces.blocks._text_input)
TEXT_SETTINGS = {"max_tokens": AUTO, "sequence_length": AUTO, "preprocessing": AUTO}
TEXT_FITTER = "autosearch.spaces.fitting:fit_text_settings"

BUILTIN_SPACES = (  # the registry registers them, in this order, after the graph space
    SpaceSpec(
        name="text_families",
        kinds=("text",),
        settings=TEXT_SETTINGS,
        hyperparameters={"family": ["ngram", "bag", "cnn", "rnn", "linear"], "embedding_dim": [64, 128],
                         "dropout": [0.3, 0.0, 0.5], "dense_units": [0, 64],
                         "filters": [128, 64], "kernel_size": [5, 3], "rnn_units": [64, 32],
                         "linear_weighting": ["idf", "binary"],
                         "optimizer": "adam", "learning_rate": [0.003, 0.001, 0.01]},
        builder="autosearch.spaces.blocks:text_families",
        doc="word tokenizer -> one family: word+bigram bag, embedding bag, 1-D convolution or bidirectional GRU "
            "-> dense; or linear: TF-IDF rows of words and bigrams -> the head (a logistic regression)",
        fitter=TEXT_FITTER,
        first_trials=("family", "text_block/family"),  # a greedy search tries each listed family first
    ),
    SpaceSpec(
        name="text_embedding_pool",
        kinds=("text",),
        settings=TEXT_SETTINGS,
        hyperparameters={"embedding_dim": [64, 128], "dropout": [0.0, 0.3], "dense_units": [0, 64],
                         **COMPILE},
        builder="autosearch.spaces.blocks:text_embedding_pool",
        doc="lower-cased word tokenizer -> embedding -> masked global average pooling -> dense",
        fitter=TEXT_FITTER,
    ),
    SpaceSpec(
        name="image_conv",
        kinds=("image",),
        settings={},
        hyperparameters={"conv_blocks": [1, 2], "filters": [32, 64], "dropout": [0.0, 0.25],
                         "dense_units": [64, 128], **COMPILE},
        builder="autosearch.spaces.blocks:image_conv",
        doc="normalization -> conv blocks (3x3 conv, relu, max pooling) -> dense",
    ),
    SpaceSpec(
        name="structured_mlp",
        kinds=("structured",),
        settings={},
        hyperparameters={"layers": [1, 2, 0], "units": [32, 64], "dropout": [0.0, 0.25], **COMPILE},
        builder="autosearch.spaces.blocks:structured_mlp",
        doc="categorical encoding -> normalization -> dense layers (0 layers: the head on the normalised "
            "features, a linear model)",
    ),
)
