"""The report's index page and the ``report`` command's index options, over runs recorded in a real SQLite
tracker (the index reads run records only: no search needed), then opened in Chromium at two widths."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import WIDTHS, chromium, open_at, severe_console_errors, sideways_overflow, unreadable_text

from autosearch.tracking import RunInfo, RunStatus
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.report import RunFilter, index_html, write_report

RUNS = [  # run id, pipeline, data set, objective, best, test, tags, baseline won?
    ("20261201-090000-aaaa", "text", "imdb", "val_accuracy", 0.8766666666666667, 0.8533333333333334,
     {"team": "nlp", "favourite": ""}, False),
    ("20261202-100000-bbbb", "text", "debates", "val_accuracy", 0.6133333333333333, 0.5966666666666667,
     {"team": "nlp"}, True),
    ("20261203-110000-cccc", "structured_regression", "diabetes", "val_mean_absolute_error", 44.123456789,
     46.987654321, {"team": "tabular"}, False),
]


def _record(tracker: SQLiteTracker, run_id: str, pipeline: str, dataset: str, objective: str, best: float,
            test: float, tags: dict, baseline_won: bool) -> None:
    started = 1796000000.0 + 86400 * int(run_id[6:8])  # a day apart
    direction = "max" if objective.endswith("accuracy") else "min"
    metric = objective.removeprefix("val_")
    tracker.start_run(RunInfo(run_id, pipeline, pipeline, dataset, 0, started, name=f"{dataset} sweep",
                              config={"search": {"objective": objective, "direction": direction}}, tags=tags))
    won = [{"trial_id": f"{run_id}/baseline-tfidf", "model": "tf-idf + logistic regression", "metric": metric,
            "test": test + 0.01, "best_trial_test": test}] if baseline_won else []
    tracker.finish_run(run_id, RunStatus.COMPLETED, ended_at=started + 754.321, best_trial_id=f"{run_id}/01",
                       summary={"best_objective": best, "duration": 754.321, "baselines_won": won,
                                "scores": {"metric": metric, "validation": best, "test": test}})


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> SQLiteTracker:
    tracker = SQLiteTracker(tmp_path_factory.mktemp("index_home") / "tracker.db")
    for run in RUNS:
        _record(tracker, *run)
    return tracker


@pytest.fixture(scope="module")
def index(tracker, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    (path,) = write_report(tracker, [], out, index_only=True)
    return path


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def test_index_only_writes_the_index_and_links_no_missing_report(index: Path) -> None:
    assert [p.name for p in index.parent.iterdir()] == ["index.html"]
    assert 'href="2026' not in index.read_text()  # no run report was written, so none is linked


def test_index_shows_each_run_in_its_metrics_units_with_verdict_name_and_tags(tracker) -> None:
    html = index_html(tracker)
    assert "87.67%" in html and "85.33%" in html and "44.1235" in html and "46.9877" in html
    assert "search won" in html and "baseline won" in html
    assert "imdb sweep" in html and "team=nlp" in html and "favourite=" not in html  # a bare tag is its key
    assert "12 min 34 s" in html
    assert html.count('class="series run-dot"') == 3


def test_run_filter_keeps_runs_by_pipeline_data_set_and_tag(tracker) -> None:
    html = index_html(tracker, run_filter=RunFilter.parse(pipeline="text", tags=["team=nlp", "favourite"]))
    assert "imdb" in html and "debates" not in html and "diabetes" not in html
    assert "1 runs (pipeline text, tag favourite, tag team=nlp)" in html
    assert "diabetes" in index_html(tracker, run_filter=RunFilter.parse(dataset="diabetes"))


@pytest.mark.parametrize("width", WIDTHS)
def test_index_fits_the_window_and_shows_no_long_decimals_or_json(width: int, browser, index: Path) -> None:
    open_at(browser, index, width)
    assert sideways_overflow(browser) == 0
    assert unreadable_text(browser) == []
    assert severe_console_errors(browser) == []


def test_index_filters_rows_and_points_by_data_set_and_tag_in_the_page(browser, index: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_at(browser, index, 1280)

    def shown(selector: str) -> int:
        return sum(e.is_displayed() for e in browser.find_elements(By.CSS_SELECTOR, selector))

    assert (shown("#runs tbody tr"), shown("svg .run-dot")) == (3, 3)
    Select(browser.find_element(By.ID, "f-tag")).select_by_value("team=nlp")
    assert (shown("#runs tbody tr"), shown("svg .run-dot")) == (2, 2)
    Select(browser.find_element(By.ID, "f-dataset")).select_by_value("debates")
    assert (shown("#runs tbody tr"), shown("svg .run-dot")) == (1, 1)
    Select(browser.find_element(By.ID, "f-tag")).select_by_value("")
    Select(browser.find_element(By.ID, "f-dataset")).select_by_value("")
    assert shown("#runs tbody tr") == 3


def test_report_command_filters_the_index_and_refuses_a_tag_without_a_key(cli, home: Path) -> None:
    home.mkdir(parents=True)
    tracker = SQLiteTracker(home / "tracker.db")
    for run in RUNS:
        _record(tracker, *run)
    out = home / "out"
    done = cli("report", "--index-only", "--pipeline", "text", "--tag", "team=nlp", "--out", str(out))
    assert done.code == 0, done.err
    assert done.out.strip() == f"wrote {out / 'index.html'}"
    page = (out / "index.html").read_text()
    assert "imdb" in page and "debates" in page and "diabetes" not in page
    bad = cli("report", "--tag", "=nlp", "--out", str(home / "other"))
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1 and "--tag" in bad.err
    assert not (home / "other").exists()  # nothing half-written


def test_an_unfinished_run_with_a_failed_trial_has_no_verdict_and_shows_the_error(tmp_path: Path) -> None:
    from autosearch.tracking import EpochMetrics, TrialKind, TrialRecord, TrialState
    from autosearch.views.report import run_report_html

    tracker = SQLiteTracker(tmp_path / "tracker.db")
    run_id = "20261203-120000-dddd"
    tracker.start_run(RunInfo(run_id, "text", "text_classification", "imdb", 0, 1796000000.0,
                              config={"search": {"objective": "val_accuracy", "direction": "max",
                                                 "time_budget": 720.0}}))
    for n, state in ((0, TrialState.COMPLETED), (1, TrialState.FAILED)):
        trial_id = f"{run_id}/{n}"
        tracker.log_trial(TrialRecord(trial_id=trial_id, run_id=run_id, kind=TrialKind.SEARCH,
                                      state=TrialState.RUNNING, hyperparameters={"dense_units": 64 * (n + 1)},
                                      seed=n, started_at=1796000001.0 + n))
        tracker.log_epoch(trial_id, EpochMetrics(epoch=0, metrics={"val_accuracy": 0.7123456789, "loss": 0.5},
                                                    timestamp=1796000050.0 + n))
        tracker.finish_trial(trial_id, state, ended_at=1796000100.0 + n, objective=0.7123456789 if n == 0 else None,
                             error=None if n == 0 else "ValueError('loss became nan at 0.123456789')")
    html = run_report_html(tracker, tracker.get_run(run_id))
    assert "No verdict: the run is interrupted" in html  # no heartbeat: the search is not alive
    assert "<th>error</th>" in html and "loss became nan at 0.1235" in html
    assert "71.23%" in html and "12m" in html and '<tr class="failed">' in html
