"""autosearch: AutoKeras searches with per-trial experiment tracking.

Importing this package does not import TensorFlow; the entry points that
train or load models import it when called.
"""

from __future__ import annotations

__version__ = "0.1.0"

from autosearch.config import PipelineConfig, load_pipeline
from autosearch.errors import AutosearchError
from autosearch.tracking import get_tracker
from autosearch.views.leaderboard import leaderboard, trials

__all__ = ["AutosearchError", "PipelineConfig", "__version__", "get_tracker", "leaderboard", "load", "load_pipeline",
           "search", "trials"]


def __getattr__(name: str):
    # ``load`` needs TensorFlow; import it only when it is asked for.
    if name == "load":
        from autosearch.export.predictor import load

        return load
    raise AttributeError(f"module 'autosearch' has no attribute {name!r}")


def search(pipeline: "str | PipelineConfig", overrides: dict | None = None, tracker=None, progress=None):
    """Run a tracked search for a pipeline (a name, a path or a config); see ``autosearch.search.runner``."""
    from autosearch.search.runner import run_search
    from autosearch.tracking.registry import autosearch_home

    cfg = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(pipeline, overrides)
    return run_search(cfg, get_tracker(tracker), autosearch_home(), progress)
