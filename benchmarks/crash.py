"""7. Crash matrix (issue 12): SIGKILL at random moments of a tiny real search, each followed by a resume.

A tiny search (structured pipeline, breast cancer, 2 trials x 2 epochs) runs in a scratch
``AUTOSEARCH_HOME``. It is killed with SIGKILL at a moment drawn uniformly (seeded) over the measured
length of an unkilled run, so that kills land in start-up, baselines, trials, scoring, bundle writing
and the report; then ``autosearch resume RUN_ID`` runs, and may itself be killed the same way, and so on
until the run completes; then a new run starts. After every kill, before the resume:

- ``PRAGMA integrity_check`` of the tracker database is ``ok``;
- no trial that was COMPLETED before (in any run of the home) is lost or changed;
- no run and no trial reads RUNNING, through the tracker API and through ``autosearch runs --format json``;
- a bundle in the run directory (``<run dir>/export``) loads and predicts: the previous one or the new one,
  and a bundle once seen never disappears;
- where the kill landed (the phase), from the tracker rows and the run's files as the kill left them.

After a run completes: its search trials all (2/2) COMPLETED, one COMPLETED row per KerasTuner trial, other
rows only the ``<id>-aN`` attempts a resume writes (INTERRUPTED, or FAILED when closed after two kills), the
baselines scored once, the bundle loads and is the best trial's, and no ``.export.tmp-*`` is left.

Bundles load in ONE long-lived checker child (``python -m benchmarks.crash checker``) that imports
TensorFlow once and answers one JSON line per request; this process never imports TensorFlow. Any failure
keeps a copy of the home and logs the run id, attempt and kill moment. Standalone:
``python -m benchmarks.crash run --kills 20 [--seed 12] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import PIPELINES, PYTHON, ROOT, Section, bench_env, figure, log

KILLS, QUICK_KILLS = 200, 5
MIN_KILLS = 40  # under a deadline (make bench's 45 minutes)
JOBS = 2  # chains side by side: the cycle's floor is TensorFlow's import, mostly one core
SEED = 12
# 2 trials x 2 epochs: still a kill between trials and between epochs, and the cycle ~15% cheaper than 3 x 2
# (its floor is the child's TensorFlow import, paid by every search and resume)
MAX_TRIALS, EPOCHS = 2, 2
SEARCH = ["search", "--pipeline", "structured", "--max-trials", str(MAX_TRIALS), "--epochs", str(EPOCHS), "--quiet"]
PHASES = ("start-up", "before the first trial", "resume: reload", "trial", "between trials", "scoring", "bundle",
          "finishing", "after completion")
MAX_ATTEMPTS = 60  # per run: a run that never completes is a failure, not a hang
CHILD_TIMEOUT = 900.0  # an unkilled child (calibration, the last resume)
CHECK_TIMEOUT = 180.0  # one checker answer
PROTO = "@@crash "  # the checker's answer lines (TensorFlow may print on stdout too)


# -- the tracker as a kill left it (stdlib sqlite3: raw states, before liveness) ------------------------------
@dataclass
class Raw:
    """The rows as stored: runs (status, heartbeat pid) and trials (kind, state, keras id), and the
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
        for trial_id, run_id, kind, state, extra in con.execute(
                "SELECT trial_id, run_id, kind, state, extra FROM trials"):
            local = trial_id.partition("/")[2]
            keras_id = (json.loads(extra or "{}") or {}).get("keras_trial_id") or local.split("-a")[0]
            raw.trials[trial_id] = {"run_id": run_id, "kind": kind, "state": state, "local": local,
                                    "keras_id": keras_id if kind == "search" else None}
    finally:
        con.close()
    return raw


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


