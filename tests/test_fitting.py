"""Settings fitted to the data: a text space's ``"auto"`` sequence length and vocabulary come from the
training texts, are recorded in the run and shown above its leaderboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from autosearch.spaces import fitting
from autosearch.tracking.sqlite import SQLiteTracker


def test_sequence_length_is_a_high_percentile_of_the_word_counts_rounded_up_to_eight() -> None:
    assert fitting.sequence_length([10] * 99 + [1000]) == 16  # the 95th percentile, floored at 16
    assert fitting.sequence_length(range(1, 401)) == 384  # percentile 380.05 -> 384
    assert fitting.sequence_length([]) == fitting.MIN_LENGTH


def test_sequence_length_is_capped_so_that_an_epoch_stays_affordable() -> None:
    assert fitting.sequence_length([50_000] * 10) == fitting.MAX_LENGTH
    many = fitting.TOKEN_BUDGET // 256  # texts: the budget allows 256 words each
    assert fitting.sequence_length([1000] * many) == 256
    assert fitting.sequence_length([1000] * (10 * many)) == 128  # never below 128


def test_vocabulary_keeps_words_seen_twice_plus_the_padding_and_unknown_ids() -> None:
    assert fitting.vocabulary_size({"a": 5, "b": 2, "c": 1}) == 2 + fitting.RESERVED_IDS
    big = {f"w{i}": 3 for i in range(fitting.MAX_VOCABULARY * 2)}
    assert fitting.vocabulary_size(big) == fitting.MAX_VOCABULARY


def test_fitted_settings_use_the_model_tokenizer_words() -> None:
    fitted = fitting.fit_text_settings({}, ["Hello, world!", "hello again", "world"])
    assert fitting.words("Hello, world!") == ["hello", ",", "world", "!"]
    assert fitted == {"sequence_length": 16, "max_tokens": 2 + fitting.RESERVED_IDS,  # hello, world
                      "preprocessing": 2}


def test_the_preprocessing_version_is_fitted_to_the_current_one_unless_the_pipeline_fixes_it() -> None:
    from autosearch.errors import ConfigError

    decomposed = "cafe\u0301 cafe\u0301"  # version 2 reads one word twice; version 1 the accent apart
    assert fitting.fit_text_settings({}, [decomposed])["preprocessing"] == 2
    assert fitting.fit_text_settings({}, [decomposed])["max_tokens"] == 1 + fitting.RESERVED_IDS
    assert fitting.fit_text_settings({"preprocessing": 1}, [decomposed])["max_tokens"] == 2 + fitting.RESERVED_IDS
    with pytest.raises(ConfigError, match="space.preprocessing = 3 is not a text preprocessing version; use one of 1, 2"):
        fitting.fit_text_settings({"preprocessing": 3}, ["a b"])


@pytest.mark.search
def test_long_and_short_texts_get_different_recorded_sequence_lengths(cli, home: Path) -> None:
    fitted = {}
    for data, rows in (("rotten_tomatoes", "300"), ("speeches", "120")):
        res = cli("search", "--data", data, "--max-rows", rows, "--max-trials", "1", "--epochs", "1", "-q")
        assert res.code == 0, res.err[-2000:]
        run = SQLiteTracker(home / "tracker.db").list_runs()[0]
        assert run.config["space"]["sequence_length"] == run.summary["fitted"]["sequence_length"]
        fitted[data] = run.summary["fitted"]
        header = cli("leaderboard", run.run_id).out.splitlines()[0]
        assert f"sequence_length={fitted[data]['sequence_length']}" in header
    short, long = fitted["rotten_tomatoes"]["sequence_length"], fitted["speeches"]["sequence_length"]
    assert short <= 64 and long >= 1024, fitted  # snippets of ~20 words; speeches of ~700 (95th pct ~2,000)
    assert fitted["rotten_tomatoes"]["max_tokens"] != fitted["speeches"]["max_tokens"]
