"""The HTML report, opened in a real headless Chromium: of one tiny classification and one tiny regression
search (2 trials of 1 epoch each, shared by the whole module), and the index over both."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import (
    WIDTHS,
    chromium,
    open_at,
    search_home,
    severe_console_errors,
    sideways_overflow,
    tiny_search,
    unreadable_text,
)

from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.report import write_report

PAGES = ("structured", "structured_regression", "index")


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    """The tracker and the run ids of a real classification and a real regression search."""
    with search_home(tmp_path_factory, "report_home") as home:
        tracker = SQLiteTracker(home / "tracker.db")
        ids = {task: tiny_search(task, tracker, home) for task in ("structured", "structured_regression")}
        yield tracker, ids, home


@pytest.fixture(scope="module")
def reports(runs) -> dict[str, Path]:
    tracker, ids, home = runs
    paths = write_report(tracker, list(ids.values()), home / "reports")
    return {**{task: paths[i] for i, task in enumerate(ids)}, "index": home / "reports" / "index.html"}


def body(driver, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def column(driver, index: int, attr: str = "data-value") -> list[str]:
    return [r.find_elements("tag name", "td")[index].get_attribute(attr) if attr else
            r.find_elements("tag name", "td")[index].text for r in body(driver, "#leaderboard tbody tr")]


@pytest.mark.parametrize("task", ["structured", "structured_regression"])
def test_report_renders_without_errors_and_every_plot_draws(task: str, browser, reports) -> None:
    html = reports[task].read_text()
    assert "<script src" not in html and "http://" not in html and "https://" not in html  # works offline
    browser.get(reports[task].as_uri())
    assert severe_console_errors(browser) == []
    charts = body(browser, "svg.chart")
    expected = 7 if task == "structured_regression" else 6  # 3 curves, parallel, progress, + confusion | 2 plots
    assert len(charts) == expected
    for chart in charts:
        assert chart.size["width"] > 100 and chart.size["height"] > 100
        assert chart.find_elements("css selector", ".series"), chart.get_attribute("aria-label")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_pages_fit_the_window(page: str, width: int, browser, reports) -> None:
    open_at(browser, reports[page], width)
    assert sideways_overflow(browser) == 0, f"{page} overflows sideways at {width} px"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_pages_show_no_number_with_six_decimals_and_no_json(page: str, width: int, browser, reports) -> None:
    open_at(browser, reports[page], width)
    assert unreadable_text(browser) == []


def test_leaderboard_resorts_on_a_header_click_and_filters(browser, reports) -> None:
    open_at(browser, reports["structured"], 1280)
    headers = body(browser, "#leaderboard th")
    col = [h.text.strip() for h in headers].index("duration")
    headers[col].click()
    asc = [float(v) for v in column(browser, col)]
    assert asc == sorted(asc)
    headers[col].click()
    desc = [float(v) for v in column(browser, col)]
    assert desc == sorted(desc, reverse=True)
    body(browser, "#filter")[0].send_keys("baseline")
    visible = [r for r in body(browser, "#leaderboard tbody tr") if r.is_displayed()]
    assert len(visible) == 2
    assert severe_console_errors(browser) == []


def test_leaderboard_reads_at_a_glance(browser, reports, runs) -> None:
    """Readable headers, short trial ids, test beside validation for the scored rows, the best trial highlighted,
    numbers right-aligned and no always-empty error column."""
    tracker, ids, _ = runs
    run = tracker.get_run(ids["structured"])
    open_at(browser, reports["structured"], 1280)
    headers = [h.text.strip() for h in body(browser, "#leaderboard th")]
    assert not [h for h in headers if "_" in h] and "error" not in headers
    assert "test accuracy" in headers and "validation accuracy" in headers and "params" in headers
    trials = column(browser, headers.index("trial"), attr="")
    assert all(run.run_id not in t and len(t) <= 30 for t in trials), trials
    best = body(browser, "#leaderboard tr.best")
    assert len(best) == 1 and best[0].find_elements("tag name", "td")[1].text == run.best_trial_id.split("/")[-1]
    tests = dict(zip(trials, column(browser, headers.index("test accuracy"), attr="")))
    scored = [t for t in trials if t.startswith("baseline")] + [run.best_trial_id.split("/")[-1]]
    assert all(tests[t].endswith("%") for t in scored), tests
    cell = best[0].find_elements("css selector", "td.num")[0]
    assert cell.value_of_css_property("text-align") == "right"


def test_verdict_comes_first_and_says_who_won(browser, reports, runs) -> None:
    tracker, ids, _ = runs
    for task in ("structured", "structured_regression"):
        run = tracker.get_run(ids[task])
        open_at(browser, reports[task], 1280)
        verdict = body(browser, ".verdict")[0]
        assert verdict.location["y"] < body(browser, "table.meta")[0].location["y"]
        won = [w["trial_id"].split("/")[-1] for w in run.outcome.baselines_won]
        if won:
            assert verdict.text.startswith("A baseline won") and all(w in verdict.text for w in won)
        else:
            assert verdict.text.startswith("The search beat its baselines")


TITLE_INSIDE = """
return [...document.querySelectorAll('svg.chart')].map(svg => {
  const t = svg.querySelector('text'), box = t.getBBox(), w = svg.viewBox.baseVal.width;
  return [t.textContent, box.x >= 0 && box.x + box.width <= w];});
