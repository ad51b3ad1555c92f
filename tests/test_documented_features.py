"""What the README documents, run for real from the command line on one shared home: the structured pipeline
and every ``ak_*`` pipeline searched (tiny budgets) from a git checkout whose commit and dirty flag each run
records; then the views (leaderboard, runs, compare), export --h5, predict --format and reproduce (--export,
DOES NOT HOLD) on those runs."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

from autosearch.tracking import RunInfo, RunStatus, TrialKind, TrialState
from autosearch.tracking.sqlite import SQLiteTracker

pytestmark = pytest.mark.search
# The smallest budgets: one trial of each ak_* pipeline; two trials of the structured one, which the views rank.
STRUCTURED = ["--max-trials", "2", "--epochs", "2", "--ensemble", "off"]  # its claims are about trials
AK_BUDGETS = {"ak_structured": ["--max-trials", "1", "--epochs", "2"],
              "ak_structured_regression": ["--max-trials", "1", "--epochs", "2", "--no-export"],
              "ak_text": ["--max-trials", "1", "--epochs", "1", "--max-rows", "300", "--no-export"],
              "ak_image": ["--max-trials", "1", "--epochs", "1", "--max-rows", "300", "--no-export"]}


@dataclass
class Home:
    path: Path
    checkout: Path  # a git repository holding this autosearch: the searches run from it
    commit: str
    runs: dict[str, RunInfo]  # by pipeline
    seconds: dict[str, float]  # each search's wall time

    def cli(self, *args: str, home: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "AUTOSEARCH_HOME": str(home or self.path), "PYTHONWARNINGS": "ignore"}
        env.pop("AUTOSEARCH_TRACKING_URI", None)
        return subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=self.checkout, env=env,
                              capture_output=True, text=True, timeout=timeout)

    @property
    def tracker(self) -> SQLiteTracker:
        return SQLiteTracker(self.path / "tracker.db")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """The structured pipeline searched from the command line in a clean git checkout of this autosearch, then
    the four ``ak_*`` pipelines after a tracked file changed (a dirty tree)."""
    base = tmp_path_factory.mktemp("documented")
    checkout = base / "checkout"
    shutil.copytree(ROOT / "autosearch", checkout / "autosearch", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "NOTES.md").write_text("a tracked file\n")
    git(checkout, "init", "-q")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "autosearch as tested")
    home = Home(base / "home", checkout, git(checkout, "rev-parse", "HEAD"), {}, {})

    def search(name: str, budget: list[str]) -> None:
        t0 = time.monotonic()
        res = home.cli("search", "--pipeline", str(PIPELINES / f"{name}.toml"), *budget, "-q")
        home.seconds[name] = time.monotonic() - t0
        assert res.returncode == 0, f"{name}: {res.stderr[-3000:]}"

    search("structured", STRUCTURED)
    (checkout / "NOTES.md").write_text("a tracked file, changed\n")  # every later search runs from a changed tree
    # The ak_* searches, two at a time into the one home (as two users of one tracker would): each process spends
    # most of its time importing TensorFlow and AutoKeras on one core.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(search, AK_BUDGETS, AK_BUDGETS.values()))
    runs = home.tracker.list_runs()
    for name in ("structured", *AK_BUDGETS):
        (home.runs[name],) = [run for run in runs if run.pipeline == name]
    assert runs[-1].run_id == home.runs["structured"].run_id, "the clean-tree run came first"
    print("\nsearches (s):", {k: round(v, 1) for k, v in home.seconds.items()})
    return home


# -- the ak_* pipelines ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(AK_BUDGETS))
def test_each_ak_pipeline_searches_and_records_a_completed_run(shared: Home, name: str) -> None:
    run = shared.tracker.get_run(shared.runs[name].run_id)
    assert run.status is RunStatus.COMPLETED and run.best_trial_id
    search = [t for t in shared.tracker.list_trials(run.run_id, with_epochs=True) if t.kind is TrialKind.SEARCH]
    budget = AK_BUDGETS[name]
    assert len(search) == int(budget[budget.index("--max-trials") + 1])
    best = shared.tracker.get_trial(run.best_trial_id)
    assert best.state is TrialState.COMPLETED and best.objective is not None and best.epochs
    assert run.config["graph"], "the pipeline's AutoKeras graph is recorded"
    assert run.scores.get("test") is not None, run.summary
    assert (run.bundle is not None) == ("--no-export" not in budget)


# -- the git state each run records --------------------------------------------------------------------

def test_each_run_records_the_git_commit_and_whether_the_tree_was_dirty(shared: Home) -> None:
    states = {name: run.environment["git"] for name, run in shared.runs.items()}
    assert states.pop("structured") == {"commit": shared.commit, "dirty": False}
    assert states == {name: {"commit": shared.commit, "dirty": True} for name in AK_BUDGETS}


# -- leaderboard, runs and compare from the command line -------------------------------------------------

def board(shared: Home, *args: str) -> list[dict]:
    res = shared.cli("leaderboard", *args, "--format", "json")
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def test_leaderboard_top_status_and_sort_select_and_order_the_rows(shared: Home) -> None:
    run = shared.runs["structured"]
    everything = board(shared, run.run_id)
    assert {r["kind"] for r in everything} == {"search", "baseline"} and len(everything) == 4
    (top,) = board(shared, run.run_id, "--top", "1", "--kind", "search")
    assert top["trial_id"] == run.best_trial_id and top["rank"] == 1
    assert [r["trial_id"] for r in board(shared, run.run_id, "--top", "2")] == [r["trial_id"] for r in everything[:2]]
    assert {r["state"] for r in board(shared, run.run_id, "--status", "completed")} == {"COMPLETED"}
    assert board(shared, run.run_id, "--status", "failed") == []
    for sort, descending in ((["--sort", "duration_s"], False), (["--sort=-duration_s"], True)):
        times = [r["duration_s"] for r in board(shared, run.run_id, *sort)]
        assert times == sorted(times, reverse=descending) and len(times) == 4, sort
    res = shared.cli("leaderboard", run.run_id, "--sort", "nope")
    assert res.returncode == 2 and "--sort 'nope' is not a column" in res.stderr


def test_the_readme_s_leaderboard_line_sorts_by_descending_duration(shared: Home) -> None:
    # '--sort -duration_s' as the README writes it: argparse alone reads '-duration_s' as an option
    rows = board(shared, "--all-runs", "--task", "structured", "--status", "completed", "--kind", "search",
                 "--sort", "-duration_s", "--top", "10")
    times = [r["duration_s"] for r in rows]
    assert times == sorted(times, reverse=True) and len(rows) == 2
    for sort in (["--sort", "-duration"], ["--sort", "params"], ["--sort=-params"]):  # the headers people read
        assert {r["trial_id"] for r in board(shared, "--all-runs", "--task", "structured", "--kind", "search",
                                             *sort)} == {r["trial_id"] for r in rows}, sort


def test_leaderboard_task_keeps_the_runs_of_that_task_or_pipeline(shared: Home) -> None:
    runs = shared.runs
    for task, names in (("structured_classification", {"structured", "ak_structured"}),
                        ("ak_text", {"ak_text"}), ("image_classification", {"ak_image"})):
        rows = board(shared, "--all-runs", "--task", task)
        assert {r["run_id"] for r in rows} == {runs[n].run_id for n in names}, task
    newest = board(shared, "--task", "structured_classification")  # without --all-runs: the newest such run
    assert {r["run_id"] for r in newest} == {runs["ak_structured"].run_id}
    res = shared.cli("leaderboard", "--all-runs", "--task", "nope")
    assert res.returncode == 2 and "no runs for task 'nope'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_leaderboard_markdown_is_a_pipe_table_under_the_run_header(shared: Home) -> None:
    run = shared.runs["structured"]
    res = shared.cli("leaderboard", run.run_id, "--format", "markdown")
    assert res.returncode == 0, res.stderr[-2000:]
    header, *table = res.stdout.strip().splitlines()
    assert header.startswith(f"run {run.run_id}: structured (structured_classification) on breast_cancer")
    assert table[0].startswith("| rank | trial | val_accuracy |") and set(table[1]) <= set("|-")
    assert len(table) == 2 + 4 and all(line.startswith("| ") and line.endswith(" |") for line in table[2:])
    cells = [line.split(" | ")[1] for line in table[2:]]  # one run: its trials by their id in the run
    assert [c.split()[0] for c in cells][0] in (run.best_trial_id.split("/")[1], "baseline-gradient_boosting")
    assert {c.split()[0] for c in cells} == {t.local_id for t in shared.tracker.list_trials(run.run_id)}


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_runs_lists_every_run_in_each_format(shared: Home, fmt: str) -> None:
    res = shared.cli("runs", "--format", fmt)
    assert res.returncode == 0, res.stderr[-2000:]
    ids = [r.run_id for r in shared.tracker.list_runs()]  # newest first
    if fmt in ("csv", "json"):
        frame = pd.read_csv(io.StringIO(res.stdout)) if fmt == "csv" else pd.DataFrame(json.loads(res.stdout))
        assert list(frame["run_id"]) == ids and set(frame["status"]) == {"COMPLETED"}
        assert dict(zip(frame["run_id"], frame["pipeline"])) == {r.run_id: n for n, r in shared.runs.items()}
        return
    lines = [line for line in res.stdout.splitlines() if any(i in line for i in ids)]
    assert [next(i for i in ids if i in line) for line in lines] == ids
    if fmt == "markdown":
        assert all(line.startswith("| ") for line in lines) and res.stdout.splitlines()[1].startswith("|---")


def test_compare_two_runs_shows_the_configuration_that_differs_and_whether_the_data_match(shared: Home) -> None:
    a, b = shared.runs["structured"], shared.runs["ak_structured"]
    res = shared.cli("compare", a.run_id, b.run_id)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    rows = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}
    assert lines[0].split() == [a.run_id, b.run_id] and "[configuration that differ]" in rows
    assert rows["name"] == ["structured", "ak_structured"] and rows["search.max_trials"] == ["2", "1"]
    assert "data.dataset" not in rows, "the same data set"
    assert rows["best objective"] == [f"{a.best_objective * 100:.2f}%", f"{b.best_objective * 100:.2f}%"]
    assert rows["best trial"] == [a.best_trial_id, b.best_trial_id] and rows["status"] == ["COMPLETED"] * 2
    assert res.stdout.strip().splitlines()[-1].startswith("data fingerprints match: ")
    other = shared.cli("compare", a.run_id, shared.runs["ak_structured_regression"].run_id)
    assert other.returncode == 0 and "data fingerprints DIFFER" in other.stdout
    assert "data.dataset" in other.stdout and "diabetes" in other.stdout


# -- export --h5, predict --format, reproduce -------------------------------------------------------------

@pytest.fixture(scope="module")
def test_inputs(shared: Home, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The structured run's test rows as a CSV of raw features, and the probabilities its search wrote."""
    from autosearch.config import config_from_run
    from autosearch.data import prepare_data

    run = shared.tracker.get_run(shared.runs["structured"].run_id)
    path = tmp_path_factory.mktemp("predict") / "test.csv"
    prepare_data(config_from_run(run.config, run.run_id)).raw_x("test").to_csv(path, index=False)
    return path, pd.read_csv(shared.path / "runs" / run.run_id / "predictions" / "test.csv")


