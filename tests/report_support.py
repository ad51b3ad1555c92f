"""What the report tests share: a headless Chromium, one tiny real search per test module, and the checks a
person's eye makes (no sideways overflow, no long decimals, no JSON)."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from conftest import PIPELINES
from required_services import unavailable

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
WIDTHS = (1280, 800)
LONG_DECIMAL = re.compile(r"\d\.\d{6,}")
JSON_LIKE = re.compile(r'[{\[]\s*"|"\s*:\s*[\[{"\d]|\{\s*\}')
TINY = {"search.max_trials": 2, "search.epochs": 1, "search.ensemble": "off"}


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium driven by selenium; fails (not skips) without it when services are required."""
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
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def search_home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """An AUTOSEARCH_HOME for a module's searches, selecting on holdout (as the ``home`` fixture does)."""
    home = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOSEARCH_HOME", str(home))
        mp.setenv("AUTOSEARCH_CV_BELOW_ROWS", "0")
        mp.delenv("AUTOSEARCH_TRACKING_URI", raising=False)
        yield home


def tiny_search(pipeline: str, tracker: object, home: Path, **overrides: object) -> str:
    """A real search of the shipped ``pipeline``: 2 trials of 1 epoch, no ensemble. Returns its run id."""
    from autosearch.config import load_pipeline
    from autosearch.workflows.search import run_search

    cfg = load_pipeline(PIPELINES / f"{pipeline}.toml", {**TINY, **overrides})
    return run_search(cfg, tracker, home, export=False).run_id


def open_at(driver, path: Path, width: int) -> None:
    driver.set_window_size(width, 1400)
    driver.get(path.as_uri())


def sideways_overflow(driver) -> int:
    """How many CSS pixels the page is wider than the window (0 when it fits)."""
    scroll, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    return max(0, scroll - inner)


def unreadable_text(driver) -> list[str]:
    """Numbers with six or more decimals and JSON fragments in the page's visible text."""
    text = driver.execute_script("return document.body.innerText")
    return LONG_DECIMAL.findall(text) + JSON_LIKE.findall(text)


def severe_console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]

