"""Where an AutoKeras project keeps trial weights in a run directory, and pruning them.

A KerasTuner checkpoint holds the weights with the optimizer's state (about three
times the model's size); a default text run kept six of them (118 MB).
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from pathlib import Path

PROJECT = "autokeras"  # the AutoKeras project folder inside a run directory

_doomed: queue.Queue[list[Path]] = queue.Queue()  # files to delete in the background (``prune_checkpoints``)
_deleter: threading.Thread | None = None


def checkpoint_path(run_dir: Path, keras_trial_id: str) -> Path:
    """Where KerasTuner keeps a trial's weights (with optimizer state: ~3x the model's size)."""
    return Path(run_dir) / PROJECT / f"trial_{keras_trial_id}" / "checkpoint.weights.h5"


def prune_checkpoints(run_dir: Path, keep: set[str], background: bool = False) -> int:
    """Delete the trial checkpoints of every KerasTuner trial not in ``keep``; returns the bytes freed.

    Which files go is decided here and now. ``background``: a thread deletes them (unlinking a 15-40 MB
    file frees its cached pages: 1-6 ms of kernel time, several times that on a loaded machine); every
    call waits for the deletions before it, and so does the interpreter's exit. A process killed before
    its thread is done leaves files that are not the best; the next prune of the run deletes them.
    """
    wait_for_pruning()
    doomed = [path for path in Path(run_dir, PROJECT).glob("trial_*/checkpoint.weights.h5")
              if path.parent.name.removeprefix("trial_") not in keep]
    freed = sum(_size(path) for path in doomed)
    if background and doomed:
        _start_deleter()
        _doomed.put(doomed)
    else:
        _delete(doomed)
    return freed


def wait_for_pruning() -> None:
    """Return once the files handed to the background deleter are gone."""
    if _deleter is not None and _deleter.is_alive():
        _doomed.join()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _delete(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _work() -> None:
    while True:
        paths = _doomed.get()
        try:
            _delete(paths)
        except OSError:  # a read-only run directory, say: what is left, the next prune or `autosearch gc` removes
            pass
        finally:
            _doomed.task_done()


def _start_deleter() -> None:
    global _deleter
    if _deleter is None or not _deleter.is_alive():
        _deleter = threading.Thread(target=_work, name="autosearch-prune", daemon=True)
        _deleter.start()


def _after_fork() -> None:
    """A forked child has none of its parent's threads, and maybe a queue its parent's deleter was emptying."""
    global _deleter, _doomed
    _deleter, _doomed = None, queue.Queue()


atexit.register(wait_for_pruning)
os.register_at_fork(after_in_child=_after_fork)
