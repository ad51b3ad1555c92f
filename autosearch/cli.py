"""Command line: parse, call the library, print, exit (0 ok, 2 bad input, 130 interrupted)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn, Sequence

from autosearch.errors import AutosearchError, Terminated

# CLI flag -> pipeline key it overrides.
SEARCH_OVERRIDES = {
    "max_trials": "search.max_trials",
    "epochs": "search.epochs",
    "time_budget": "search.time_budget",
    "tuner": "search.tuner",
    "seed": "search.seed",
    "batch_size": "search.batch_size",
    "patience": "search.patience",
    "data": "data.dataset",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "feature_columns": "data.feature_columns",
    "image_size": "data.image_size",
    "max_rows": "data.max_rows",
    "delimiter": "data.delimiter",
    "encoding": "data.encoding",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (what, where, how to fix) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see '{self.prog} --help'.\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="autosearch", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    # Options every sub-command takes, before or after its name (SUPPRESS keeps a
    # sub-command's default from overwriting a --debug given before it).
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    tracked = _Parser(add_help=False, parents=[debug])
    tracked.add_argument("--tracker", help="tracker URI (default: $AUTOSEARCH_TRACKING_URI or "
                                           "sqlite:///<home>/tracker.db)")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def sub(name: str, help: str, tracker: bool = True) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, help=help, parents=[tracked if tracker else debug])

    s = sub("search", "run a tracked AutoKeras search")
    s.add_argument("--pipeline", "-p", default="text",
                   help="pipeline name in pipelines/ or a path to a .toml file (default: text)")
    s.add_argument("--max-trials", type=int)
    s.add_argument("--epochs", type=int)
    s.add_argument("--time-budget", help="wall-time budget, e.g. 90s, 10m, 1h")
    s.add_argument("--tuner", help="greedy, bayesian, hyperband or random")
    s.add_argument("--seed", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--patience", type=int, help="early-stopping patience in epochs (0 = off)")
    s.add_argument("--data", help="CSV file, image folder, or an embedded data set name")
    s.add_argument("--text-column")
    s.add_argument("--label-column")
    s.add_argument("--feature-columns", help="comma-separated feature columns (structured data)")
    s.add_argument("--image-size", help="HxW images are resized to, e.g. 32x32")
    s.add_argument("--max-rows", type=int, help="use a seeded sample of this many rows")
    s.add_argument("--delimiter", help="CSV delimiter (default: detected among , tab ; |)")
    s.add_argument("--encoding", help="CSV encoding (default: UTF-8, refused with a hint when it is not)")
    s.add_argument("--top", type=_positive, default=5, help="trials to list at the end")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    s.add_argument("--no-export", action="store_true", help="skip writing the best model's bundle")
    s.add_argument("--offline", action="store_true", help="with --tracker clearml: keep the ClearML session offline")

    rs = sub("resume", "continue a stopped run (Ctrl-C, kill, crash) with the same id and budget")
    rs.add_argument("run_id", help="the run to continue (autosearch runs lists them; INTERRUPTED ones say so)")
    rs.add_argument("--top", type=_positive, default=5, help="trials to list at the end")
    rs.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    rs.add_argument("--no-export", action="store_true", help="skip writing the best model's bundle")

    e = sub("export", "write a run's best (or a given) trial as a bundle")
    e.add_argument("run_id", nargs="?", help="run id (default: the newest run)")
    e.add_argument("--trial", help="trial id (<run id>/<n> or just <n>; default: the best trial)")
    e.add_argument("--out", type=Path, help="bundle directory (default: <run dir>/export or exports/<trial>)")
    e.add_argument("--h5", action="store_true", help="skip the SavedModel and write the H5 fallback")

    p = sub("predict", "predict raw inputs with an exported bundle", tracker=False)
    p.add_argument("bundle", type=Path)
    p.add_argument("--input", required=True, help="CSV file (text or tables), or image file(s)/folder")
    p.add_argument("--output", type=Path, required=True, help="CSV file to write")
    p.add_argument("--format", choices=["keras", "saved_model", "h5"], help="model format to load")
    p.add_argument("--batch-rows", type=_positive, default=10_000, help="rows read and predicted at a time")
    lb = sub("leaderboard", "the trials of a run (default: the newest), ranked")
    lb.add_argument("run_id", nargs="?")
    lb.add_argument("--all-runs", action="store_true")
    lb.add_argument("--task", help="only runs of this task or pipeline")
    lb.add_argument("--status", help="completed, failed, invalid, interrupted or running")
    lb.add_argument("--kind", help="search, baseline or reproduction")
    lb.add_argument("--sort", help="column to sort by (-column: descending); default: objective")
    lb.add_argument("--top", type=_positive)
    lb.add_argument("--format", default="table", choices=["table", "markdown", "csv", "json"])

    r = sub("runs", "list runs")
    r.add_argument("--format", default="table", choices=["table", "markdown", "csv", "json"])

    rm = sub("rm", "delete runs: directory and tracker rows")
    rm.add_argument("run_ids", nargs="+")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    gc = sub("gc", "delete failed/interrupted runs and trial checkpoints")
    gc.add_argument("--keep-best", action="store_true", help="keep each run's best trial checkpoint")
    gc.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    rep = sub("report", "write self-contained HTML reports (run + index of all runs)")
    rep.add_argument("run_ids", nargs="*", help="runs to report (default: the newest; --all-runs for all)")
    rep.add_argument("--all-runs", action="store_true")
    rep.add_argument("--out", type=Path, help="directory (default: <home>/reports)")

    rp = sub("reproduce", "re-run a trial from its hyperparameters and seed; does its result hold?")
    rp.add_argument("trial_id")
    rp.add_argument("--allow-data-change", action="store_true", help="reproduce even if the data fingerprint changed")
    rp.add_argument("--tolerance", type=_non_negative, default=1e-6,
                    help="largest objective difference that still holds (>= 0)")
    rp.add_argument("--export", action="store_true", help="also write a bundle of the reproduced model")

    up = sub("clearml-upload", "import a run's offline ClearML session into the configured server")
    up.add_argument("run_id")

    c = sub("compare", "two trials or two runs side by side")
    c.add_argument("a")
    c.add_argument("b")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise AutosearchError(f"{question} needs confirmation; run it in a terminal or pass --yes.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.leaderboard import leaderboard
    from autosearch.views.render import render, run_header

    frame = leaderboard(args.run_id, all_runs=args.all_runs, task=args.task, status=args.status, kind=args.kind,
                        sort=args.sort, top=args.top, tracker=args.tracker)
    out = render(frame, args.format)
    if args.format in ("table", "markdown"):
        tracker = get_tracker(args.tracker)
        for run_id in dict.fromkeys(frame["run_id"]) if len(frame) else []:
            print(run_header(tracker.get_run(run_id)))
    print(out, end="" if out.endswith("\n") else "\n")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.render import display_runs, markdown_table, text_table
    from autosearch.views.runs import runs_frame

    frame = runs_frame(get_tracker(args.tracker))
    if args.format in ("csv", "json"):
        print(frame.to_csv(index=False) if args.format == "csv" else frame.to_json(orient="records", date_format="iso"),
              end="")
        return 0
    print((markdown_table if args.format == "markdown" else text_table)(display_runs(frame)))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.workflows.housekeeping import delete_run

    tracker = get_tracker(args.tracker)
    runs = [tracker.get_run(r) for r in args.run_ids]  # unknown ids fail before anything is deleted
    if not _confirm(f"delete {len(runs)} run(s) ({', '.join(args.run_ids)}) and their trials?", args.yes):
        print("nothing deleted")
        return 1
    for run in runs:
        path = delete_run(tracker, run.run_id)
        print(f"deleted run {run.run_id}" + (f" and {path}" if path else ""))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.workflows.housekeeping import apply_gc, gc_plan

    tracker = get_tracker(args.tracker)
    plan = gc_plan(tracker, keep_best=args.keep_best)
    if not plan.runs and not plan.checkpoints:
        print("nothing to clean up")
        return 0
    what = f"{len(plan.runs)} failed/interrupted run(s) and {len(plan.checkpoints)} trial checkpoint(s) " \
           f"({plan.bytes / 2**20:.1f} MB of checkpoints)"
    if not _confirm(f"delete {what}?", args.yes):
        print("nothing deleted")
        return 1
    apply_gc(tracker, plan)
    print(f"deleted {what}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.report import write_report

    tracker = get_tracker(args.tracker)
    ids = [r.run_id for r in tracker.list_runs()] if args.all_runs else args.run_ids
    paths = write_report(tracker, ids or None, args.out)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.tuning.progress import Progress
    from autosearch.workflows.reproduce import render, reproduce

    result = reproduce(get_tracker(args.tracker), args.trial_id, allow_data_change=args.allow_data_change,
                       tolerance=args.tolerance, export=args.export, progress=Progress())
    print(render(result))
    return 0 if result.holds else 1


def cmd_clearml_upload(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.tracking.clearml import upload_offline_session
    run = get_tracker(args.tracker).get_run(args.run_id)
    record = upload_offline_session(run.run_dir)
    print(f"uploaded run {run.run_id} as ClearML task {record['uploaded_task_id']}"
          + (" with its bundle as output model" if record.get("output_model_published") else ""))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.compare import compare, render_compare

    print(render_compare(compare(get_tracker(args.tracker), args.a, args.b)))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data
    from autosearch.tracking import autosearch_home, get_tracker, resolve_uri
    from autosearch.tracking.registry import offline_uri
    from autosearch.tuning.progress import Progress, SilentProgress
    from autosearch.workflows.search import run_search

    overrides = {key: getattr(args, flag) for flag, key in SEARCH_OVERRIDES.items()}
    cfg = load_pipeline(args.pipeline, overrides)
    split = prepare_data(cfg)  # bad data fails here, before the tracker is opened
    uri = args.tracker
    if args.offline:
        uri = offline_uri(resolve_uri(uri))
    tracker = get_tracker(uri)
    progress = SilentProgress() if args.quiet else Progress()
    rows = split.summary()["rows"]
    print(f"{cfg.name}: {cfg.task} on {split.dataset.name} ({rows['train']}/{rows['validation']}/{rows['test']} "
          f"train/validation/test rows), {cfg.search.tuner} tuner, up to {cfg.search.max_trials} trials x "
          f"{cfg.search.epochs} epochs", flush=True)
    with tracker:
        result = run_search(cfg, tracker, autosearch_home(), progress, split=split, export=not args.no_export)
        _print_outcome(tracker, result, args.top)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.tuning.progress import Progress, SilentProgress
    from autosearch.workflows.search import resume_search

    tracker = get_tracker(args.tracker)
    with tracker:
        result = resume_search(tracker, args.run_id, SilentProgress() if args.quiet else Progress(),
                               export=not args.no_export)
        _print_outcome(tracker, result, args.top)
    return 0


def _print_outcome(tracker: Any, result: Any, top: int) -> None:
    from autosearch.views.leaderboard import trials_frame
    from autosearch.views.render import render

    frame = trials_frame(tracker.list_trials(result.run_id), {result.run_id: tracker.get_run(result.run_id)})
    print()
    print(f"Top trials ({result.objective}, {result.direction}):")
    print(render(frame.head(top + 2)))
    metric, base = result.scores["metric"], result.baseline
    print()
    print(f"Best trial {result.best_trial_id}: test {metric} {result.scores['test']:.4f} "
          f"(validation {result.scores['validation']:.4f}); {base['name']} baseline: test {base['test']:.4f}")
    for won in result.baselines_won:  # say it when the simple model won
        print(f"A baseline beat the search on test: {won['model']} scored {won['test']:.4f} against the best "
              f"trial's {won['best_trial_test']:.4f} ({metric}); {won['trial_id']} in the leaderboard.")
    print(f"Run {result.run_id}: {result.n_trials} trials in {result.duration:.0f}s")
    print(f"Run directory: {result.run_dir}")
    print(f"Tracker: {result.tracker_uri}")
    if result.bundle:
        print(f"Model bundle: {result.bundle}  (autosearch predict {result.bundle} --input X.csv --output Y.csv)")
    print(f"TensorBoard: tensorboard --logdir {result.tensorboard_dir}")
    if result.baselines_won:
        best = result.baselines_won[0]
        print(f"Verdict: the baseline {best['model']} is better on test than every searched model "
              f"({best['test']:.4f} vs {best['best_trial_test']:.4f}); prefer it, or search longer or wider.")


def cmd_export(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.workflows.export import export_run

    path = export_run(get_tracker(args.tracker), args.run_id, args.trial, args.out, force_h5=args.h5)
    manifest = json.loads((path / "manifest.json").read_text())
    formats = ", ".join(manifest["formats"])
    print(f"Bundle of {manifest['trial_id']} written to {path} ({formats}; "
          f"max difference after reload {max(manifest['verification']['max_abs_diff'].values()):.2g})")
    if manifest.get("h5_fallback_reason"):
        print(f"H5 fallback: {manifest['h5_fallback_reason']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from autosearch.export.serve import predict_file

    n, fmt = predict_file(args.bundle, args.input, args.output, fmt=args.format, batch_rows=args.batch_rows)
    print(f"{n} predictions written to {args.output} (model format: {fmt})")
    return 0


COMMANDS = {
    "search": cmd_search, "resume": cmd_resume, "export": cmd_export, "predict": cmd_predict, "leaderboard": cmd_leaderboard,
    "runs": cmd_runs, "rm": cmd_rm, "gc": cmd_gc, "compare": cmd_compare, "report": cmd_report,
    "reproduce": cmd_reproduce, "clearml-upload": cmd_clearml_upload,
}


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # like Ctrl-C: close what is running, exit 143
    try:
        return COMMANDS[args.command](args)
    except AutosearchError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return exc.exit_code
    except BrokenPipeError:  # `autosearch leaderboard | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as exc:
        resume = f" Continue with 'autosearch resume {args.run_id}'." if getattr(args, "run_id", None) else ""
        print(f"\n{exc or 'interrupted (Ctrl-C)'}: the running trial and the run are marked INTERRUPTED.{resume}",
              file=sys.stderr)
        return getattr(exc, "exit_code", 130)


if __name__ == "__main__":
    sys.exit(main())
