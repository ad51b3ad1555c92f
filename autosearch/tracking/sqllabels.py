"""A run's tags, name and note in SQL (``Tracker.set_tags``, ``Tracker.describe_run``).

Tags are one JSON object in ``runs.tags`` (schema 3), changed by a read-modify-write under the run's row
lock, as ``log_artifact`` changes the summary; name and note are plain columns ("" stored as NULL).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

from autosearch.tracking.records import check_name, check_note, check_tags
from autosearch.tracking.sqlrows import Tx, dumps


class LabelWrites:
    """The label writes of ``sql.SQLTracker`` (which provides ``_write``, ``_run_row`` and ``dialect``)."""

    dialect: Any
    _write: Callable[..., Any]
    _run_row: Callable[..., Any]

    def set_tags(self, run_id: str, tags: Mapping[str, str], *, remove: Sequence[str] = ()) -> None:
        tags, remove = check_tags(tags, remove), list(remove)

        def write(tx: Tx) -> None:
            stored = json.loads(self._run_row(tx, run_id, self.dialect.for_update, "tags")["tags"])
            merged = {**{k: v for k, v in stored.items() if k not in remove}, **tags}
            tx.run("UPDATE runs SET tags=? WHERE run_id=?", (dumps(merged), run_id))

        self._write(write)

    def describe_run(self, run_id: str, *, name: str | None = None, note: str | None = None) -> None:
        name, note = check_name(name), check_note(note)

        def write(tx: Tx) -> None:
            self._run_row(tx, run_id, self.dialect.for_update, "run_id")
            if name is not None:
                tx.run("UPDATE runs SET name=? WHERE run_id=?", (name or None, run_id))
            if note is not None:
                tx.run("UPDATE runs SET note=? WHERE run_id=?", (note or None, run_id))

        self._write(write)
