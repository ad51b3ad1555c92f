"""The one data check (resume, export, reproduce, a joining worker): same rows, or one line naming the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autosearch.data.dataset import Dataset
from autosearch.data.split import check_same_data, split_dataset
from autosearch.errors import DataError


def _split(values: list[float]):
    frame = pd.DataFrame({"a": values})
    ds = Dataset("table.csv", "structured", "classification", frame, np.array([0, 1] * (len(values) // 2)),
                 ("no", "yes"), ("a",))
    return split_dataset(ds, 0.2, 0.2, seed=0)


def test_the_same_rows_pass_the_check() -> None:
    split = _split([float(i) for i in range(20)])
    check_same_data(split, "run-1", _split([float(i) for i in range(20)]).fingerprint, "restore it")


def test_changed_rows_are_refused_naming_the_run_both_fingerprints_and_the_fix() -> None:
    before = _split([float(i) for i in range(20)])
    after = _split([float(i) for i in range(19)] + [99.0])
    with pytest.raises(DataError) as info:
        check_same_data(after, "run-1", before.fingerprint, "restore it to export this run")
    assert str(info.value) == (f"the data of run run-1 changed since it was recorded (fingerprint now "
                               f"{after.fingerprint[:12]}…, recorded {before.fingerprint[:12]}…); "
                               "restore it to export this run.")


def test_a_run_that_recorded_no_fingerprint_is_refused_too() -> None:
    with pytest.raises(DataError, match=r"recorded none\); start a new search\.$"):
        check_same_data(_split([float(i) for i in range(20)]), "run-1", None, "start a new search")
