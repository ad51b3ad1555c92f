"""One chain of the crash matrix (``benchmarks/crash.py`` describes it): in its own home, runs one after another,
each a search then resumes, every child perhaps killed at a random moment or stopped by a held tracker lock
(``crash_faults``), until the run completes; the checks are ``crash_checks.Checks``."""

from __future__ import annotations

import collections
import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON, ROOT, bench_env, log
from benchmarks.crash_checker import Checker
from benchmarks.crash_checks import Checks
from benchmarks.crash_faults import LOCK_SHARE, LOCK_TIMEOUT, LockFault, draw_fault, stopped_by_the_lock
from benchmarks.crash_rows import (
    MAX_TRIALS,
    PHASES,
    SEARCH,
    SEED,
    draw_moments,
    keras_completed,
    phase_of,
    read_raw,
)

MAX_ATTEMPTS = 60  # per run: a run that never completes is a failure, not a hang
CHILD_TIMEOUT = 900.0  # an unkilled child (calibration, the last resume)


@dataclass
class Chain:
    """One run on its way to completion."""

    n: int
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    run_id: str | None = None
    attempts: int = 0
    kills: int = 0
    lock_stops: int = 0
    killed_after_end: bool = False
    problems: list[str] = field(default_factory=list)
    stops: list[tuple[float, set[str]]] = field(default_factory=list)  # (wall time, trainings finished then)


@dataclass
class Attempt:
    """One child (``autosearch search`` or ``resume``) and how it ended."""

    args: Sequence[str]
    moment: float  # the SIGKILL, seconds after spawn
    finish: bool  # enough kills: this one must complete
    fault: LockFault | None
    t0: float = field(default_factory=time.monotonic)
    since: float = field(default_factory=time.time)
    pid: int = 0
    code: int = 0
    killed: bool = False
    output: str = ""  # what it printed, when it ended by itself

    @property
    def tail(self) -> str:
        return " ".join(self.output.strip().splitlines()[-1:])


