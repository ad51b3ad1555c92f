"""1. Tracking overhead: the same search by bare AutoKeras, by autosearch with SQLite, with ClearML offline and
with MLflow (a local SQLite store, created before the rounds), interleaved (bare, sqlite, clearml, mlflow, then
mlflow, clearml, sqlite, bare, ...).

Ratios are taken within a round (variant / bare of the same round), then the median over rounds is
reported with min-max. Each autosearch run is checked against the bare run of its round: the same
trials, epochs and objectives (else the times would not compare). Also measured here, from the same
runs: the bookkeeping per trial (the tracker hooks' own time) and the phases that make up the whole
command. The first SQLite run is kept for serving (3) and quality (5).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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

# pipeline key -> `autosearch search` flag, for the overrides the quick mode passes
FLAGS = {"search.max_trials": "--max-trials", "search.epochs": "--epochs", "data.max_rows": "--max-rows",
         "search.time_budget": "--time-budget"}
PHASES = ("baselines", "search", "score", "predictions", "bundle", "report", "print_outcome", "clearml.close",
          "clearml.start_run")


def search_args(pipeline: str, overrides: Mapping[str, Any]) -> list[str]:
    args = ["--pipeline", pipeline, "--quiet"]
    for key, value in overrides.items():
        args += [FLAGS[key], str(value)]
    return args


def read_run(home: Path, run_id: str | None = None) -> dict[str, Any]:
    """The newest run (or ``run_id``) as the public tracker API returns it: trials, epochs, scores."""
    from autosearch.tracking import TrialKind, get_tracker

    with home_env(home), get_tracker(f"sqlite:///{home / 'tracker.db'}") as tracker:
        run = tracker.get_run(run_id) if run_id else tracker.list_runs()[0]
        trials = tracker.list_trials(run.run_id, with_epochs=True)
        run_dir = run.run_dir  # a relative run_dir is resolved against AUTOSEARCH_HOME
    search = {t.keras_trial_id: {"objective": t.objective, "epochs": len(t.epochs), "state": t.state.value,
                                 "hyperparameters": {k: v for k, v in t.hyperparameters.items()
                                                     if not k.startswith("tuner/")}}
              for t in trials if t.kind is TrialKind.SEARCH}
    baselines = {t.local_id: dict(t.extra) for t in trials if t.kind is TrialKind.BASELINE}
    return {"run_id": run.run_id, "status": run.status.value, "trials": search, "baselines": baselines,
            "scores": dict(run.scores), "best_objective": run.best_objective, "duration": run.duration,
            "run_dir": str(run_dir) if run_dir else None, "disk_bytes": du(run_dir) if run_dir else None,
            "objective": run.objective}


@contextmanager
def home_env(home: Path) -> Iterator[None]:
    """AUTOSEARCH_HOME set to ``home`` for the duration (records resolve relative paths against it)."""
    old = os.environ.get("AUTOSEARCH_HOME")
    os.environ["AUTOSEARCH_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("AUTOSEARCH_HOME", None)
        else:
            os.environ["AUTOSEARCH_HOME"] = old


def same_work(bare: Mapping[str, Any], tracked: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether two runs trained the same trials for the same epochs to the same objectives."""
    if set(bare) != set(tracked):
        return False, f"trial ids differ: {sorted(bare)} vs {sorted(tracked)}"
    for tid, b in bare.items():
        t = tracked[tid]
        if b["epochs"] != t["epochs"]:
            return False, f"trial {tid}: {b['epochs']} vs {t['epochs']} epochs"
        if b["objective"] is None or t["objective"] is None or abs(b["objective"] - t["objective"]) > 1e-6:
            return False, f"trial {tid}: objective {b['objective']} vs {t['objective']}"
    return True, f"{len(bare)} trials, {sum(b['epochs'] for b in bare.values())} epochs, same objectives"


def run(work: Path, rounds: int, overrides: Mapping[str, Any], pipeline: str = "text",
        profile: bool = False) -> tuple[Section, dict[str, Any]]:
    """Returns the section and the kept SQLite run ({"home", "run"}) for the serving and quality sections."""
    section = Section("overhead")
    home = work / "home"
    env = bench_env(home)
    kept: dict[str, Any] = {}
    results = interleave(_variants(work, home, env, pipeline, overrides, kept), rounds)
    section.raw["samples"] = results
    b = results["bare"]
    for v in ("sqlite", "clearml", "mlflow"):
        _compare(section, v, results[v], b)
    section.add(figure("overhead", "bare AutoKeras search phase (the yardstick)",
                       [x["calls"]["search"][0] for x in b], "s"))
    if profile:
        section.raw["profile"] = profile_search(work, env, pipeline, overrides)
    return section, kept