def predict(shared: Home, bundle: Path, fmt: str, inputs: Path, out: Path) -> pd.DataFrame:
    res = shared.cli("predict", str(bundle), "--input", str(inputs), "--output", str(out), "--format", fmt)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"(model format: {fmt})" in res.stdout
    return pd.read_csv(out)


def same_predictions(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    probabilities = [c for c in expected.columns if c.startswith("p_")]
    assert len(got) == len(expected) and list(got["prediction"]) == list(expected["y_pred"])
    assert (got[probabilities] - expected[probabilities]).abs().to_numpy().max() < 1e-5


def test_export_h5_writes_an_h5_bundle_that_predict_format_h5_serves(shared: Home, test_inputs,
                                                                     tmp_path: Path) -> None:
    run = shared.runs["structured"]
    res = shared.cli("export", run.run_id, "--h5", "--out", str(tmp_path / "h5"))
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads((tmp_path / "h5" / "manifest.json").read_text())
    assert manifest["trial_id"] == run.best_trial_id and "h5" in manifest["formats"]
    assert "saved_model" not in manifest["formats"] and (tmp_path / "h5" / "model.h5").is_file()
    assert f"Bundle of {run.best_trial_id} written to {tmp_path / 'h5'}" in res.stdout
    inputs, expected = test_inputs
    same_predictions(predict(shared, tmp_path / "h5", "h5", inputs, tmp_path / "h5.csv"), expected)


def test_reproduce_that_does_not_hold_exits_1_and_export_writes_the_reproduced_bundle(
        shared: Home, test_inputs, tmp_path: Path) -> None:
    """In a copy of the home (a copied home is self-contained), the best trial's recorded objective is made
    0.25 off: its re-run, which matches the real one, then does not hold."""
    run = shared.runs["structured"]
    copy = tmp_path / "home"
    shutil.copytree(shared.path, copy)
    real = shared.tracker.get_trial(run.best_trial_id).objective
    with sqlite3.connect(copy / "tracker.db") as db:
        db.execute("UPDATE trials SET objective = ? WHERE trial_id = ?", (real - 0.25, run.best_trial_id))
    res = shared.cli("reproduce", run.best_trial_id, "--export", home=copy)
    assert res.returncode == 1, res.stderr[-3000:]
    assert "-> DOES NOT HOLD (tolerance 1e-06)" in res.stdout and "difference  +0.25" in res.stdout
    copy_tracker = SQLiteTracker(copy / "tracker.db")
    reproduced = copy_tracker.get_trial(f"{run.best_trial_id}-r1")
    assert reproduced.kind is TrialKind.REPRODUCTION and reproduced.reproduces == run.best_trial_id
    assert reproduced.objective == pytest.approx(real, abs=1e-6), "the re-run itself matches the real result"
    bundle = copy / "runs" / run.run_id / "reproductions" / f"{run.best_trial_id.split('/')[1]}-r1" / "export"
    assert f"bundle: {bundle}" in res.stdout
    assert json.loads((bundle / "manifest.json").read_text())["trial_id"] == reproduced.trial_id
    inputs, expected = test_inputs
    same_predictions(predict(shared, bundle, "saved_model", inputs, tmp_path / "out.csv"), expected)
    assert not [t for t in shared.tracker.list_trials(run.run_id) if t.kind is TrialKind.REPRODUCTION], \
        "the original home is untouched"


def test_a_graph_pipeline_run_is_exported_again_from_its_record(shared: Home, tmp_path: Path) -> None:
    res = shared.cli("export", shared.runs["ak_structured"].run_id, "--h5", "--out", str(tmp_path / "h5"))
    assert res.returncode == 0, res.stderr[-2000:]
