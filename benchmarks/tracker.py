"""2. The tracker against its limit, through the public API (``get_tracker(uri)``, ``TrialRecord``, ...) so
that it measures whichever backend the URI names.

- Trial writes, 20 epoch rows each, against raw ``sqlite3`` with WAL (``synchronous=NORMAL``, as the
  tracker), same machine, same rounds (tracker, raw, raw, tracker, ...): as one call per trial
  (``log_trial`` with its epochs: one transaction) and as a search writes it (``log_trial``, 20
  ``log_epoch``, ``finish_trial``: 22 transactions, each epoch write timed for its latency).
  The raw yardstick serialises the same JSON; it just has no checks, no records and no merging.
- PostgreSQL, when ``AUTOSEARCH_BENCH_PG`` holds a ``postgresql://`` tracker URI, in the same rounds.
- MLflow's bookkeeping per trial as a search writes it (``log_trial``, 20 ``log_epoch``, ``finish_trial``),
  beside the SQLite tracker's in the same rounds: the MLflow backend alone on a local SQLite store and on a
  local ``mlflow server`` (tests/mlflowserver.py: SQLite store, proxied artifacts, loopback). ClearML's and
  MLflow's bookkeeping inside a real search is section 1's (overhead).
- The whole ``autosearch leaderboard --top 20`` command at 1k, 10k and 100k trials x 20 epochs (one run),
  interleaved with ``python -c pass``.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    ROOT,
    Section,
    bench_env,
    figure,
    interleave,
    log,
    postgres,
    quantile,
    ratios,
    run_child,
)

EPOCHS = 20
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _run_info(run_id: str) -> Any:
    from autosearch.tracking import RunInfo

    return RunInfo(run_id=run_id, pipeline="text", task="text_classification", dataset="rotten_tomatoes", seed=0,
                   started_at=time.time(), config={"search": {"objective": "val_accuracy", "direction": "max"}},
                   data={"fingerprint": "0" * 64}, environment={"python": "3.11"}, summary={})


def _hyperparameters(rng: random.Random) -> dict[str, Any]:
    return {"optimizer": "adam", "learning_rate": rng.choice([1e-3, 3e-3]),
            "text_block/embedding_dim": rng.choice([64, 128]), "text_block/dropout": rng.choice([0.0, 0.3]),
            "text_block/dense_units": rng.choice([0, 64])}


def _epoch_metrics(rng: random.Random, e: int) -> dict[str, float]:
    a = 0.5 + 0.3 * (e + rng.random()) / EPOCHS
    return {"loss": 1 - a, "accuracy": a, "val_loss": 1.1 - a, "val_accuracy": a - 0.01}


def _extra() -> dict[str, Any]:
    return {"keras_tuner_status": "COMPLETED", "peak_rss_bytes": 734003200, "cpu_percent_mean": 151.5,
            "model_summary": "trials/0/model_summary.txt"}


def completed_trial(run_id: str, i: int, rng: random.Random) -> Any:
    """A finished search trial with its 20 epochs, as a real text search records it."""
    from autosearch.tracking import EpochMetrics, TrialKind, TrialRecord, TrialState

    now = time.time()
    epochs = tuple(EpochMetrics(e, _epoch_metrics(rng, e), now + e) for e in range(EPOCHS))
    return TrialRecord(trial_id=f"{run_id}/{i}", run_id=run_id, kind=TrialKind.SEARCH, state=TrialState.COMPLETED,
                       hyperparameters=_hyperparameters(rng), seed=i, started_at=now, ended_at=now + EPOCHS,
                       objective=epochs[-1].metrics["val_accuracy"], best_epoch=EPOCHS - 1,
                       trainable_params=1_280_065, extra=_extra(), epochs=epochs)


class TrackerWrites:
    """Writes trials to one tracker; every call returns seconds for ``n`` trials."""

    def __init__(self, uri: str):
        from autosearch.tracking import get_tracker

        self.tracker = get_tracker(uri)
        self.run_id = f"20261125-000000-{random.Random().getrandbits(16):04x}"
        self.tracker.start_run(_run_info(self.run_id))
        self.rng, self.i = random.Random(0), 0
        self.epoch_latencies: list[float] = []

    def bulk(self, n: int) -> float:
        trials = []
        for _ in range(n):
            trials.append(completed_trial(self.run_id, self.i, self.rng))
            self.i += 1
        t = time.perf_counter()
        for trial in trials:
            self.tracker.log_trial(trial)
        return time.perf_counter() - t

    def live(self, n: int) -> float:
        from autosearch.tracking import EpochMetrics, TrialKind, TrialRecord, TrialState

        total = 0.0
        for _ in range(n):
            tid, hps, self.i = f"{self.run_id}/{self.i}", _hyperparameters(self.rng), self.i + 1
            epochs = [EpochMetrics(e, _epoch_metrics(self.rng, e), time.time()) for e in range(EPOCHS)]
            lat = self.epoch_latencies
            t = time.perf_counter()
            self.tracker.log_trial(TrialRecord(trial_id=tid, run_id=self.run_id, kind=TrialKind.SEARCH,
                                               state=TrialState.RUNNING, hyperparameters=hps, seed=0,
                                               started_at=time.time()))
            for epoch in epochs:
                t_e = time.perf_counter()
                self.tracker.log_epoch(tid, epoch)
                lat.append(time.perf_counter() - t_e)
            self.tracker.finish_trial(tid, TrialState.COMPLETED, ended_at=time.time(),
                                      objective=epochs[-1].metrics["val_accuracy"], best_epoch=EPOCHS - 1,
                                      trainable_params=1_280_065, extra=_extra())
            total += time.perf_counter() - t
        return total

    def close(self) -> None:
        try:
            self.tracker.delete_run(self.run_id)
        finally:
            self.tracker.close()


class RawWrites:
    """The yardstick: the same rows with ``sqlite3`` alone, WAL, synchronous=NORMAL, one connection."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(
            "CREATE TABLE trials (trial_id TEXT PRIMARY KEY, run_id TEXT, state TEXT, hyperparameters TEXT,"
            " started_at REAL, ended_at REAL, objective REAL, extra TEXT);"
            "CREATE TABLE epochs (trial_id TEXT, epoch INTEGER, metrics TEXT, timestamp REAL,"
            " PRIMARY KEY (trial_id, epoch));")
        self.rng, self.i = random.Random(0), 0
        self.epoch_latencies: list[float] = []

    def _rows(self) -> tuple[str, dict[str, Any], list[dict[str, float]]]:
        tid = f"raw/{self.i}"
        self.i += 1
        return tid, _hyperparameters(self.rng), [_epoch_metrics(self.rng, e) for e in range(EPOCHS)]

    def bulk(self, n: int) -> float:
        rows = [self._rows() for _ in range(n)]
        c = self.conn
        t = time.perf_counter()
        for tid, hps, epochs in rows:
            now = time.time()
            c.execute("BEGIN")
            c.execute("INSERT INTO trials VALUES (?,?,?,?,?,?,?,?)",
                      (tid, "raw", "COMPLETED", json.dumps(hps), now, now, epochs[-1]["val_accuracy"],
                       json.dumps(_extra())))
            c.executemany("INSERT INTO epochs VALUES (?,?,?,?)",
                          [(tid, e, json.dumps(m), now) for e, m in enumerate(epochs)])
            c.execute("COMMIT")
        return time.perf_counter() - t

    def live(self, n: int) -> float:
        rows = [self._rows() for _ in range(n)]
        c, lat = self.conn, self.epoch_latencies
        t = time.perf_counter()
        for tid, hps, epochs in rows:
            c.execute("BEGIN")
            c.execute("INSERT INTO trials VALUES (?,?,?,?,?,?,?,?)",
                      (tid, "raw", "RUNNING", json.dumps(hps), time.time(), None, None, "{}"))
            c.execute("COMMIT")
            for e, m in enumerate(epochs):
                t_e = time.perf_counter()
                c.execute("BEGIN")
                c.execute("INSERT INTO epochs VALUES (?,?,?,?)", (tid, e, json.dumps(m), time.time()))
                c.execute("COMMIT")
                lat.append(time.perf_counter() - t_e)
            c.execute("BEGIN")
            c.execute("UPDATE trials SET state=?, ended_at=?, objective=?, extra=? WHERE trial_id=?",
                      ("COMPLETED", time.time(), epochs[-1]["val_accuracy"], json.dumps(_extra()), tid))
            c.execute("COMMIT")
        return time.perf_counter() - t

    def close(self) -> None:
        self.conn.close()


