"""AutoKeras graphs declared in a pipeline file, every tuner at real epoch counts, and the Python API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

import autosearch
from autosearch.config import from_dict, load_pipeline
from autosearch.errors import ConfigError
from autosearch.tracking import TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.compare import compare
from autosearch.workflows.search import run_search

GRAPH_PIPELINE = {
    "name": "graph", "task": "structured_classification",
    "data": {"dataset": "breast_cancer", "max_rows": 300},
    "search": {"tuner": "random", "max_trials": 2, "epochs": 1, "objective": "val_accuracy", "direction": "max",
               "baselines": False, "ensemble": "off"},  # these claims are about graphs and their trials
    "space": {"learning_rate": {"min": 0.001, "max": 0.01, "sampling": "log"}},
    "graph": {
        "table": {"type": "StructuredDataInput"},
        "norm": {"type": "Normalization", "inputs": ["table"]},
        "dense": {"type": "DenseBlock", "inputs": ["norm"], "num_layers": [1, 2],
                  "num_units": {"min": 16, "max": 64, "step": 16}, "dropout": 0.25, "use_batchnorm": False},
        "head": {"type": "ClassificationHead", "inputs": ["dense"], "dropout": 0.0},
    },
}


def graph_pipeline(**changes):
    raw = {**GRAPH_PIPELINE, **changes}
    return from_dict(raw, source="graph.toml")


@pytest.mark.parametrize("change, words", [
    ({"graph": {"t": {"type": "TextInput"}}}, ["graph.t: TextInput reads text data", "structured"]),
    ({"graph": {**GRAPH_PIPELINE["graph"], "dense": {"type": "DenseBlok", "inputs": ["norm"]}}},
     ["DenseBlok", "is unknown", "DenseBlock", "package.module:Class"]),
    ({"graph": {**GRAPH_PIPELINE["graph"], "dense": {"type": "DenseBlock", "inputs": ["norm"], "units": 3}}},
     ["DenseBlock has no argument 'units'", "num_units"]),
    ({"graph": {**GRAPH_PIPELINE["graph"], "dense": {"type": "DenseBlock", "inputs": ["nope"]}}},
     ["graph.dense.inputs names nope", "earlier nodes: table, norm"]),
    ({"graph": {**GRAPH_PIPELINE["graph"], "dense": {"type": "DenseBlock", "inputs": ["norm"],
                                                      "use_batchnorm": [True, False]}}},
     ["use_batchnorm takes one value"]),
    ({"graph": {**GRAPH_PIPELINE["graph"], "dense": {"type": "DenseBlock", "inputs": ["norm"],
                                                      "dropout": {"min": 0.5, "max": 0.1}}}},
     ["min < max"]),
    ({"graph": {k: v for k, v in GRAPH_PIPELINE["graph"].items() if k != "head"}},
     ["exactly one head, a ClassificationHead"]),
])
def test_a_bad_graph_names_the_file_the_node_and_what_is_allowed(change: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        graph_pipeline(**change)
    message = str(info.value)
    assert message.startswith("graph.toml: ") and "\n" not in message
    for word in words:
        assert word in message


def test_a_list_for_a_value_autokeras_draws_itself_orders_its_choices() -> None:
    from autosearch.spaces.graph import drawn_choices

    cfg = load_pipeline(PIPELINES / "ak_image.toml")
    assert drawn_choices(cfg.graph) == {"block/block_type": ["vanilla", "resnet", "xception", "efficient"]}
    image = {"image": {"type": "ImageInput"}, "head": {"type": "ClassificationHead", "inputs": ["block"]}}
    bad = {"graph": {"image": image["image"], "block": {"type": "ImageBlock", "inputs": ["image"],
                                                         "block_type": ["vanilla", "densenet"]}, "head": image["head"]},
           "task": "image_classification", "data": {"dataset": "digits"}}
    with pytest.raises(ConfigError, match="block_type = 'densenet' is not allowed; use one of resnet, xception"):
        graph_pipeline(**bad)


@pytest.mark.search
def test_a_declared_graph_records_its_fixed_choice_and_range_values_and_trains(home: Path) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(graph_pipeline(), tracker, home)
    trials = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH]
    assert len(trials) == 2 and all(t.state is TrialState.COMPLETED for t in trials)
    for t in trials:
        hp = t.hyperparameters
        assert hp["dense/dropout"] == 0.25  # fixed, and recorded
        assert hp["dense/num_layers"] in (1, 2)  # a choice
        assert all(16 <= hp[f"dense/units_{i}"] <= 64 and hp[f"dense/units_{i}"] % 16 == 0
                   for i in range(hp["dense/num_layers"]))  # a range (AutoKeras names it per layer)
        assert 0.001 <= hp["learning_rate"] <= 0.01
    assert tracker.get_run(result.run_id).config["graph"]["dense"]["num_layers"] == [1, 2]
    assert autosearch.load(result.bundle).predict(result_rows(result)).shape == (3,)


def result_rows(result):
    from autosearch.data import prepare_data

    return prepare_data(graph_pipeline()).raw_x("test").head(3)


@pytest.mark.search
def test_hyperband_at_nine_epochs_warm_starts_and_every_view_reads_it(home: Path) -> None:
    # Hyperband at 9 epochs (factor 3) trains 9 trials of 1 epoch, then continues the best 3 to epoch 3: the 10th
    # trial is the first warm start, so 10 trials show it (12 took 20% longer to show the same).
    cfg = load_pipeline(PIPELINES / "structured.toml", {
        "data.max_rows": 300, "search.tuner": "hyperband", "search.epochs": 9, "search.max_trials": 10,
        "search.baselines": False, "search.patience": 0, "search.ensemble": "off"})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)
    trials = [t for t in tracker.list_trials(result.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    assert len(trials) == 10 and all(t.state is TrialState.COMPLETED for t in trials), [t.error for t in trials]
    warm = [t for t in trials if t.warm_started_from]
    assert warm, "Hyperband continued no trial"
    for t in warm:
        first = int(t.hyperparameters["tuner/initial_epoch"])
        assert t.epochs[0].epoch == first and t.best_epoch >= first and t.best_epoch_metrics
    a, b = warm[0].trial_id, (warm[1] if len(warm) > 1 else trials[0]).trial_id
    assert compare(tracker, a, b)["metrics"]["best epoch val_accuracy"][0] is not None
    frame = autosearch.leaderboard(result.run_id, tracker=tracker)
    assert set(frame["trial_id"]) >= {t.trial_id for t in warm}
    html = (result.run_dir / "report.html").read_text()  # its leaderboard: a row per trial, by its number in the run
    assert all(re.search(rf'<td class="id"[^>]*>{t.trial_id.rsplit("/", 1)[1]}</td>', html) for t in warm)


@pytest.mark.search
def test_the_python_api_searches_twice_in_one_process(home: Path) -> None:
    code = ("import autosearch\n"
            "for _ in range(2):\n"
            "    r = autosearch.search('structured', {'data.max_rows': 200, 'search.max_trials': 1,"
            " 'search.epochs': 1, 'search.baselines': False, 'search.ensemble': 'off'})\n"
            "    print(r.run_id, r.scores['test'])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "AUTOSEARCH_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert len({line.split()[0] for line in out.stdout.splitlines()}) == 2


@pytest.mark.search
def test_a_graph_with_a_text_input_and_a_table_input_trains_and_serves(home: Path, tmp_path: Path) -> None:
    from autosearch.data.embedded import load_rotten_tomatoes

    texts, labels = load_rotten_tomatoes()
    frame = pd.DataFrame({"review": texts[:300], "length": texts[:300].str.len(),
                          "exclamations": texts[:300].str.count("!"), "label": labels[:300]})
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    graph = {
        "review": {"type": "TextInput", "column": "review", "max_tokens": 2000, "sequence_length": 32},
        "table": {"type": "StructuredDataInput", "columns": ["length", "exclamations"]},
        "emb": {"type": "Embedding", "inputs": ["review"], "embedding_dim": [8, 16]},
        "pool": {"type": "TemporalReduction", "inputs": ["emb"], "reduction_type": "global_avg"},
        "norm": {"type": "Normalization", "inputs": ["table"]},
        "merge": {"type": "Merge", "inputs": ["pool", "norm"], "merge_type": "concatenate"},
        "head": {"type": "ClassificationHead", "inputs": ["merge"]},
    }
    cfg = from_dict({**GRAPH_PIPELINE, "graph": graph, "search": {**GRAPH_PIPELINE["search"], "max_trials": 1},
                     "data": {"dataset": str(tmp_path / "reviews.csv"), "label_column": "label"}}, "two.toml")
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)
    (trial,) = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH]
    assert trial.state is TrialState.COMPLETED and trial.hyperparameters["emb/embedding_dim"] in (8, 16)
    predictor = autosearch.load(result.bundle)
    assert list(predictor.predict(frame.drop(columns="label").head(4))) and predictor.format == "keras"


@pytest.mark.search
def test_a_block_of_your_own_searches_exports_and_reloads_in_a_fresh_process(home: Path) -> None:
    import os

    example = ROOT / "examples" / "user_space"
    env = {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONPATH": str(example)}
    res = subprocess.run([sys.executable, "-m", "autosearch", "search", "--pipeline", str(example / "pipeline.toml"),
                          "--max-trials", "2", "--epochs", "1", "--ensemble", "off", "-q"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)  # the claims are about the user's block
    assert res.returncode == 0, res.stderr[-2000:]
    (run,) = SQLiteTracker(home / "tracker.db").list_runs()
    best = SQLiteTracker(home / "tracker.db").get_trial(run.best_trial_id)
    assert {"residual/units", "residual/blocks", "residual/dropout"} <= set(best.hyperparameters)
    manifest = __import__("json").loads((run.bundle / "manifest.json").read_text())
    assert manifest["imports"] == ["my_spaces"]
    code = ("import autosearch, pandas as pd\nfrom sklearn.datasets import load_breast_cancer\n"
            f"m = autosearch.load({str(run.bundle)!r})\n"
            "print(list(m.predict(load_breast_cancer(as_frame=True).data.head(3))))")
    ok = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and ok.stdout.count("'") == 6, ok.stderr[-2000:]
    rows = home / "rows.csv"
    rows.write_text("mean radius\n1.0\n")
    missing = subprocess.run([sys.executable, "-m", "autosearch", "predict", str(run.bundle), "--input", str(rows),
                              "--output", str(home / "p.csv")], cwd=ROOT, capture_output=True, text=True,
                             env={**env, "PYTHONPATH": ""}, timeout=300)
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode == 2 and len(lines) == 1 and "needs module 'my_spaces'" in lines[0]
