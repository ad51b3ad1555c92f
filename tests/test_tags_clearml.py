"""A run's tags, name and note reach its ClearML task (real SDK, offline session), during the search and after."""

from __future__ import annotations

import dataclasses
import json
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tracking"))
from trackerkit import RUN_ID, make_run  # noqa: E402

from autosearch.errors import TrackerError  # noqa: E402
from autosearch.tracking.clearml import ClearMLTracker  # noqa: E402


def session_task(home: Path) -> dict:
    with zipfile.ZipFile(home / "runs" / RUN_ID / "clearml" / "session.zip") as z:
        return json.loads(z.read("task.json"))


@pytest.fixture
def labelled_run(home: Path) -> Path:
    run = dataclasses.replace(make_run(), summary={"run_dir": f"runs/{RUN_ID}"}, name="first", note="n1",
                              tags={"team": "nlp", "draft": ""})
    tracker = ClearMLTracker("autosearch-tests", offline=True)
    tracker.start_run(run)
    tracker.set_tags(RUN_ID, {"stage": "v=1"}, remove=["draft"])  # on the open task
    tracker.close()
    return home


def test_the_labels_given_at_the_start_and_during_the_search_are_in_the_offline_session(labelled_run: Path) -> None:
    task = session_task(labelled_run)
    assert task["name"] == f"text {RUN_ID} · first" and task["comment"] == "n1"
    assert {"team=nlp", "stage=v=1", "autosearch", "rotten_tomatoes"} <= set(task["tags"])
    assert "draft" not in task["tags"]


def test_labels_set_after_the_search_rewrite_the_offline_session_it_uploads(labelled_run: Path) -> None:
    later = ClearMLTracker("autosearch-tests", offline=True)  # what 'autosearch tag' builds: no task open
    later.set_tags(RUN_ID, {"team": "vision", "late": "yes"}, remove=["stage"])
    later.describe_run(RUN_ID, name="second", note="line 1\nline 2")
    task = session_task(labelled_run)
    assert task["name"] == f"text {RUN_ID} · second" and task["comment"] == "line 1\nline 2"
    assert {"team=vision", "late=yes"} <= set(task["tags"]) and not {"team=nlp", "stage=v=1"} & set(task["tags"])
    with zipfile.ZipFile(labelled_run / "runs" / RUN_ID / "clearml" / "session.zip") as z:
        assert z.testzip() is None and "log.jsonl" in z.namelist()  # the rest of the session is intact
    later.describe_run(RUN_ID, name="")
    assert session_task(labelled_run)["name"] == f"text {RUN_ID}"


def test_labelling_a_run_clearml_never_tracked_says_so(home: Path) -> None:
    with pytest.raises(TrackerError, match="was not tracked with --tracker clearml"):
        ClearMLTracker("autosearch-tests", offline=True).set_tags("20260101-000000-zzzz", {"k": "v"})
