"""The crash matrix's pure helpers: the tracker and the run directory as a stop left them, and the verdicts
on them (``benchmarks/crash.py`` describes the matrix). Standard library only: no TensorFlow, no autosearch."""

from __future__ import annotations

import collections
import json
import random
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED = 12
# 2 trials x 2 epochs: still a kill between trials and between epochs, and the cycle ~15% cheaper than 3 x 2
# (its floor is the child's TensorFlow import, paid by every search and resume)
MAX_TRIALS, EPOCHS = 2, 2
SEARCH = ["search", "--pipeline", "structured", "--max-trials", str(MAX_TRIALS), "--epochs", str(EPOCHS), "--quiet"]
PHASES = ("start-up", "before the first trial", "resume: reload", "trial", "between trials", "scoring", "bundle",
          "finishing", "after completion")


# -- the tracker as a stop left it (stdlib sqlite3: raw states, before liveness) ------------------------------
@dataclass
class Raw:
    """The rows as stored: runs (status, heartbeat pid) and trials (kind, state, keras id, start), and the
    integrity check's answer; ``None`` fields when there is no database yet."""

    integrity: str | None = None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    trials: dict[str, dict[str, Any]] = field(default_factory=dict)

    def trials_of(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.trials.values() if t["run_id"] == run_id and (kind is None or t["kind"] == kind)]


def read_raw(db: Path, integrity: bool = True) -> Raw:
    raw = Raw()
    if not db.exists():
        return raw
    con = sqlite3.connect(str(db), timeout=30)
    try:
        if integrity:
            raw.integrity = "; ".join(str(r[0]) for r in con.execute("PRAGMA integrity_check"))
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "runs" not in tables or "trials" not in tables:
            return raw
        cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        hb = "hb_pid" if "hb_pid" in cols else "NULL"
        for run_id, status, pid in con.execute(f"SELECT run_id, status, {hb} FROM runs"):
            raw.runs[run_id] = {"status": status, "hb_pid": pid}
        started = "started_at" if "started_at" in {r[1] for r in con.execute("PRAGMA table_info(trials)")} else "NULL"
        for trial_id, run_id, kind, state, extra, at in con.execute(
                f"SELECT trial_id, run_id, kind, state, extra, {started} FROM trials"):
            local = trial_id.partition("/")[2]
            keras_id = (json.loads(extra or "{}") or {}).get("keras_trial_id") or local.split("-a")[0]
            raw.trials[trial_id] = {"run_id": run_id, "kind": kind, "state": state, "local": local,
                                    "keras_id": keras_id if kind == "search" else None, "started_at": at}
    finally:
        con.close()
    return raw


def keras_completed(run_dir: Path | None) -> set[str]:
    """The KerasTuner trial ids whose ``trial.json`` says COMPLETED: the trainings that finished."""
    done = set()
    for path in (run_dir / "autokeras").glob("trial_*/trial.json") if run_dir else ():
        try:
            if json.loads(path.read_text()).get("status") == "COMPLETED":
                done.add(path.parent.name[len("trial_"):])
        except (OSError, ValueError):
            continue  # being written: the atomic rename has not happened yet
    return done


def newer(path: Path, since: float) -> bool:
    try:
        return path.stat().st_mtime >= since - 1.0  # mtime granularity
    except OSError:
        return False