def _variants(work: Path, home: Path, env: Mapping[str, str], pipeline: str, overrides: Mapping[str, Any],
              kept: dict[str, Any]) -> dict[str, Callable[[int], dict[str, Any]]]:
    """One round of each variant: bare AutoKeras, autosearch with SQLite, with ClearML offline (the first SQLite
    run is kept in ``kept``; the others' run directories are deleted once measured)."""

    def autosearch(tracker_args: list[str], label: str):
        def one(r: int) -> dict[str, Any]:
            out = work / f"{label}-{r}.json"
            child = run_child([PYTHON, "-m", "benchmarks.worker", "search", str(out), "--",
                               *search_args(pipeline, overrides), *tracker_args], env).check()
            data = json.loads(out.read_text())
            info = read_run(home)
            res = {"wall": child.wall, "cpu": child.cpu, "calls": data["calls"], "missing": data["missing"],
                   "main_s": data["main_s"], "import_s": data["import_s"], "run": info}
            if label == "sqlite" and not kept:
                kept.update(home=home, run=info, wall=child.wall, calls=data["calls"])
            elif info["run_dir"]:
                shutil.rmtree(info["run_dir"], ignore_errors=True)  # measured; free the disk
            log(f"  {label} round {r + 1}: whole {child.wall:.1f}s, search {data['calls']['search'][0]:.1f}s")
            return res
        return one

    def bare(r: int) -> dict[str, Any]:
        out, workdir = work / f"bare-{r}.json", work / f"bare-{r}"
        child = run_child([PYTHON, "-m", "benchmarks.worker", "bare", str(out), pipeline, str(workdir),
                           json.dumps(dict(overrides))], env).check()
        data = json.loads(out.read_text())
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"  bare round {r + 1}: whole {child.wall:.1f}s, search {data['calls']['search'][0]:.1f}s")
        return {"wall": child.wall, "cpu": child.cpu, "calls": data["calls"], "trials": data["trials"]}

    mlflow_uri = f"mlflow+sqlite:///{work / 'mlflow.db'}"
    _create_mlflow_store(mlflow_uri)
    return {"bare": bare, "sqlite": autosearch([], "sqlite"),
            "clearml": autosearch(["--tracker", "clearml://bench", "--offline"], "clearml"),
            "mlflow": autosearch(["--tracker", mlflow_uri], "mlflow")}


def _create_mlflow_store(uri: str) -> None:
    """MLflow's store made before the rounds: its first open migrates a new database (seconds), once."""
    from autosearch.tracking.mlflow_tracker import MLflowTracker

    MLflowTracker(uri.removeprefix("mlflow+")).client.experiment_ids()


TARGETS = {"sqlite": "<= 1.03", "clearml": "<= 1.05", "mlflow": "<= 1.10"}
NAMES = {"sqlite": "SQLite", "clearml": "ClearML offline", "mlflow": "MLflow (local SQLite store)"}


def _compare(section: Section, v: str, s: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Variant ``v``'s rounds ``s`` against bare AutoKeras' rounds ``b``: overhead ratios, phases, bookkeeping."""
    checks = [same_work(bb["trials"], ss["run"]["trials"]) for bb, ss in zip(b, s)]
    identical = sum(ok for ok, _ in checks)
    work_note = f"same work in {identical}/{len(checks)} rounds" + (
        "" if identical == len(checks) else f" ({'; '.join(m for ok, m in checks if not ok)})")
    section.add(
        figure("overhead", f"search phase, autosearch+{NAMES[v]} / bare AutoKeras (wall)",
               ratios([x["calls"]["search"][0] for x in s], [x["calls"]["search"][0] for x in b]), "x",
               TARGETS[v], work_note),
        figure("overhead", f"search phase, autosearch+{NAMES[v]} / bare AutoKeras (CPU)",
               ratios([x["calls"]["search.cpu"][0] for x in s], [x["calls"]["search.cpu"][0] for x in b]), "x",
               "", "process CPU time, all threads: less sensitive to other load than wall time"),
        figure("overhead", f"whole command, autosearch+{NAMES[v]} / bare AutoKeras (wall)",
               ratios([x["wall"] for x in s], [x["wall"] for x in b]), "x", TARGETS[v],
               "autosearch also scores baselines, writes predictions, a verified bundle and a report"),
        figure("overhead", f"whole command, autosearch+{NAMES[v]} / bare AutoKeras (CPU)",
               ratios([x["cpu"] for x in s], [x["cpu"] for x in b]), "x"),
    )
    # where the whole command's extra time goes (medians over rounds, seconds)
    phases = {p: statistics.median(sum(x["calls"].get(p, [0.0])) for x in s) for p in PHASES}
    phases["outside main (interpreter start, imports)"] = statistics.median(x["wall"] - x["main_s"] for x in s)
    section.raw[f"{v}_phases_s"] = phases
    section.raw[f"{v}_same_work"] = [m for _, m in checks]
    # bookkeeping per trial: the hooks' own time (tracker writes, summaries, resource sampler)
    per_trial_out, per_trial_in, epoch = [], [], []
    for x in s:
        c = x["calls"]
        per_trial_out += [a + e for a, e in zip(c.get("hook.trial_begin", []), c.get("hook.trial_end", []))]
        per_trial_in += c.get("hook.fit_begin", [])
        epoch += c.get("hook.epoch_end", [])
    section.add(
        figure("tracker", f"bookkeeping per trial outside fit, {NAMES[v]} (trial_begin + trial_end)",
               [t * 1000 for t in per_trial_out], "ms", "<= 20", "median over all trials; min-max"),
        figure("tracker", f"bookkeeping per trial inside fit, {NAMES[v]} (model summary file)",
               [t * 1000 for t in per_trial_in], "ms"),
        figure("tracker", f"per-epoch hook in a real search, {NAMES[v]}", [t * 1000 for t in epoch], "ms"),
    )


def profile_search(work: Path, env: Mapping[str, str], pipeline: str, overrides: Mapping[str, Any]) -> list[str]:
    """One more SQLite search under cProfile; the entries that are autosearch's or its callbacks' own."""
    import pstats

    out, prof = work / "profile.json", work / "search.prof"
    run_child([PYTHON, "-m", "benchmarks.worker", "search", str(out), "--profile", str(prof), "--",
               *search_args(pipeline, overrides)], env).check()
    stats = pstats.Stats(str(prof))
    rows = []
    for (file, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if any(k in file for k in ("autosearch/", "callbacks/", "tensorboard", "sqlite", "clearml", "psutil")):
            rows.append((ct, f"{ct:8.2f}s cum {tt:7.2f}s own {nc:7d} calls  {Path(file).name}:{line}({func})"))
    rows.sort(reverse=True)
    return [r for _, r in rows[:40]]
