"""Leaderboards, runs, compare and clean-up, read from a copy of the session's tiny real search (two text trials,
two baselines), plus one FAILED trial added to it; and the terminal tables that fit the width they are given."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from tiny_run_home import WIDTH, cli, copy_home, tiny_run

import autosearch
from autosearch.errors import ViewError
from autosearch.tracking import TrialKind, TrialRecord, TrialState
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.compare import compare, render_compare
from autosearch.views.leaderboard import leaderboard
from autosearch.views.runs import runs_frame
from autosearch.views.tables import Column, Table, cells

pytestmark = pytest.mark.search


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory):
    """A home whose tracker holds the tiny search, plus one FAILED trial added to it."""
    made = copy_home(tmp_path_factory)
    tracker = SQLiteTracker(made.home / "tracker.db")
    tracker.log_trial(TrialRecord(trial_id=f"{made.run_id}/99", run_id=made.run_id, kind=TrialKind.SEARCH,
                                  state=TrialState.RUNNING, hyperparameters={"text_block/dense_units": 7}, seed=1,
                                  started_at=1.0))
    tracker.finish_trial(f"{made.run_id}/99", TrialState.FAILED, ended_at=2.0, error="ResourceExhaustedError: OOM")
    return made.home, tracker, made.run_id


def test_leaderboard_rows_match_the_tracker(filled) -> None:
    _, tracker, run_id = filled
    frame = autosearch.leaderboard(tracker=tracker)
    stored = {t.trial_id: t for t in tracker.list_trials(run_id)}
    assert set(frame["trial_id"]) == set(stored)
    for row in frame.itertuples():
        t = stored[row.trial_id]
        assert row.state == t.state.value and row.kind == t.kind.value
        assert (pd.isna(row.objective) and t.objective is None) or row.objective == t.objective
        assert row.duration_s == pytest.approx(t.duration)
    search = frame[(frame.kind == "search") & (frame.state == "COMPLETED")]
    assert list(search["rank"]) == [1, 2]
    assert list(search["objective"]) == sorted(search["objective"], reverse=True)
    assert {"hp.text_block/family", "hp.learning_rate"} <= set(frame.columns)
    assert (frame.loc[search.index, "peak_rss_mb"] > 0).all()


def test_failed_trials_come_under_completed_with_their_error(filled) -> None:
    frame = autosearch.leaderboard(tracker=filled[1])
    last = frame.iloc[-1]
    assert last["state"] == "FAILED" and "OOM" in last["error"] and pd.isna(last["rank"])
    assert (frame.iloc[:-1]["state"] == "COMPLETED").all()


def test_baselines_are_marked_and_never_best(filled) -> None:
    _, tracker, run_id = filled
    frame = autosearch.leaderboard(tracker=tracker, kind="baseline")
    assert set(frame["trial_id"]) == {t.trial_id for t in tracker.list_trials(run_id) if t.kind is TrialKind.BASELINE}
    assert f"{run_id}/baseline-majority" in set(frame["trial_id"]) and len(frame) >= 2
    assert frame["rank"].isna().all()
    assert not tracker.get_run(run_id).best_trial_id.split("/")[1].startswith("baseline")


def test_filters_sort_and_top(filled) -> None:
    tracker = filled[1]
    assert set(leaderboard(tracker=tracker, status="failed")["state"]) == {"FAILED"}
    by_time = leaderboard(tracker=tracker, kind="search", status="completed", sort="-duration_s")
    assert list(by_time["duration_s"]) == sorted(by_time["duration_s"], reverse=True)
    assert len(leaderboard(tracker=tracker, top=2)) == 2
    plain = lambda f: f.astype(object).where(f.notna(), None).reset_index(drop=True)  # noqa: E731
    for top in (1, 2, 4, 10):  # the tracker reads only the first rows: they are the full leaderboard's (a column
        # all missing in the first rows has no dtype of its own: compared as values)
        pd.testing.assert_frame_equal(plain(leaderboard(tracker=tracker, top=top)),
                                      plain(leaderboard(tracker=tracker).head(top)))
    with pytest.raises(ViewError, match="--sort 'nope' is not a column; use one of: rank, run, trial"):
        leaderboard(tracker=tracker, sort="nope")
    with pytest.raises(ViewError, match="--kind 'magic'.*search, baseline, reproduction"):
        leaderboard(tracker=tracker, kind="magic")


def test_sort_takes_the_headers_people_read_and_the_column_names(filled) -> None:
    tracker = filled[1]
    for key, column in (("params", "trainable_params"), ("duration", "duration_s"), ("embedding_dim",
                        "hp.text_block/embedding_dim"), ("text_block/family", "hp.text_block/family")):
        for sort, descending in ((key, False), (f"-{key}", True), (f"-{column}", True)):
            values = [v for v in leaderboard(tracker=tracker, sort=sort)[column] if not pd.isna(v)]
            assert values == sorted(values, reverse=descending) and values, (sort, values)


def test_trials_gives_epoch_histories_in_long_form(filled) -> None:
    _, tracker, run_id = filled
    long = autosearch.trials(tracker=tracker)
    expected = sum(len(e.metrics) for t in tracker.list_trials(run_id, with_epochs=True) for e in t.epochs)
    assert len(long) == expected and set(long.columns) == {"run_id", "trial_id", "kind", "epoch", "metric", "value"}
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(long["metric"])


def bare_cli(home: Path, *args: str, importtime: bool = False, columns: str | None = None) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    env = {"AUTOSEARCH_HOME": str(home), "PATH": "/usr/bin:/bin", **({"COLUMNS": columns} if columns else {})}
    return subprocess.run([sys.executable, *flags, "-m", "autosearch", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_parse_back_to_the_same_values(filled, fmt: str) -> None:
    home, tracker, _ = filled
    res = bare_cli(home, "leaderboard", "--format", fmt)
    assert res.returncode == 0, res.stderr
    parsed = pd.read_csv(io.StringIO(res.stdout)) if fmt == "csv" else pd.DataFrame(json.loads(res.stdout))
    frame = autosearch.leaderboard(tracker=tracker)
    assert list(parsed["trial_id"]) == list(frame["trial_id"])
    for col in ("objective", "duration_s", "trainable_params", "best_epoch"):
        pd.testing.assert_series_equal(parsed[col].astype(float), frame[col].astype(float), check_names=False)
    assert list(pd.to_datetime(parsed["started_at"], utc=True)) == list(frame["started_at"])


def test_integer_hyperparameters_stay_integers_in_csv_json_and_the_dataframe(filled) -> None:
    home, tracker, _ = filled
    column = "hp.text_block/embedding_dim"  # an integer the baselines and the linear trial lack
    frame = autosearch.leaderboard(tracker=tracker)
    assert str(frame[column].dtype) == "Int64" and frame[column].isna().any()
    assert str(frame["hp.text_block/dropout"].dtype) == "float64"  # a float stays a float
    rows = json.loads(bare_cli(home, "leaderboard", "--format", "json").stdout)
    given = [r[column] for r in rows if r[column] is not None]
    assert given and all(type(v) is int for v in given)
    csv = bare_cli(home, "leaderboard", "--format", "csv").stdout
    cells_of = pd.read_csv(io.StringIO(csv), dtype=str)[column].dropna()
    assert len(cells_of) and not any("." in c for c in cells_of)


@pytest.mark.parametrize("command", [["leaderboard"], ["runs"], ["compare", "A", "B"], ["leaderboard", "--all-runs"]])
def test_views_do_not_import_tensorflow(filled, command: list[str]) -> None:
    home, tracker, run_id = filled
    args = [run_id + "/0", run_id + "/1"] if command[0] == "compare" else command[1:]
    res = bare_cli(home, command[0], *args, importtime=True)
    assert res.returncode == 0, res.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    assert "tensorflow" not in imported and "keras" not in imported and "autokeras" not in imported
    if command[0] in ("leaderboard", "runs"):  # the terminal tables are plain rows: pandas alone costs 0.27 s
        assert "pandas" not in imported and "numpy" not in imported


def lines_fit(text: str, width: int) -> bool:
    return all(len(line) <= width and cells(line) <= width for line in text.splitlines())


@pytest.mark.parametrize("width", [120, 80, 50])
def test_leaderboard_fits_the_terminal_width_and_names_what_it_hid(filled, width: int) -> None:
    home, _, _ = filled
    fitted = bare_cli(home, "leaderboard", columns=str(width))
    wide = bare_cli(home, "leaderboard", "--wide", columns=str(width))
    assert fitted.returncode == wide.returncode == 0, fitted.stderr
    assert lines_fit(fitted.stdout, width), fitted.stdout
    assert max(len(line) for line in wide.stdout.splitlines()) > width  # every column: wider than the terminal
    hidden = re.search(r"\((\d+) columns hidden to fit (\d+): (.*); --wide shows them\)", " ".join(
        fitted.stdout.split()))
    assert hidden and int(hidden[2]) == width
    header = wide.stdout.splitlines()[1].split()
    assert {h.strip(",") for h in hidden[3].split()} <= set(header)  # named by the headers --wide shows


def test_a_narrow_table_keeps_the_column_it_is_sorted_by(filled) -> None:
    home, _, _ = filled
    out = bare_cli(home, "leaderboard", "--sort", "-embedding_dim", columns="70").stdout
    header = next(line for line in out.splitlines() if line.startswith("rank"))
    assert "embedding_dim" in header and "embedding_dim" not in out.split("hidden", 1)[1] and lines_fit(out, 70)


def test_the_table_a_search_ends_with_fits_its_terminal(tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tiny_run(tmp_path_factory).stdout
    assert "Top trials" in out and lines_fit(out.split("Top trials", 1)[1].split("\n\n", 1)[0], WIDTH), out


def test_one_run_s_trials_are_named_by_their_id_in_the_run(filled) -> None:
    home, tracker, run_id = filled
    lines = bare_cli(home, "leaderboard", "--wide").stdout.splitlines()
    assert lines[0].startswith(f"run {run_id}: text (text_classification) on rotten_tomatoes")
    body = lines[lines.index(next(line for line in lines if line.startswith("rank"))) + 1:]
    names = {line.split()[1] for line in body}
    assert names == {t.local_id for t in tracker.list_trials(run_id)} and not any(run_id in line for line in body)


def test_trials_of_several_runs_are_named_by_the_run_s_short_id_and_their_id_in_it(filled) -> None:
    from autosearch.views.displays import leaderboard_table, run_headers
    from autosearch.views.leaderboard import leaderboard_rows

    _, tracker, run_id = filled
    rows = leaderboard_rows(tracker=tracker)
    other = "20261203-000000-zz99"
    both = rows + [{**r, "run_id": other, "trial_id": r["trial_id"].replace(run_id, other)} for r in rows]
    names = [line.split()[1] for line in leaderboard_table(both).render(None).splitlines()[1:]]
    tail = run_id.rsplit("-", 1)[1]
    assert names[: len(rows)] == [f"{tail}/{r['trial_id'].split('/')[1]}" for r in rows]
    assert set(names[len(rows):]) == {f"zz99/{r['trial_id'].split('/')[1]}" for r in rows}
    (header,) = run_headers([tracker.get_run(run_id)], None)  # one run: its id alone
    assert header.startswith(f"run {run_id}: text") and f"[{tail}]" not in header


def test_a_table_counts_wide_characters_as_two_cells_and_clips_text_before_dropping_columns() -> None:
    table = Table([Column("id", "id"), Column("note", "note", 1, fold=True, min_width=6),
                   Column("size", "size", 2, ">")], [["a", "数据集很大" * 4, "1.0k"], ["b", "short", "2"]])
    assert cells("数据") == 4 and cells("e\u0301") == 1
    full = table.render(None)
    assert max(cells(line) for line in full.splitlines()) == 2 + 2 + 40 + 2 + 4
    clipped = table.render(24).splitlines()
    assert all(cells(line) <= 24 for line in clipped) and clipped[0].split() == ["id", "note", "size"]
    assert clipped[1].split()[1].endswith("…")
    dropped = table.render(12).splitlines()
    assert dropped[0].split() == ["id", "note"] and "size" in " ".join(dropped[3:]) and all(cells(x) <= 12 for x in dropped)


def test_compare_two_trials_shows_differences_and_the_data_match(filled) -> None:
    _, tracker, run_id = filled
    out = compare(tracker, f"{run_id}/0", f"{run_id}/1")
    assert out["kind"] == "trials" and out["same_data"]
    a, b = tracker.get_trial(f"{run_id}/0"), tracker.get_trial(f"{run_id}/1")
    assert out["differences"] == {k: (a.hyperparameters.get(k), b.hyperparameters.get(k))
                                  for k in set(a.hyperparameters) | set(b.hyperparameters)
                                  if a.hyperparameters.get(k) != b.hyperparameters.get(k)}
    assert out["metrics"]["objective"] == (a.objective, b.objective)
    text = render_compare(out)
    assert not re.search(r"\d\.\d{5,}", text), text  # no %g or raw floats: the tables' formats
    assert f"{a.objective * 100:.2f}%" in text and "val_loss" in text
    with pytest.raises(ViewError, match="two trial ids or two run ids"):
        compare(tracker, run_id, f"{run_id}/0")


def test_compare_writes_budgets_as_the_pipeline_did_and_integers_as_integers() -> None:
    result = {"kind": "runs", "a": "A", "b": "B", "same_data": True, "fingerprints": ("f" * 16, "f" * 16),
              "differences": {"search.time_budget": (720.0, 5400.0), "search.max_trials": (4, 2)},
              "metrics": {"best objective": (0.6966666, 0.7), "duration": (3.69953, 3725.0)},
              "objectives": ("val_accuracy", "val_loss"), "score_metrics": ("accuracy", None)}
    rows = {c[0]: c[1:] for c in (re.split(r"\s{2,}", line.strip()) for line in render_compare(result).splitlines())}
    assert rows["search.time_budget"] == ["12m", "1h30m"] and rows["search.max_trials"] == ["4", "2"]
    assert rows["best objective"] == ["69.67%", "0.7000"] and rows["duration"] == ["3.7 s", "1 h 02 min"]


def test_runs_lists_the_run_with_its_trials_and_disk_use(filled, monkeypatch: pytest.MonkeyPatch) -> None:
    home, tracker, run_id = filled
    monkeypatch.setenv("AUTOSEARCH_HOME", str(home))  # where the run's directory is
    row = runs_frame(tracker).set_index("run_id").loc[run_id]
    assert row["trials"] == 3 and row["status"] == "COMPLETED" and row["disk_mb"] > 0


def test_gc_keep_best_and_rm(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    made = copy_home(tmp_path_factory)
    monkeypatch.setenv("AUTOSEARCH_HOME", str(made.home))  # where the run's directory is
    home, tracker = made.home, SQLiteTracker(made.home / "tracker.db")
    run = tracker.get_run(made.run_id)
    assert len(sorted((run.run_dir / "autokeras").glob("trial_*/checkpoint.weights.h5"))) == 2
    res = bare_cli(home, "gc", "--keep-best")
    assert res.returncode == 2 and "--yes" in res.stderr  # no terminal: refuses without --yes
    assert bare_cli(home, "gc", "--keep-best", "--yes").returncode == 0
    best = tracker.get_trial(run.best_trial_id).keras_trial_id
    assert [p.parent.name for p in run.run_dir.glob("autokeras/trial_*/checkpoint.weights.h5")] == [f"trial_{best}"]
    assert bare_cli(home, "rm", run.run_id, "--yes").returncode == 0
    assert not run.run_dir.exists() and tracker.list_runs() == []
    assert tracker.find_trials() == []
    res = cli(home, "rm", "nope", "--yes")
    assert res.returncode == 2 and "run 'nope' not found" in res.stderr
