"""A tiny real search with ``--tracker mlflow+<server> --register NAME`` against the session's real ``mlflow
server`` (tests/mlflowserver.py), read back through ``MlflowClient``, through autosearch's own commands on
another home, and the registered model loaded with ``mlflow.pyfunc`` in a separate process that cannot
import autosearch, AutoKeras or KerasTuner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from mlflowserver import shared_server

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ROOT / "autosearch" / "pipelines"

MODEL = f"autosearch-tiny-text-{uuid.uuid4().hex[:8]}"  # the server may outlive a test session
SEARCH = ("search", "--pipeline", str(PIPELINES / "text.toml"), "--max-trials", "1", "--epochs", "2",
          "--max-rows", "300", "--ensemble", "off", "-q")


def autosearch(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOSEARCH_HOME": str(home), "PYTHONWARNINGS": "ignore", "AUTOSEARCH_CV_BELOW_ROWS": "0"}
    env.pop("AUTOSEARCH_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny search (1 trial, 2 epochs) tracked in MLflow and registered, with its run folder logged."""
    server = shared_server()
    home = tmp_path_factory.mktemp("mlflow-search") / "home"
    tracker = f"mlflow+{server.uri}?run_folder=1"
    res = autosearch(home, *SEARCH, "--tracker", tracker, "--register", MODEL)
    assert res.returncode == 0, res.stderr[-3000:]
    from autosearch.tracking.sqlite import SQLiteTracker

    (run,) = SQLiteTracker(home / "tracker.db").list_runs()
    from mlflow.tracking import MlflowClient

    return {"server": server, "home": home, "run": run, "out": res.stdout, "err": res.stderr, "tracker": tracker,
            "client": MlflowClient(server.uri, registry_uri=server.uri), "bundle": home / run.outcome.bundle}


def _mlflow_runs(client, run_id: str) -> tuple:
    exps = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(exps, f"tags.`autosearch.id` = '{run_id}' AND tags.`autosearch.type` = 'run'")
    children = client.search_runs(exps, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return parent, children


def test_a_search_is_one_parent_run_named_after_the_pipeline_with_a_child_run_per_trial(searched) -> None:
    client, run = searched["client"], searched["run"]
    parent, children = _mlflow_runs(client, run.run_id)
    assert client.get_experiment(parent.info.experiment_id).name == "text"
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["autosearch.fingerprint"] == run.fingerprint and tags["mlflow.source.git.commit"]
    assert tags["autosearch.version.tensorflow"] == run.environment["versions"]["tensorflow"]
    assert parent.data.params["search/max_trials"] == "1"
    kinds = sorted(c.data.tags["autosearch.kind"] for c in children)
    assert kinds == ["baseline", "baseline", "search"], kinds  # the majority and tuned baselines, one trial
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.tags["autosearch.state"] for c in children} == {"COMPLETED"}
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"leaderboard.json", "report", "bundle", "manifest", "run_folder", "model"} <= files, files


