"""``search`` and ``resume``: run a tracked search and print how it ended."""

from __future__ import annotations

import argparse

from autosearch.cli.distributed import add_workers_option, cmd_launch
from autosearch.cli.parsing import SubCommand
from autosearch.cli.run_options import add_label_options, add_outcome_options, add_pipeline_options, labels_of, \
    pipeline_of, print_outcome, progress_of


def register(sub: SubCommand) -> None:
    s = sub("search", "run a tracked AutoKeras search", cmd_search)
    add_pipeline_options(s)
    add_outcome_options(s)
    add_label_options(s)
    s.add_argument("--offline", action="store_true", help="with --tracker clearml: keep the ClearML session offline")
    s.add_argument("--register", metavar="NAME", help="with --tracker mlflow: register the exported model in "
                   "MLflow's Model Registry as NAME (alias 'best' moves when it beats the current one)")
    add_workers_option(s)

    rs = sub("resume", "continue a stopped run (Ctrl-C, kill, crash) with the same id and budget", cmd_resume)
    rs.add_argument("run_id", help="the run to continue (autosearch runs lists them; INTERRUPTED ones say so)")
    add_outcome_options(rs)


def cmd_search(args: argparse.Namespace) -> int:
    labels = labels_of(args)
    if getattr(args, "workers", None):  # a chief and N workers on this machine
        if args.register:
            from autosearch.errors import ConfigError

            raise ConfigError("--register does not combine with --workers yet; search, then register the run's "
                              "bundle with one process: autosearch search --register NAME (without --workers).")
        return cmd_launch(args)
    from autosearch.data import prepare_data
    from autosearch.tracking import autosearch_home, get_tracker, resolve_uri
    from autosearch.tracking.registry import check_uri, offline_uri
    from autosearch.workflows.mlflow_register import check_register, register_run
    from autosearch.workflows.search import run_search

    cfg = pipeline_of(args)
    uri = offline_uri(resolve_uri(args.tracker)) if args.offline else args.tracker
    check_uri(uri)  # a bad tracker URI fails before the data are read
    check_register(args.register, uri, not args.no_export)  # --register: an MLflow tracker and an export
    split = prepare_data(cfg)  # bad data fails here, before the tracker is opened
    tracker = get_tracker(uri)
    rows = split.summary()["rows"]
    print(f"{cfg.name}: {cfg.task} on {split.dataset.name} ({rows['train']}/{rows['validation']}/{rows['test']} "
          f"train/validation/test rows), {cfg.search.tuner} tuner, up to {cfg.search.max_trials} trials x "
          f"{cfg.search.epochs} epochs", flush=True)
    with tracker:
        result = run_search(cfg, tracker, autosearch_home(), progress_of(args), split=split,
                            export=not args.no_export, labels=labels)
        print_outcome(tracker, result, args.top)
        if args.register:
            print("\n".join(register_run(tracker, result.run_id, args.register)))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.workflows.search import resume_search

    tracker = get_tracker(args.tracker)
    with tracker:
        result = resume_search(tracker, args.run_id, progress_of(args), export=not args.no_export)
        print_outcome(tracker, result, args.top)
    return 0
