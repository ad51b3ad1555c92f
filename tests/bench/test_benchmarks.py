"""The benchmark harness (``python -m benchmarks``, ``make bench``): its statistics, and a quick run end to end.

The full measurements run with ``make bench``; here the quick mode (tiny budgets, one round) proves that
every section runs and writes its JSON and table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))

from benchmarks.common import check, figure, interleave, quantile, ratios
from benchmarks.report import table


def test_rounds_alternate_their_order_so_drift_lands_on_every_variant() -> None:
    order: list[str] = []
    interleave({"a": lambda r: order.append("a"), "b": lambda r: order.append("b")}, 3)
    assert order == ["a", "b", "b", "a", "a", "b"]


def test_ratios_pair_samples_of_the_same_round() -> None:
    assert ratios([2.0, 3.0, 4.0], [1.0, 3.0, 2.0]) == [2.0, 1.0, 2.0]


def test_figure_reports_median_spread_and_whether_the_target_is_met() -> None:
    f = figure("s", "ratio", [1.01, 1.10, 1.02], "x", "<= 1.03")
    assert (f.value, f.lo, f.hi, f.n, f.ok) == (1.02, 1.01, 1.10, 3, True)
    assert check(0.31, "< 0.3") is False and check(None, "< 0.3") is None and check(1.0, "") is None
    assert quantile([1, 2, 3, 4, 5], 0.5) == 3 and quantile([0, 10], 0.99) == pytest.approx(9.9)
    assert "| ratio | 1.020 | 1.010–1.100 | 3 | <= 1.03 | yes |" in table([f])


@pytest.mark.slow
def test_quick_benchmark_writes_json_and_markdown_for_every_section(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path / "bench")],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    (json_path,) = (tmp_path / "bench").glob("*-quick.json")
    (md_path,) = (tmp_path / "bench").glob("*-quick.md")
    data = json.loads(json_path.read_text())
    assert {f["section"] for f in data["figures"]} >= {"overhead", "tracker", "serving", "startup", "quality"}
    assert data["machine"]["cores"] and data["machine"]["versions"]["keras"]
    names = {f["name"] for f in data["figures"]}
    assert any("search phase, autosearch+SQLite / bare AutoKeras" in n for n in names)
    assert any("same work in 1/1 rounds" in f["note"] for f in data["figures"])
    md = md_path.read_text()
    assert "| measure | median | min–max | n | target | met | note |" in md and "cores" in md
    assert md.strip() in proc.stdout