# -- the checker child: TensorFlow imported once, bundles loaded on request ----------------------------------
def checker_main() -> int:
    """Read one JSON request a line from stdin, answer one ``PROTO`` JSON line on stdout."""
    import contextlib as cl
    import io

    from autosearch.cli import main as cli_main
    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data
    from autosearch.export.predictor import load

    x = prepare_data(load_pipeline(PIPELINES / "structured.toml")).raw_x("test")
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever else prints goes to stderr

    def answer(obj: Mapping[str, Any]) -> None:
        out.write(PROTO + json.dumps(obj) + "\n")
        out.flush()

    answer({"ok": True, "ready": True, "rows": len(x)})
    for line in sys.stdin:
        t = time.perf_counter()
        try:
            req = json.loads(line)
            if req["op"] == "bundle":
                p = load(req["path"])
                y = p.predict(x)
                classes = set(p.class_names or [])
                ok = len(y) == len(x) and (not classes or set(map(str, y)) <= set(map(str, classes)))
                res = {"ok": bool(ok), "format": p.format, "trial_id": p.manifest.get("trial_id"),
                       "run_id": p.manifest.get("run_id"), "created_at": p.manifest.get("created_at"),
                       "rows": int(len(y))}
                if not ok:
                    res["error"] = f"predictions {list(y[:5])} outside {sorted(classes)} or {len(y)} != {len(x)} rows"
                del p
                with cl.suppress(Exception):
                    import keras

                    keras.backend.clear_session()
            elif req["op"] == "runs":  # `autosearch runs --format json`, in this process
                buf = io.StringIO()
                with cl.redirect_stdout(buf):
                    code = cli_main(["runs", "--format", "json"])
                text = buf.getvalue().strip()
                res = {"ok": code == 0, "runs": json.loads(text) if text.startswith("[") else [], "code": code}
            else:
                res = {"ok": False, "error": f"unknown op {req['op']!r}"}
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            res = {"ok": False, "error": " ".join(f"{type(exc).__name__}: {exc}".split())[:500]}
        res["seconds"] = time.perf_counter() - t
        answer(res)
    return 0


class Checker:
    """The long-lived checker child; every answer waited for with a deadline, restarted after a timeout."""

    def __init__(self, home: Path, log_path: Path):
        self.home, self.log_path = home, log_path
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.starts = 0

    def start(self) -> None:
        self.stop()
        self.lines = queue.Queue()
        err = open(self.log_path, "a")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen([PYTHON, "-m", "benchmarks.crash", "checker"], cwd=ROOT, env=bench_env(self.home),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                                     start_new_session=True)
        err.close()
        self.starts += 1
        lines, stdout = self.lines, self.proc.stdout

        def pump() -> None:
            for line in stdout:
                if line.startswith(PROTO):
                    lines.put(line[len(PROTO):])
            lines.put(None)

        threading.Thread(target=pump, name="crash-checker", daemon=True).start()
        ready = self._answer(CHECK_TIMEOUT)
        if not ready.get("ready"):
            raise RuntimeError(f"the checker did not start: {ready}; see {self.log_path}")

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            return {"ok": False, "error": f"no answer within {timeout:.0f} s (checker restarted)"}
        if line is None:
            self.stop()
            return {"ok": False, "error": f"the checker exited; see {self.log_path}"}
        return json.loads(line)

    def ask(self, **req: Any) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.stop()
            return {"ok": False, "error": f"checker: {exc}"}
        return self._answer(CHECK_TIMEOUT)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


