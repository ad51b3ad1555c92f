"""What a bundle says about itself before the model files are added: ids, task, input schema,
classes, objective, scores and the data fingerprint."""

from __future__ import annotations

from typing import Any, Mapping

from autosearch.config import PipelineConfig
from autosearch.data import SplitData
from autosearch.spaces.graph import input_layout, user_modules
from autosearch.data.impute import STRATEGY


def input_schema(split: SplitData) -> dict[str, Any]:
    """What raw inputs a model of this data set takes (for bundles and predict)."""
    ds = split.dataset
    if ds.kind == "text":
        return {"kind": "text", "text_column": ds.source.get("text_column", "text")}
    if ds.kind == "image":
        return {"kind": "image", "image_shape": [int(d) for d in ds.x.shape[1:]]}
    # Gaps in any column are filled with the training split's values, in training and in predict
    # (``autosearch.data.impute``); a bundle without "fill" leaves them to AutoKeras (numbers: 0).
    return {"kind": "structured", "columns": list(ds.columns), "dtypes": {c: str(t) for c, t in ds.x.dtypes.items()},
            "fill": dict(split.fill or {}), "fill_strategy": STRATEGY}


def bundle_manifest(cfg: PipelineConfig, split: SplitData, run_id: str, trial_id: str,
                    objective: float | None, scores: Mapping[str, Any] | None = None) -> dict[str, Any]:
    layout = input_layout(cfg.graph)  # only a several-input graph has one
    return {
        "run_id": run_id, "trial_id": trial_id, "pipeline": cfg.name, "task": cfg.task, "kind": cfg.kind,
        "problem": cfg.problem, "input": {**input_schema(split), **({"layout": layout} if layout else {})},
        "class_names": list(split.dataset.class_names) if split.dataset.class_names else None,
        "objective": {"name": cfg.search.objective, "direction": cfg.search.direction, "value": objective},
        "scores": dict(scores or {}), "data_fingerprint": split.fingerprint,
        "imports": user_modules(cfg.search.space, cfg.graph),
    }