def writes(section: Section, work: Path, per_round: int, rounds: int, pg_uri: str | None) -> None:
    (work / "writes").mkdir(parents=True, exist_ok=True)
    sqlite = TrackerWrites(f"sqlite:///{work / 'writes' / 'tracker.db'}")
    raw = RawWrites(work / "writes" / "raw.db")
    pg, pg_note = None, "PostgreSQL is not installed (or set AUTOSEARCH_BENCH_PG=postgresql://...)"
    if pg_uri:
        try:
            pg = TrackerWrites(pg_uri)
        except Exception as exc:  # noqa: BLE001 - an unsupported scheme or no server: say so in the table
            pg_note = f"{pg_uri.split('@')[-1]}: {type(exc).__name__}: {str(exc)[:120]}"
    variants: dict[str, Callable[[int], float]] = {
        "tracker.bulk": lambda r: sqlite.bulk(per_round), "raw.bulk": lambda r: raw.bulk(per_round),
        "raw.live": lambda r: raw.live(per_round), "tracker.live": lambda r: sqlite.live(per_round)}
    if pg is not None:
        variants.update({"pg.bulk": lambda r: pg.bulk(per_round), "pg.live": lambda r: pg.live(per_round)})
    sqlite.bulk(20), raw.bulk(20)  # warm-up: tables, pages, statement caches
    sqlite.epoch_latencies.clear(), raw.epoch_latencies.clear()
    res = interleave(variants, rounds)
    section.raw["write_seconds_per_round"] = {k: v for k, v in res.items()}
    section.raw["trials_per_round"] = per_round
    rate = lambda xs: [per_round / x for x in xs]
    section.add(
        figure("tracker", "trial writes/s, SQLite tracker, log_trial with 20 epochs", rate(res["tracker.bulk"]),
               "trials/s"),
        figure("tracker", "trial writes/s, raw sqlite3 WAL, 1 transaction (yardstick)", rate(res["raw.bulk"]),
               "trials/s"),
        figure("tracker", "tracker / raw sqlite3 time per trial, 1 transaction",
               ratios(res["tracker.bulk"], res["raw.bulk"]), "x", "<= 5"),
        figure("tracker", "trial writes/s, SQLite tracker, as a search writes (22 calls)",
               rate(res["tracker.live"]), "trials/s"),
        figure("tracker", "trial writes/s, raw sqlite3 WAL, 22 transactions (yardstick)", rate(res["raw.live"]),
               "trials/s"),
        figure("tracker", "tracker / raw sqlite3 time per trial, 22 transactions",
               ratios(res["tracker.live"], res["raw.live"]), "x", "<= 5"),
    )
    for name, lat, targets in (("SQLite tracker log_epoch", sqlite.epoch_latencies, ("<= 1", "<= 10")),
                               ("raw sqlite3 epoch commit", raw.epoch_latencies, ("", ""))):
        ms = [x * 1000 for x in lat]
        p50, p99 = quantile(ms, 0.5), quantile(ms, 0.99)
        section.add(
            figure("tracker", f"{name} latency p50", p50, "ms", targets[0], f"{len(ms)} writes"),
            figure("tracker", f"{name} latency p99", p99, "ms", targets[1], f"max {max(ms):.2f} ms"))
    if pg is not None:
        section.add(
            figure("tracker", "PostgreSQL / SQLite tracker time per trial, 1 call", ratios(res["pg.bulk"],
                                                                                       res["tracker.bulk"]), "x"),
            figure("tracker", "PostgreSQL / SQLite tracker time per trial, 22 calls", ratios(res["pg.live"],
                                                                                        res["tracker.live"]), "x"),
            figure("tracker", "trial writes/s, PostgreSQL tracker, 22 calls", rate(res["pg.live"]), "trials/s",
                   note=pg_uri.split("@")[-1] if pg_uri else ""))
        ms = [x * 1000 for x in pg.epoch_latencies]
        section.add(figure("tracker", "PostgreSQL tracker log_epoch latency p50 / p99",
                           quantile(ms, 0.5), "ms", note=f"p99 {quantile(ms, 0.99):.2f} ms"))
        pg.close()
    else:
        section.add(figure("tracker", "PostgreSQL tracker writes", None, note=f"skipped: {pg_note}"))
    sqlite.close(), raw.close()