"""
TICKS = """
const svg = [...document.querySelectorAll('svg.chart')].find(s => s.getAttribute('aria-label') === arguments[0]);
const h = svg.viewBox.baseVal.height;
return [...svg.querySelectorAll('text')].filter(t => +t.getAttribute('y') > h - 60 && +t.getAttribute('y') < h - 20)
  .map(t => t.textContent);
"""


def test_charts_keep_their_titles_inside_and_tick_epochs_as_whole_numbers(browser, reports) -> None:
    open_at(browser, reports["structured"], 800)
    titles = browser.execute_script(TITLE_INSIDE)
    assert any(t.startswith("Confusion matrix") for t, _ in titles)  # two classes: the narrowest chart
    assert [t for t, inside in titles if not inside] == []
    curve = next(t for t, _ in titles if t.startswith("Learning curves"))
    epochs = browser.execute_script(TICKS, curve)
    assert epochs and all(e.isdigit() for e in epochs if e != "epoch"), epochs


def test_parallel_coordinates_have_a_labelled_colour_scale(browser, reports) -> None:
    open_at(browser, reports["structured"], 1280)
    (chart,) = [c for c in body(browser, "svg.chart") if c.get_attribute("aria-label").startswith("Hyperparameters")]
    assert len(chart.find_elements("css selector", ".colour-scale")) == 1
    labels = [t.text for t in chart.find_elements("css selector", "text") if t.text.endswith("%")]
    assert len(labels) >= 2  # the objective's axis and the colour bar, labelled in its unit


def test_index_links_every_run_and_filters_by_pipeline(browser, reports) -> None:
    open_at(browser, reports["index"], 1280)
    links = [a.get_attribute("href") for a in body(browser, "#runs tbody a")]
    assert sorted(Path(link.removeprefix("file://")).name for link in links) == sorted(
        [reports["structured"].name, reports["structured_regression"].name])
    assert len(body(browser, "svg .run-dot")) == 2  # each run's best score over time
    from selenium.webdriver.support.ui import Select

    Select(body(browser, "#f-pipeline")[0]).select_by_value("structured")
    shown = [r.text for r in body(browser, "#runs tbody tr") if r.is_displayed()]
    assert len(shown) == 1 and "breast_cancer" in shown[0]
    assert [d.is_displayed() for d in body(browser, "svg .run-dot")].count(True) == 1
    assert severe_console_errors(browser) == []
