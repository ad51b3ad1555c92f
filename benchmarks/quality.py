"""5. Quality and cost of every shipped pipeline (autosearch/pipelines/*.toml) at its default budget: the best trial
on validation and test, each baseline on validation and test (from the baseline trials' ``extra``),
search and command wall time, and the disk the run uses; and AutoKeras' own text defaults."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    Section,
    bench_env,
    figure,
    iter_pipelines,
    log,
    run_child,
)
from benchmarks.overhead import read_run, search_args


def search_once(work: Path, home: Path, pipeline: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = work / f"quality-{pipeline}.json"
    child = run_child([PYTHON, "-m", "benchmarks.worker", "search", str(out), "--",
                       *search_args(pipeline, overrides)], bench_env(home)).check()
    data = json.loads(out.read_text())
    return {"wall": child.wall, "calls": data["calls"], "run": read_run(home)}


def add_run(section: Section, pipeline: str, res: Mapping[str, Any], capped: str = "") -> None:
    run = res["run"]
    scores, metric = run["scores"], run["scores"].get("metric", "?")
    lower_is_better = metric == "mean_absolute_error"
    best_baseline = None
    for name, extra in sorted(run["baselines"].items()):
        test = extra.get("test")
        section.add(figure("quality", f"{pipeline}: {name} test {extra.get('metric', metric)}", test,
                           note=f"validation {extra.get('validation', float('nan')):.4f}; {extra.get('model', '')}"))
        if test is not None and (best_baseline is None or (test < best_baseline if lower_is_better
                                                            else test > best_baseline)):
            best_baseline = test
    trials = run["trials"]
    section.add(
        figure("quality", f"{pipeline}: best trial test {metric}", scores.get("test"),
               note=f"validation {scores.get('validation', float('nan')):.4f}; {len(trials)} trials, "
                    f"{sum(t['epochs'] for t in trials.values())} epochs; run {run['run_id']}"),
        figure("quality", f"{pipeline}: best trial test / best baseline test", (
            scores["test"] / best_baseline if best_baseline and scores.get("test") is not None else None), "x",
            note="error ratio: below 1 beats the baselines" if lower_is_better else "above 1 beats the baselines"),
        figure("quality", f"{pipeline}: search phase wall time", res["calls"]["search"][0], "s",
               note=f"run recorded {run['duration']:.1f}s; whole command {res['wall']:.1f}s{capped}"),
        figure("quality", f"{pipeline}: disk used by the run", (run["disk_bytes"] or 0) / 1e6, "MB"),
    )


def run(work: Path, home: Path, overrides: Mapping[str, Any], reuse: Mapping[str, Mapping[str, Any]],
        ak_defaults: bool = False, names: list[str] | None = None, deadline: float | None = None) -> Section:
    """``reuse``: pipeline -> an already measured run of it at the same budget (the text run).
    ``deadline`` (time.monotonic()): a pipeline whose time budget would end past it is skipped, and said so."""
    from autosearch.config import load_pipeline

    section = Section("quality")
    configs = {path.stem: load_pipeline(path, dict(overrides)) for path in iter_pipelines()
               if names is None or path.stem in names}
    # shortest time budgets first, so that a deadline leaves out as few pipelines as possible
    for name in sorted(configs, key=lambda n: (n not in reuse, configs[n].search.time_budget or 1e9, n)):
        budget = configs[name].search.time_budget
        run_overrides, capped = dict(overrides), ""
        remaining = None if deadline is None else deadline - time.monotonic() - 60
        if name not in reuse and remaining is not None and (budget is None or budget > remaining):
            if remaining < 60:
                section.add(figure("quality", f"{name}: skipped", None, note="no time left before the run's deadline"))
                log(f"  {name}: skipped, no time left before the deadline")
                continue
            run_overrides["search.time_budget"] = f"{int(remaining)}s"
            capped = f"; time budget capped at {int(remaining)}s by the run's deadline (default " \
                     f"{'none' if budget is None else f'{budget / 60:.0f} min'})"
        if name in reuse:
            res = reuse[name]
        else:
            res = search_once(work, home, name, run_overrides)
            log(f"  {name}: test {res['run']['scores'].get('test')}, search {res['calls']['search'][0]:.1f}s{capped}")
        section.raw[name] = {"wall": res["wall"], "search_s": res["calls"]["search"][0], "run": res["run"],
                             "capped": capped}
        add_run(section, name, res, capped)
    if ak_defaults and (deadline is None or time.monotonic() + 300 < deadline):
        autokeras_defaults(section, work, home)
    return section


def autokeras_defaults(section: Section, work: Path, home: Path) -> None:
    """AutoKeras' TextClassifier defaults on the same split: the README's first workaround, re-measured."""
    out = work / "akdefaults.json"
    child = run_child([PYTHON, "-m", "benchmarks.worker", "akdefaults", str(out), str(work / "akdefaults")],
                      bench_env(home)).check()
    data = json.loads(out.read_text())
    section.raw["autokeras_text_defaults"] = {**data, "wall": child.wall}
    section.add(figure("quality", "AutoKeras TextClassifier defaults (3 trials x 10 epochs): test accuracy",
                       data["test"], "", "< 0.7", f"majority {data['majority_test']:.4f}; search "
                                                  f"{data['search_s']:.0f}s; the README's first workaround"))
