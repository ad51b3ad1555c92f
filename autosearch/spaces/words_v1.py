"""Version 1 of the text preprocessing's word split, in Python (light: no TensorFlow).

Trials made before the preprocessing was versioned were trained with it, and reproduce with it;
``autosearch.spaces.words_tf`` spells the same classes in RE2 for their SavedModel.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[\w']+|[^\w\s]")


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, as version 1 of the model's tokenizer splits them."""
    return _WORD.findall(text.lower())
