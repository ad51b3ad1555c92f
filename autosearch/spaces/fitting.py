"""Settings of the text spaces fitted to the training texts (light on import: TensorFlow loads only when
``fit_text_settings`` tokenizes).

A space declares a setting ``"auto"`` and names ``fit_text_settings`` as its fitter; the search calls
it with the pipeline's values and the training split's texts before anything is built. It tokenizes
as the model's ``WordTokenizer`` of the run's preprocessing version does (``autosearch.spaces.words_tf``;
``words`` is version 1's Python tokenizer), so the numbers describe what the model will see:

- ``sequence_length``: the 95th percentile of the texts' word counts, rounded up to a multiple of 8,
  at least 16 and at most 2,048 words; with many texts, at most ``TOKEN_BUDGET`` / their number
  (but never below 128), so that one epoch stays affordable on a CPU;
- ``max_tokens``: the words seen at least twice, plus the padding and unknown-word ids, at most 40,000;
- ``preprocessing``: the version of the text preprocessing (``words_tf.CURRENT`` unless the pipeline fixes
  one): recorded in the run, so a trial reproduces with the tokenizer it was trained with.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from autosearch.spaces.words_v1 import words  # noqa: F401 - version 1's split, named here as before


LENGTH_PERCENTILE = 95
MIN_LENGTH, MAX_LENGTH = 16, 2048
TOKEN_BUDGET = 16_000_000  # word positions per epoch the length cap allows (training texts x sequence_length)
MIN_COUNT = 2  # a word seen once in training cannot be learned from
MAX_VOCABULARY = 40_000
RESERVED_IDS = 2  # 0 pads, 1 is any unknown word


def sequence_length(lengths: Iterable[int]) -> int:
    """Words kept per text for texts of these word counts (see the module doc)."""
    lengths = np.asarray(list(lengths), dtype="float64")
    if lengths.size == 0:
        return MIN_LENGTH
    cap = min(MAX_LENGTH, max(128, TOKEN_BUDGET // lengths.size))
    wanted = 8 * math.ceil(float(np.percentile(lengths, LENGTH_PERCENTILE)) / 8)
    return int(min(cap, max(MIN_LENGTH, wanted)))


def vocabulary_size(counts: Mapping[str, int]) -> int:
    """Token ids for a vocabulary of these word counts: the words seen ``MIN_COUNT`` times, plus reserved ids."""
    kept = sum(1 for c in counts.values() if c >= MIN_COUNT)
    return int(min(MAX_VOCABULARY, kept + RESERVED_IDS))


def fit_text_settings(params: Mapping[str, Any], train_texts: Any) -> dict[str, int]:
    """``sequence_length``, ``max_tokens`` and ``preprocessing`` fitted to ``train_texts`` (a numpy unicode
    array or any sequence of strings); the caller keeps the ones the pipeline fixed."""
    from autosearch.spaces import words_tf

    fixed = params.get("preprocessing", "auto")
    version = words_tf.CURRENT if fixed == "auto" else words_tf.check_version(fixed)
    counts, lengths = words_tf.count_words(np.asarray(train_texts, dtype=str).ravel().tolist(), version)
    return {"sequence_length": sequence_length(lengths), "max_tokens": vocabulary_size(counts),
            "preprocessing": version}
