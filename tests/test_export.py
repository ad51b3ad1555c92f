"""Bundles: written and verified after a search, reloaded in a fresh process in every format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

import autosearch
from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.errors import BundleError, InputError
from autosearch.export.bundle import write_bundle
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.export import export_run
from autosearch.workflows.search import run_search

pytestmark = pytest.mark.search
TINY = {"data.max_rows": 300, "search.max_trials": 2, "search.epochs": 1, "search.ensemble": "off"}


def search(home: Path, task: str, **overrides):
    cfg = load_pipeline(PIPELINES / f"{task}.toml", {**TINY, **overrides})
    tracker = SQLiteTracker(home / "tracker.db")
    return tracker, run_search(cfg, tracker, home), cfg


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("text_home")
    tracker, result, cfg = search(home, "text", **{"search.checkpoints": "all"})  # other trials get exported
    return tracker, result, prepare_data(cfg)


@pytest.fixture(scope="module")
def h5_bundle(text_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tracker, result, _ = text_run
    return export_run(tracker, result.run_id, out=tmp_path_factory.mktemp("h5") / "bundle", force_h5=True)


def validation_probabilities(result) -> np.ndarray:
    frame = pd.read_csv(result.run_dir / "predictions" / "validation.csv")
    return frame[["p_fresh", "p_rotten"]].to_numpy()


def test_search_writes_a_verified_self_describing_bundle(text_run) -> None:
    tracker, result, split = text_run
    bundle = result.bundle
    assert bundle == result.run_dir / "export"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert (manifest["run_id"], manifest["trial_id"]) == (result.run_id, result.best_trial_id)
    assert manifest["task"] == "text_classification" and manifest["class_names"] == ["fresh", "rotten"]
    assert manifest["input"] == {"kind": "text", "text_column": "text"}
    assert set(manifest["formats"]) == {"keras", "saved_model"} and manifest["h5_fallback_reason"] is None
    assert manifest["data_fingerprint"] == split.fingerprint
    assert manifest["scores"] == tracker.get_run(result.run_id).summary["scores"]
    assert {"tensorflow", "keras", "autokeras", "autosearch"} <= set(manifest["versions"])
    files = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    assert files == set(manifest["files"]) and "preprocessing.json" in files
    assert max(manifest["verification"]["max_abs_diff"].values()) <= 1e-5
    assert not list(bundle.parent.glob(".export.tmp-*"))


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "h5"])
def test_each_format_reloads_alone_in_a_fresh_process_and_matches_the_search(fmt: str, text_run, h5_bundle) -> None:
    _, result, split = text_run
    bundle = h5_bundle if fmt == "h5" else result.bundle
    texts = split.x("validation").tolist()
    code = ("import json, sys, autosearch;"
            "p = autosearch.load(sys.argv[1], format=sys.argv[2]);"
            "print(json.dumps({'format': p.format, 'proba': p.predict_proba(json.load(sys.stdin)).tolist()}))")
    proc = subprocess.run([sys.executable, "-c", code, str(bundle), fmt], input=json.dumps(texts), cwd=ROOT,
                          capture_output=True, text=True, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["format"] == fmt
    np.testing.assert_allclose(np.array(got["proba"]), validation_probabilities(result), atol=1e-5, rtol=0)


def test_forced_fallback_writes_h5_and_the_manifest_says_why(h5_bundle: Path) -> None:
    manifest = json.loads((h5_bundle / "manifest.json").read_text())
    assert set(manifest["formats"]) == {"keras", "h5"}
    assert "forced" in manifest["h5_fallback_reason"]
    assert (h5_bundle / "model.h5").is_file() and not (h5_bundle / "saved_model").exists()


def test_load_prefers_keras_and_predicts_class_names(text_run) -> None:
    _, result, _ = text_run
    predictor = autosearch.load(result.bundle)
    assert predictor.format == "keras"
    assert set(predictor.predict(["a moving, wonderful film", "dull"])) <= {"fresh", "rotten"}


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_bundle_predicts_the_same_whatever_its_batch_size(fmt: str, text_run, h5_bundle) -> None:
    """Keras formats run one model step per batch; cutting the rows in batches changes no output."""
    _, result, split = text_run
    predictor = autosearch.load(h5_bundle if fmt == "h5" else result.bundle, format=fmt)
    texts = split.x("test")[:23].tolist()
    whole = predictor.predict_proba(texts)
    for batch_size in (1, 5, 23, 1024):
        np.testing.assert_allclose(predictor.predict_proba(texts, batch_size=batch_size), whole, rtol=0, atol=1e-6)
    assert whole.shape == (23, 2)


def test_changing_one_byte_fails_the_checksum(text_run, tmp_path: Path) -> None:
    _, result, _ = text_run
    copy = tmp_path / "bundle"
    shutil.copytree(result.bundle, copy)
    weights = copy / "saved_model" / "variables" / "variables.data-00000-of-00001"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"checksum mismatch for 'saved_model/variables/variables.data"):
        autosearch.load(copy)


def test_exporting_another_trial_goes_to_exports(text_run) -> None:
    tracker, result, _ = text_run
    other = next(t for t in tracker.list_trials(result.run_id)
                 if t.trial_id != result.best_trial_id and t.kind.value == "search")
    path = export_run(tracker, result.run_id, other.keras_trial_id)
    assert path == result.run_dir / "exports" / other.keras_trial_id
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["trial_id"] == other.trial_id
    assert manifest["scores"]["validation"] == pytest.approx(other.objective, abs=1e-6)


def test_only_search_trials_with_a_checkpoint_can_be_exported(text_run, tmp_path: Path) -> None:
    from autosearch.errors import ExportError

    tracker, result, _ = text_run
    with pytest.raises(ExportError, match="baseline trial"):
        export_run(tracker, result.run_id, "baseline-majority")
    other = next(t for t in tracker.list_trials(result.run_id)
                 if t.trial_id != result.best_trial_id and t.kind.value == "search")
    ckpt = result.run_dir / "autokeras" / f"trial_{other.keras_trial_id}" / "checkpoint.weights.h5"
    moved = tmp_path / "ckpt.h5"
    ckpt.rename(moved)
    try:
        with pytest.raises(ExportError, match="no checkpoint.*autosearch gc"):
            export_run(tracker, result.run_id, other.trial_id, out=tmp_path / "b")
    finally:
        moved.rename(ckpt)


def test_export_never_writes_over_a_folder_it_did_not_write(text_run, cli, tmp_path: Path) -> None:
    from autosearch.errors import ExportError

    tracker, result, _ = text_run
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    (mine / "sub" / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ExportError, match=r"not empty and not an autosearch bundle \(it holds notes.txt, sub/\)"):
        export_run(tracker, result.run_id, out=mine)
    res = cli("export", result.run_id, "--out", str(mine), "--tracker", tracker.uri)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1 and "new or empty directory" in res.err
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "sub" / "data.csv").is_file()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "sub"]


def test_a_failed_export_leaves_no_half_bundle_and_keeps_the_old_one(text_run, tmp_path: Path) -> None:
    _, result, _ = text_run
    predictor = autosearch.load(result.bundle)
    out = tmp_path / "bundle"
    shutil.copytree(result.bundle, out)  # a previous bundle: export may replace it, and must keep it on failure
    before = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    with pytest.raises(InputError, match="empty"):
        write_bundle(predictor._model, predictor._pipeline, out, predictor.manifest, check_inputs=[])
    assert {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_predict_cli_streams_a_csv_in_batches(text_run, cli, tmp_path: Path) -> None:
    _, result, split = text_run
    texts = split.x("test")[:30]
    pd.DataFrame({"id": range(30), "text": texts}).to_csv(tmp_path / "in.csv", index=False)
    res = cli("predict", str(result.bundle), "--input", str(tmp_path / "in.csv"), "--output",
              str(tmp_path / "out.csv"), "--batch-rows", "7")
    assert res.code == 0, res.err[-2000:]
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 30 and list(out["id"]) == list(range(30))
    assert list(out["prediction"]) == list(autosearch.load(result.bundle).predict(list(texts)))


def test_text_saved_model_serves_raw_text_without_autosearch_as_predict_does(text_run, cli, tmp_path: Path) -> None:
    from test_serving import serve_blocked

    _, result, split = text_run
    texts = [*split.x("test")[:20].tolist(), unicodedata.normalize("NFD", "Café déjà vu"), "", "非常好 👍🏽"]
    served = serve_blocked(result.bundle, {"text": texts}, tmp_path)
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    res = cli("predict", str(result.bundle), "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv"))
    assert res.code == 0, res.err[-2000:]
    expected = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    np.testing.assert_allclose(served["probabilities"], expected[["p_fresh", "p_rotten"]].to_numpy(), atol=1e-5)
    assert served["class"] == expected["prediction"].tolist()
    raw = json.loads((result.bundle / "manifest.json").read_text())["serving"]["raw"]
    assert raw["signature"] == "serving_default" and set(raw["inputs"]) == {"text"}
    assert raw["verification"]["edge_cases"]["rows"] >= 10 and raw["verification"]["edge_cases"]["max_abs_diff"] <= 1e-5


def test_saved_model_cli_runs_the_text_signature_and_prints_probabilities(text_run) -> None:
    cli_path = Path(sys.executable).with_name("saved_model_cli")
    proc = subprocess.run([str(cli_path), "run", "--dir", str(text_run[1].bundle / "saved_model"), "--tag_set",
                           "serve", "--signature_def", "serving_default", "--input_exprs",
                           'text=["a moving, beautiful film", "dull"]'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probs = proc.stdout.split("Result for output key probabilities:")[1]
    rows = [[float(v) for v in line.strip(" []").split()] for line in probs.strip().splitlines()[:2]]
    assert len(rows) == 2 and all(len(r) == 2 and abs(sum(r) - 1) < 1e-5 for r in rows), proc.stdout
    assert "Result for output key class:" in proc.stdout


# -- bad input -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def table_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only its input columns matter here: one trial, no ensemble."""
    return search(tmp_path_factory.mktemp("table_home"), "structured",
                  **{"search.max_trials": 1})[1].bundle


