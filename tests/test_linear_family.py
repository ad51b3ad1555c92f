"""The ``linear`` text family: TF-IDF rows in Keras, trained, exported and reloaded like any trial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PIPELINES

from autosearch.config import load_pipeline
from autosearch.data import prepare_data
from autosearch.tracking import TrialKind
from autosearch.tracking.sqlite import SQLiteTracker


def dense_rows(tfidf, ids: np.ndarray) -> np.ndarray:
    """Each row's TF-IDF weights as one dense row of every feature: ``SparseLinear`` with the identity kernel."""
    from autosearch.spaces.text_linear import SparseLinear

    grams, weights = tfidf(ids)
    linear = SparseLinear(tfidf.features, tfidf.features)
    linear.build(grams.shape)
    linear.kernel.assign(np.eye(tfidf.features, dtype="float32"))
    return np.asarray(linear(grams, weights))


def test_the_linear_familys_features_are_scikit_learns_binary_tfidf_rows() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from autosearch.spaces.text_linear import NgramTfidf, word_and_bigram_ids

    vocab, buckets = 12, 40
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, size=(30, 9)).astype("int32")
    ids[:, 6:] = 0  # padding
    ids[3, 2:] = 0
    ids[4, :] = 0  # an empty text
    tfidf = NgramTfidf(vocab, buckets)
    tfidf.adapt(ids)
    got = dense_rows(tfidf, ids)

    grams = np.asarray(word_and_bigram_ids(ids, vocab, buckets))
    docs = [[str(g) for g in row if g] for row in grams]
    sk = TfidfVectorizer(analyzer=lambda doc: doc, binary=True, norm="l2", smooth_idf=True).fit(docs)
    want = np.zeros_like(got)
    want[:, [int(t) for t in sk.get_feature_names_out()]] = sk.transform(docs).toarray()
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.allclose(np.linalg.norm(got[[0, 3]], axis=1), 1.0) and not got[4].any()


def test_binary_weighting_weighs_every_ngram_present_once_and_adapt_leaves_it_so() -> None:
    from autosearch.spaces.text_linear import NgramTfidf

    ids = np.array([[2, 3, 2, 3, 0], [4, 0, 0, 0, 0]], dtype="int32")
    tfidf = NgramTfidf(6, 10, weighting="binary")
    tfidf.adapt(ids)
    got = dense_rows(tfidf, ids)
    # row 0: words 2, 3 and the bigrams (2,3), (3,2): four n-grams, (2,3) seen twice but counted once
    assert np.count_nonzero(got[0]) == 4 and np.allclose(got[0][got[0] > 0], 0.5)
    assert np.count_nonzero(got[1]) == 1 and got[1, 4] == pytest.approx(1.0)


@pytest.mark.search
def test_a_search_the_linear_family_wins_exports_it_and_every_format_predicts_alike(tmp_path: Path) -> None:
    import autosearch
    from autosearch.workflows.export import export_run
    from autosearch.workflows.search import run_search

    home = tmp_path / "home"
    cfg = load_pipeline(PIPELINES / "text.toml", {"data.max_rows": 600, "search.max_trials": 1, "search.epochs": 3,
                                                  "space.family": ["linear"], "search.baselines": False,
                                                  "search.ensemble": "off"})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)
    (trial,) = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH]
    assert trial.trial_id == result.best_trial_id and trial.hyperparameters["text_block/family"] == "linear"
    assert trial.hyperparameters["text_block/linear_weighting"] == "idf"
    for unused in ("dense_units", "embedding_dim", "dropout"):  # inactive: the model stays linear
        assert f"text_block/{unused}" not in trial.hyperparameters

    h5 = export_run(tracker, result.run_id, out=tmp_path / "h5", force_h5=True)
    texts = prepare_data(cfg).x("validation").tolist()
    searched = pd.read_csv(result.run_dir / "predictions" / "validation.csv")[["p_fresh", "p_rotten"]].to_numpy()
    for bundle, fmt in ((result.bundle, "keras"), (result.bundle, "saved_model"), (h5, "h5")):
        predictor = autosearch.load(bundle, format=fmt)
        np.testing.assert_allclose(predictor.predict_proba(texts), searched, atol=1e-5, rtol=0, err_msg=fmt)
    model = autosearch.load(result.bundle, format="keras")._model
    (idf,) = [layer.idf for layer in model.layers if type(layer).__name__ == "NgramTfidf"]
    assert np.ptp(np.asarray(idf)) > 1.0, "the document frequencies were fitted to the training texts and saved"
    (linear,) = [layer for layer in model.layers if type(layer).__name__ == "SparseLinear"]
    assert linear.units == 1  # two classes: one logit, and the head's dense layer on it keeps the model linear
    assert trial.objective > 0.55  # learned something: the majority class is 58% of 600 reviews


@pytest.mark.search
def test_a_structured_search_with_no_hidden_layers_trains_a_linear_model_on_the_standardised_features(
        tmp_path: Path) -> None:
    from autosearch.workflows.search import run_search

    home = tmp_path / "home"
    cfg = load_pipeline(PIPELINES / "structured.toml", {"data.max_rows": 200, "search.max_trials": 1,
                                                        "search.epochs": 2, "space.layers": [0],
                                                        "search.baselines": False, "search.ensemble": "off"})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)
    (trial,) = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.SEARCH]
    assert trial.hyperparameters["table_block/layers"] == 0
    assert "table_block/units" not in trial.hyperparameters and "table_block/dropout" not in trial.hyperparameters
    assert trial.trainable_params == 30 + 1  # the head's weights on breast cancer's 30 features, and its bias
