"""7. Crash matrix (issue 12, issue 19): SIGKILL at random moments of a tiny real search, and a tracker write
lock held by another process past AUTOSEARCH_LOCK_TIMEOUT, each followed by a resume.

A tiny search (structured pipeline, breast cancer, 2 trials x 2 epochs) runs in a scratch
``AUTOSEARCH_HOME``. It is killed with SIGKILL at a moment drawn uniformly (seeded) over the measured
length of an unkilled run, so that kills land in start-up, baselines, trials, scoring, bundle writing
and the report; then ``autosearch resume RUN_ID`` runs, and may itself be killed the same way, and so on
until the run completes; then a new run starts. Some children (``crash_faults.LOCK_SHARE``) also meet a
second process holding ``BEGIN IMMEDIATE`` on ``tracker.db`` for 2-4 times their 2 s lock wait, from a
moment before their kill: trials journal their records meanwhile; a child whose own run write outlasted
the wait exits with one line, which is a stop like a kill, and the run is resumed. After every stop,
before the resume (``crash_checks``):

- ``PRAGMA integrity_check`` of the tracker database is ``ok``;
- no trial that was COMPLETED before (in any run of the home) is lost or changed;
- no run and no trial reads RUNNING, through the tracker API and through ``autosearch runs --format json``;
- a bundle in the run directory (``<run dir>/export``) loads and predicts: the previous one or the new one,
  and a bundle once seen never disappears;
- where the kill landed (the phase), from the tracker rows and the run's files as the kill left them.

After a run completes: its search trials all (2/2) COMPLETED, one COMPLETED row per KerasTuner trial, other
rows only the ``<id>-aN`` attempts a resume writes (INTERRUPTED, or FAILED when closed after two kills), every
training KerasTuner had finished at a stop recorded COMPLETED and never run again (no trial lost, held lock
or not), nothing left unwritten in the run's tracker journal, the baselines scored once, the bundle loads
and is the best trial's, and no ``.export.tmp-*`` is left.

Bundles load in ONE long-lived checker child (``python -m benchmarks.crash_checker``) that imports
TensorFlow once and answers one JSON line per request; this process never imports TensorFlow. Any failure
keeps a copy of the home and logs the run id, attempt and kill moment. The pieces: ``crash_rows`` (pure
helpers), ``crash_checker``, ``crash_checks``, ``crash_faults`` (the held lock), ``crash_matrix`` (one chain).
Standalone: ``python -m benchmarks.crash run --kills 20 [--seed 12] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Section, bench_env, figure, log
from benchmarks.crash_faults import LOCK_SHARE, LOCK_TIMEOUT
from benchmarks.crash_matrix import CHILD_TIMEOUT, MAX_ATTEMPTS, Matrix
from benchmarks.crash_rows import (
    EPOCHS,
    MAX_TRIALS,
    PHASES,
    SEARCH,
    SEED,
    Raw,
    attempt_rows_ok,
    draw_moments,
    finished_trainings_lost,
    keras_completed,
    lost_completed,
    phase_of,
    read_raw,
)

__all__ = ["CHILD_TIMEOUT", "EPOCHS", "MAX_ATTEMPTS", "MAX_TRIALS", "PHASES", "SEARCH", "SEED", "Matrix", "Raw",
           "attempt_rows_ok", "bench_env", "draw_moments", "finished_trainings_lost", "keras_completed",
           "lost_completed", "phase_of", "read_raw", "run"]

KILLS, QUICK_KILLS = 200, 5
MIN_KILLS = 40  # under a deadline (make bench's 45 minutes)
JOBS = 2  # chains side by side: the cycle's floor is TensorFlow's import, mostly one core


def kept_copy(work: Path) -> Path:
    """A copy of the matrix's scratch folder that outlives the harness's cleanup."""
    dest = Path(tempfile.mkdtemp(prefix="autosearch-crash-failure-"))
    shutil.copytree(work, dest / work.name, symlinks=True, dirs_exist_ok=True)
    return dest / work.name


def run(work: Path, kills: int | None = None, quick: bool = False, seed: int = SEED,
        jobs: int | None = None, deadline: float | None = None, lock_share: float = LOCK_SHARE) -> Section:
    """``kills`` SIGKILLs (default 200; quick 5) shared by ``jobs`` independent chains run side by side,
    each in its own home with its own checker and seed (default 2 on 2 cores; quick 1); ``lock_share`` of the
    children also meet a held tracker lock. With a ``deadline`` (time.monotonic()) the chains stop killing
    when it passes; then at least ``MIN_KILLS`` are wanted."""
    wanted = kills or (QUICK_KILLS if quick else KILLS)
    kills = wanted if deadline is None else min(wanted, QUICK_KILLS if quick else MIN_KILLS)
    jobs = max(1, min(jobs or (1 if quick else min(JOBS, os.cpu_count() or 1)), wanted))
    t0, load0 = time.monotonic(), os.getloadavg()
    chains = [Matrix(work / f"chain-{i}", wanted // jobs + (i < wanted % jobs), seed + i, name=f"chain {i}",
                     deadline=deadline, lock_share=lock_share) for i in range(jobs)]
    errors = run_chains(chains)
    minutes = (time.monotonic() - t0) / 60
    section = Section("crash")
    section.add(*figures(chains, kills, seed, minutes, load0), *phase_figures(chains))
    failures = [f for m in chains for f in m.failures]
    kept = None
    if failures:
        kept = kept_copy(work)
        log(f"  crash matrix: {len(failures)} failures; scratch kept in {kept}")
    section.raw = {"kills": [k for m in chains for k in m.kills],
                   "lock_stops": [k for m in chains for k in m.lock_stops],
                   "runs": [r for m in chains for r in m.runs], "failures": failures, "seed": seed, "jobs": jobs,
                   "counts": dict(sum((m.counts for m in chains), collections.Counter())),
                   "unkilled_run_s": [m.length for m in chains if m.length], "timeline_s": [m.timeline for m in chains],
                   "load_average_start": load0, "load_average_end": os.getloadavg(), "minutes": minutes,
                   "kept": str(kept) if kept else None, "search": SEARCH, "lock_share": lock_share,
                   "lock_timeout_s": LOCK_TIMEOUT}
    if errors:
        raise RuntimeError(f"crash matrix: {errors[0]}") from errors[0]
    return section


def run_chains(chains: Sequence[Matrix]) -> list[BaseException]:
    """Run the chains side by side, each in a thread; the errors that stopped any."""
    errors: list[BaseException] = []

    def one(m: Matrix) -> None:
        try:
            m.run()
        except Exception as exc:  # noqa: BLE001 - report what was measured, then fail the measurement
            errors.append(exc)
            m.fail(f"the matrix stopped: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(m,), name=m.name) for m in chains]
    for t in threads:
        t.start()
    for t in threads:
        t.join()  # each chain's waits are bounded (CHILD_TIMEOUT, CHECK_TIMEOUT, MAX_ATTEMPTS)
    return errors


def figures(chains: Sequence[Matrix], kills: int, seed: int, minutes: float, load0: Sequence[float]) -> list[Any]:
    c: collections.Counter[str] = sum((m.counts for m in chains), collections.Counter())
    ks = [k for m in chains for k in m.kills]
    resumed = [r for m in chains for r in m.runs if not r.get("calibration") and not r.get("failed")]
    cycles = [k["cycle_s"] for k in ks]
    span = "/".join(f"{m.length:.1f}" for m in chains if m.length) or "?"
    jobs = len(chains)
    total = (f"{len(ks)} kills at moments uniform over 0-{span} s (an unkilled run, per chain), seeds {seed}"
             f"{f'-{seed + jobs - 1}' if jobs > 1 else ''}; {jobs} chain{'s side by side' if jobs > 1 else ''}")
    return [
        figure("crash", "SIGKILLs, each followed by a resume", len(ks), "", f">= {kills}", total),
        figure("crash", "integrity_check not ok after a kill", c["integrity_failures"], "", "<= 0",
               "PRAGMA integrity_check of tracker.db, before the resume"),
        figure("crash", "COMPLETED trials lost or changed", c["completed_lost"], "", "<= 0",
               f"every COMPLETED trial of the home ({sum(len(m.completed) for m in chains)} at the end), "
               "objective/best epoch/hyperparameters compared after each kill"),
        figure("crash", "kills after which a run or trial reads RUNNING", c["running_left"], "", "<= 0",
               "tracker API (get_tracker) and autosearch runs --format json"),
        figure("crash", "bundle load failures", c["bundle_failures"], "", "<= 0",
               f"{c['bundle_loads']} loads+predicts in one checker process per chain (after a kill: "
               f"{c['bundle_previous']} the previous bundle, {c['bundle_new']} a new one)"),
        figure("crash", "resumes that failed unkilled", c["resume_failures"] + c["search_failures"], "", "<= 0",
               "a child a held lock stopped (one line naming the lock) is a stop, not a failure"),
        figure("crash", "completed runs failing the final checks", c["final_check_failures"], "", "<= 0",
               f"{MAX_TRIALS}/{MAX_TRIALS} COMPLETED, only -aN attempt rows, finished trainings kept, nothing left "
               "in the journal, baselines once, bundle loads, no .export.* left, report.html"),
        figure("crash", "held tracker locks", c["lock_faults"], "",
               note=f"BEGIN IMMEDIATE by another process, {c['lock_faults_past_timeout']} held past the children's "
                    f"AUTOSEARCH_LOCK_TIMEOUT={LOCK_TIMEOUT:g} s; {c['stops_under_lock']} children ended (killed or "
                    f"stopped) while it was held; {sum(len(m.lock_stops) for m in chains)} stopped by it, resumed"),
        figure("crash", "finished trainings lost or run again", c["finished_trainings_lost"], "", "<= 0",
               "KerasTuner trials COMPLETED at a stop (kill or held lock) that the completed run does not record "
               "COMPLETED, or ran again"),
        figure("crash", "runs completed (after kills)", len(resumed), "",
               note=f"+{len(chains)} unkilled calibration run(s); "
                    f"{sum(r.get('killed_after_completion', False) for r in resumed)} killed after their end was "
                    f"written ({c['completed_without_report']} of them left with no report.html)"),
        figure("crash", "resumes per run", [r["resumes"] for r in resumed] or None, ""),
        figure("crash", "seconds per kill cycle", cycles or None, "s",
               note=f"spawn, kill, checks; max {max(cycles, default=float('nan')):.1f} s"),
        figure("crash", "crash matrix wall time", minutes, "min",
               note=f"load average {load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"),
        figure("crash", "kills with a leftover .export.tmp-* in the run directory",
               sum(1 for k in ks if k["export_tmp_dirs"]), "",
               note="a kill during bundle writing; the resume's export removes it (its writer is dead)"),
    ]


def phase_figures(chains: Sequence[Matrix]) -> list[Any]:
    """Where the kills landed, beside the share of an unkilled run each phase takes."""
    phases = collections.Counter(k["phase"] for m in chains for k in m.kills)
    timeline: collections.Counter[str] = collections.Counter()
    for m in chains:
        timeline.update({p: s / m.length for p, s in m.timeline.items()} if m.length else {})
    lengths = [m.length for m in chains if m.length]
    return [figure("crash", f"kills landed in: {phase}", phases.get(phase, 0), "",
                   note=f"{100 * timeline.get(phase, 0.0) / max(len(lengths), 1):.0f}% of an unkilled run")
            for phase in PHASES]


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.crash", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="the matrix alone; prints its figures as JSON")
    r.add_argument("--kills", type=int, default=KILLS)
    r.add_argument("--seed", type=int, default=SEED)
    r.add_argument("--jobs", type=int, help=f"chains side by side (default {JOBS})")
    r.add_argument("--lock-share", type=float, default=LOCK_SHARE,
                   help=f"share of the children that meet a held tracker lock (default {LOCK_SHARE})")
    r.add_argument("--work", type=Path, help="scratch directory (default: a new temporary one, kept)")
    args = p.parse_args(list(argv) if argv is not None else None)
    work = args.work or Path(tempfile.mkdtemp(prefix="autosearch-crash-"))
    section = run(work, args.kills, seed=args.seed, jobs=args.jobs, lock_share=args.lock_share)
    print(json.dumps({"figures": [f.to_dict() for f in section.figures], "failures": section.raw["failures"],
                      "work": str(work)}, indent=1))
    return 1 if section.raw["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
