"""3. Serving against the bare model: the SavedModel's ``serving_default`` on raw text against the bare model
(a ``tf.function`` over the Keras model on already tokenized ids), per call, warmed up, median of
``RAW_CALLS`` calls, batch 1 and 256 (goal: at least 0.9x its throughput); a bundle's predict on raw text
(batch 1 and 256) against the bare model's predict on already tokenized input, per format, in one process,
A B B A ...; and cold load per format, through the bundle and of the model file alone, one fresh process
per sample, interleaved.

``python -m benchmarks.serving raw OUT BUNDLE [CALLS]`` is the child that times the raw signature."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import (
    PYTHON,
    Section,
    bench_env,
    du,
    figure,
    interleave,
    log,
    ratios,
    run_child,
)

FORMATS = ("keras", "saved_model", "h5")
RAW_CALLS = 300  # per batch size and variant, after the warm-up
RAW_GOAL = ">= 0.9"


def _median_rows_per_s(fn: Callable[[Any], Any], batches: list[Any], rows: int) -> float:
    times = []
    for batch in batches:
        t = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - t)
    return rows / statistics.median(times)


def raw_signature(out: str, bundle_path: str, calls: str = str(RAW_CALLS)) -> int:
    """Child: rows/s of ``serving_default`` on raw texts and of the bare model on their token ids, per
    batch size; calls alternate A B B A in blocks of 10, each variant's median per-call time counts."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf
    from autokeras import pipeline as ak_pipeline

    from autosearch.data.convert import texts_to_array
    from autosearch.data.embedded import load_rotten_tomatoes
    from autosearch.export.format import read_manifest
    from autosearch.export.predictor import custom_objects

    bundle, n = Path(bundle_path), int(calls)
    manifest = read_manifest(bundle)
    texts = [str(t) for t in load_rotten_tomatoes()[0].tolist()]
    raw = tf.saved_model.load(str(bundle / manifest["formats"]["saved_model"])).signatures["serving_default"]
    model = keras.models.load_model(bundle / manifest["formats"]["keras"], custom_objects=custom_objects(),
                                    compile=False)
    pipeline = ak_pipeline.load_pipeline(str(bundle / manifest["preprocessing"]), custom_objects=custom_objects())
    ids = np.asarray(pipeline.transform_x(texts_to_array(texts)))
    bare_fn = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([None, ids.shape[1]], tf.as_dtype(ids.dtype))])
    result: dict[str, Any] = {"calls": n, "preprocessing_version": manifest.get("preprocessing_version")}
    for batch in (1, 256):
        starts = [(i * batch * 7) % (len(texts) - batch) for i in range(n)]
        raw_batches = [tf.constant(texts[s : s + batch]) for s in starts]
        id_batches = [tf.constant(ids[s : s + batch]) for s in starts]
        variants = {"raw": (lambda x: raw(text=x)["probabilities"].numpy(), raw_batches),
                    "bare": (lambda x: bare_fn(x).numpy(), id_batches)}
        for fn, batches in variants.values():
            for b in batches[:20]:
                fn(b)  # warm-up: traces and fills the caches
        samples: dict[str, list[float]] = {"raw": [], "bare": []}
        for block in range(0, n, 10):
            for name in (("raw", "bare") if block % 20 == 0 else ("bare", "raw")):
                fn, batches = variants[name]
                samples[name].append(_median_rows_per_s(fn, batches[block : block + 10], batch))
        result[f"batch{batch}"] = {name: statistics.median(v) for name, v in samples.items()}
    Path(out).write_text(json.dumps(result))
    return 0


def raw_figures(work: Path, bundle: Path, env: dict[str, str], section: Section) -> None:
    out = work / "serve_raw.json"
    run_child([PYTHON, "-m", "benchmarks.serving", "raw", str(out), str(bundle)], env).check()
    data = json.loads(out.read_text())
    section.raw["raw_signature"] = data
    for batch in (256, 1):
        s = data[f"batch{batch}"]
        section.add(
            figure("serving", f"SavedModel serving_default on raw text, batch {batch}", s["raw"], "rows/s"),
            figure("serving", f"tf.function over the model on token ids, batch {batch} (yardstick)", s["bare"],
                   "rows/s"),
            figure("serving", f"raw-input SavedModel / bare model, batch {batch}", s["raw"] / s["bare"], "x",
                   target=RAW_GOAL, note=f"median of {data['calls']} calls each, warmed up; tokenizing in the graph"))


