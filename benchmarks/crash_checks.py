"""The crash matrix's checks after each stop (a SIGKILL, or a child a held lock stopped) and after each run:
``Checks`` is a base of ``crash_matrix.Matrix``, whose ``__post_init__`` sets what it reads (``home``, ``db``,
``checker``, ``counts``, ``completed``, ``bundles``, ``baselines_per_run``)."""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.crash_checker import Checker
from benchmarks.crash_rows import MAX_TRIALS, Raw, attempt_rows_ok, finished_trainings_lost, lost_completed, read_raw


class Checks:
    home: Path
    db: Path
    checker: Checker
    counts: collections.Counter[str]
    completed: dict[str, Any]  # trial id -> (objective, best epoch, hyperparameters) of every COMPLETED trial seen
    bundles: dict[str, float | None]  # run id -> created_at of the bundle last seen
    baselines_per_run: int

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

    def after_stop(self, run_id: str | None, raw: Raw) -> list[str]:
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

    def final_checks(self, run_id: str | None, calibration: bool = False, report_expected: bool = True,
                     stops: Sequence[tuple[float, set[str]]] = ()) -> list[str]:
        """A completed run: its rows, its bundle, its files; ``stops``: (wall time, KerasTuner trials whose
        training had finished) at each of its stops, none of which may be lost or run again."""
        if run_id is None:
            return ["the completed search left no run"]
        raw = read_raw(self.db)
        problems = [] if raw.integrity == "ok" else [f"integrity_check: {raw.integrity}"]
        if raw.runs.get(run_id, {}).get("status") != "COMPLETED":
            problems.append(f"run status {raw.runs.get(run_id, {}).get('status')}")
        problems += attempt_rows_ok(raw.trials_of(run_id, "search"), MAX_TRIALS)
        lost = finished_trainings_lost(raw.trials_of(run_id, "search"), stops)
        self.counts["finished_trainings_lost"] += len(lost)
        problems += lost
        from autosearch.tracking.journal import JOURNAL, Journal

        if pending := Journal(self.home / "runs" / run_id / JOURNAL).pending():
            self.counts["journal_left"] += 1
            problems.append(f"{len(pending)} journalled tracker writes never written: {pending[:3]}")
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
