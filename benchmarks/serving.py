"""3. Serving against the bare model: a bundle's predict on raw text (batch 1 and 256) against the bare
model's predict on already tokenized input, per format, in one process, A B B A ...; and cold load per
format, through the bundle and of the model file alone, one fresh process per sample, interleaved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