@contextmanager
def mlflow_server() -> Iterator[str | None]:
    """The URI of a throwaway local ``mlflow server`` (the tests' own), stopped after; None without MLflow."""
    sys.path.insert(0, str(ROOT / "tests"))
    from mlflowserver import MlflowServer, mlflow_cli

    if mlflow_cli() is None:
        yield None
        return
    server = MlflowServer().start()
    try:
        yield server.uri
    finally:
        server.stop()


def mlflow_writes(section: Section, work: Path, per_round: int, rounds: int) -> None:
    """Milliseconds per trial as a search writes it: SQLite tracker, MLflow on a local store, MLflow's server."""
    from autosearch.tracking.mlflow_tracker import MLflowTracker

    (work / "mlflow").mkdir(parents=True, exist_ok=True)
    with mlflow_server() as uri:
        if uri is None:
            section.add(figure("tracker", "MLflow tracker writes", None, note="skipped: MLflow is not installed"))
            return
        writers = {"SQLite tracker": TrackerWrites(f"sqlite:///{work / 'mlflow' / 'tracker.db'}"),
                   "MLflow, local SQLite store": TrackerWrites(MLflowTracker(
                       f"sqlite:///{work / 'mlflow' / 'mlflow.db'}")),
                   "MLflow, local mlflow server": TrackerWrites(MLflowTracker(uri))}
        for w in writers.values():
            w.live(2)  # warm-up: experiment, connections, statement caches
        res = interleave({name: lambda r, w=w: w.live(per_round) for name, w in writers.items()}, rounds)
        section.raw["mlflow_live_seconds_per_round"] = res
        for name, seconds in res.items():
            ms = [s * 1000 / per_round for s in seconds]
            lat = [x * 1000 for x in writers[name].epoch_latencies]
            section.add(figure("tracker", f"bookkeeping per trial as a search writes it (22 calls), {name}", ms, "ms",
                               note=f"log_epoch p50 {quantile(lat, 0.5):.1f} ms, p99 {quantile(lat, 0.99):.1f} ms"))
        sqlite = res["SQLite tracker"]
        for name in list(res)[1:]:
            section.add(figure("tracker", f"{name} / SQLite tracker time per trial", ratios(res[name], sqlite), "x"))
        for w in writers.values():
            w.close()