def test_each_trial_has_its_hyperparameters_as_params_and_typed_json_and_a_metric_point_per_epoch(searched) -> None:
    client, run = searched["client"], searched["run"]
    _, children = _mlflow_runs(client, run.run_id)
    (trial,) = [c for c in children if c.data.tags["autosearch.kind"] == "search"]
    from autosearch.tracking.sqlite import SQLiteTracker

    local = SQLiteTracker(searched["home"] / "tracker.db").get_trial(trial.data.tags["autosearch.id"])
    assert trial.data.params == {k: v if isinstance(v, str) else json.dumps(v)
                                 for k, v in local.hyperparameters.items()}
    path = client.download_artifacts(trial.info.run_id, "hyperparameters.json")
    assert json.loads(Path(path).read_text()) == local.hyperparameters  # typed: numbers stay numbers
    history = client.get_metric_history(trial.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [0, 1]
    assert [m.value for m in history] == [e.metrics["val_accuracy"] for e in local.epochs]


def test_the_model_version_belongs_to_the_parent_run_and_best_points_to_it(searched) -> None:
    client, run = searched["client"], searched["run"]
    parent, _ = _mlflow_runs(client, run.run_id)
    best = client.get_model_version_by_alias(MODEL, "best")
    assert best.run_id == parent.info.run_id
    assert best.tags["autosearch.fingerprint"] == run.fingerprint
    assert f"registered models:/{MODEL}/{best.version} in MLflow; alias 'best' -> version {best.version}" in \
        searched["out"]


LOAD = textwrap.dedent("""
    import sys

    class Refuse:  # the model must load with MLflow and TensorFlow alone
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("autosearch", "autokeras", "keras_tuner"):
                raise ImportError(f"{name} may not be imported to serve the model")

    sys.meta_path.insert(0, Refuse())
    import mlflow.pyfunc
    import pandas as pd

    mlflow.set_tracking_uri(sys.argv[1])
    model = mlflow.pyfunc.load_model(f"models:/{sys.argv[2]}@best")
    out = model.predict(pd.DataFrame({"text": ["a moving, beautiful film", "dull, long and pointless", None]}))
    print(out.to_json(orient="records"))
""")


def test_models_name_at_best_predicts_raw_text_in_another_process_without_autosearch(searched) -> None:
    server = searched["server"]
    res = subprocess.run([sys.executable, "-c", LOAD, server.uri, MODEL], capture_output=True, text=True,
                         timeout=600, cwd=searched["home"].parent, env={**os.environ, "PYTHONPATH": ""})
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(res.stdout.strip().splitlines()[-1])
    manifest = json.loads((searched["bundle"] / "manifest.json").read_text())
    assert len(rows) == 3 and {r["class"] for r in rows} <= set(manifest["class_names"])
    for r in rows:
        assert sum(r[f"probability:{c}"] for c in manifest["class_names"]) == pytest.approx(1.0, abs=1e-5)
    deps = Path(subprocess.run(  # the requirements the model logs: MLflow, TensorFlow, pandas, NumPy, pinned
        [sys.executable, "-c", "import mlflow,sys; mlflow.set_tracking_uri(sys.argv[1]); "
         "print(mlflow.pyfunc.get_model_dependencies(f'models:/{sys.argv[2]}@best'))", server.uri, MODEL],
        capture_output=True, text=True, timeout=300).stdout.strip().splitlines()[-1]).read_text().split()
    assert [d.split("==")[0] for d in deps] == ["mlflow", "tensorflow-cpu", "pandas", "numpy"] and \
        all("==" in d for d in deps), deps


def test_best_moves_only_for_a_better_version_on_the_same_data(searched) -> None:
    from autosearch.export.mlflow_model import register_bundle

    client, run = searched["client"], searched["run"]
    parent, _ = _mlflow_runs(client, run.run_id)
    first = client.get_model_version_by_alias(MODEL, "best").version
    args = (searched["bundle"], MODEL, searched["server"].uri, parent.info.run_id)
    score = run.scores["validation"]
    worse = register_bundle(*args, run_id=run.run_id, fingerprint=run.fingerprint,
                            scores={**run.scores, "validation": score - 0.1})
    other = register_bundle(*args, run_id=run.run_id, fingerprint="other-data",
                            scores={**run.scores, "validation": score + 0.1})
    assert not worse.alias_moved and "does not beat" in worse.reason
    assert not other.alias_moved and "other data" in other.reason
    assert client.get_model_version_by_alias(MODEL, "best").version == first
    better = register_bundle(*args, run_id=run.run_id, fingerprint=run.fingerprint,
                             scores={**run.scores, "validation": score + 0.1})
    assert better.alias_moved and client.get_model_version_by_alias(MODEL, "best").version == better.version


def test_runs_leaderboard_report_and_compare_read_the_run_back_from_mlflow_on_another_home(searched,
                                                                                           tmp_path: Path) -> None:
    run, tracker, home = searched["run"], searched["tracker"], tmp_path / "elsewhere"
    listed = autosearch(home, "runs", "--tracker", tracker)
    assert listed.returncode == 0 and run.run_id in listed.stdout, listed.stderr
    board = autosearch(home, "leaderboard", run.run_id, "--tracker", tracker)
    assert board.returncode == 0 and "baseline-majority" in board.stdout, board.stderr
    report = autosearch(home, "report", run.run_id, "--tracker", tracker, "--out", str(tmp_path / "reports"))
    assert report.returncode == 0, report.stderr
    assert run.run_id in "".join(p.read_text() for p in (tmp_path / "reports").rglob("*.html"))
    compared = autosearch(home, "compare", run.best_trial_id, f"{run.run_id}/baseline-majority", "--tracker", tracker)
    assert compared.returncode == 0, compared.stderr
    assert not (home / "tracker.db").exists() or run.run_id not in autosearch(home, "runs").stdout


def test_export_on_another_home_fetches_the_logged_run_folder(searched, tmp_path: Path) -> None:
    run, home = searched["run"], tmp_path / "elsewhere"
    res = autosearch(home, "export", run.run_id, "--tracker", searched["tracker"], "--out", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert (home / "runs" / run.run_id / "autokeras").is_dir() and (tmp_path / "b" / "manifest.json").is_file()
