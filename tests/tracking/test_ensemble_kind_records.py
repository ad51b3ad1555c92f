"""Every backend stores and finds a trial of kind ``ensemble``: its members and weights, its objective."""

from __future__ import annotations

import dataclasses

from trackerkit import RUN_ID, make_run, make_trial

from autosearch.tracking import Tracker, TrialKind, TrialState
from autosearch.views.leaderboard import ranked_rows

MEMBERS = [{"trial_id": f"{RUN_ID}/0", "keras_trial_id": "0", "weight": 0.6, "linear": False, "validation": 0.78},
           {"trial_id": f"{RUN_ID}/1", "keras_trial_id": "1", "weight": 0.4, "linear": True, "validation": 0.77}]


def test_every_backend_keeps_an_ensemble_row_with_its_members_and_weights(tracker: Tracker) -> None:
    tracker.start_run(make_run())
    tracker.log_trial(make_trial())
    tracker.finish_trial(f"{RUN_ID}/0", TrialState.COMPLETED, ended_at=1002.0, objective=0.78)
    ensemble = dataclasses.replace(make_trial(f"{RUN_ID}/ensemble", started_at=1003.0), kind=TrialKind.ENSEMBLE,
                                   hyperparameters={"members": "0.60×0 + 0.40×1"})
    tracker.log_trial(ensemble)
    tracker.finish_trial(ensemble.trial_id, TrialState.COMPLETED, ended_at=1004.0, objective=0.8,
                         extra={"members": MEMBERS, "margin_over_best_member": 0.02})
    got = tracker.get_trial(ensemble.trial_id)
    assert got.kind is TrialKind.ENSEMBLE and got.objective == 0.8
    assert got.extra["members"] == MEMBERS and got.keras_trial_id is None
    assert [t.trial_id for t in tracker.find_trials([RUN_ID], kinds=[TrialKind.ENSEMBLE])] == [ensemble.trial_id]
    rows = ranked_rows(tracker.list_trials(RUN_ID), {RUN_ID: tracker.get_run(RUN_ID)})
    assert [(r["kind"], r["rank"]) for r in rows] == [("ensemble", 1), ("search", 2)]
    assert rows[0]["hp.members"] == "0.60×0 + 0.40×1"
