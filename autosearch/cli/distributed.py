"""``chief``, ``worker`` and ``search --workers N``: one search on many processes and machines."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from autosearch.cli.parsing import SubCommand, non_negative, positive
from autosearch.cli.run_options import SEARCH_OVERRIDES, add_outcome_options, add_pipeline_options, pipeline_of, \
    print_outcome, progress_of

DEFAULT_LOST_AFTER = 20.0


def register(sub: SubCommand) -> None:
    c = sub("chief", "start a distributed search's chief: it serves the trials and prints how workers join",
            cmd_chief)
    add_pipeline_options(c)
    add_outcome_options(c)
    c.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for workers on other machines)")
    c.add_argument("--port", type=positive, help="port to listen on (default: a free one)")
    add_timeout_option(c, "a worker silent this long is lost; its trial goes to another worker")
    add_token_option(c, "(default: AUTOSEARCH_CHIEF_TOKEN, else one generated into the run folder's chief.token)")
    c.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate (with --tls-key)")
    c.add_argument("--tls-key", metavar="PEM", help="the certificate's private key (with --tls-cert)")

    w = sub("worker", "join a distributed search's chief and train the trials it hands out", cmd_worker)
    w.add_argument("--chief", required=True, type=address, help="HOST:PORT the chief printed")
    w.add_argument("--run", help="the chief's run id (default: the only running one with a chief on that port)")
    w.add_argument("--worker-id", help="unique worker id (default: worker-<host>-<pid>)")
    w.add_argument("--run-dir", help="the run's directory as this machine sees it (default: from the tracker, "
                                     "under AUTOSEARCH_HOME)")
    add_pipeline_options(w)
    w.set_defaults(pipeline=None)  # the run's own pipeline; one given here must match it
    w.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_timeout_option(w, "a chief silent this long is lost; the worker stops (default: the chief's)", None)
    add_token_option(w, "(default: AUTOSEARCH_CHIEF_TOKEN, else the run folder's chief.token)")
    w.add_argument("--tls-ca", metavar="PEM", help="expect TLS from the chief, its certificate signed by this CA "
                                                   "(the certificate itself when self-signed)")


def add_token_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--token-file", metavar="FILE",
                   help="the chief's shared token, in a file only its owner can read " + default)


def add_timeout_option(p: argparse.ArgumentParser, help: str, default: float | None = DEFAULT_LOST_AFTER) -> None:
    p.add_argument("--timeout", type=seconds, default=default, metavar="SECONDS",
                   help=help + (f" (default {default:g})" if default else ""))


def add_workers_option(p: argparse.ArgumentParser) -> None:
    """``search --workers N``: a chief and N workers on this machine."""
    p.add_argument("--workers", type=positive, help="train on N worker processes of this machine (plus a chief)")
    add_timeout_option(p, "with --workers: a worker silent this long is lost")


def address(text: str) -> str:
    if not re.fullmatch(r"[^\s:]+:\d{1,5}", text):
        raise argparse.ArgumentTypeError(f"must be HOST:PORT (as the chief printed), got {text!r}")
    return text


def seconds(text: str) -> float:
    value = non_negative(text)
    if value >= 3:
        return value
    raise argparse.ArgumentTypeError(f"must be at least 3 s (workers beat every 2 s), got {text}")


def _check_tracker(uri: str | None, host: str) -> None:
    from autosearch.errors import DistributedError
    from autosearch.tracking.registry import check_uri

    scheme = check_uri(uri)[0]  # its options too
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise DistributedError(f"a distributed search needs a tracker every process reads, not {scheme}://; use "
                               "the default SQLite one (one machine) or --tracker postgresql://user@host/db.")
    if scheme == "sqlite" and host not in ("127.0.0.1", "localhost"):
        print("warning: SQLite's locking is not safe over network file systems; workers on other machines need "
              "--tracker postgresql://user@host/db.", file=sys.stderr)


def cmd_chief(args: argparse.Namespace) -> int:
    from autosearch.data import prepare_data
    from autosearch.errors import DistributedError
    from autosearch.tracking import autosearch_home, get_tracker
    from autosearch.workflows.distributed import chief_for
    from autosearch.workflows.search import run_search

    cfg = pipeline_of(args)
    _check_tracker(args.tracker, args.host)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise DistributedError("--tls-cert and --tls-key go together (the certificate and its private key); "
                               "give both or neither.")
    split = prepare_data(cfg)  # bad data fails here, before the tracker is opened
    tracker = get_tracker(args.tracker)
    chief = chief_for(args.host, args.port, args.timeout, lambda line: print(line, flush=True), args.tracker,
                      autosearch_home(), args.token_file, (args.tls_cert, args.tls_key) if args.tls_cert else None)
    print(f"{cfg.name}: {cfg.task} on {split.dataset.name}, {cfg.search.tuner} tuner, up to {cfg.search.max_trials} "
          f"trials x {cfg.search.epochs} epochs, trained by the workers that join", flush=True)
    with tracker:
        result = run_search(cfg, tracker, autosearch_home(), progress_of(args), split=split,
                            export=not args.no_export, chief=chief)
        print_outcome(tracker, result, args.top)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from autosearch.errors import ChiefLost
    from autosearch.tracking import get_tracker
    from autosearch.workflows.distributed import run_worker

    own = pipeline_of(args) if args.pipeline else None
    tracker = get_tracker(args.tracker)
    try:
        with tracker:
            result = run_worker(tracker, args.chief, args.run, args.worker_id, progress_of(args), own, args.run_dir,
                                args.timeout, args.token_file, args.tls_ca)
    except ChiefLost as exc:
        print(f"ChiefLost: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: this worker's trial is INTERRUPTED; the run goes on
        print(f"{str(exc) or 'interrupted (Ctrl-C)'}: this worker stopped (its running trial, if any, is recorded "
              "INTERRUPTED); the chief and the other workers go on.", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    print(f"worker {result.worker}: {result.trials} trial(s) of run {result.run_id} done; the chief finishes the run")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    """``search --workers N``: the chief with the search's own options, then N workers, supervised."""
    from autosearch.errors import DistributedError
    from autosearch.workflows.distributed import Launch

    if getattr(args, "offline", False):
        raise DistributedError("--offline (ClearML) does not combine with --workers; drop one of them.")
    _check_tracker(args.tracker, "127.0.0.1")
    # the tracker URI (it may hold a password) goes to the children in their environment, not on a command line
    environ = {"AUTOSEARCH_TRACKING_URI": args.tracker} if args.tracker else {}
    chief = ["chief", "--pipeline", args.pipeline, "--top", str(args.top), "--timeout", str(args.timeout),
             *(["-q"] if args.quiet else []), *(["--no-export"] if args.no_export else []), *_overrides(args)]
    return Launch(chief, args.workers, ["-q"], environ=environ).run()


def _overrides(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for flag in SEARCH_OVERRIDES:
        value: Any = getattr(args, flag)
        if value is not None:
            out += ["--" + flag.replace("_", "-"), str(value)]
    return out
