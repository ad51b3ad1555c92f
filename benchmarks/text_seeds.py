"""The text pipeline over split seeds and embedded text sets: the exported model against the tuned TF-IDF +
logistic regression baseline of the same run, seed by seed (issue 21's yardstick).

    python -m benchmarks.text_seeds                                   # Rotten Tomatoes, seeds 0-2
    python -m benchmarks.text_seeds --data rotten_tomatoes,speeches,debates --seeds 0,1,2,3,4

Each (data set, seed) is one real ``autosearch search --pipeline text --data NAME --seed S`` in a scratch
home; what is reported comes from the run's record, as any user reads it. ``make bench``'s quality section
runs the Rotten Tomatoes seeds (``section``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmarks.common import PYTHON, Section, bench_env, figure, log, run_child

TUNED_BASELINE = "tfidf_logreg"
TARGET_SEED0, TARGET_MEAN, TARGET_LOWEST = 0.785, 0.785, 0.775  # issue 21, Rotten Tomatoes


def one_run(home: Path, data: str, seed: int) -> dict[str, Any]:
    """Search the text pipeline on ``data`` with split seed ``seed``; the run's figures."""
    child = run_child([PYTHON, "-m", "autosearch", "search", "--pipeline", "text", "--data", data,
                       "--seed", str(seed), "--quiet"], bench_env(home), timeout=3600).check()
    return {**read_outcome(home), "wall": child.wall, "data": data, "seed": seed}


def read_outcome(home: Path, run_id: str | None = None) -> dict[str, Any]:
    """The newest run in ``home`` (or ``run_id``): exported model's kind and scores, the tuned baseline's,
    data size."""
    from benchmarks.overhead import home_env
    from autosearch.tracking import TrialKind, get_tracker

    with home_env(home), get_tracker(f"sqlite:///{home / 'tracker.db'}") as tracker:
        run = tracker.get_run(run_id or tracker.list_runs()[0].run_id)
        trials = {t.trial_id: t for t in tracker.list_trials(run.run_id)}
    best = trials.get(run.best_trial_id)
    kind = "?" if best is None else _family(best)
    if best is not None and best.extra.get("members"):
        kind = "ensemble of " + "+".join(_family(trials[m["trial_id"]]) for m in best.extra["members"]
                                         if m.get("trial_id") in trials)
    baseline = next((t.extra for t in trials.values()
                     if t.kind is TrialKind.BASELINE and t.trial_id.endswith(TUNED_BASELINE)), {})
    rows = run.data.get("rows", {}) if isinstance(run.data, Mapping) else {}
    return {"run_id": run.run_id, "test": run.scores.get("test"), "validation": run.scores.get("validation"),
            "baseline_test": baseline.get("test"), "baseline_validation": baseline.get("validation"),
            "baseline_model": baseline.get("model"), "kind": kind, "search_s": run.duration,
            "rows": sum(rows.values()) if rows else None, "words_per_text": _words_per_text(run)}


def _family(trial: Any) -> str:
    return str(next((v for k, v in trial.hyperparameters.items() if k.endswith("/family")), trial.kind.value))


def _words_per_text(run: Any) -> float | None:
    from autosearch.config import config_from_run
    from autosearch.data import prepare_data
    from autosearch.spaces.fitting import words

    try:
        split = prepare_data(config_from_run(run.config, run.run_id))
    except Exception:  # noqa: BLE001 - a figure of the table, not the measurement
        return None
    texts = [str(t) for part in ("train", "validation", "test") for t in split.x(part)]
    return sum(len(words(t)) for t in texts) / max(len(texts), 1)


def table(results: Sequence[Mapping[str, Any]]) -> str:
    """The closing note's table: per data set, the mean difference exported - tuned baseline and its spread."""
    lines = ["| data | rows | words/text | seeds | tuned TF-IDF+LR test | exported test | exported kinds | "
             "mean diff (points) | diff sd | search s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for data in dict.fromkeys(r["data"] for r in results):
        rs = [r for r in results if r["data"] == data]
        diffs = [100 * (r["test"] - r["baseline_test"]) for r in rs]
        kinds = ", ".join(sorted({r["kind"] for r in rs}))
        lines.append(f"| {data} | {rs[0]['rows']} | {rs[0]['words_per_text']:.0f} | "
                     f"{','.join(str(r['seed']) for r in rs)} | {_mean(r['baseline_test'] for r in rs):.4f} | "
                     f"{_mean(r['test'] for r in rs):.4f} | {kinds} | {statistics.mean(diffs):+.2f} | "
                     f"{statistics.stdev(diffs) if len(diffs) > 1 else 0.0:.2f} | "
                     f"{_mean(r['search_s'] for r in rs):.0f} |")
    return "\n".join(lines)


def _mean(values: Any) -> float:
    return statistics.mean(float(v) for v in values)


def section(work: Path, seeds: Sequence[int] = (0, 1, 2), reuse: Mapping[int, Mapping[str, Any]] | None = None
            ) -> Section:
    """``make bench``'s Rotten Tomatoes figures: seed 0, the mean and the lowest over ``seeds``; ``reuse``:
    seed -> a run of the default text pipeline already measured (``{"home", "run_id", "wall"}``)."""
    out = Section("quality_seeds")
    results = []
    for seed in seeds:
        done = (reuse or {}).get(seed)
        results.append({**read_outcome(Path(done["home"]), done["run_id"]), "wall": done["wall"], "data":
                        "rotten_tomatoes", "seed": seed} if done else one_run(work / f"seed-{seed}", "rotten_tomatoes",
                                                                               seed))
        log(f"  text seed {seed}: test {results[-1]['test']:.4f} ({results[-1]['kind']}), tuned baseline "
            f"{results[-1]['baseline_test']:.4f}, search {results[-1]['search_s']:.0f}s")
    tests = [r["test"] for r in results]
    by_seed = {r["seed"]: r for r in results}
    note = "; ".join(f"seed {r['seed']}: {r['test']:.4f} {r['kind']} vs tuned baseline {r['baseline_test']:.4f}"
                     for r in results)
    out.add(figure("quality_seeds", "text (Rotten Tomatoes) seed 0: exported model test accuracy",
                   by_seed.get(0, {}).get("test"), "", f">= {TARGET_SEED0}", note),
            figure("quality_seeds", f"text: mean test accuracy over seeds {','.join(map(str, seeds))}",
                   statistics.mean(tests), "", f">= {TARGET_MEAN}"),
            figure("quality_seeds", "text: lowest test accuracy over those seeds", min(tests), "", f">= {TARGET_LOWEST}"),
            figure("quality_seeds", "text: mean (exported - tuned TF-IDF+LR) test accuracy, points",
                   statistics.mean(100 * (r["test"] - r["baseline_test"]) for r in results), "", ">= -0.5"),
            figure("quality_seeds", "text: mean search time over those seeds", _mean(r["search_s"] for r in results), "s",
                   "<= 300"))
    out.raw["text_seeds"] = results
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.text_seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="rotten_tomatoes", help="comma-separated embedded text sets or CSV files")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated split seeds")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="autosearch-seeds-"))
    results = []
    for data in args.data.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            t = time.monotonic()
            results.append(one_run(work / f"{Path(data).stem}-{seed}", data, seed))
            r = results[-1]
            log(f"{data} seed {seed}: exported {r['test']:.4f} ({r['kind']}), tuned baseline {r['baseline_test']:.4f}, "
                f"search {r['search_s']:.0f}s, command {time.monotonic() - t:.0f}s")
            if args.out:
                args.out.write_text(json.dumps(results, indent=1, default=str))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