@dataclass
class Matrix(Checks):
    work: Path
    kills_wanted: int
    seed: int = SEED
    name: str = "chain 0"
    deadline: float | None = None  # time.monotonic(): no new kill after it (the run under way completes)
    lock_share: float = LOCK_SHARE  # of the children that get a held tracker lock besides their kill moment
    kills: list[dict[str, Any]] = field(default_factory=list)
    lock_stops: list[dict[str, Any]] = field(default_factory=list)  # children a held lock stopped, unkilled
    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.work / "home"
        self.db = self.home / "tracker.db"
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = bench_env(self.home, AUTOSEARCH_LOCK_TIMEOUT=f"{LOCK_TIMEOUT:g}")
        self.rng = random.Random(self.seed)
        self.lock_rng = random.Random(self.seed + 1_000_003)  # its own: the kill moments stay those of the seed
        self.checker = Checker(self.home, self.logs / "checker.log")
        self.completed = {}
        self.bundles = {}
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
        problems = self.final_checks(run_id, calibration=True)
        if problems:
            raise RuntimeError(f"the unkilled calibration run {run_id} fails the final checks: {problems}")
        self.baselines_per_run = len(read_raw(self.db, integrity=False).trials_of(run_id, "baseline"))
        self.runs.append({"run_id": run_id, "calibration": True, "attempts": 1, "resumes": 0, "kills": 0,
                          "seconds": self.length, "problems": []})
        self.snapshot()

    def fail(self, what: str) -> None:
        self.failures.append(what)
        log(f"  {self.name}: CRASH MATRIX FAILURE: {what}")

    # - one run: a search, stopped, resumed, stopped ... until it completes
    def one_run(self, known: set[str]) -> None:
        chain = Chain(len(self.runs), self.logs / f"run-{len(self.runs):03d}.log")
        while True:
            if chain.attempts >= MAX_ATTEMPTS:
                return self.fail(f"run {chain.run_id}: not completed after {MAX_ATTEMPTS} attempts")
            attempt = self.attempt(chain)
            chain.run_id = chain.run_id or self.new_run_id(known)
            if attempt.finish and attempt.killed:
                return self.fail(f"run {chain.run_id}: the last {attempt.args[0]} did not end within "
                                 f"{CHILD_TIMEOUT:.0f} s")
            if attempt.killed or stopped_by_the_lock(attempt.fault, attempt.code, attempt.tail):
                if self.stopped(chain, attempt, known):
                    break  # killed after its end and its report: nothing left to resume
                continue
            if attempt.code != 0:
                return self.abandon(chain, attempt, known)
            if f"Run {chain.run_id}: {MAX_TRIALS} trials" not in attempt.output:
                chain.problems.append(f"{attempt.args[0]} printed no 'Run {chain.run_id}: {MAX_TRIALS} trials'")
            break
        self.conclude(chain, known)

    def attempt(self, chain: Chain) -> Attempt:
        """Spawn the run's next child; kill it at a random moment (none once there are enough kills), with a
        held tracker lock for some of them."""
        chain.attempts += 1
        finish = self.enough()
        moment = CHILD_TIMEOUT if finish else draw_moments(self.rng, self.length, 1)[0]
        fault = draw_fault(self.lock_rng, self.db, min(moment, self.length), self.lock_share)
        args = SEARCH if chain.run_id is None else ["resume", chain.run_id, "--quiet"]
        attempt = Attempt(args, moment, finish, fault)
        proc = self.spawn(args, chain.log_path)
        attempt.pid = proc.pid
        if fault is not None:
            fault.start()
        try:
            attempt.code = proc.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            attempt.code, attempt.killed = self.kill(proc), True
        finally:
            if proc.poll() is None:
                self.kill(proc)
            if fault is not None:
                fault.release()
        if fault is not None and fault.taken is not None:
            self.counts["lock_faults"] += 1
            self.counts["lock_faults_past_timeout"] += fault.held_past_timeout()
            self.counts["stops_under_lock"] += fault.taken < fault.hold - 0.5  # the child ended first
        if not attempt.killed:
            attempt.output = chain.log_path.read_text(errors="replace").split("###")[-1]
        return attempt

    def stopped(self, chain: Chain, attempt: Attempt, known: set[str]) -> bool:
        """After a kill or a lock stop: the checks, the record; True when the run needs no resume."""
        chain.kills += attempt.killed
        chain.lock_stops += not attempt.killed
        raw = read_raw(self.db)  # as the stop left it
        run_dir = self.home / "runs" / chain.run_id if chain.run_id else None
        chain.stops.append((time.time(), keras_completed(run_dir)))
        phase = phase_of(raw, chain.run_id, attempt.pid, run_dir, attempt.since, resume=attempt.args[0] == "resume")
        problems = self.after_stop(chain.run_id, raw)
        self.record_stop(chain, attempt, phase, problems, run_dir)
        if chain.run_id is None:
            known_dirs = {p.name for p in (self.home / "runs").glob("*")}
            self.counts["orphan_run_dirs"] = len(known_dirs - set(raw.runs))
            return False  # stopped before the run existed: nothing to resume, start a new search
        if raw.runs.get(chain.run_id, {}).get("status") == "COMPLETED":
            chain.killed_after_end = True  # stopped after the run's end was written
            return run_dir is not None and (run_dir / "report.html").is_file()  # else resume draws the report
        return False

    def record_stop(self, chain: Chain, attempt: Attempt, phase: str, problems: list[str],
                    run_dir: Path | None) -> None:
        tmp = sorted(p.name for p in run_dir.glob(".export.tmp-*")) if run_dir else []
        fault = attempt.fault
        lock = None if fault is None or fault.taken is None else {
            "at": round(fault.at, 3), "hold": round(fault.hold, 3), "held_s": round(fault.taken, 3)}
        records = self.kills if attempt.killed else self.lock_stops
        record = {"n": len(records), "run": chain.n, "run_id": chain.run_id, "attempt": chain.attempts,
                  "command": attempt.args[0], "moment": round(attempt.moment, 3), "phase": phase,
                  "cycle_s": round(time.monotonic() - attempt.t0, 3), "export_tmp_dirs": len(tmp), "lock": lock,
                  "problems": problems}
        records.append(record)
        what = "killed" if attempt.killed else f"stopped by the held lock ({attempt.tail[:200]})"
        if problems:
            self.fail(f"run {chain.run_id}: {attempt.args[0]} attempt {chain.attempts} {what} {attempt.moment:.3f} s "
                      f"after spawn (seed {self.seed}, lock {lock}), phase {phase}: {'; '.join(problems)}")
            chain.problems += problems
        if attempt.killed and (len(self.kills) % 10 == 0 or len(self.kills) == self.kills_wanted):
            log(f"  {self.name}: {len(self.kills)}/{self.kills_wanted} kills ({len(self.lock_stops)} lock stops), "
                f"{len(self.runs)} runs completed, {len(self.failures)} failures; load {os.getloadavg()[0]:.1f}")

    def abandon(self, chain: Chain, attempt: Attempt, known: set[str]) -> None:
        """A child failed unkilled, and not because of a held lock: a failure; the next run starts afresh."""
        command = attempt.args[0]
        self.counts["resume_failures" if command == "resume" else "search_failures"] += 1
        self.fail(f"run {chain.run_id}: {command} (attempt {chain.attempts}) exited {attempt.code} unkilled: "
                  f"{attempt.tail[:300]}; log {chain.log_path}")
        self.runs.append({"run_id": chain.run_id, "attempts": chain.attempts, "resumes": chain.attempts - 1,
                          "kills": chain.kills, "lock_stops": chain.lock_stops,
                          "seconds": round(time.monotonic() - chain.started, 2), "failed": True,
                          "problems": [*chain.problems, f"{command} exited {attempt.code}"]})
        if chain.run_id:
            known.add(chain.run_id)

    def conclude(self, chain: Chain, known: set[str]) -> None:
        """The run completed: its final checks (no trial lost across its stops), its record."""
        run_id = chain.run_id
        if chain.killed_after_end and not (self.home / "runs" / str(run_id) / "report.html").is_file():
            self.counts["completed_without_report"] += 1
        chain.problems += self.final_checks(run_id, stops=chain.stops)
        if chain.problems:
            self.counts["final_check_failures"] += 1
            self.fail(f"run {run_id} (log {chain.log_path}): {'; '.join(chain.problems)}")
        if run_id:
            known.add(run_id)
        self.runs.append({"run_id": run_id, "attempts": chain.attempts, "resumes": chain.attempts - 1,
                          "kills": chain.kills, "lock_stops": chain.lock_stops,
                          "seconds": round(time.monotonic() - chain.started, 2), "problems": chain.problems,
                          "killed_after_completion": chain.killed_after_end})

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
