"""``python -m benchmarks``: every measurement of issue 15, each figure a ratio against a yardstick measured
side by side in the same run; writes artifacts/bench/<date>.json and <date>.md and prints the table.

    python -m benchmarks                 # the full run (`make bench`), about 30-45 min on 2 cores
    python -m benchmarks --quick         # a smoke run of every section on tiny budgets, a few minutes
    python -m benchmarks --only tracker,startup --rounds 5

Sections: overhead (1), tracker (2), serving (3), startup (4), quality (5), distributed (6), crash (7). Targets that are
missed are reported in the table; the exit code is 0 unless a measurement failed (or --strict and a target missed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import crash, distributed, overhead, quality, report, serving, startup, text_seeds, tracker
from benchmarks.common import ROOT, Section, log, machine

SECTIONS = ("overhead", "tracker", "serving", "startup", "quality", "distributed", "crash")
# Section 1 trains the text pipeline 9 times (3 variants x 3 rounds): at 3 trials x 4 epochs on 4,000 of its
# rows, not the default budget, to fit 45 minutes on 2 shared cores. Section 5 runs the default budget.
OVERHEAD_TEXT = {"data.max_rows": 4000, "search.max_trials": 3, "search.epochs": 4}
# Minutes kept after section 5 for sections 6 (about 5 on 2 cores) and 7 (as many kills as fit, at least 4 min).
RESERVE_DISTRIBUTED, RESERVE_CRASH = 6, 4
QUICK_TEXT = {"data.max_rows": 1500, "search.max_trials": 2, "search.epochs": 2}
QUICK_OTHER = {"search.max_trials": 1, "search.epochs": 2}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny budgets, one round: a smoke test of the harness")
    p.add_argument("--only", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    p.add_argument("--rounds", type=int, help="interleaved rounds of the search overhead (default 3; quick 1)")
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench", help="where <date>.json/.md go")
    p.add_argument("--work", type=Path, help="scratch directory (default: a new temporary one, removed after)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--no-profile", action="store_true",
                   help="skip the cProfile of one more SQLite search (section 1; never run with --quick)")
    p.add_argument("--pipelines", help="comma-separated pipeline names for section 5 (default: every shipped pipeline)")
    p.add_argument("--minutes", type=float, default=45.0,
                   help="the run's budget (default 45): section 5 caps or skips pipelines to leave sections 6 and 7 "
                        "their minutes, and the crash matrix stops killing when it is spent")
    p.add_argument("--no-ak-defaults", action="store_true",
                   help="skip AutoKeras' own TextClassifier defaults (section 5; never run with --quick)")
    p.add_argument("--kills", type=int, help="SIGKILLs of the crash matrix (section 7; default 200 with --only crash, "
                                             "else as many as the run's budget leaves, at least 40; quick 5)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; use: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="autosearch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (1 if args.quick else 3)
    meta = {"quick": args.quick, "machine": machine(), "sections": only, "rounds": rounds,
            "command": "make bench" if not args.quick and not args.only else "python -m benchmarks " + " ".join(
                argv if argv is not None else sys.argv[1:])}
    date = time.strftime("%Y-%m-%d")
    started = time.monotonic()
    log(f"{'quick ' if args.quick else ''}benchmarks: {', '.join(only)}; scratch {work}; "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    sections: list[Section] = []
    try:
        run_sections(args, only, work, rounds, meta, sections, deadline=started + args.minutes * 60)
    finally:
        meta["minutes"] = (time.monotonic() - started) / 60
        meta["load_average_end"] = os.getloadavg()
        if sections:
            json_path, md_path, md = report.write(args.out, date, sections, meta)
            print()
            print(md)
            log(f"wrote {json_path} and {md_path}")
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    missed = [f for s in sections for f in s.figures if f.ok is False]
    return 1 if args.strict and missed else 0


def run_sections(args: argparse.Namespace, only: list[str], work: Path, rounds: int, meta: dict,
                 sections: list[Section], deadline: float) -> None:
    """Run the chosen sections in order, appending each to ``sections`` as it ends (a failure keeps the rest)."""
    quick = args.quick
    overhead_overrides = QUICK_TEXT if quick else OVERHEAD_TEXT
    text_overrides = QUICK_TEXT if quick else {}  # sections 3 and 5
    other_overrides = QUICK_OTHER if quick else {}

    def timed(name: str, fn):
        log(f"{name} ...")
        t = time.monotonic()
        section = fn()
        section.seconds = time.monotonic() - t
        sections.append(section)
        log(f"{name}: {section.seconds / 60:.1f} min")
        return section

    home = work / "home"
    text_run = None  # the default-budget text run: served by section 3, reported by section 5
    # the fixed-size sections first; section 5 then takes what the budget leaves sections 6 and 7
    if "tracker" in only:
        timed("tracker", lambda: tracker.run(work, quick))
    if "overhead" in only:
        (work / "overhead").mkdir(exist_ok=True)
        timed("overhead", lambda: overhead.run(work / "overhead", rounds, overhead_overrides,
                                               profile=not quick and not args.no_profile)[0])
        home = work / "overhead" / "home"
    meta["overhead_budget"] = overhead_overrides or "default"
    if "startup" in only:  # in a home that holds the overhead section's runs, when there are some
        timed("startup", lambda: startup.run(home, 3 if quick else 7))
    if "serving" in only or "quality" in only:
        log("text search at its default budget, for the serving and quality sections ...")
        text_run = quality.search_once(work, home, "text", text_overrides)
        log(f"  text: test {text_run['run']['scores'].get('test')}, search {text_run['calls']['search'][0]:.1f}s")
    if "serving" in only:
        bundle = serving.bundle_of(text_run["run"])
        timed("serving", lambda: serving.run(work, home, text_run["run"]["run_id"], bundle,
                                             rounds=2 if quick else 3, load_rounds=1 if quick else 3))
    if "quality" in only:
        names = [n.strip() for n in args.pipelines.split(",")] if args.pipelines else None
        reserve = 60 * ((RESERVE_DISTRIBUTED if "distributed" in only else 0) + (RESERVE_CRASH if "crash" in only else 0))
        timed("quality", lambda: quality.run(work, home, other_overrides, {"text": text_run},
                                             ak_defaults=not quick and not args.no_ak_defaults, names=names,
                                             deadline=deadline - reserve))
        if not quick and (names is None or "text" in names):  # issue 21's yardstick: split seeds 0, 1, 2
            seed0 = {"home": home, "run_id": text_run["run"]["run_id"], "wall": text_run["wall"]}
            timed("quality_seeds", lambda: text_seeds.section(work / "text-seeds", reuse={0: seed0}))
    if "distributed" in only:
        timed("distributed", lambda: distributed.run(work / "distributed", quick))
    if "crash" in only:
        bounded = None if only == ["crash"] or args.kills else max(deadline, time.monotonic() + 60 * RESERVE_CRASH)
        timed("crash", lambda: crash.run(work / "crash", args.kills, quick, deadline=bounded))

if __name__ == "__main__":
    sys.exit(main())
