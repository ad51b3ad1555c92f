"""A bundle's SavedModel serves raw inputs without autosearch: ``serving_default`` takes texts, one string per
feature column, or encoded image bytes, and answers what ``autosearch predict`` answers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PIPELINES

import autosearch
from autosearch.config import load_pipeline
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search
TINY = {"data.max_rows": 300, "search.max_trials": 1, "search.epochs": 1, "search.ensemble": "off"}

# Loads the SavedModel in a process where autosearch and AutoKeras cannot be imported, calls serving_default
# on the JSON feed read from stdin (image bytes base64-encoded), prints its outputs as JSON.
BLOCKED_CLIENT = r"""
import base64, importlib.abc, json, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("autosearch", "autokeras"):
            raise ImportError(f"{name} is blocked in this process")
        return None

sys.meta_path.insert(0, Blocked())
import tensorflow as tf

try:
    import autosearch  # noqa: F401
    sys.exit("autosearch was importable")
except ImportError:
    pass
feed = json.load(sys.stdin)
model = tf.saved_model.load(sys.argv[1])
args = {k: tf.constant([base64.b64decode(v) for v in vs] if k.endswith("_bytes") else vs, tf.string)
        for k, vs in feed.items()}
out = model.signatures["serving_default"](**args)
print(json.dumps({k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()] for k, v in out.items()}))
"""


def serve_blocked(bundle: Path, feed: dict, tmp_path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", BLOCKED_CLIENT, str(bundle / "saved_model")], cwd=tmp_path,
                          input=json.dumps(feed), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def predicted(cli, bundle: Path, source: Path, out: Path) -> pd.DataFrame:
    res = cli("predict", str(bundle), "--input", str(source), "--output", str(out))
    assert res.code == 0, res.err[-2000:]
    return pd.read_csv(out, keep_default_na=False)


def search(home: Path, task: str, **overrides) -> Path:
    cfg = load_pipeline(PIPELINES / f"{task}.toml", {**TINY, **overrides})
    return run_search(cfg, SQLiteTracker(home / "tracker.db"), home).bundle


def churn_table(rows: int = 200) -> pd.DataFrame:
    """Numbers and categories with gaps, under column names that are not signature keys."""
    rng = np.random.default_rng(0)
    plan = rng.choice(["basic", "pro", "team plan"], rows).astype(object)
    plan[::17] = None
    age = rng.integers(18, 80, rows).astype(float)
    age[::13] = np.nan
    visits = rng.poisson(5, rows)
    churned = np.where((plan == "basic") & (visits < 5), "yes", "no")
    return pd.DataFrame({"age (years)": age, "plan [type]": plan, "visits/month": visits, "label": churned})


@pytest.fixture(scope="module")
def table_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("churn")
    churn_table().to_csv(folder / "churn.csv", index=False)
    bundle = search(folder / "home", "structured", **{"data.dataset": str(folder / "churn.csv")})
    return bundle, churn_table()


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def test_structured_signature_takes_one_string_per_column_under_safe_recorded_keys(table_bundle, cli,
                                                                                  tmp_path: Path) -> None:
    bundle, table = table_bundle
    raw = manifest(bundle)["serving"]["raw"]
    columns = {key: spec["column"] for key, spec in raw["inputs"].items()}
    assert columns == {"age_years": "age (years)", "plan_type": "plan [type]", "visits_month": "visits/month"}
    assert raw["verification"]["edge_cases"]["max_abs_diff"] <= 1e-5
    rows = table.drop(columns="label").head(40).copy()
    rows.loc[3, "plan [type]"] = "enterprise"  # a category training never saw
    rows.to_csv(tmp_path / "rows.csv", index=False)
    feed = {key: ["" if pd.isna(v) else str(v) for v in rows[column]] for key, column in columns.items()}
    served = serve_blocked(bundle, feed, tmp_path)
    expected = predicted(cli, bundle, tmp_path / "rows.csv", tmp_path / "out.csv")
    names = manifest(bundle)["class_names"]
    np.testing.assert_allclose(served["probabilities"], expected[[f"p_{n}" for n in names]].to_numpy(), atol=1e-5)
    assert served["class"] == expected["prediction"].tolist()


@pytest.fixture(scope="module")
def image_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bundle trained on an image folder (bright vs dark 12x12 squares), and that folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name, level in (("bright", 200), ("dark", 40)):
        (root / name).mkdir()
        for i in range(20):
            pixels = np.clip(rng.normal(level, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return search(tmp_path_factory.mktemp("image_home"), "image", **{"search.max_trials": 2,
                  "data.dataset": str(root), "data.image_size": [12, 12]}), root


def test_image_signature_takes_encoded_png_and_jpeg_bytes(image_bundle, cli, tmp_path: Path) -> None:
    from PIL import Image

    bundle, root = image_bundle
    files = sorted(root.rglob("*.png"))[::4]
    for f in files[:3]:  # a JPEG of the same image: its decoder differs, within the manifest's stated bound
        Image.open(f).save(tmp_path / f"{f.parent.name}{f.stem}.jpg", quality=95)
    sources = files + sorted(tmp_path.glob("*.jpg"))
    feed = {"image_bytes": [base64.b64encode(f.read_bytes()).decode() for f in sources]}
    served = serve_blocked(bundle, feed, tmp_path)
    (tmp_path / "in").mkdir()
    for i, f in enumerate(sources):
        (tmp_path / "in" / f"{i:03d}{f.suffix}").write_bytes(f.read_bytes())
    expected = predicted(cli, bundle, tmp_path / "in", tmp_path / "out.csv")
    probs = expected[["p_bright", "p_dark"]].to_numpy()
    png = len(files)
    np.testing.assert_allclose(served["probabilities"][:png], probs[:png], atol=1e-5)
    bound = manifest(bundle)["serving"]["raw"]["verification"]["image_bound"]
    assert np.max(np.abs(np.array(served["probabilities"][png:]) - probs[png:])) <= bound["bound"]
    assert served["class"][:png] == expected["prediction"].tolist()[:png]


# -- moved from test_export.py: they share this module's image bundle --------------------------------------

def test_image_bundle_predicts_image_files_and_a_folder(image_bundle, cli, tmp_path: Path) -> None:
    bundle, root = image_bundle
    predictor = autosearch.load(bundle)
    assert list(predictor.predict([str(root / "bright" / "0.png"), str(root / "dark" / "0.png")])) == ["bright", "dark"]
    res = cli("predict", str(bundle), "--input", str(root), "--output", str(tmp_path / "out.csv"))
    assert res.code == 0, res.err[-2000:]
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 40 and (out["prediction"] == out["path"].str.split("/").str[-2]).mean() > 0.9


def test_predict_refuses_to_write_over_an_image_it_reads(image_bundle, cli) -> None:
    bundle, root = image_bundle
    target = root / "bright" / "0.png"
    before = target.read_bytes()
    res = cli("predict", str(bundle), "--input", str(root), "--output", str(target))
    assert res.code == 2 and "0.png is an image in the input folder" in res.err, res.err[-2000:]
    assert len(res.err.strip().splitlines()) == 1 and target.read_bytes() == before


def test_wrong_image_shape_is_rejected(image_bundle) -> None:
    from autosearch.errors import InputError

    with pytest.raises(InputError, match=r"shape \(8, 8, 3\), the model takes \(12, 12, 3\)"):
        autosearch.load(image_bundle[0]).predict(np.zeros((2, 8, 8, 3)))