def _newer(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "newer"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    return copy


def _csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(tmp_path / "in.csv", index=False)
    return str(tmp_path / "in.csv")


def _raw(tmp_path: Path, text: str) -> str:
    (tmp_path / "in.csv").write_text(text)
    return str(tmp_path / "in.csv")


BAD_PREDICT = {
    "missing bundle": (lambda b, t: [str(t / "nope"), "--input", _csv(t, pd.DataFrame({"text": ["x"]}))],
                       ["bundle", "not found", "autosearch export"]),
    "missing input file": (lambda b, t: [str(b["text"]), "--input", str(t / "nope.csv")], ["nope.csv' not found"]),
    "newer format": (lambda b, t: [str(_newer(b["text"], t)), "--input", _csv(t, pd.DataFrame({"text": ["x"]}))],
                     ["format 99 is newer", "upgrade autosearch"]),
    "missing columns": (lambda b, t: [str(b["table"]), "--input", _csv(t, pd.DataFrame({"mean radius": [1.0]}))],
                        ["missing column(s)", "mean texture"]),
    "empty input": (lambda b, t: [str(b["text"]), "--input", _csv(t, pd.DataFrame({"text": []}))],
                    ["has a header (text) but no data rows"]),
    "wrong text column": (lambda b, t: [str(b["text"]), "--input", _csv(t, pd.DataFrame({"a": ["x"], "b": ["y"]}))],
                          ["no text column 'text'", "a, b"]),
    # the text: an unquoted comma gave the row a second field, once read as the row's index
    "text with an unquoted comma": (lambda b, t: [str(b["text"]), "--input", _raw(t, "text\nWIN a FREE prize now, "
                                    "text CLAIM to 80086\nsee you at lunch tomorrow?\n")],
                                    ["in.csv: line 2 has more fields than the header's 1 column", "quote a text"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICT))
def test_bad_predict_input_exits_2_with_one_line(case: str, text_run, table_bundle, cli, tmp_path: Path) -> None:
    bundles = {"text": text_run[1].bundle, "table": table_bundle}
    make_args, words = BAD_PREDICT[case]
    res = cli("predict", *make_args(bundles, tmp_path), "--output", str(tmp_path / "out.csv"))
    assert res.code == 2, res.err[-2000:]
    lines = [line for line in res.err.splitlines() if line.strip() and not _tf_noise(line)]
    assert len(lines) == 1, res.err
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "out.csv").exists()


def _tf_noise(line: str) -> bool:
    return line.startswith(("WARNING: All log messages", "I0000", "E0000", "W0000"))
