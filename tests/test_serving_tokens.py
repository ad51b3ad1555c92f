"""One text preprocessing: the tokenizer training and the Python predictor run and the one in a SavedModel's
graph give the same token ids on the edge-case corpus, and an export whose graph disagrees is refused.
No search: a tokenizer fitted by hand, and a small Keras model over it."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest

from autosearch.export.parity import text_edge_cases

TRAIN = ["Café déjà vu, naïve Zoë!", "A great film; the best of 2024.", "ΟΔΟΣ straße İstanbul", "日本語 のテキスト",
         "don't stop_me now", "non\u00a0breaking space", "emoji 👍🏽 fun", "a b c d e f g", "café again and again"]


def tokenizer(version: int, length: int = 12):
    from autosearch.spaces.blocks import WordTokenizer

    tok = WordTokenizer(max_tokens=200, sequence_length=length, version=version)
    tok.fit(np.array(TRAIN * 2))
    return tok


def graph_ids(tok, texts: list[str]) -> np.ndarray:
    """The ids the SavedModel's graph computes (``serving_inputs.TextInputs``), raw texts, no NFC."""
    import tensorflow as tf

    from autosearch.export.serving_inputs import TextInputs

    prepare = TextInputs([tok])
    fn = tf.function(lambda t: prepare({"text": t}), input_signature=[tf.TensorSpec([None], tf.string)])
    return fn(tf.constant(texts)).numpy()


@pytest.mark.parametrize("version", [1, 2])
def test_the_graph_tokenizes_the_edge_cases_as_training_does(version: int) -> None:
    tok = tokenizer(version)
    texts = text_edge_cases(TRAIN) + TRAIN + [unicodedata.normalize("NFD", t) for t in TRAIN]
    assert np.array_equal(graph_ids(tok, texts), tok.transform(np.array(texts)))


def test_version_2_reads_an_accented_word_the_same_composed_or_decomposed() -> None:
    composed, decomposed = "café", unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    new, old = tokenizer(2), tokenizer(1)
    ids = graph_ids(new, [composed, decomposed])
    assert ids[0][0] == ids[1][0] == new.vocab["café"] and ids[1][1] == 0
    # version 1 splits the mark off: "cafe" and the accent, two unknown words
    assert list(old.transform(np.array([decomposed]))[0][:3]) == [1, 1, 0] and "café" in old.vocab


def test_a_saved_tokenizer_without_a_version_is_version_1() -> None:
    from autosearch.spaces.blocks import WordTokenizer

    config = tokenizer(2).get_config()
    del config["version"]
    assert WordTokenizer.from_config(config).version == 1 and tokenizer(2).get_config()["version"] == 2


def test_an_export_whose_raw_signature_disagrees_with_training_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    """Python 3.11 knows Unicode 14, RE2 in TensorFlow 15: a letter added in 15 splits a version-1 word in
    Python and not in the graph, so the ids differ and the bundle is not written."""
    import keras
    from autokeras import pipeline as ak_pipeline
    from autokeras.preprocessors import CastToString, OneHotEncoder

    from autosearch.errors import ExportError
    from autosearch.export.bundle import write_bundle

    tok = tokenizer(1)
    ids = keras.Input((tok.sequence_length,), dtype="int32")
    vectors = keras.layers.Embedding(200, 4, embeddings_initializer=keras.initializers.RandomNormal(seed=1))(ids)
    model = keras.Model([ids], keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(vectors)))
    pipeline = ak_pipeline.Pipeline(inputs=[[CastToString(), tok]], outputs=[[OneHotEncoder(["no", "yes"])]])
    manifest = {"kind": "text", "problem": "classification", "class_names": ["no", "yes"],
                "input": {"kind": "text", "text_column": "text"}}
    out = tmp_path / "bundle"
    assert write_bundle(model, pipeline, tmp_path / "fine", manifest, np.array(TRAIN)).is_dir()  # agrees
    with pytest.raises(ExportError, match="raw-input signature does not reproduce the training preprocessing"):
        write_bundle(model, pipeline, out, manifest, np.array(["a\U00011f04b great film"] + TRAIN))
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["fine"]
