"""A search's trial records survive a tracker whose write lock another process holds.

``JournalledWriter`` wraps the tracker a search writes its trials to. A trial write (``log_trial``,
``log_epoch``, ``finish_trial``) that fails with ``TrackerLockedError`` (another process held the write
lock for over ``AUTOSEARCH_LOCK_TIMEOUT``) neither fails the trial nor is lost: it is appended, fsynced, to
``<run dir>/tracker-journal.jsonl``, the trial writes after it queue behind it there in order, and a thread
writes the queue to the tracker as soon as the lock frees. ``settle`` waits for the queue to drain (the
search calls it after its last trial, before it reads its trials back); ``replay_journal`` writes what a
stopped search left queued (``autosearch resume`` calls it before the run restarts). So a trial KerasTuner
finished is recorded as it finished, and an unfinished one is closed and re-run by resume like any other.

Replay is idempotent: a trial already recorded is not logged again, an epoch is an upsert, and a trial
already finished is not finished again, so a journal replayed twice, or killed half-way through its
replay, leaves the same rows. The file is append-only JSON lines: ``{"n": 3, "op": "log_epoch",
"args": {...}}`` for a queued write, ``{"applied": 3}`` once it is in the tracker; a last line a crash
cut short is a write that never returned, and is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.errors import TrackerLockedError, TrialFinishedError, UnknownTrialError
from autosearch.tracking.base import Tracker, TrackerWriter
from autosearch.tracking.records import EpochMetrics, RunInfo, RunStatus, TrialRecord, TrialState
from autosearch.tracking.sql import lock_timeout

JOURNAL = "tracker-journal.jsonl"
RETRY_PAUSE = 0.5  # seconds between two tries of a locked tracker, on top of the tracker's own lock wait
Entry = tuple[int, str, dict[str, Any]]  # (number, operation, arguments)


def _plain(value: Any) -> Any:
    """NumPy scalars and the like, as JSON can hold them."""
    return value.item() if hasattr(value, "item") else str(value)


class Journal:
    """The append-only file of a run's queued tracker writes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._next = 1

    def pending(self) -> list[Entry]:
        """The queued writes not marked applied, in order."""
        try:
            lines = self.path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        entries: dict[int, Entry] = {}
        applied: set[int] = set()
        for line in lines:
            try:
                item = json.loads(line)
                if "applied" in item:
                    applied.add(int(item["applied"]))
                else:
                    entries[int(item["n"])] = (int(item["n"]), str(item["op"]), dict(item["args"]))
            except (ValueError, TypeError, KeyError):
                continue  # the line a crash cut short: its write never returned
        self._next = max([*entries, *applied, 0]) + 1
        return [entry for n, entry in sorted(entries.items()) if n not in applied]

    def append(self, op: str, args: Mapping[str, Any]) -> int:
        """Queue one write, on disk (fsynced) before this returns; its number."""
        n, self._next = self._next, self._next + 1
        self._write({"n": n, "op": op, "args": dict(args)}, sync=True)
        return n

    def mark(self, n: int) -> None:
        """Write ``n`` is in the tracker (unsynced: a lost mark only replays an idempotent write)."""
        self._write({"applied": n}, sync=False)

    def _write(self, item: Mapping[str, Any], sync: bool) -> None:
        line = (json.dumps(item, default=_plain) + "\n").encode()
        created = not self.path.exists()
        with open(self.path, "a+b") as f:
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # after a line a crash cut short, start a new one
                    line = b"\n" + line
            f.write(line)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        if created and sync:  # the new file's name is durable too
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _recorded(tracker: TrackerWriter, trial_id: str) -> bool:
    if not isinstance(tracker, Tracker):
        return False
    try:
        tracker.get_trial(trial_id, with_epochs=False)
    except UnknownTrialError:
        return False
    return True


def apply(tracker: TrackerWriter, op: str, args: Mapping[str, Any], replay: bool = True) -> None:
    """Make one journalled write; with ``replay``, one already made is skipped (see the module doc)."""
    if op == "log_trial":
        trial = TrialRecord.from_dict(args["trial"])
        if not (replay and _recorded(tracker, trial.trial_id)):
            tracker.log_trial(trial)
        return
    try:
        if op == "log_epoch":
            tracker.log_epoch(args["trial_id"], EpochMetrics.from_dict(args["epoch"]))
        elif op == "finish_trial":
            kwargs = {k: v for k, v in args.items() if k not in ("trial_id", "state")}
            tracker.finish_trial(args["trial_id"], TrialState(args["state"]), **kwargs)
        else:
            raise ValueError(f"unknown journalled tracker write {op!r}")
    except TrialFinishedError:
        if not replay:
            raise


def replay_journal(tracker: TrackerWriter, run_dir: Path) -> int:
    """Write to ``tracker``, in order, the trial writes a stopped search left journalled in ``run_dir``;
    how many. Raises ``TrackerLockedError`` when the lock is still held (the rest stays journalled)."""
    journal = Journal(Path(run_dir) / JOURNAL)
    pending = journal.pending()
    for n, op, args in pending:
        apply(tracker, op, args)
        journal.mark(n)
    return len(pending)


