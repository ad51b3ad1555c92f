"""The AutoKeras 3.0.0 nodes a pipeline's ``[graph]`` may use, and what each argument takes (light: no
TensorFlow, so that a pipeline validates instantly).

``HP`` arguments take a fixed value, a choice (a list) or a range (``{min, max, step, sampling}``), all
recorded as the trial's hyperparameters ``<node id>/<argument>``; ``ONE`` arguments take a single value
(AutoKeras searches its own range when the argument is left out); ``DRAWN`` arguments take a single value,
or a list of the values AutoKeras draws from itself, tried in that order (the first is its first trial's).
Read from AutoKeras 3.0.0's sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

HP, ONE, DRAWN = "hp", "one", "drawn"


@dataclass(frozen=True)
class Arg:
    type: type  # int, float, bool or str
    takes: str = HP  # HP, ONE or DRAWN
    choices: tuple[Any, ...] = ()  # the allowed values, when AutoKeras has a fixed set


@dataclass(frozen=True)
class NodeType:
    role: str  # input | block | head
    args: Mapping[str, Arg]
    kind: str | None = None  # for inputs: the data kind they read
    doc: str = ""


_REDUCTION = ("flatten", "global_max", "global_avg")
NODES: dict[str, NodeType] = {
    # inputs (autosearch's word tokenizer replaces AutoKeras' 500-word TextTokenizer, see the README)
    "TextInput": NodeType("input", {"max_tokens": Arg(int, ONE), "sequence_length": Arg(int, ONE),
                                    "column": Arg(str, ONE)}, "text", "raw text, tokenized into word ids"),
    "ImageInput": NodeType("input", {}, "image", "images (n, height, width, channels)"),
    "StructuredDataInput": NodeType("input", {"columns": Arg(list, ONE)}, "structured",
                                    "table columns (all feature columns unless listed)"),
    # blocks
    "DenseBlock": NodeType("block", {"num_layers": Arg(int), "num_units": Arg(int), "dropout": Arg(float),
                                     "use_batchnorm": Arg(bool, ONE)}, doc="dense layers"),
    "ConvBlock": NodeType("block", {"kernel_size": Arg(int), "num_blocks": Arg(int), "num_layers": Arg(int),
                                    "filters": Arg(int), "dropout": Arg(float), "max_pooling": Arg(bool, ONE),
                                    "separable": Arg(bool, ONE)}, doc="1-D/2-D convolutions"),
    "RNNBlock": NodeType("block", {"bidirectional": Arg(bool), "num_layers": Arg(int),
                                   "layer_type": Arg(str, HP, ("gru", "lstm")),
                                   "return_sequences": Arg(bool, ONE)}, doc="recurrent layers"),
    "Embedding": NodeType("block", {"embedding_dim": Arg(int), "dropout": Arg(float),
                                    "max_features": Arg(int, ONE)}, doc="word embeddings"),
    "ResNetBlock": NodeType("block", {"version": Arg(str, ONE, ("v1", "v2")), "pretrained": Arg(bool, ONE)}),
    "XceptionBlock": NodeType("block", {"pretrained": Arg(bool, ONE)}),
    "EfficientNetBlock": NodeType("block", {"version": Arg(str, ONE, tuple(f"b{i}" for i in range(8))),
                                            "pretrained": Arg(bool, ONE)}),
    "Normalization": NodeType("block", {"axis": Arg(int, ONE)}),
    "ImageAugmentation": NodeType("block", {"translation_factor": Arg(float), "rotation_factor": Arg(float),
                                            "zoom_factor": Arg(float), "contrast_factor": Arg(float),
                                            "vertical_flip": Arg(bool, ONE), "horizontal_flip": Arg(bool, ONE)}),
    "SpatialReduction": NodeType("block", {"reduction_type": Arg(str, ONE, _REDUCTION)}),
    "TemporalReduction": NodeType("block", {"reduction_type": Arg(str, ONE, _REDUCTION)}),
    "Flatten": NodeType("block", {}),
    "Merge": NodeType("block", {"merge_type": Arg(str, ONE, ("add", "concatenate"))}, doc="joins several inputs"),
    "ImageBlock": NodeType("block", {"block_type": Arg(str, DRAWN, ("resnet", "xception", "vanilla", "efficient")),
                                     "normalize": Arg(bool, ONE), "augment": Arg(bool, ONE)},
                           doc="AutoKeras' image search (pretrained weights off, no 224x224 resizing)"),
    "TextBlock": NodeType("block", {}, doc="embedding -> convolutions -> reduction -> dense"),
    "StructuredDataBlock": NodeType("block", {"normalize": Arg(bool, ONE)}, doc="normalization -> dense"),
    # heads
    "ClassificationHead": NodeType("head", {"dropout": Arg(float, ONE)}),
    "RegressionHead": NodeType("head", {"dropout": Arg(float, ONE)}),
}
KEYS = ("type", "inputs")  # every node's own keys besides its arguments