def h5_bundle(home: Path, run_id: str, out: Path) -> Path | None:
    """The same trial exported with the H5 fallback (``autosearch export --h5``)."""
    from benchmarks.tracker import autosearch_command

    child = run_child([*autosearch_command(), "export", run_id, "--out", str(out), "--h5"], bench_env(home))
    if child.code != 0:
        log(f"  H5 export failed: {(child.err or child.out).strip().splitlines()[-1:]}")
        return None
    return out


def run(work: Path, home: Path, run_id: str, bundle: Path, rounds: int, load_rounds: int,
        with_h5: bool = True) -> Section:
    section = Section("serving")
    env = bench_env(home)
    manifest = json.loads((bundle / "manifest.json").read_text())
    if "saved_model" in manifest["formats"] and (manifest.get("serving") or {}).get("raw"):
        raw_figures(work, bundle, env, section)
    h5 = h5_bundle(home, run_id, work / "h5_bundle") if with_h5 else None
    sizes = {fmt: du(bundle / manifest["formats"][fmt]) for fmt in manifest["formats"]}
    if h5 is not None:
        sizes["h5"] = du(h5 / json.loads((h5 / "manifest.json").read_text())["formats"]["h5"])
    section.raw["bundle_bytes"] = {"total": du(bundle), **sizes}
    section.add(figure("serving", "bundle size, all files", du(bundle) / 1e6, "MB",
                       note=", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items())))

    out = work / "serve.json"
    args = [PYTHON, "-m", "benchmarks.worker", "serve", str(out), str(bundle), str(rounds)]
    run_child([*args, *([str(h5)] if h5 else [])], env).check()
    data = json.loads(out.read_text())
    section.raw["throughput"] = data
    for fmt, res in data["formats"].items():
        if "skipped" in res:
            section.add(figure("serving", f"{fmt}: throughput", None, note=res["skipped"]))
            continue
        for batch in (256, 1):
            s = res[f"batch{batch}"]
            section.add(
                figure("serving", f"{fmt}, batch {batch}: bundle predict on raw text", s["bundle"], "rows/s"),
                figure("serving", f"{fmt}, batch {batch}: bare model on tokenized input (yardstick)", s["bare"],
                       "rows/s"),
                figure("serving", f"{fmt}, batch {batch}: bundle / bare throughput", ratios(s["bundle"], s["bare"]),
                       "x", note="1.0 = preprocessing and postprocessing cost nothing"))

    paths = {"keras": bundle, "saved_model": bundle, "h5": h5}
    for fmt in FORMATS:
        path = paths[fmt]
        if path is None or fmt not in json.loads((path / "manifest.json").read_text())["formats"]:
            continue

        def load(mode: str, fmt: str = fmt, path: Path = path):
            def one(r: int) -> dict[str, float]:
                o = work / f"load-{fmt}-{mode}-{r}.json"
                run_child([PYTHON, "-m", "benchmarks.worker", "coldload", str(o), str(path), fmt, mode], env).check()
                return json.loads(o.read_text())
            return one

        res = interleave({"bundle": load("bundle"), "bare": load("bare")}, load_rounds)
        section.raw[f"cold_load_{fmt}"] = res
        b, m = [x["load_s"] for x in res["bundle"]], [x["load_s"] for x in res["bare"]]
        imports = [x["import_s"] for x in res["bundle"] + res["bare"]]
        section.add(
            figure("serving", f"{fmt}: cold load through the bundle (after imports)", b, "s",
                   note=f"TensorFlow/Keras/AutoKeras import before it: {sorted(imports)[len(imports) // 2]:.1f}s"),
            figure("serving", f"{fmt}: load of the model file alone (yardstick)", m, "s"),
            figure("serving", f"{fmt}: bundle / model-file load time", ratios(b, m), "x",
                   note="checksums and the AutoKeras preprocessing on top of the model"))
        log(f"  cold load {fmt}: bundle {sorted(b)[len(b) // 2]:.2f}s, model file {sorted(m)[len(m) // 2]:.2f}s")
    return section


def bundle_of(run: dict[str, Any]) -> Path | None:
    if not run.get("run_dir"):
        return None
    path = Path(run["run_dir"]) / "export"
    return path if (path / "manifest.json").is_file() else None


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "raw":
        sys.exit("usage: python -m benchmarks.serving raw OUT BUNDLE [CALLS]")
    sys.exit(raw_signature(*sys.argv[2:5]))
