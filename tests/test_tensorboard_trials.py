"""TensorBoard logs: one folder per trial attempt, each with the HParams plugin's session and objective,
read back from the event files."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from conftest import PIPELINES

from autosearch.config import load_pipeline
from autosearch.tracking import TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search


def read_events(folder: Path) -> dict[str, list]:
    """Every summary value of the event files directly in ``folder``, by plugin name ('' for none)."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    out: dict[str, list] = defaultdict(list)
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in LegacyEventFileLoader(str(path)).Load():  # the records as written
            for value in event.summary.value:
                out[value.metadata.plugin_data.plugin_name].append((event.step, value))
    return out


def hparams_records(folder: Path) -> tuple[dict, list]:
    """(session start info, session end infos) of the HParams plugin records in ``folder``."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    starts, ends = [], []
    for _, value in read_events(folder)["hparams"]:
        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        if data.HasField("session_start_info"):
            starts.append(data.session_start_info)
        if data.HasField("session_end_info"):
            ends.append(data.session_end_info)
    assert len(starts) == 1, f"{folder} holds {len(starts)} HParams session starts"
    return starts[0], ends


def scalar(value: object) -> float:
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(value.tensor))  # type: ignore[attr-defined]


def dashboard_rows(root: Path) -> dict[str, tuple[dict, dict]]:
    """The HParams dashboard's table of the logs under ``root``, as TensorBoard's own HParams plugin backend
    lists it: session group name -> (hyperparameters, {(metric group, tag): value})."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(root))
    multiplexer.Reload()
    tb = base_plugin.TBContext(data_provider=data_provider.MultiplexerDataProvider(multiplexer, str(root)),
                               logdir=str(root), multiplexer=multiplexer)
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=100, allowed_statuses=[
        api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_RUNNING])
    groups = list_session_groups.Handler(context.RequestContext(), backend_context.Context(tb), "", request).run()
    return {group.name: ({k: getattr(v, v.WhichOneof("kind")) for k, v in group.hparams.items()},
                         {(m.name.group, m.name.tag): m.value for m in group.metric_values})
            for group in groups.session_groups}


def test_a_three_trial_search_writes_a_tensorboard_folder_with_hparams_per_trial(home: Path) -> None:
    from tensorboard.plugins.hparams import api_pb2

    cfg = load_pipeline(PIPELINES / "structured.toml", {"data.max_rows": 200, "search.max_trials": 3,
                                                         "search.epochs": 1, "search.ensemble": "off"})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)
    trials = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH]
    assert len(trials) == 3 and all(t.state is TrialState.COMPLETED for t in trials), trials

    root = result.run_dir / "tensorboard"
    assert sorted(p.name for p in root.iterdir()) == sorted(t.local_id for t in trials), \
        "one folder per trial attempt, nothing shared between trials"
    for trial in trials:
        folder = root / trial.local_id
        for part in ("train", "validation"):
            tags = {v.tag for _, v in read_events(folder / part)["scalars"]}
            assert "epoch_loss" in tags, f"{folder / part} lacks the per-epoch loss"
        start, ends = hparams_records(folder)
        assert start.group_name == trial.local_id
        recorded = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
                    for name, value in start.hparams.items()}
        assert set(recorded) == set(trial.hyperparameters), "the HParams are the trial's, grown ones included"
        for name, value in trial.hyperparameters.items():
            assert recorded[name] == (pytest.approx(value) if isinstance(value, (int, float)) and
                                      not isinstance(value, bool) else value), name
        assert [e.status for e in ends] == [api_pb2.STATUS_SUCCESS]
        objective = [(step, v) for step, v in read_events(folder)["scalars"] if v.tag == cfg.search.objective]
        assert [(step, pytest.approx(scalar(v), abs=1e-6)) for step, v in objective] == \
            [(trial.best_epoch, trial.objective)], "the objective at its best epoch, as the tracker has it"

    rows = dashboard_rows(root)
    assert sorted(rows) == sorted(t.local_id for t in trials), "the HParams table has a row per trial"
    for trial in trials:
        hyperparameters, metrics = rows[trial.local_id]
        assert set(hyperparameters) == set(trial.hyperparameters)
        assert metrics[("", cfg.search.objective)] == pytest.approx(trial.objective, abs=1e-6)
        assert ("validation", "epoch_loss") in metrics


def test_each_attempt_of_a_trial_gets_its_own_folder(tmp_path: Path) -> None:
    """A trial re-run after an interruption (``3-a2``) or reproduced (``3-r1``) must not draw on the curves of
    the attempt before it: KerasTuner's own per-trial folder is per KerasTuner id, shared by its attempts."""
    import copy

    from autosearch.tuning.kt_adapter import epoch_tensorboard
    from autosearch.tuning.trial_tensorboard import aim

    search_callback = epoch_tensorboard(tmp_path / "tensorboard")
    folders = []
    for attempt in ("run/3", "run/3-a2", "run/3-r1"):
        fit_callbacks = copy.deepcopy([search_callback])  # as KerasTuner copies them for every fit
        folders.append(aim(fit_callbacks, attempt))
        assert fit_callbacks[0].log_dir == str(folders[-1])
    assert folders == [tmp_path / "tensorboard" / name for name in ("3", "3-a2", "3-r1")]
    assert search_callback.log_dir == str(tmp_path / "tensorboard"), "the search's own callback is left as it was"
