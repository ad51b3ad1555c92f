"""A run's tags, name and note on its ClearML task (``ClearMLTracker.set_tags``/``describe_run``).

On the task: each tag ``key=value`` is a ClearML tag (``key`` alone for an empty value), beside the tags
autosearch sets itself (task, data set, ``fingerprint:``, ``status:``); the name follows the run id in the
task name (``<pipeline> <run id> · <name>``); the note is the task's comment.

While the search runs, the open task is changed. Later (``autosearch tag``), the run's ClearML record
(``<home>/runs/<run id>/clearml/clearml.json``) says where the task is: an offline session not yet uploaded
has its ``task.json`` rewritten in ``session.zip`` (the upload then carries the labels); an online or
uploaded task is changed on the server, under the same deadlines as every other call.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from autosearch.environment import autosearch_home
from autosearch.errors import TrackerError
from autosearch.tracking.clearml_sdk import abandon, bound_sdk, call_deadline, configured_server, server_problem, within

NAME_SEP = " · "
RECORD = "clearml.json"


def tag_text(key: str, value: str) -> str:
    return f"{key}={value}" if value else key


def merged_tags(task_tags: Iterable[str], tags: Mapping[str, str], remove: Iterable[str] = ()) -> list[str]:
    """The task's tags with ``remove`` and the keys of ``tags`` dropped, then ``tags`` added."""
    gone = {*remove, *tags}
    kept = [t for t in task_tags if t not in gone and t.partition("=")[0] not in gone]
    return kept + [tag_text(k, v) for k, v in tags.items()]


def task_name(current: str, name: str) -> str:
    """``current`` with its run name replaced by ``name`` (or dropped, for "")."""
    base = current.split(NAME_SEP, 1)[0]
    return f"{base}{NAME_SEP}{name}" if name else base


def labelled(task_data: dict[str, Any], tags: Mapping[str, str] | None = None, remove: Iterable[str] = (),
             name: str | None = None, note: str | None = None) -> dict[str, Any]:
    """A task's exported data (``task.json``) with the labels changed as the live task would be."""
    out = dict(task_data)
    if tags is not None:
        out["tags"] = merged_tags(out.get("tags") or [], tags, remove)
    if name is not None:
        out["name"] = task_name(out.get("name") or "", name)
    if note is not None:
        out["comment"] = note
    return out


def label_live(task: Any, tags: Mapping[str, str] | None = None, remove: Iterable[str] = (),
               name: str | None = None, note: str | None = None) -> None:
    """Change an open ``clearml.Task``'s labels (each SDK call only when its label changes)."""
    if tags is not None:
        task.set_tags(merged_tags(task.get_tags() or [], tags, remove))
    if name is not None:
        task.set_name(task_name(task.name or "", name))
    if note is not None:
        task.set_comment(note)


def _rewrite_session(session: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Replace ``task.json`` in the offline session zip (written aside, then moved over it)."""
    aside = session.with_name(session.name + ".labelling")
    with zipfile.ZipFile(session) as old, zipfile.ZipFile(aside, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "task.json":
                data = json.dumps(change(json.loads(data))).encode()
            new.writestr(item, data)
    os.replace(aside, session)


def label_closed_task(run_id: str, timeout: float, **labels: Any) -> None:
    """Label the ClearML task of a run whose search has ended (see the module docstring)."""
    record_path = autosearch_home() / "runs" / run_id / "clearml" / RECORD
    if not record_path.is_file():
        raise TrackerError(f"run {run_id} has no ClearML record ({record_path}); it was not tracked with "
                           "--tracker clearml, so only the local tracker holds its labels.")
    record = json.loads(record_path.read_text())
    session = record_path.parent / "session.zip"
    if record.get("offline") and not record.get("uploaded_task_id"):
        if not session.is_file():
            raise TrackerError(f"run {run_id}'s offline ClearML session {session} is missing; only the local "
                               "tracker holds its labels.")
        _rewrite_session(session, lambda data: labelled(data, **labels))
        return
    server = configured_server()
    bound_sdk(timeout, record_path.parent)
    problem = server_problem(server, timeout) if server else "is not configured"
    if problem:
        raise TrackerError(f"ClearML server {server or ''} {problem}; the labels are in the local tracker only "
                           f"(check clearml.conf or CLEARML_API_HOST, then tag run {run_id} again).")
    from clearml import Task

    task_id, seconds = record.get("uploaded_task_id") or record["task_id"], call_deadline(timeout)
    try:
        within(seconds, lambda: label_live(Task.get_task(task_id=task_id), **labels))
    except TimeoutError:
        abandon(None)
        raise TrackerError(f"ClearML server {server} did not answer within {seconds:.0f}s; the labels are in "
                           "the local tracker only.") from None
