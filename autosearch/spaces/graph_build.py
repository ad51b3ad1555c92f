"""Build a validated ``[graph]`` (``autosearch.spaces.graph``) into AutoKeras nodes. Imports AutoKeras.

autosearch's measured fixes apply to every graph: text inputs use the word tokenizer (``WordTextInput``),
a ``TextBlock``'s vocabulary follows its input's, every node is named by its id (AutoKeras' process-wide
name counters would otherwise rename them when a trial is rebuilt in the same process), and trials that
would download pretrained weights or resize images to 224x224 are refused by the tuner
(``autosearch.tuning.hooks``).
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from autosearch.spaces.catalog import DRAWN, HP, NODES
from autosearch.spaces.hp import hyperparameter

DEFAULT_TEXT = {"max_tokens": 20000, "sequence_length": 256}


def _user_class(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _args(node_id: str, node: Mapping[str, Any]) -> dict[str, Any]:
    """Block arguments: HP-taking ones become hyperparameter objects recorded as ``<id>/<argument>``."""
    spec = NODES.get(node["type"])
    out = {}
    for key, value in node.items():
        if key in ("type", "inputs") or (spec and spec.args[key].takes == DRAWN and isinstance(value, list)):
            continue  # a DRAWN list: AutoKeras draws the value, among ours (``tuner_kwargs`` registers them)
        takes_hp = spec.args[key].takes == HP if spec else isinstance(value, (list, Mapping))
        out[key] = hyperparameter(key, value) if takes_hp else value
    return out


def build_graph(graph: Mapping[str, Mapping[str, Any]], problem: str,
                columns: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """(input node or list of input nodes, head node) of the declared graph."""
    import autokeras as ak

    from autosearch.spaces.blocks import WordTextInput

    nodes: dict[str, Any] = {}
    vocab: dict[str, int] = {}  # text input id -> its vocabulary size, for TextBlock
    inputs, head = [], None
    for node_id, node in graph.items():
        ntype, sources = node["type"], [nodes[i] for i in node.get("inputs", [])]
        if ntype == "TextInput":
            settings = {k: node.get(k, v) for k, v in DEFAULT_TEXT.items()}
            nodes[node_id] = WordTextInput(**settings, name=node_id)
            vocab[node_id] = settings["max_tokens"]
        elif ntype == "ImageInput":
            nodes[node_id] = ak.ImageInput(name=node_id)
        elif ntype == "StructuredDataInput":
            nodes[node_id] = ak.StructuredDataInput(column_names=list(node.get("columns") or columns) or None,
                                                    name=node_id)
        else:
            args = _args(node_id, node)
            if ntype == "TextBlock":  # its Embedding must cover the word ids our tokenizer emits
                args["max_tokens"] = max((vocab[i] for i in _text_sources(graph, node_id)), default=20000)
            if ntype == "RegressionHead":
                args["metrics"] = ["mean_absolute_error"]
            cls = _user_class(ntype) if ":" in ntype else getattr(ak, ntype)
            block = cls(**args, name=node_id)
            nodes[node_id] = block(sources[0] if len(sources) == 1 else sources)
            if ntype in ("ClassificationHead", "RegressionHead"):
                head = nodes[node_id]
        if ntype.endswith("Input"):
            inputs.append(nodes[node_id])
    return (inputs[0] if len(inputs) == 1 else inputs), head


def _text_sources(graph: Mapping[str, Mapping[str, Any]], node_id: str) -> list[str]:
    """The text inputs upstream of a node."""
    seen, stack, found = set(), [node_id], []
    while stack:
        current = stack.pop()
        for source in graph[current].get("inputs", []):
            if source not in seen:
                seen.add(source)
                (found if graph[source]["type"] == "TextInput" else stack).append(source)
    return found
