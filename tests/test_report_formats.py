"""autosearch.views.formats: one style per kind of number, shared by the terminal and the HTML report."""

import math
import subprocess
import sys

import pytest

from autosearch.views import formats as f


@pytest.mark.parametrize("missing", [None, math.nan, float("nan")])
def test_every_formatter_shows_a_missing_value_as_a_dash(missing):
    for fn in (f.decimal, f.percent, f.score, f.integer, f.count, f.size, f.size_mb, f.duration, f.budget,
               f.timestamp, f.hyperparameter, f.value):
        assert fn(missing) == f.MISSING


def test_pandas_na_is_missing_without_formats_importing_pandas():
    pd = pytest.importorskip("pandas")
    assert f.is_missing(pd.NA) and f.is_missing(pd.NaT) and f.score(pd.NA) == "-"
    code = "import sys, autosearch.views.formats; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_scores_keep_four_decimals_and_accuracy_like_metrics_read_as_percentages():
    assert f.score(0.9333333333333333) == "0.9333"
    assert f.score(0.10666666666666667, "val_loss") == "0.1067"
    assert f.score(0.9333333333333333, "accuracy") == "93.33%"
    assert f.score(0.9466666666666667, "val_accuracy") == "94.67%"
    assert f.score(0.5, "binary_accuracy") == "50.00%" and f.score(0.871, "auc") == "87.10%"
    assert f.score(12.3456789, "mean_absolute_error") == "12.3457"
    assert not f.is_percent_metric("mean_absolute_percentage_error") and not f.is_percent_metric(None)


def test_a_tiny_nonzero_decimal_is_not_shown_as_zero():
    assert f.decimal(0.0) == "0.0000"
    assert f.decimal(3.2e-07) == "3.20e-07"
    assert f.decimal(math.inf) == "∞"


def test_integers_stay_integers_whatever_their_type():
    assert f.integer(128.0) == "128" and f.integer(128) == "128" and f.integer(2.5) == "2.5"
    assert f.hyperparameter(128.0) == "128" and f.hyperparameter(0.001) == "0.001"
    assert f.hyperparameter(1e-05) == "1e-05" and f.hyperparameter(True) == "True"
    assert f.hyperparameter("ngram") == "ngram" and f.value(0.123456789) == "0.1235"


def test_parameter_counts_are_abbreviated():
    assert [f.count(n) for n in (950, 67274, 999_960, 1_234_567, 3.4e9)] == ["950", "67.3k", "1.0M", "1.2M", "3.4B"]


def test_sizes_carry_units():
    assert f.size(512) == "512 B"
    assert f.size(24_700) == "24.1 KB"
    assert f.size(25276071936) == "23.54 GB"
    assert f.size_mb(3.25) == "3.2 MB" and f.size_mb(2048) == "2.00 GB"


def test_durations_have_one_style():
    assert [f.duration(s) for s in (0.42, 3.7, 9.96, 42.4, 125, 3599.6, 3720, 90000)] == [
        "0.4 s", "3.7 s", "10 s", "42 s", "2 min 05 s", "1 h 00 min", "1 h 02 min", "25 h 00 min"]


def test_budgets_read_as_the_pipeline_wrote_them():
    from autosearch.config import parse_duration

    assert f.budget(720, "12m") == "12m"
    assert [f.budget(s) for s in (720, 5400, 90, 3661)] == ["12m", "1h30m", "1m30s", "1h1m1s"]
    for s in (720, 5400, 90, 3661):
        assert parse_duration(f.budget(s)) == s  # the notation round-trips through the pipeline's parser


def test_timestamps_are_utc_to_the_minute():
    assert f.timestamp(0) == "1970-01-01 00:00 UTC"
