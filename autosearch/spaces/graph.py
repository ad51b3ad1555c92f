"""An AutoKeras graph declared in a pipeline's ``[graph]`` tables, validated on load and built on use.

```toml
[graph.table]                 # a node, by its id
type = "StructuredDataInput"

[graph.dense]
type = "DenseBlock"
inputs = ["table"]            # ids of earlier nodes
num_layers = [1, 2]           # a choice
num_units = {min = 16, max = 128, step = 16}   # a range
dropout = 0.25                # fixed (and recorded)

[graph.head]
type = "ClassificationHead"
inputs = ["dense"]
```

``type`` is an AutoKeras node (``autosearch.spaces.catalog``) or a block class in the user's code
(``"package.module:Class"``, its arguments passed through). Validation needs no TensorFlow;
``build_graph`` imports AutoKeras.
"""

from __future__ import annotations

from typing import Any, Mapping

from autosearch.errors import ConfigError
from autosearch.spaces.catalog import DRAWN, HP, KEYS, NODES, Arg
from autosearch.spaces.registry import check_range


def _check_arg(where: str, arg: Arg, value: Any) -> Any:
    def one(v: Any) -> Any:
        ok = isinstance(v, arg.type) and not (arg.type in (int, float) and isinstance(v, bool))
        if arg.type is float and isinstance(v, int) and not isinstance(v, bool):
            ok, v = True, float(v)
        if not ok:
            raise ConfigError(f"{where} = {v!r} is not allowed; give a {arg.type.__name__}.")
        if arg.choices and v not in arg.choices:
            raise ConfigError(f"{where} = {v!r} is not allowed; use one of {', '.join(map(str, arg.choices))}.")
        return v

    if arg.type is list:
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value) or not value:
            raise ConfigError(f"{where} must be a list of column names.")
        return value
    if isinstance(value, list) and arg.takes == DRAWN and value:
        return [one(v) for v in value]
    if isinstance(value, Mapping) or isinstance(value, list):
        if arg.takes != HP:
            raise ConfigError(f"{where} takes one value, not a choice or range (leave it out to let AutoKeras "
                              "search its own range).")
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"{where} is an empty list; give at least one value.")
            return [one(v) for v in value]
        if arg.type not in (int, float):
            raise ConfigError(f"{where}: a range needs a number argument; give a list of choices.")
        return check_range("", where, value)
    return one(value)


