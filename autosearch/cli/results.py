"""What a search leaves: bundles and predictions, leaderboards, reports, comparisons, reproductions, and
housekeeping of runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from autosearch.cli.parsing import SubCommand, confirm, non_negative, positive
from autosearch.errors import ViewError

FORMATS = ["table", "markdown", "csv", "json"]


def register(sub: SubCommand) -> None:
    e = sub("export", "write a run's best (or a given) trial as a bundle", cmd_export)
    e.add_argument("run_id", nargs="?", help="run id (default: the newest run)")
    e.add_argument("--trial", help="trial id (<run id>/<n> or just <n>; default: the best trial)")
    e.add_argument("--out", type=Path, help="bundle directory (default: <run dir>/export or exports/<trial>)")
    e.add_argument("--h5", action="store_true", help="skip the SavedModel and write the H5 fallback")

    p = sub("predict", "predict raw inputs with an exported bundle", cmd_predict, tracker=False)
    p.add_argument("bundle", type=Path)
    p.add_argument("--input", required=True, help="CSV file (text or tables), or image file(s)/folder")
    p.add_argument("--output", required=True, help="CSV file to write (not the input, not in a bundle folder)")
    p.add_argument("--format", choices=["keras", "saved_model", "h5"], help="model format to load")
    p.add_argument("--batch-rows", type=positive, default=10_000, help="rows read and predicted at a time")
    p.add_argument("--text-column", help="the CSV's text column (text models; default: the training column)")
    p.add_argument("--column", action="append", default=[], metavar="FEATURE=CSVCOLUMN",
                   help="read a structured model's FEATURE from CSVCOLUMN (repeat for each renamed feature)")

    _register_views(sub)

    rm = sub("rm", "delete runs: directory and tracker rows", cmd_rm)
    rm.add_argument("run_ids", nargs="+")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    gc = sub("gc", "delete failed/interrupted runs and trial checkpoints", cmd_gc)
    gc.add_argument("--keep-best", action="store_true", help="keep each run's best trial checkpoint")
    gc.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    rep = sub("report", "write self-contained HTML reports (run + index of all runs)", cmd_report)
    rep.add_argument("run_ids", nargs="*", help="runs to report (default: the newest; --all-runs for all)")
    rep.add_argument("--all-runs", action="store_true")
    rep.add_argument("--out", type=Path, help="directory (default: <home>/reports)")
    rep.add_argument("--pipeline", help="only runs of this pipeline (or task) in the index and --all-runs")
    rep.add_argument("--dataset", help="only runs on this data set in the index and --all-runs")
    rep.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                     help="only runs with this tag in the index and --all-runs (repeat: all must match)")
    rep.add_argument("--index-only", action="store_true", help="write only index.html, no run report")

    rp = sub("reproduce", "re-run a trial from its hyperparameters and seed; does its result hold?", cmd_reproduce)
    rp.add_argument("trial_id")
    rp.add_argument("--allow-data-change", action="store_true", help="reproduce even if the data fingerprint changed")
    rp.add_argument("--tolerance", type=non_negative, default=1e-6,
                    help="largest objective difference that still holds (>= 0)")
    rp.add_argument("--export", action="store_true", help="also write a bundle of the reproduced model")

    up = sub("clearml-upload", "import a run's offline ClearML session into the configured server",
             cmd_clearml_upload)
    up.add_argument("run_id")

    c = sub("compare", "two trials or two runs side by side", cmd_compare)
    c.add_argument("a")
    c.add_argument("b")


def _register_views(sub: SubCommand) -> None:
    """``leaderboard``, ``runs`` and ``tag``: the tables people read, and the labels that find runs."""
    lb = sub("leaderboard", "the trials of a run (default: the newest), ranked", cmd_leaderboard)
    lb.add_argument("run_id", nargs="?")
    lb.add_argument("--all-runs", action="store_true")
    lb.add_argument("--task", help="only runs of this task or pipeline")
    lb.add_argument("--status", help="completed, failed, invalid, interrupted or running")
    lb.add_argument("--kind", help="search, baseline or reproduction")
    lb.add_argument("--sort", help="a column's header to sort by (-header: descending), e.g. params, -duration; "
                                   "default: the objective")
    lb.add_argument("--top", type=positive)
    lb.add_argument("--format", default="table", choices=FORMATS)
    lb.add_argument("--wide", action="store_true", help="every column, however wide the terminal")
    lb.dash_values = {"--sort"}  # type: ignore[attr-defined]  # '--sort -duration' as the README writes it

    r = sub("runs", "list runs, newest first", cmd_runs)
    r.add_argument("--pipeline", help="only runs of this pipeline (or task)")
    r.add_argument("--dataset", help="only runs on this data set")
    r.add_argument("--status", help="completed, failed, interrupted or running")
    r.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs with this tag (KEY alone: any value; repeat: all must match)")
    r.add_argument("--verdict", help="search or baseline: only runs where it won on test")
    r.add_argument("--format", default="table", choices=FORMATS)
    r.add_argument("--wide", action="store_true", help="every column, however wide the terminal")

    tg = sub("tag", "tag, name or annotate a run (shown by 'runs', the report and every tracker)", cmd_tag)
    tg.add_argument("run_id")
    tg.add_argument("tags", nargs="*", metavar="KEY=VALUE", help="tags to set (KEY alone: a tag without a value)")
    tg.add_argument("--remove", "-r", action="append", default=[], metavar="KEY", help="a tag to remove (repeat)")
    tg.add_argument("--name", help="the run's name ('' clears it)")
    tg.add_argument("--note", help="a note about the run ('' clears it)")


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

    n, fmt = predict_file(args.bundle, args.input, args.output, fmt=args.format, batch_rows=args.batch_rows,
                          text_column=args.text_column, columns=args.column)
    print(f"{n} predictions written to {args.output} (model format: {fmt})")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.displays import render, run_headers
    from autosearch.views.leaderboard import leaderboard_rows
    from autosearch.views.tables import terminal_width

    tracker = get_tracker(args.tracker)
    rows = leaderboard_rows(args.run_id, all_runs=args.all_runs, task=args.task, status=args.status, kind=args.kind,
                            sort=args.sort, top=args.top, tracker=tracker)
    width = None if args.wide or args.format != "table" else terminal_width()
    out = render(rows, args.format, width, sort=args.sort)
    if args.format in ("table", "markdown"):
        for header in run_headers([tracker.get_run(i) for i in dict.fromkeys(r["run_id"] for r in rows)], width):
            print(header)
    print(out, end="" if out.endswith("\n") else "\n")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.runs import RunFilter

    tracker = get_tracker(args.tracker)
    wanted = RunFilter.parse(args.pipeline, args.dataset, args.tag, status=args.status, verdict=args.verdict)
    if args.format in ("csv", "json"):
        from autosearch.views.displays import records_json
        from autosearch.views.runs import runs_frame

        frame = runs_frame(tracker, wanted, tags_as_text=args.format == "csv")  # JSON: an object
        print(frame.to_csv(index=False) if args.format == "csv" else records_json(frame), end="")
        return 0
    from autosearch.views.displays import runs_table
    from autosearch.views.runs import runs_rows
    from autosearch.views.tables import terminal_width

    table = runs_table(runs_rows(tracker, wanted))
    print(table.markdown() if args.format == "markdown" else table.render(None if args.wide else terminal_width()))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.tracking.records import check_name, check_note, check_tags
    from autosearch.views.runs import parse_tag_args

    tags = parse_tag_args(args.tags, "tag")  # bad input fails before the tracker is opened
    check_tags(tags, args.remove), check_name(args.name), check_note(args.note)
    if not (tags or args.remove or args.name is not None or args.note is not None):
        raise ViewError(f"nothing to do for run {args.run_id}; give KEY=VALUE tags, --remove KEY, --name or --note.")
    with get_tracker(args.tracker) as tracker:
        tracker.get_run(args.run_id)  # an unknown id fails before any backend is written
        if tags or args.remove:
            tracker.set_tags(args.run_id, tags, remove=args.remove)
        if args.name is not None or args.note is not None:
            tracker.describe_run(args.run_id, name=args.name, note=args.note)
        run = tracker.get_run(args.run_id)
    from autosearch.views.runs import tag_text

    print(f"run {run.run_id}: name {run.name or '-'}; tags {tag_text(run.tags) or '-'}; "
          f"note {' '.join((run.note or '-').split())[:60]}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.workflows.housekeeping import delete_run

    tracker = get_tracker(args.tracker)
    runs = [tracker.get_run(r) for r in args.run_ids]  # unknown ids fail before anything is deleted
    if not confirm(f"delete {len(runs)} run(s) ({', '.join(args.run_ids)}) and their trials?", args.yes):
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
    if not confirm(f"delete {what}?", args.yes):
        print("nothing deleted")
        return 1
    apply_gc(tracker, plan)
    print(f"deleted {what}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from autosearch.tracking import get_tracker
    from autosearch.views.report import RunFilter, write_report

    tracker = get_tracker(args.tracker)
    wanted = RunFilter.parse(args.pipeline, args.dataset, args.tag)
    ids = [r.run_id for r in tracker.list_runs() if wanted.keeps(r)] if args.all_runs else (args.run_ids or None)
    for path in write_report(tracker, ids, args.out, wanted, index_only=args.index_only):
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
    from autosearch.views.tables import terminal_width

    print(render_compare(compare(get_tracker(args.tracker), args.a, args.b), terminal_width()))
    return 0