# -- pure helpers (tested without a search) ------------------------------------------------------------------
def lost_completed(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Trial ids COMPLETED ``before`` (id -> its facts) that ``now`` lacks or shows changed."""
    return sorted(tid for tid, facts in before.items() if now.get(tid) != facts)


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


# -- the matrix ----------------------------------------------------------------------------------------------
@dataclass
class Matrix:
    work: Path
    kills_wanted: int
    seed: int = SEED
    name: str = "chain 0"
    deadline: float | None = None  # time.monotonic(): no new kill after it (the run under way completes)
    kills: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.work / "home"
        self.db = self.home / "tracker.db"
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = bench_env(self.home)
        self.rng = random.Random(self.seed)
        self.checker = Checker(self.home, self.logs / "checker.log")
        self.completed: dict[str, Any] = {}  # trial id -> (objective, best epoch) of every COMPLETED trial seen
        self.bundles: dict[str, float | None] = {}  # run id -> created_at of the bundle last seen
        self.counts = collections.Counter()
        self.length = 0.0
        self.baselines_per_run = 0  # as the unkilled calibration run scored them
        self.timeline: dict[str, float] = {}

    # - children
    def spawn(self, args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as f:
            f.write(f"\n### {time.strftime('%H:%M:%S')} autosearch {' '.join(args)}\n".encode())
            f.flush()
            return subprocess.Popen([PYTHON, "-m", "autosearch", *args], cwd=ROOT, env=self.env, stdout=f,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the search and anything it started
        return proc.wait(timeout=60)

    def new_run_id(self, known: set[str]) -> str | None:
        fresh = sorted(set(read_raw(self.db, integrity=False).runs) - known)
        return fresh[-1] if fresh else None

    # - calibration: one unkilled run, its length and where its time goes
    def calibrate(self) -> None:
        log_path = self.logs / "calibration.log"
        t0, since = time.monotonic(), time.time()
        proc = self.spawn(SEARCH, log_path)
        samples: list[str] = []
        run_id = None
        try:
            while proc.poll() is None:
                if time.monotonic() - t0 > CHILD_TIMEOUT:
                    raise RuntimeError(f"the unkilled calibration run took over {CHILD_TIMEOUT:.0f} s")
                time.sleep(0.25)
                raw = read_raw(self.db, integrity=False)
                run_id = run_id or (max(raw.runs) if raw.runs else None)
                samples.append(phase_of(raw, run_id, proc.pid, self.home / "runs" / run_id if run_id else None,
                                        since))
        finally:
            if proc.poll() is None:
                self.kill(proc)
        self.length = time.monotonic() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"the unkilled calibration run exited {proc.returncode}; see {log_path}")
        counts = collections.Counter(samples)
        self.timeline = {p: self.length * counts[p] / len(samples) for p in PHASES if counts[p]}
        run_id = self.new_run_id(set())
        problems = self.final_checks(run_id, log_path, calibration=True)
        if problems:
            raise RuntimeError(f"the unkilled calibration run {run_id} fails the final checks: {problems}")
        self.baselines_per_run = len(read_raw(self.db, integrity=False).trials_of(run_id, "baseline"))
        self.runs.append({"run_id": run_id, "calibration": True, "attempts": 1, "resumes": 0, "kills": 0,
                          "seconds": self.length, "problems": []})
        self.snapshot()

    # - the checks
    def snapshot(self) -> list[str]:
        """Tracker API and ``runs --format json`` reads; returns problems (lost trials, RUNNING)."""
        from autosearch.tracking import RunStatus, TrialState, get_tracker

        problems: list[str] = []
        if not self.db.exists():
            return problems
        with get_tracker(f"sqlite:///{self.db}") as tracker:
            runs = tracker.list_runs()
            trials = tracker.find_trials()
        running = [r.run_id for r in runs if r.status is RunStatus.RUNNING]
        running += [t.trial_id for t in trials if t.state is TrialState.RUNNING]
        listed = self.checker.ask(op="runs")
        if not listed.get("ok"):
            problems.append(f"autosearch runs --format json failed: {listed.get('error') or listed}")
        running += [f"{r['run_id']} (runs --format json)" for r in listed.get("runs", [])
                    if r.get("status") == "RUNNING"]
        if running:
            self.counts["running_left"] += 1
            problems.append(f"RUNNING after the kill: {running}")
        now = {t.trial_id: (t.objective, t.best_epoch, json.dumps(dict(t.hyperparameters), sort_keys=True))
               for t in trials if t.state is TrialState.COMPLETED}
        lost = lost_completed(self.completed, now)
        if lost:
            self.counts["completed_lost"] += len(lost)
            problems.append(f"COMPLETED trials lost or changed: {lost}")
        self.completed.update(now)
        return problems

    def check_bundle(self, run_id: str, final: bool = False) -> list[str]:
        run_dir = self.home / "runs" / run_id
        bundle = run_dir / "export"
        seen = run_id in self.bundles
        if not (bundle / "manifest.json").is_file():
            if seen:
                self.counts["bundle_failures"] += 1
                old = [p.name for p in run_dir.glob(".export.old-*")]
                return [f"the bundle seen before is gone ({'left as ' + ', '.join(old) if old else 'nowhere'})"]
            if final:
                self.counts["bundle_failures"] += 1
                return ["a completed run has no bundle"]
            return []
        res = self.checker.ask(op="bundle", path=str(bundle))
        self.counts["bundle_loads"] += 1
        if not res.get("ok"):
            self.counts["bundle_failures"] += 1
            return [f"bundle {bundle} does not load and predict: {res.get('error')}"]
        if res.get("run_id") != run_id:
            self.counts["bundle_failures"] += 1
            return [f"bundle {bundle} is run {res.get('run_id')}'s"]
        created = res.get("created_at")
        if seen:
            self.counts["bundle_previous" if created == self.bundles[run_id] else "bundle_new"] += 1
        self.bundles[run_id] = created
        return []

    def after_kill(self, run_id: str | None, raw: Raw) -> list[str]:
        problems = []
        if raw.integrity not in (None, "ok"):
            self.counts["integrity_failures"] += 1
            problems.append(f"integrity_check: {raw.integrity}")
        problems += self.snapshot()
        if run_id is not None:
            problems += self.check_bundle(run_id)
        gone = [r for r in self.bundles
                if r != run_id and not (self.home / "runs" / r / "export" / "manifest.json").is_file()]
        if gone:  # earlier runs' bundles are not touched
            self.counts["bundle_failures"] += len(gone)
            problems.append(f"bundles of earlier runs gone: {gone}")
        return problems

    def final_checks(self, run_id: str | None, log_path: Path, calibration: bool = False,
                     report_expected: bool = True) -> list[str]:
        if run_id is None:
            return ["the completed search left no run"]
        raw = read_raw(self.db)
        problems = [] if raw.integrity == "ok" else [f"integrity_check: {raw.integrity}"]
        if raw.runs.get(run_id, {}).get("status") != "COMPLETED":
            problems.append(f"run status {raw.runs.get(run_id, {}).get('status')}")
        problems += attempt_rows_ok(raw.trials_of(run_id, "search"), MAX_TRIALS)
        baselines = raw.trials_of(run_id, "baseline")
        if not calibration and len(baselines) != self.baselines_per_run:
            problems.append(f"{len(baselines)} baseline rows, not {self.baselines_per_run}")
        if any(t["state"] != "COMPLETED" for t in baselines):
            problems.append(f"baselines {[(t['local'], t['state']) for t in baselines]}")
        problems += self.check_bundle(run_id, final=True)
        run_dir = self.home / "runs" / run_id
        left = sorted(p.name for p in run_dir.glob(".export.*"))
        if left:
            self.counts["leftover_export_dirs"] += len(left)
            problems.append(f"left in the run directory: {left}")
        if report_expected and not (run_dir / "report.html").is_file():
            problems.append("no report.html")
        return problems

    def fail(self, what: str) -> None:
        self.failures.append(what)
        log(f"  {self.name}: CRASH MATRIX FAILURE: {what}")

    # - one run: a search, killed, resumed, killed ... until it completes
    def one_run(self, known: set[str]) -> None:
        started, run_id, attempts, kills = time.monotonic(), None, 0, 0
        n = len(self.runs)
        log_path = self.logs / f"run-{n:03d}.log"
        last_killed = False
        problems_of_run: list[str] = []
        while True:
            attempts += 1
            args = SEARCH if run_id is None else ["resume", run_id, "--quiet"]
            finish = self.enough()  # enough kills: let this run complete
            moment = CHILD_TIMEOUT if finish else draw_moments(self.rng, self.length, 1)[0]
            if attempts > MAX_ATTEMPTS:
                self.fail(f"run {run_id}: not completed after {MAX_ATTEMPTS} attempts")
                return
            t0, since = time.monotonic(), time.time()
            proc = self.spawn(args, log_path)
            try:
                code, killed = proc.wait(timeout=moment), False
            except subprocess.TimeoutExpired:
                code, killed = self.kill(proc), True
            finally:
                if proc.poll() is None:
                    self.kill(proc)
            if finish and killed:
                self.fail(f"run {run_id}: the last {args[0]} did not end within {CHILD_TIMEOUT:.0f} s")
                return
            run_id = run_id or self.new_run_id(known)
            run_dir = self.home / "runs" / run_id if run_id else None
            if not killed:
                text = log_path.read_text(errors="replace")
                tail = " ".join(text.strip().splitlines()[-1:])
                if code != 0:
                    self.counts["resume_failures" if args[0] == "resume" else "search_failures"] += 1
                    self.fail(f"run {run_id}: {args[0]} (attempt {attempts}) exited {code} unkilled: {tail[:300]}; "
                              f"log {log_path}")
                    self.runs.append({"run_id": run_id, "attempts": attempts, "resumes": attempts - 1, "kills": kills,
                                      "seconds": round(time.monotonic() - started, 2), "failed": True,
                                      "problems": [*problems_of_run, f"{args[0]} exited {code}"]})
                    if run_id:
                        known.add(run_id)
                    return  # the next run starts afresh
                if f"Run {run_id}: {MAX_TRIALS} trials" not in text.split("###")[-1]:
                    problems_of_run.append(f"{args[0]} printed no 'Run {run_id}: {MAX_TRIALS} trials'")
                break
            kills += 1
            raw = read_raw(self.db)  # as the kill left it
            phase = phase_of(raw, run_id, proc.pid, run_dir, since, resume=args[0] == "resume")
            problems = self.after_kill(run_id, raw)
            cycle = time.monotonic() - t0
            tmp = sorted(p.name for p in run_dir.glob(".export.tmp-*")) if run_dir else []
            record = {"n": len(self.kills), "run": n, "run_id": run_id, "attempt": attempts, "command": args[0],
                      "moment": round(moment, 3), "phase": phase, "cycle_s": round(cycle, 3),
                      "export_tmp_dirs": len(tmp), "problems": problems}
            self.kills.append(record)
            if problems:
                self.fail(f"kill {record['n']}: run {run_id}, {args[0]} attempt {attempts} killed "
                          f"{moment:.3f} s after spawn (seed {self.seed}), phase {phase}: {'; '.join(problems)}")
                problems_of_run += problems
            if len(self.kills) % 10 == 0 or len(self.kills) == self.kills_wanted:
                log(f"  {self.name}: {len(self.kills)}/{self.kills_wanted} kills, {len(self.runs)} runs completed, "
                    f"{len(self.failures)} failures; load {os.getloadavg()[0]:.1f}")
            if run_id is None:
                known_dirs = {p.name for p in (self.home / "runs").glob("*")}
                self.counts["orphan_run_dirs"] = len(known_dirs - set(raw.runs))
                continue  # killed before the run existed: nothing to resume, start a new search
            if raw.runs.get(run_id, {}).get("status") == "COMPLETED":
                last_killed = True  # killed after the run's end was written
                if (run_dir / "report.html").is_file():
                    break  # nothing left to do: resume refuses a completed run
                # else the next resume draws the report (and records the artifacts)
        if last_killed and not (self.home / "runs" / run_id / "report.html").is_file():
            self.counts["completed_without_report"] += 1
        problems_of_run += self.final_checks(run_id, log_path)
        if any(p for p in problems_of_run):
            self.counts["final_check_failures"] += 1
            self.fail(f"run {run_id} (log {log_path}): {'; '.join(problems_of_run)}")
        known.add(run_id)
        self.runs.append({"run_id": run_id, "attempts": attempts, "resumes": attempts - 1, "kills": kills,
                          "seconds": round(time.monotonic() - started, 2), "problems": problems_of_run,
                          "killed_after_completion": last_killed})

    def enough(self) -> bool:
        return len(self.kills) >= self.kills_wanted or (self.deadline is not None and time.monotonic() > self.deadline)

    def run(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.checker.start()
            self.calibrate()
            log(f"  {self.name}: an unkilled run takes {self.length:.1f} s: "
                + ", ".join(f"{p} {s:.1f}s" for p, s in self.timeline.items()))
            known = set(read_raw(self.db, integrity=False).runs)
            while not self.enough():
                self.one_run(known)
        finally:
            self.checker.stop()


# -- the section ---------------------------------------------------------------------------------------------
def kept_copy(work: Path) -> Path:
    """A copy of the matrix's scratch folder that outlives the harness's cleanup."""
    dest = Path(tempfile.mkdtemp(prefix="autosearch-crash-failure-"))
    shutil.copytree(work, dest / work.name, symlinks=True, dirs_exist_ok=True)
    return dest / work.name


def run(work: Path, kills: int | None = None, quick: bool = False, seed: int = SEED,
        jobs: int | None = None, deadline: float | None = None) -> Section:
    """``kills`` SIGKILLs (default 200; quick 5) shared by ``jobs`` independent chains run side by side,
    each in its own home with its own checker and seed (default 2 on 2 cores; quick 1). With a ``deadline``
    (time.monotonic()) the chains stop killing when it passes; then at least ``MIN_KILLS`` are wanted."""
    wanted = kills or (QUICK_KILLS if quick else KILLS)
    kills = wanted if deadline is None else min(wanted, QUICK_KILLS if quick else MIN_KILLS)
    jobs = max(1, min(jobs or (1 if quick else min(JOBS, os.cpu_count() or 1)), wanted))
    section = Section("crash")
    t0 = time.monotonic()
    load0 = os.getloadavg()
    chains = [Matrix(work / f"chain-{i}", wanted // jobs + (i < wanted % jobs), seed + i, name=f"chain {i}",
                     deadline=deadline) for i in range(jobs)]
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
    minutes = (time.monotonic() - t0) / 60
    c: collections.Counter[str] = sum((m.counts for m in chains), collections.Counter())
    ks = [k for m in chains for k in m.kills]
    runs = [r for m in chains for r in m.runs]
    failures = [f for m in chains for f in m.failures]
    lengths = [m.length for m in chains if m.length]
    resumed = [r for r in runs if not r.get("calibration") and not r.get("failed")]
    cycles = [k["cycle_s"] for k in ks]
    phases = collections.Counter(k["phase"] for k in ks)
    span = "/".join(f"{x:.1f}" for x in lengths) or "?"
    total = (f"{len(ks)} kills at moments uniform over 0-{span} s (an unkilled run, per chain), seeds {seed}"
             f"{f'-{seed + jobs - 1}' if jobs > 1 else ''}; {jobs} chain{'s side by side' if jobs > 1 else ''}")
    section.add(
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
        figure("crash", "resumes that failed unkilled", c["resume_failures"] + c["search_failures"], "", "<= 0"),
        figure("crash", "completed runs failing the final checks", c["final_check_failures"], "", "<= 0",
               f"{MAX_TRIALS}/{MAX_TRIALS} COMPLETED, only -aN attempt rows, baselines once, bundle loads, "
               "no .export.* left, report.html"),
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
    )
    timeline = collections.Counter()
    for m in chains:
        timeline.update({p: s / m.length for p, s in m.timeline.items()} if m.length else {})
    for phase in PHASES:
        share = timeline.get(phase, 0.0) / max(len(lengths), 1)
        section.add(figure("crash", f"kills landed in: {phase}", phases.get(phase, 0), "",
                           note=f"{100 * share:.0f}% of an unkilled run"))
    kept = None
    if failures:
        kept = kept_copy(work)
        log(f"  crash matrix: {len(failures)} failures; scratch kept in {kept}")
    section.raw = {"kills": ks, "runs": runs, "counts": dict(c), "failures": failures, "seed": seed, "jobs": jobs,
                   "unkilled_run_s": lengths, "timeline_s": [m.timeline for m in chains],
                   "load_average_start": load0, "load_average_end": os.getloadavg(), "minutes": minutes,
                   "kept": str(kept) if kept else None, "search": SEARCH}
    if errors:
        raise RuntimeError(f"crash matrix: {errors[0]}") from errors[0]
    return section


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.crash", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("checker", help="(internal) the long-lived bundle checker")
    r = sub.add_parser("run", help="the matrix alone; prints its figures as JSON")
    r.add_argument("--kills", type=int, default=KILLS)
    r.add_argument("--seed", type=int, default=SEED)
    r.add_argument("--jobs", type=int, help=f"chains side by side (default {JOBS})")
    r.add_argument("--work", type=Path, help="scratch directory (default: a new temporary one, kept)")
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.cmd == "checker":
        return checker_main()
    work = args.work or Path(tempfile.mkdtemp(prefix="autosearch-crash-"))
    section = run(work, args.kills, seed=args.seed, jobs=args.jobs)
    print(json.dumps({"figures": [f.to_dict() for f in section.figures], "failures": section.raw["failures"],
                      "work": str(work)}, indent=1))
    return 1 if section.raw["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