def phase_of(raw: Raw, run_id: str | None, pid: int, run_dir: Path | None, since: float,
             max_trials: int = MAX_TRIALS, resume: bool = False) -> str:
    """Where the process ``pid`` (started at wall time ``since``; ``resume``: an ``autosearch resume``) was,
    from the rows and files it left."""
    run = raw.runs.get(run_id) if run_id else None
    if run is None or run_dir is None:
        return "start-up"  # imports, data, the run not created yet
    if run["status"] == "COMPLETED":
        return "after completion"  # the report, the artifacts, exit
    if run["hb_pid"] != pid:
        return "start-up"  # a resume before it took the run over (imports, data, fingerprint)
    search = raw.trials_of(run_id, "search")
    if any(t["state"] == "RUNNING" for t in search):
        return "trial"
    if not search:
        return "before the first trial"  # TensorFlow's import, the baselines, the tuner's start
    if resume and not newer(run_dir / "autokeras" / "tuner0.json", since):
        return "resume: reload"  # TensorFlow's import, the tuner reloading the project (it saves tuner0.json)
    if len({t["keras_id"] for t in search if t["state"] == "COMPLETED"}) < max_trials:
        return "between trials"
    if any(newer(p, since) for p in run_dir.glob(".export.tmp-*")) or newer(run_dir / "predictions", since):
        return "bundle"
    if newer(run_dir / "export", since):
        return "finishing"  # checkpoints pruned, the run's end written
    return "scoring"  # AutoKeras' end of search, the best model reloaded and scored on test


# -- verdicts ------------------------------------------------------------------------------------------------
def lost_completed(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Trial ids COMPLETED ``before`` (id -> its facts) that ``now`` lacks or shows changed."""
    return sorted(tid for tid, facts in before.items() if now.get(tid) != facts)


def finished_trainings_lost(rows: Sequence[Mapping[str, Any]], stops: Sequence[tuple[float, set[str]]]) -> list[str]:
    """Problems with a completed run's search rows (``keras_id``, ``state``, ``started_at``) given its ``stops``:
    (wall time, KerasTuner ids whose training had finished then). Each such training must be the run's
    COMPLETED row of that trial (begun before the stop), and never run again after it, even when a held
    tracker lock kept its end out of the tracker until the resume."""
    problems = []
    for at, done in stops:
        for keras_id in sorted(done):
            mine = [r for r in rows if r["keras_id"] == keras_id]
            if not any(r["state"] == "COMPLETED" and (r["started_at"] or 0.0) <= at for r in mine):
                problems.append(f"trial {keras_id}: trained to its end before a stop, not COMPLETED in the tracker")
            if any((r["started_at"] or 0.0) > at for r in mine):
                problems.append(f"trial {keras_id}: trained to its end before a stop, run again after it")
    return sorted(set(problems))


def attempt_rows_ok(rows: Sequence[Mapping[str, Any]], max_trials: int) -> list[str]:
    """Problems with a completed run's search trial rows (``local``, ``keras_id``, ``state``): ``max_trials``
    KerasTuner trials COMPLETED once each; any other row of a KerasTuner trial is a resume's ``<id>-aN``
    attempt (or the first, ``<id>``) recorded INTERRUPTED, or FAILED when it was closed."""
    problems = []
    by_keras: dict[str, list[Mapping[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        by_keras[row["keras_id"]].append(row)
    completed = [k for k, rs in by_keras.items() if any(r["state"] == "COMPLETED" for r in rs)]
    if len(completed) != max_trials:
        problems.append(f"{len(completed)}/{max_trials} KerasTuner trials COMPLETED")
    for keras_id, rs in sorted(by_keras.items()):
        locals_ = [r["local"] for r in rs]
        if len(locals_) != len(set(locals_)):
            problems.append(f"trial {keras_id}: duplicate rows {locals_}")
        allowed = {keras_id} | {f"{keras_id}-a{n}" for n in range(2, len(rs) + 2)}
        if not set(locals_) <= allowed:
            problems.append(f"trial {keras_id}: rows {sorted(locals_)} are not its attempts")
        states = collections.Counter(r["state"] for r in rs)
        if states["COMPLETED"] > 1:
            problems.append(f"trial {keras_id}: COMPLETED {states['COMPLETED']} times")
        if states["COMPLETED"] + states["FAILED"] + states["INTERRUPTED"] + states["INVALID"] != len(rs):
            problems.append(f"trial {keras_id}: states {dict(states)}")
    return problems


def draw_moments(rng: random.Random, length: float, n: int) -> list[float]:
    """``n`` kill moments uniform over ``[0, length]`` seconds after spawn."""
    return [rng.uniform(0.0, length) for _ in range(n)]