def validate_graph(src: str, graph: Mapping[str, Any], kind: str, problem: str,
                   columns: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """The ``[graph]`` tables, checked: known node types and arguments, edges to earlier nodes, inputs of
    the pipeline's data kind, exactly one head of the pipeline's problem."""
    if not isinstance(graph, Mapping) or not graph:
        raise ConfigError(f"{src}: [graph] is empty; declare inputs, blocks and a head as [graph.<id>] tables.")
    out: dict[str, dict[str, Any]] = {}
    for node_id, node in graph.items():
        where = f"{src}: graph.{node_id}"
        if not isinstance(node, Mapping) or "type" not in node:
            raise ConfigError(f"{where} needs a type, e.g. type = \"DenseBlock\".")
        ntype, inputs = node["type"], node.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ConfigError(f"{where}.inputs must be a list of node ids.")
        unknown = [i for i in inputs if i not in out]
        if unknown:
            raise ConfigError(f"{where}.inputs names {', '.join(unknown)}, which is not an earlier node; "
                              f"earlier nodes: {', '.join(out) or 'none'}.")
        spec = NODES.get(ntype)
        if spec is None:
            if ":" not in str(ntype):
                raise ConfigError(f"{where}.type = {ntype!r} is unknown; use one of {', '.join(NODES)}, or "
                                  "'package.module:Class' for a block of your own.")
            out[node_id] = {**node, "inputs": inputs}  # a user block: its arguments pass through
            continue
        for key in node:
            if key not in KEYS and key not in spec.args:
                allowed = ", ".join(spec.args) or "none"
                raise ConfigError(f"{where}: {ntype} has no argument '{key}'; its arguments: {allowed}.")
        if spec.role == "input" and inputs:
            raise ConfigError(f"{where}: an input takes no inputs.")
        if spec.role != "input" and not inputs:
            raise ConfigError(f"{where}: {ntype} needs inputs = [\"<id of an earlier node>\"].")
        table_text = ntype == "TextInput" and kind == "structured" and "column" in node  # a text column of a table
        if spec.role == "input" and spec.kind != kind and not table_text:
            raise ConfigError(f"{where}: {ntype} reads {spec.kind} data but this pipeline's task reads {kind} "
                              "data.")
        if spec.role == "input" and columns is not None:
            for col in [*node.get("columns", []), *([node["column"]] if "column" in node else [])]:
                if col not in columns:
                    raise ConfigError(f"{where}.columns names '{col}', not a feature column.")
        args = {k: _check_arg(f"{where}.{k}", spec.args[k], v) for k, v in node.items() if k not in KEYS}
        out[node_id] = {"type": ntype, "inputs": inputs, **args}
    heads = [i for i, n in out.items() if NODES.get(n["type"], None) and NODES[n["type"]].role == "head"]
    want = "ClassificationHead" if problem == "classification" else "RegressionHead"
    if len(heads) != 1 or out[heads[0]]["type"] != want:
        raise ConfigError(f"{src}: [graph] needs exactly one head, a {want} (this pipeline's problem is "
                          f"{problem}); found {', '.join(out[h]['type'] for h in heads) or 'none'}.")
    if not any(NODES.get(n["type"]) and NODES[n["type"]].role == "input" for n in out.values()):
        raise ConfigError(f"{src}: [graph] has no input node; start it with a {kind} input.")
    return out


def inputs_first(graph: Any) -> Any:
    """A recorded graph's nodes with each after the nodes it reads, the order otherwise kept. Runs recorded
    before autosearch kept the declaration order in the tracker hold their nodes sorted by id; with a single
    input this is the declared graph again (a several-input graph's inputs stay in their recorded order)."""
    if not isinstance(graph, Mapping):
        return graph
    placed: dict[str, Any] = {}
    waiting = dict(graph)
    while waiting:
        ready = [i for i, n in waiting.items()
                 if not isinstance(n, Mapping) or all(j in placed or j not in graph for j in n.get("inputs", []))]
        if not ready:  # a cycle or a bad reference: left as recorded, for validate_graph to name
            return graph
        for i in ready:
            placed[i] = waiting.pop(i)
    return placed


def graph_inputs(graph: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """(id, node) of the graph's input nodes, in declaration order: the order the model takes its inputs."""
    return [(i, n) for i, n in graph.items() if NODES.get(n["type"]) and NODES[n["type"]].role == "input"]


def drawn_choices(graph: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """``{"<node id>/<argument>": values}`` of the ``DRAWN`` arguments given as a list: AutoKeras draws them
    itself under that name, and a hyperparameter registered first with these values (in this order) wins."""
    out = {}
    for node_id, node in (graph or {}).items():
        spec = NODES.get(node["type"])
        for key, value in node.items():
            if spec and key in spec.args and spec.args[key].takes == DRAWN and isinstance(value, list):
                out[f"{node_id}/{key}"] = value
    return out


def input_layout(graph: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """How rows map onto the model's inputs: None when one input reads the whole data (the usual case),
    else one entry per input, in order, with the ``column``/``columns`` it reads."""
    inputs = graph_inputs(graph) if graph else []
    if len(inputs) <= 1 and not any("column" in n or "columns" in n for _, n in inputs):
        return None
    return [{"id": i, "type": n["type"], **{k: n[k] for k in ("column", "columns") if k in n}} for i, n in inputs]


_APPLICATIONS = ("ImageBlock", "ResNetBlock", "XceptionBlock", "EfficientNetBlock")


def applied_fixes(graph: Mapping[str, Mapping[str, Any]], space: Mapping[str, Any]) -> list[str]:
    """The measured AutoKeras 3.0.0 workarounds (README) that apply to this graph, as the run records them."""
    types = {n["type"] for n in graph.values()}
    fixes = [f"optimizer pinned to {space.get('optimizer', 'adam')!r}, learning rate searched in the pipeline's "
             "[space] (AutoKeras' adam_weight_decay decays to 0)"]
    if "TextInput" in types:
        fixes.append("text inputs use autosearch's word tokenizer (lower-cased words, out-of-vocabulary id) "
                     "instead of TextTokenizer's 500 case-sensitive tokens")
    if "TextBlock" in types:
        fixes.append("TextBlock's embedding covers its input's vocabulary")
    if types & set(_APPLICATIONS):
        fixes.append("trials asking for pretrained ImageNet weights are INVALID (offline), never a crash")
        fixes.append("trials resizing images to 224x224 (imagenet_size) are INVALID: bounded resizing on CPU")
    return fixes


def user_modules(space: str, graph: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Modules of the user's own code that a model of this pipeline needs imported to load (its space's
    builder, its graph's own block classes): bundles record them and ``autosearch.load`` imports them."""
    refs = [space] + [str(n["type"]) for n in (graph or {}).values()]
    return sorted({ref.partition(":")[0] for ref in refs if ":" in ref})