class JournalledWriter(TrackerWriter):
    """Trial writes of run ``run_id`` to ``tracker``, journalled in ``path`` while its write lock is held
    (see the module doc). Run writes (``start_run``, ``finish_run``, ``log_artifact``) first wait for the
    journal to drain (``settle``), then go to the tracker; heartbeats go straight to it."""

    def __init__(self, tracker: TrackerWriter, path: Path, run_id: str):
        self.tracker, self.uri, self.run_id = tracker, tracker.uri, run_id
        self.journal = Journal(path)
        self._mutex = threading.Lock()
        self._queue: list[Entry] = self.journal.pending()  # what an earlier process left comes first
        self._failed: Exception | None = None
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock_message = ""
        if self._queue:
            self._start_flusher()

    @property
    def queued(self) -> int:
        """Writes journalled and not yet in the tracker."""
        with self._mutex:
            return len(self._queue)

    def _submit(self, op: str, args: dict[str, Any]) -> None:
        with self._mutex:
            if self._failed is not None:
                raise self._failed
            if not self._queue:  # the flusher is idle: write straight through
                try:
                    return apply(self.tracker, op, args, replay=False)
                except TrackerLockedError as exc:
                    self._lock_message = str(exc).rstrip(".")
                    print(f"warning: {self._lock_message}. The search goes on: run {self.run_id}'s trial records "
                          f"are kept in {self.journal.path} and written when the lock frees (if the search stops "
                          f"first, 'autosearch resume {self.run_id}' writes them).", file=sys.stderr)
            try:
                self._queue.append((self.journal.append(op, args), op, args))
            except OSError as exc:
                raise TrackerLockedError(f"{self._lock_message}, and the journal {self.journal.path} cannot be "
                                         f"written ({exc}).") from None
            self._start_flusher()

    def _start_flusher(self) -> None:
        if self._flusher is None and self._failed is None and not self._stop.is_set():
            self._flusher = threading.Thread(target=self._flush, name="autosearch-journal", daemon=True)
            self._flusher.start()

    def _flush(self) -> None:
        """Write the queue to the tracker in order, retrying while the lock is held."""
        written = 0
        while not self._stop.is_set():
            with self._mutex:
                if not self._queue:
                    self._flusher = None
                    if written:
                        print(f"note: the tracker lock freed; {written} journalled writes of run {self.run_id} are "
                              f"recorded in {self.uri}.", file=sys.stderr)
                    return
                n, op, args = self._queue[0]
            try:
                apply(self.tracker, op, args)
            except TrackerLockedError:
                self._stop.wait(RETRY_PAUSE)
                continue
            except Exception as exc:  # noqa: BLE001 - kept, raised by the next write or settle
                with self._mutex:
                    self._failed, self._flusher = exc, None
                return
            with self._mutex:
                with contextlib.suppress(OSError):  # a lost mark only replays an idempotent write
                    self.journal.mark(n)
                self._queue.pop(0)
            written += 1
        with self._mutex:
            self._flusher = None

    def settle(self, timeout: float | None = None) -> None:
        """Wait until every journalled write is in the tracker, up to ``timeout`` seconds (default: the
        tracker's lock wait, plus a second). Raises ``TrackerLockedError`` naming the journal and the fix
        when the lock outlasts it (the flusher stops; resume writes the rest), or the error a write met."""
        wait = timeout if timeout is not None else float(getattr(self.tracker, "lock_timeout", None)
                                                         or lock_timeout()) + 1.0  # a composite has none
        deadline = time.monotonic() + wait
        while True:
            with self._mutex:
                if self._failed is not None:
                    raise self._failed
                if not self._queue:
                    return
                flusher = self._flusher
            if flusher is None or time.monotonic() >= deadline:
                break
            flusher.join(min(0.2, max(deadline - time.monotonic(), 0.01)))
        self.close()
        raise TrackerLockedError(
            f"{self._lock_message or 'the tracker stayed locked'}; {self.queued} trial records of run {self.run_id} "
            f"are kept in {self.journal.path}: run 'autosearch resume {self.run_id}' once the lock frees.")

    def close(self) -> None:
        """Stop writing the queue (a write under way ends on its own: it is idempotent and in order); what
        is left stays journalled for ``replay_journal``. The wrapped tracker is its owner's to close."""
        self._stop.set()

    # -- the tracker contract ----------------------------------------------
    def log_trial(self, trial: TrialRecord) -> None:
        self._submit("log_trial", {"trial": trial.to_dict()})

    def log_epoch(self, trial_id: str, epoch: EpochMetrics) -> None:
        self._submit("log_epoch", {"trial_id": trial_id, "epoch": epoch.to_dict()})

    def finish_trial(self, trial_id: str, state: TrialState, **kwargs: Any) -> None:
        state = TrialState(state)
        if not state.is_finished():
            raise ValueError("finish_trial needs a finished state, got RUNNING")
        for key in ("extra", "hyperparameters"):
            if kwargs.get(key) is not None:
                kwargs[key] = dict(kwargs[key])
        self._submit("finish_trial", {"trial_id": trial_id, "state": state.value, **kwargs})

    def start_run(self, run: RunInfo) -> None:
        self.settle()
        self.tracker.start_run(run)

    def finish_run(self, run_id: str, status: RunStatus, **kwargs: Any) -> None:
        self.settle()
        self.tracker.finish_run(run_id, status, **kwargs)

    def log_artifact(self, run_id: str, name: str, path: Path) -> None:
        self.settle()
        self.tracker.log_artifact(run_id, name, path)

    def set_tags(self, run_id: str, tags: Mapping[str, str], *, remove: Sequence[str] = ()) -> None:
        self.settle()
        self.tracker.set_tags(run_id, tags, remove=remove)

    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        self.settle()
        self.tracker.describe_run(run_id, name=name, note=note)

    def heartbeat(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        self.tracker.heartbeat(run_id, pid=pid, host=host, at=at)
