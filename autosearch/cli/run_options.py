"""What ``search``, ``resume``, ``chief`` and ``worker`` share: the pipeline options, the outcome options, the
progress display and the outcome a finished search prints."""

from __future__ import annotations

import argparse
from typing import Any

from autosearch.cli.parsing import positive
from autosearch.pipelines import DEFAULT

# CLI flag -> pipeline key it overrides.
SEARCH_OVERRIDES = {
    "max_trials": "search.max_trials",
    "epochs": "search.epochs",
    "time_budget": "search.time_budget",
    "tuner": "search.tuner",
    "seed": "search.seed",
    "batch_size": "search.batch_size",
    "patience": "search.patience",
    "ensemble": "search.ensemble",
    "data": "data.dataset",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "feature_columns": "data.feature_columns",
    "image_size": "data.image_size",
    "max_rows": "data.max_rows",
    "delimiter": "data.delimiter",
    "encoding": "data.encoding",
}


def add_pipeline_options(s: argparse.ArgumentParser) -> None:
    """The pipeline and the flags that override its values (``SEARCH_OVERRIDES``)."""
    s.add_argument("--pipeline", "-p", default=DEFAULT,
                   help=f"a shipped pipeline's name ('autosearch pipelines' lists them) or the path of your own "
                        f".toml file (default: {DEFAULT})")
    s.add_argument("--max-trials", type=int)
    s.add_argument("--epochs", type=int)
    s.add_argument("--time-budget", help="wall-time budget, e.g. 90s, 10m, 1h")
    s.add_argument("--tuner", help="greedy, bayesian, hyperband or random")
    s.add_argument("--seed", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--patience", type=int, help="early-stopping patience in epochs (0 = off)")
    s.add_argument("--ensemble", help="auto (exported when it beats the best trial by the margin), off, always")
    s.add_argument("--data", help="CSV file, image folder, or an embedded data set name")
    s.add_argument("--text-column")
    s.add_argument("--label-column")
    s.add_argument("--feature-columns", help="comma-separated feature columns (structured data)")
    s.add_argument("--image-size", help="HxW images are resized to, e.g. 32x32")
    s.add_argument("--max-rows", type=int, help="use a seeded sample of this many rows")
    s.add_argument("--delimiter", help="CSV delimiter (default: detected among , tab ; |)")
    s.add_argument("--encoding", help="CSV encoding (default: UTF-8, refused with a hint when it is not)")


def add_label_options(s: argparse.ArgumentParser) -> None:
    """``--name``, ``--note``, ``--tag KEY=VALUE``: recorded with the run (``labels_of``; later: ``autosearch tag``)."""
    s.add_argument("--name", help="a name for the run, shown by 'autosearch runs' and the report")
    s.add_argument("--note", help="a note about the run (free text)")
    s.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag for the run (repeat)")


def labels_of(args: argparse.Namespace) -> dict[str, Any]:
    """The run's name, note and tags from ``add_label_options``, checked before any work (bad ones exit 2)."""
    from autosearch.views.runs import parse_labels

    return parse_labels(args.name, args.note, args.tag, workers=getattr(args, "workers", None))


def add_outcome_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--top", type=positive, default=5, help="trials to list at the end")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    s.add_argument("--no-export", action="store_true", help="skip writing the best model's bundle")


def pipeline_of(args: argparse.Namespace) -> Any:
    """The pipeline the arguments name, with their overrides applied (bad values fail here)."""
    from autosearch.config import load_pipeline

    return load_pipeline(args.pipeline, {key: getattr(args, flag) for flag, key in SEARCH_OVERRIDES.items()})



def progress_of(args: argparse.Namespace) -> Any:
    from autosearch.tuning.progress import Progress, SilentProgress

    return SilentProgress() if args.quiet else Progress()


def print_outcome(tracker: Any, result: Any, top: int) -> None:
    """The ranked trials, the best model's test score beside the baselines', and where everything is."""
    from autosearch.views.leaderboard import ranked_rows
    from autosearch.views.displays import render
    from autosearch.views.formats import duration
    from autosearch.views.tables import terminal_width

    rows = ranked_rows(tracker.list_trials(result.run_id), {result.run_id: tracker.get_run(result.run_id)})
    print()
    print(f"Top trials ({result.objective}, {result.direction}):")
    print(render(rows[:top + 2], width=terminal_width()))
    metric, base = result.scores["metric"], result.baseline
    print()
    print(f"Best trial {result.best_trial_id}: test {metric} {result.scores['test']:.4f} "
          f"(validation {result.scores['validation']:.4f}); {base['name']} baseline: test {base['test']:.4f}")
    for won in result.baselines_won:  # say it when the simple model won
        print(f"A baseline beat the search on test: {won['model']} scored {won['test']:.4f} against the best "
              f"trial's {won['best_trial_test']:.4f} ({metric}); {won['trial_id']} in the leaderboard.")
    print(f"Run {result.run_id}: {result.n_trials} trials in {duration(result.duration)}")
    print(f"Run directory: {result.run_dir}")
    print(f"Tracker: {result.tracker_uri}")
    if result.bundle:
        print(f"Model bundle: {result.bundle}  (autosearch predict {result.bundle} --input X.csv --output Y.csv)")
    print(f"TensorBoard: tensorboard --logdir {result.tensorboard_dir}")
    if result.baselines_won:
        best = result.baselines_won[0]
        print(f"Verdict: the baseline {best['model']} is better on test than every searched model "
              f"({best['test']:.4f} vs {best['best_trial_test']:.4f}); prefer it, or search longer or wider.")
