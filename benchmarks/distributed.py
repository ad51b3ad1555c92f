"""6. One search on many processes (issue 14): is a chief + 2 workers faster than 1 process here, what does
coordinating cost per trial, and how fast do the trackers a cluster shares take writes?

- The same search (structured pipeline, 4 trials, fixed epochs, no early stop) as ``autosearch search`` and
  as ``autosearch search --workers 2``, interleaved rounds, each in a fresh home: wall time of the
  command, trials per minute, CPU seconds of every process, the time before the first trial starts
  (imports, data, baselines), and the per-trial coordination cost: the median gap between one trial's end
  and the next trial's start in the same process (tracker writes, the next trial's build, and for a
  worker the gRPC round trips to the chief), from the tracker's own timestamps.
- Tracker writes as searches make them (``log_trial``, 20 ``log_epoch``, ``finish_trial`` per trial) from
  1 and from 3 processes at once (a chief and two workers' worth), SQLite against PostgreSQL: a real
  server from tests/pgserver.py (``fsync=off``, ``synchronous_commit=off``, the durability class of
  SQLite's WAL with ``synchronous=NORMAL``), or ``AUTOSEARCH_BENCH_PG``.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PIPELINES,
    PYTHON,
    ROOT,
    Section,
    bench_env,
    figure,
    interleave,
    log,
    postgres,
    run_child,
)

SECTION = "distributed"
WRITES_PER_PROCESS = 40


def _search(work: Path, name: str, r: int, epochs: int, workers: int) -> dict[str, Any]:
    home = work / f"{name}-{r}"
    args = [PYTHON, "-m", "autosearch", "search", "--pipeline", str(PIPELINES / "structured.toml"), "--max-trials",
            "4", "--epochs", str(epochs), "--patience", "0", "-q", *(["--workers", str(workers)] if workers else [])]
    t0 = time.time()
    child = run_child(args, env=bench_env(home), timeout=1800).check()
    from autosearch.tracking import TrialKind, TrialState, get_tracker

    tracker = get_tracker(f"sqlite:///{home / 'tracker.db'}")
    (run,) = tracker.list_runs()
    rows = [t for t in tracker.list_trials(run.run_id) if t.kind is TrialKind.SEARCH]
    done = [t for t in rows if t.state is TrialState.COMPLETED]
    gaps = []
    for worker in {(t.extra or {}).get("worker") for t in rows}:
        mine = sorted((t for t in rows if (t.extra or {}).get("worker") == worker), key=lambda t: t.started_at)
        gaps += [b.started_at - a.ended_at for a, b in zip(mine, mine[1:]) if a.ended_at]
    tracker.close()
    return {"wall": child.wall, "cpu": child.cpu, "trials": len(done), "rows": len(rows),
            "first_trial": min(t.started_at for t in rows) - t0, "gaps": gaps,
            "training": sum(t.duration or 0 for t in rows), "workers": len({(t.extra or {}).get("worker") for t in rows})}


def searches(section: Section, work: Path, rounds: int, epochs: int) -> None:
    got = interleave({"single": lambda r: _search(work, "single", r, epochs, 0),
                      "workers": lambda r: _search(work, "workers", r, epochs, 2)}, rounds)
    section.raw["searches"] = got
    note = f"structured, 4 trials x {epochs} epochs, {rounds} interleaved round(s)"
    for name, label in (("single", "1 process"), ("workers", "chief + 2 workers")):
        res = got[name]
        section.add(
            figure(SECTION, f"search wall time, {label}", [x["wall"] for x in res], "s", note=note),
            figure(SECTION, f"trials per minute, {label}", [60 * x["trials"] / x["wall"] for x in res], "/min"),
            figure(SECTION, f"CPU seconds of all processes, {label}", [x["cpu"] for x in res], "s"),
            figure(SECTION, f"start to first trial, {label}", [x["first_trial"] for x in res], "s",
                   note="imports, data, baselines; workers also wait for the chief"),
            figure(SECTION, f"gap between trials in one process, {label}",
                   [statistics.median(x["gaps"]) for x in res if x["gaps"]], "s",
                   note="median over trials: tracker writes, next build" + (", gRPC" if name == "workers" else "")),
        )
    single, dist = got["single"], got["workers"]
    section.add(
        figure(SECTION, "wall time, chief + 2 workers / 1 process",
               [d["wall"] / s["wall"] for s, d in zip(single, dist)], "x", note="< 1: the workers pay here"),
        figure(SECTION, "coordination per trial, workers - 1 process",
               [statistics.median(d["gaps"]) - statistics.median(s["gaps"]) for s, d in zip(single, dist)
                if d["gaps"] and s["gaps"]], "s", note="extra gap per trial on a worker"),
        figure(SECTION, "fixed start-up cost, workers - 1 process",
               [d["first_trial"] - s["first_trial"] for s, d in zip(single, dist)], "s",
               note="paid once per search (chief before workers, 3 TensorFlow imports on 2 cores)"),
    )


def _writer(uri: str, n: int, start: Any, out: Any) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.tracker import TrackerWrites

    writes = TrackerWrites(uri)
    start.wait()
    out.put(writes.live(n))
    writes.close()


def _throughput(uri: str, processes: int, n: int) -> float:
    """Trials per second written by ``processes`` processes at once (``n`` trials x 22 writes each)."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(uri, n, start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(2.0)  # every writer has opened its tracker and started its run
    t = time.perf_counter()
    start.set()
    for _ in procs:
        out.get(timeout=600)
    wall = time.perf_counter() - t
    for p in procs:
        p.join(timeout=60)
    return processes * n / wall


def writes(section: Section, work: Path, rounds: int, n: int) -> None:
    with postgres("bench") as pg_uri:
        uris = {"SQLite": f"sqlite:///{work / 'writes.db'}", **({"PostgreSQL": pg_uri} if pg_uri else {})}
        variants = {f"{name}x{k}": (lambda r, u=uri, k=k: _throughput(u, k, n)) for name, uri in uris.items()
                    for k in (1, 3)}
        got = interleave(variants, rounds)
    section.raw["writes"] = got
    for key, values in got.items():
        name, k = key.split("x")
        section.add(figure(SECTION, f"tracker writes, {name}, {k} process(es) at once", values, "trials/s",
                           note=f"{n} trials x (1 + 20 epochs + 1) writes per process"))
    for k in (1, 3):
        if f"PostgreSQLx{k}" in got:
            section.add(figure(SECTION, f"tracker writes, PostgreSQL / SQLite, {k} process(es)",
                               [p / s for p, s in zip(got[f"PostgreSQLx{k}"], got[f"SQLitex{k}"])], "x"))
    if not pg_uri:
        section.add(figure(SECTION, "tracker writes, PostgreSQL", None, note="PostgreSQL is not installed"))


def run(work: Path, quick: bool) -> Section:
    work.mkdir(parents=True, exist_ok=True)
    section = Section(SECTION)
    rounds = 1 if quick else 2
    log(f"  searches: 1 process vs chief + 2 workers, {rounds} round(s)")
    searches(section, work, rounds, epochs=2 if quick else 30)
    log("  tracker writes: SQLite vs PostgreSQL, 1 and 3 processes")
    writes(section, work, rounds, 10 if quick else WRITES_PER_PROCESS)
    return section
