"""The HTML report, opened in a real headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PIPELINES
from required_services import unavailable

from autosearch.config import load_pipeline
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.views.report import write_report
from autosearch.workflows.search import run_search

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        unavailable("Chromium or chromedriver is not installed",
                    "apt-get install chromium chromium-driver, or 'make install' as root")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reports of a real classification and a real regression run."""
    home = tmp_path_factory.mktemp("report_home")
    tracker = SQLiteTracker(home / "tracker.db")
    out = {}
    for task in ("structured", "structured_regression"):
        cfg = load_pipeline(PIPELINES / f"{task}.toml", {"search.max_trials": 3, "search.epochs": 3})
        result = run_search(cfg, tracker, home, export=False)
        out[task] = write_report(tracker, [result.run_id], home / "reports")[0]
    out["index"] = home / "reports" / "index.html"
    return out


def severe_console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def rows_text(driver, column: int) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.find_elements(By.TAG_NAME, "td")[column].get_attribute("data-value")
            for r in driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")]


@pytest.mark.parametrize("task", ["structured", "structured_regression"])
def test_report_renders_without_errors_and_every_plot_draws(task: str, browser, reports) -> None:
    from selenium.webdriver.common.by import By

    html = reports[task].read_text()
    assert "<script src" not in html and "http://" not in html and "https://" not in html  # works offline
    browser.get(reports[task].as_uri())
    assert severe_console_errors(browser) == []
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    expected = 7 if task == "structured_regression" else 6  # 3 curves, parallel, progress, + confusion | 2 plots
    assert len(charts) == expected
    for chart in charts:
        assert chart.size["width"] > 100 and chart.size["height"] > 100
        assert chart.find_elements(By.CSS_SELECTOR, ".series"), chart.get_attribute("aria-label")


def test_leaderboard_resorts_on_a_header_click_and_filters(browser, reports) -> None:
    from selenium.webdriver.common.by import By

    browser.get(reports["structured"].as_uri())
    headers = browser.find_elements(By.CSS_SELECTOR, "#leaderboard th")
    names = [h.text.strip() for h in headers]
    col = names.index("duration_s")
    headers[col].click()
    asc = [float(v) for v in rows_text(browser, col)]
    assert asc == sorted(asc)
    headers[col].click()
    desc = [float(v) for v in rows_text(browser, col)]
    assert desc == sorted(desc, reverse=True)
    box = browser.find_element(By.ID, "filter")
    box.send_keys("baseline")
    visible = [r for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr") if r.is_displayed()]
    assert len(visible) == 2
    assert severe_console_errors(browser) == []


def test_index_links_every_run(browser, reports) -> None:
    from selenium.webdriver.common.by import By

    browser.get(reports["index"].as_uri())
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")]
    assert sorted(Path(link.removeprefix("file://")).name for link in links) == sorted(
        [reports["structured"].name, reports["structured_regression"].name])
    assert severe_console_errors(browser) == []