def autosearch_command() -> list[str]:
    script = Path(PYTHON).with_name("autosearch")
    return [str(script)] if script.exists() else [PYTHON, "-m", "autosearch"]


def leaderboard(section: Section, work: Path, sizes: list[int], rounds: int) -> None:
    """Fill one run up to each size (through ``log_trial``), then time the command against ``python -c pass``."""
    from autosearch.tracking import get_tracker

    home = work / "leaderboard"
    env = bench_env(home)
    tracker = get_tracker(f"sqlite:///{home / 'tracker.db'}")
    run_id = "20261125-120000-beef"
    tracker.start_run(_run_info(run_id))
    rng, filled = random.Random(1), 0
    for size in sizes:
        t, added = time.perf_counter(), size - filled
        for i in range(filled, size):
            tracker.log_trial(completed_trial(run_id, i, rng))
        filled = size
        fill_s = time.perf_counter() - t
        cmd = [*autosearch_command(), "leaderboard", "--top", "20"]
        first = run_child(cmd, env).check()  # warm the page cache once, as a user's second look would be
        res = interleave({"python": lambda r: run_child([PYTHON, "-c", "pass"], env).check(),
                          "leaderboard": lambda r, cmd=cmd: run_child(cmd, env).check()}, rounds)
        cpu = sorted(c.cpu for c in res["leaderboard"])[rounds // 2]
        res = {k: [c.wall for c in v] for k, v in res.items()}
        section.raw[f"leaderboard_{size}"] = {**res, "first": first.wall, "fill_s": fill_s, "cpu_median": cpu}
        target = {1000: "< 0.3", 10_000: "< 0.5", 100_000: "< 2"}.get(size, "")
        label = f"{size // 1000}k" if size >= 1000 else str(size)
        section.add(
            figure("tracker", f"`autosearch leaderboard --top 20`, {label} trials x 20 epochs (whole command)",
                   res["leaderboard"], "s", target, f"CPU {cpu:.2f}s; python -c pass "
                                                    f"{sorted(res['python'])[rounds // 2]:.3f}s; filled at "
                                                    f"{added / max(fill_s, 1e-9):,.0f} trials/s"),
            figure("tracker", f"leaderboard {label} / python -c pass", ratios(res["leaderboard"], res["python"]), "x"))
        log(f"  leaderboard at {size} trials: filled in {fill_s:.1f}s, median {sorted(res['leaderboard'])[rounds // 2]:.2f}s")
    tracker.close()


def run(work: Path, quick: bool, pg_uri: str | None = None) -> Section:
    section = Section("tracker")
    per_round, rounds = (50, 3) if quick else (200, 5)
    with postgres("tracker") as found:
        writes(section, work / "tracker", per_round, rounds, pg_uri if pg_uri is not None else found)
    mlflow_writes(section, work / "tracker", 5 if quick else 20, 3 if quick else 5)
    leaderboard(section, work / "tracker", [1000] if quick else [1000, 10_000, 100_000], 3 if quick else 5)
    return section
