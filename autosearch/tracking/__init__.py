"""Tracking: the tracker contract, its records and its backends."""

from autosearch.tracking.base import Tracker, TrackerWriter
from autosearch.tracking.records import EpochMetrics, RunInfo, RunStatus, TrialKind, TrialRecord, TrialState
from autosearch.tracking.registry import autosearch_home, get_tracker, resolve_uri

__all__ = [
    "EpochMetrics", "RunInfo", "RunStatus", "Tracker", "TrackerWriter", "TrialKind",
    "TrialRecord", "TrialState", "autosearch_home", "get_tracker", "resolve_uri",
]
