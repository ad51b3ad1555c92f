"""Benchmark: the default text model's bundle size, cold load time per format, predict throughput."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT

from autosearch.config import load_pipeline
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.export import export_run
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.slow

MEASURE = r"""
import json, sys, time
t0 = time.perf_counter()
import tensorflow, keras, autokeras  # the import cost every format pays
t1 = time.perf_counter()
import autosearch
p = autosearch.load(sys.argv[1], format=sys.argv[2])
t2 = time.perf_counter()
from autosearch.data.embedded import load_rotten_tomatoes
texts = load_rotten_tomatoes()[0].tolist()
p.predict(texts[:100])  # warm-up
t3 = time.perf_counter()
p.predict(texts)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "rows": len(texts), "rows_per_s": len(texts) / (t4 - t3)}))
"""


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_default_text_bundle_size_load_time_and_throughput(home: Path) -> None:
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(load_pipeline(PIPELINES / "text.toml"), tracker, home)
    h5 = export_run(tracker, result.run_id, out=home / "h5_bundle", force_h5=True)
    print(f"\nbundle {result.bundle}: {du(result.bundle) / 1e6:.1f} MB "
          f"({', '.join(f'{p.name} {du(p) / 1e6 if p.is_dir() else p.stat().st_size / 1e6:.1f} MB' for p in sorted(result.bundle.iterdir()))})")
    for bundle, fmt in ((result.bundle, "keras"), (result.bundle, "saved_model"), (h5, "h5")):
        out = subprocess.run([sys.executable, "-c", MEASURE, str(bundle), fmt], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{fmt}: cold load {m['load_s']:.2f}s (+ {m['import_s']:.1f}s TensorFlow/Keras import), "
              f"predict {m['rows_per_s']:,.0f} raw texts/s over {m['rows']} rows")
        assert m["rows_per_s"] > 1000
