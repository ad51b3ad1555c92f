"""autosearch: AutoKeras searches with per-trial experiment tracking.

Importing this package imports neither TensorFlow nor pandas: the entry points
that train, load models or build DataFrames import them when called.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from autosearch.quiet import quiet_native_logs

quiet_native_logs()  # TensorFlow and gRPC read their log thresholds once, as they load: before anything imports them

from autosearch.config import PipelineConfig, load_pipeline  # noqa: E402 - after the thresholds are set
from autosearch.errors import AutosearchError
from autosearch.tracking import get_tracker

if TYPE_CHECKING:
    from autosearch.workflows.search import SearchResult

__all__ = ["AutosearchError", "PipelineConfig", "__version__", "get_tracker", "leaderboard", "load", "load_pipeline",
           "search", "trials"]

# name -> module that defines it, imported on first use
_LAZY = {"load": "autosearch.export.predictor", "leaderboard": "autosearch.views.leaderboard",
         "trials": "autosearch.views.leaderboard"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autosearch' has no attribute {name!r}")


def search(pipeline: "str | PipelineConfig", overrides: dict | None = None, tracker: Any = None,
           progress: Any = None) -> "SearchResult":
    """Run a tracked search for a pipeline (a name, a path or a config); see ``autosearch.workflows.search``.

    A tracker given as a URI (or the default) is opened and closed here; a
    ``Tracker`` instance is left open for the caller.
    """
    from autosearch.tracking.registry import autosearch_home
    from autosearch.workflows.search import run_search

    cfg = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(pipeline, overrides)
    opened = get_tracker(tracker)
    try:
        return run_search(cfg, opened, autosearch_home(), progress)
    finally:
        if opened is not tracker:
            opened.close()
