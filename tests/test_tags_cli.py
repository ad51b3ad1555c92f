"""Runs you can find: a name, a note and tags given to ``search`` or set later with ``autosearch tag``, shown by
``runs`` and the leaderboard's header, and the ``runs`` filters (pipeline, data set, status, tag, verdict)."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from tiny_run_home import NAME, NOTE, TAGS, cli, copy_home

from autosearch.cli import main
from autosearch.tracking import RunInfo, RunStatus
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.runs import run_verdict

pytestmark = pytest.mark.search
OTHER = "20260101-000000-beef"  # a second run, recorded directly: a structured one that failed


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory):
    made = copy_home(tmp_path_factory)
    tracker = SQLiteTracker(made.home / "tracker.db")
    tracker.start_run(RunInfo(run_id=OTHER, pipeline="structured", task="structured_classification",
                              dataset="breast_cancer", seed=0, started_at=time.time() - 3600, tags={"team": "vision"}))
    tracker.finish_run(OTHER, RunStatus.FAILED, ended_at=time.time() - 3500)
    return made, tracker


def listed(made, *args: str) -> list[dict]:
    res = cli(made.home, "runs", *args, "--format", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def listed_here(made, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> list[str]:
    """The run ids ``autosearch runs ARGS`` lists, run in this process (a dozen of them: no interpreter each)."""
    monkeypatch.setenv("AUTOSEARCH_HOME", str(made.home))
    capsys.readouterr()
    assert main(["runs", *args, "--format", "json"]) == 0
    return [r["run_id"] for r in json.loads(capsys.readouterr().out)]


def test_search_records_the_name_note_and_tags_it_was_given_and_shows_them(labelled) -> None:
    made, tracker = labelled
    run = tracker.get_run(made.run_id)
    assert (run.name, run.note, dict(run.tags)) == (NAME, NOTE, TAGS)
    table = cli(made.home, "runs", "--wide").stdout
    (line,) = [x for x in table.splitlines() if x.startswith(made.run_id)]
    assert NAME in line and "team=tests, tiny" in line and "made once for the tests second line" in line
    header = cli(made.home, "leaderboard", made.run_id).stdout.splitlines()[0]
    assert f"name: {NAME}; tags: team=tests, tiny" in header
    (row,) = [r for r in listed(made) if r["run_id"] == made.run_id]
    assert (row["name"], row["note"], row["tags"]) == (NAME, NOTE, TAGS)


def test_runs_filters_by_pipeline_data_set_status_tag_and_verdict(labelled, monkeypatch, capsys) -> None:
    made, tracker = labelled
    ids = lambda *args: listed_here(made, monkeypatch, capsys, *args)  # noqa: E731
    assert ids() == [made.run_id, OTHER]  # newest first
    assert ids("--pipeline", "text") == ids("--dataset", "rotten_tomatoes") == [made.run_id]
    assert ids("--pipeline", "structured_classification") == ids("--status", "failed") == [OTHER]
    assert ids("--tag", "team=tests") == ids("--tag", "tiny") == [made.run_id]
    assert ids("--tag", "team") == [made.run_id, OTHER] and ids("--tag", "team", "--tag", "tiny") == [made.run_id]
    won = run_verdict(tracker.get_run(made.run_id)).split()[0]  # "search" or "baseline"
    other = {"search": "baseline", "baseline": "search"}[won]
    assert ids("--verdict", won) == [made.run_id] and ids("--verdict", other) == []
    assert listed(made, "--verdict", won)[0]["verdict"] == f"{won} won"  # and from the command line
    assert ids("--status", "completed", "--pipeline", "text", "--tag", "team=vision") == []


def test_tag_adds_replaces_and_removes_tags_and_sets_the_name_and_note(tmp_path_factory) -> None:
    made = copy_home(tmp_path_factory)
    res = cli(made.home, "tag", made.run_id, "stage=final", "team=ml", "--remove", "tiny", "--name", "kept",
              "--note", "")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"run {made.run_id}: name kept; tags stage=final, team=ml; note -"
    run = SQLiteTracker(made.home / "tracker.db").get_run(made.run_id)
    assert (run.name, run.note, dict(run.tags)) == ("kept", None, {"stage": "final", "team": "ml"})
    assert [r["run_id"] for r in listed(made, "--tag", "stage=final")] == [made.run_id]


@pytest.mark.parametrize("args, words", [
    (["bad key=1"], "tag key 'bad key' is not allowed"),
    (["=v"], "tag '=v' names no key"),
    (["ok=1", "--name", "two\nlines"], "a name is one line"),
    (["ok=1", "--remove", "bad key"], "tag key 'bad key'"),
    ([], "nothing to do for run"),
])
def test_tag_refuses_bad_input_in_one_line_and_writes_nothing(labelled, args: list[str], words: str) -> None:
    made, tracker = labelled
    before = tracker.get_run(made.run_id)
    res = cli(made.home, "tag", made.run_id, *args)
    assert res.returncode == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    after = tracker.get_run(made.run_id)
    assert (after.tags, after.name, after.note) == (before.tags, before.name, before.note)


def test_tag_names_an_unknown_run_and_how_to_list_them(labelled) -> None:
    made, _ = labelled
    res = cli(made.home, "tag", "nope", "k=v")
    assert res.returncode == 2 and "run 'nope' not found" in res.stderr and "autosearch runs" in res.stderr


@pytest.mark.parametrize("args, words", [(["--status", "bogus"], "--status 'bogus' is unknown; use one of running"),
                                         (["--verdict", "maybe"], "--verdict 'maybe' is unknown; use search or"),
                                         (["--tag", "=x"], "--tag '=x' names no key")])
def test_a_bad_runs_filter_says_what_to_use(labelled, args: list[str], words: str) -> None:
    made, _ = labelled
    res = cli(made.home, "runs", *args)
    assert res.returncode == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_search_refuses_a_bad_label_before_it_reads_data_or_records_a_run(tmp_path) -> None:
    home = tmp_path / "home"
    for label in (["--tag", "mlflow.x=1"], ["--name", "a\nb"], ["--note", "\x07"]):
        res = cli(home, "search", "--pipeline", "text", *label)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not home.exists() or not any(home.iterdir())


def test_a_label_given_to_start_run_is_checked_like_one_set_later(tmp_path) -> None:
    tracker = SQLiteTracker(tmp_path / "t.db")
    run = RunInfo(run_id="r", pipeline="p", task="t", dataset="d", seed=0, started_at=1.0)
    with pytest.raises(Exception, match="a name is one line"):
        tracker.start_run(dataclasses.replace(run, name="x" * 101))
    assert tracker.list_runs() == []
