"""Data sets, splits and fingerprints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

from autosearch.config import load_pipeline
from autosearch.data import fingerprint, load_dataset, split_dataset
from autosearch.data.csvfile import iter_csv_file, read_csv_file
from autosearch.errors import DataError


def cfg(task: str, **overrides):
    return load_pipeline(PIPELINES / f"{task}.toml", overrides)


def test_embedded_text_is_the_rotten_tomatoes_fresh_rotten_corpus() -> None:
    ds = load_dataset(cfg("text"))
    assert len(ds) == 12808
    assert ds.class_names == ("fresh", "rotten")
    assert ds.x.dtype.kind == "U"  # AutoKeras' TextInput rejects object arrays
    assert np.bincount(ds.y).tolist() == [7403, 5405]


@pytest.mark.parametrize("task, rows, classes", [
    ("image", 1797, 10), ("structured", 569, 2), ("structured_regression", 442, None)])
def test_embedded_sklearn_sets(task: str, rows: int, classes: int | None) -> None:
    ds = load_dataset(cfg(task))
    assert len(ds) == rows
    assert (len(ds.class_names) if ds.class_names else None) == classes


def test_split_is_disjoint_stratified_and_sized() -> None:
    ds = load_dataset(cfg("text"))
    split = split_dataset(ds, 0.1, 0.2, seed=0)
    parts = [set(split.indices[p]) for p in ("train", "validation", "test")]
    assert sum(map(len, parts)) == len(ds) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split.indices["test"]) == round(0.2 * len(ds))
    rates = [np.mean(split.y(p)) for p in ("train", "validation", "test")]
    assert max(rates) - min(rates) < 0.01


def test_majority_baseline_is_recorded_for_validation_and_test() -> None:
    split = split_dataset(load_dataset(cfg("text")), 0.1, 0.2, seed=0)
    base = split.summary()["baseline"]
    assert base["prediction"] == "fresh"
    assert base["test"] == pytest.approx(7403 / 12808, abs=0.005)


def test_fingerprint_is_equal_across_processes() -> None:
    code = ("from autosearch.config import load_pipeline; from autosearch.data import prepare_data;"
            "print(prepare_data(load_pipeline('structured')).fingerprint)")
    here = split_dataset(load_dataset(cfg("structured")), 0.1, 0.2, seed=0).fingerprint
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here


def test_fingerprint_changes_when_one_value_changes_or_the_split_changes() -> None:
    ds = load_dataset(cfg("structured"))
    split = split_dataset(ds, 0.1, 0.2, seed=0)
    changed_x = ds.x.copy()
    changed_x.iloc[5, 3] += 1e-3
    from dataclasses import replace
    assert fingerprint(replace(ds, x=changed_x), split.indices) != split.fingerprint
    assert split_dataset(ds, 0.1, 0.2, seed=1).fingerprint != split.fingerprint
    texts = load_dataset(cfg("text", **{"data.max_rows": 200}))
    tsplit = split_dataset(texts, 0.1, 0.2, seed=0)
    edited = texts.x.copy()
    edited[0] = edited[0] + "!"
    assert fingerprint(replace(texts, x=edited), tsplit.indices) != tsplit.fingerprint


def test_max_rows_takes_a_seeded_sample() -> None:
    a = load_dataset(cfg("text", **{"data.max_rows": 300}))
    b = load_dataset(cfg("text", **{"data.max_rows": 300}))
    assert len(a) == 300 and (a.x == b.x).all()


# -- user data -------------------------------------------------------------------

def write_csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def reviews(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"review": [f"review number {i} {'good' if i % 2 else 'bad'}" for i in range(n)],
                         "label": ["pos" if i % 2 else "neg" for i in range(n)]})


def test_text_csv_with_named_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path, reviews())
    ds = load_dataset(cfg("text", **{"data.dataset": str(path), "data.text_column": "review"}))
    assert ds.class_names == ("neg", "pos") and len(ds) == 60
    assert ds.source["sha256"] and ds.source["text_column"] == "review"


@pytest.mark.parametrize("frame, overrides, words", [
    (reviews(), {}, ["no text column", "--text-column"]),
    (reviews(), {"data.text_column": "body"}, ["no column 'body'", "review, label"]),
    (reviews().assign(label="pos"), {"data.text_column": "review"}, ["single class 'pos'"]),
    (reviews(12), {"data.text_column": "review"}, ["too few rows (12)"]),
    (reviews().assign(review=lambda f: f.review.where(f.index != 3, "  ")), {"data.text_column": "review"},
     ["1 empty text in", "rows [4]"]),
])
def test_bad_text_data_says_what_and_how_to_fix(tmp_path: Path, frame, overrides, words) -> None:
    path = write_csv(tmp_path, frame)
    with pytest.raises(DataError) as info:
        load_dataset_and_split(cfg("text", **{"data.dataset": str(path), **overrides}))
    for word in words:
        assert word in str(info.value)


def load_dataset_and_split(c):
    ds = load_dataset(c)
    return split_dataset(ds, c.split.validation, c.split.test, c.search.seed)


def test_split_fractions_that_cannot_be_stratified_are_a_data_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, reviews())
    with pytest.raises(DataError, match="split"):
        load_dataset_and_split(cfg("text", **{"data.dataset": str(path), "data.text_column": "review",
                                              "split.validation": 0.3, "split.test": 0.5, "data.max_rows": 20}))


def test_non_numeric_regression_target_is_rejected(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(50), "label": ["1.5"] * 49 + ["high"]})
    path = write_csv(tmp_path, frame)
    with pytest.raises(DataError, match=r"non-numeric .*'high'"):
        load_dataset(cfg("structured_regression", **{"data.dataset": str(path)}))


def test_structured_csv_uses_all_other_columns_as_features(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50) % 3, "y": np.arange(50) * 2.0})
    path = write_csv(tmp_path, frame)
    ds = load_dataset(cfg("structured_regression", **{"data.dataset": str(path), "data.label_column": "y"}))
    assert ds.columns == ("a", "b") and ds.problem == "regression"


def test_missing_file_and_wrong_kind_of_embedded_set() -> None:
    with pytest.raises(DataError, match="not found.*rotten_tomatoes"):
        load_dataset(cfg("text", **{"data.dataset": "missing.csv"}))
    with pytest.raises(DataError, match="needs text data"):
        load_dataset(cfg("text", **{"data.dataset": "digits"}))


def test_image_folder_with_one_sub_folder_per_class(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    ds = load_dataset(cfg("image", **{"data.dataset": str(tmp_path), "data.image_size": [16, 12]}))
    assert ds.x.shape == (6, 16, 12, 3) and ds.class_names == ("cat", "dog")


# -- reading files: delimiters, encodings, compression ------------------------------

@pytest.mark.parametrize("sep", [",", "\t", ";", "|"])
def test_the_delimiter_is_detected(tmp_path: Path, sep: str) -> None:
    frame = reviews().assign(review=lambda f: f.review + ", really; truly | so")  # other delimiters inside texts
    path = tmp_path / "data.txt"
    frame.to_csv(path, sep=sep, index=False)
    ds = load_dataset(cfg("text", **{"data.dataset": str(path), "data.text_column": "review"}))
    assert len(ds) == 60 and ds.x[0] == frame.review[0] and ds.source["delimiter"] == sep


def test_data_delimiter_overrides_the_detection(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("review;label,extra\na;pos,1\nb;neg,2\n")
    frame = read_csv_file(path, delimiter=";")
    assert list(frame.columns) == ["review", "label,extra"]


@pytest.mark.parametrize("encoding, setting", [("utf-8-sig", None), ("utf-16", None), ("latin-1", "latin-1"),
                                               ("cp1252", "cp1252")])
def test_encodings_read_with_a_bom_or_when_named(tmp_path: Path, encoding: str, setting: str | None) -> None:
    path = tmp_path / "data.csv"
    reviews().assign(review=lambda f: "café " + f.review).to_csv(path, index=False, encoding=encoding)
    ds = load_dataset(cfg("text", **{"data.dataset": str(path), "data.text_column": "review",
                                     "data.encoding": setting}))
    assert ds.x[0].startswith("café ") and ds.source["text_column"] == "review"


def test_a_latin1_file_is_refused_with_the_byte_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("review,label\nok,pos\ncafé,neg\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_csv_file(path)
    message = str(info.value)
    assert "byte 0xe9 on line 3" in message and 'data.encoding = "latin-1"' in message and "\n" not in message


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz"])
def test_compressed_csv_files_are_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    reviews().to_csv(path, index=False)  # pandas compresses by suffix
    assert read_csv_file(path).shape == (60, 2)


def test_predict_reads_a_file_in_chunks_as_training_reads_it_whole(tmp_path: Path) -> None:
    """One reader: the chunks predict reads are the rows training reads, indexed by data row."""
    path = tmp_path / "data.csv.gz"
    reviews(1000).assign(review=lambda f: "«" + f.review + "», " + f.label).to_csv(path, sep=";", index=False,
                                                                                 encoding="utf-8-sig")
    whole = read_csv_file(path)
    chunks = list(iter_csv_file(path, chunk_rows=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100] and [c.index[0] for c in chunks] == [0, 300, 600, 900]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    assert whole.attrs == chunks[-1].attrs == {"delimiter": ";", "encoding": "utf-8"}


def test_a_large_file_is_read_in_chunks_with_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write("text,label\n")
        fh.writelines(f"a review of film number {i} that goes on for a while,{'pos' if i % 2 else 'neg'}\n"
                      for i in range(300_000))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows = sum(len(chunk) for chunk in iter_csv_file(path, chunk_rows=2000))
        chunked = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 300_000 and size > 15e6
    assert chunked < size / 10, f"peak {chunked / 1e6:.1f} MB reading a {size / 1e6:.1f} MB file in chunks"


def test_an_undecodable_byte_far_into_a_file_is_named_with_its_line_and_offset(tmp_path: Path) -> None:
    """The file is decoded a block at a time: positions still count from the start of the file, and a
    character cut by a block's end decodes whole."""
    body = "review,label\n" + "".join(f"film {i} é,pos\n" for i in range(20_000))
    path = tmp_path / "data.csv"
    path.write_bytes(body.encode() + b"caf\xe9,neg\n")
    with pytest.raises(DataError, match=rf"byte 0xe9 on line 20002 \(file offset {len(body.encode()) + 3}\)"):
        read_csv_file(path)
    path.write_bytes(body.encode())
    assert read_csv_file(path)["review"].str.endswith("é").all()


def test_a_column_of_categories_with_some_numbers_stays_categorical(tmp_path: Path) -> None:
    """Only a few stray texts among numbers are refused; a column of codes, some of them numeric, is a category."""
    frame = pd.DataFrame({"code": ["A1", "12", "B7", "30"] * 15, "label": ["yes", "no"] * 30})
    path = write_csv(tmp_path, frame)
    ds = load_dataset(cfg("structured", **{"data.dataset": str(path)}))
    assert not pd.api.types.is_numeric_dtype(ds.x["code"]) and len(ds) == len(frame)


# -- missing values in tables -------------------------------------------------------

def gappy_table(n: int = 300) -> pd.DataFrame:
    """A table whose label depends on a numeric and a categorical column, with gaps in every feature."""
    rng = np.random.default_rng(0)
    size = rng.normal(0, 1, n)
    city = rng.choice(["oslo", "rome", "lima"], n)
    label = np.where(size + (city == "rome") > 0.3, "big", "small")
    frame = pd.DataFrame({"size": size.round(3), "rooms": rng.integers(1, 6, n), "city": city, "label": label})
    for column, every in (("size", 9), ("rooms", 7), ("city", 11)):
        frame.loc[frame.index % every == 3, column] = None
    return frame


def test_gaps_are_filled_with_training_split_median_and_most_frequent(tmp_path: Path) -> None:
    path = write_csv(tmp_path, gappy_table())
    c = cfg("structured", **{"data.dataset": str(path)})
    split = load_dataset_and_split(c)
    train = split.raw_x("train")
    assert split.fill["size"] == pytest.approx(train["size"].median())
    assert split.fill["rooms"] == train["rooms"].median()
    assert split.fill["city"] == train["city"].mode().iloc[0]
    for part in ("train", "validation", "test"):
        assert split.raw_x(part).isna().any().any() and not split.x(part).isna().any().any()
    summary = split.summary()["missing_values"]
    assert summary["fill"] == split.fill and set(summary["counts"]) == {"size", "rooms", "city"}
    assert sum(summary["counts"]["size"].values()) == int(gappy_table()["size"].isna().sum())
    from autosearch.export.manifest import input_schema
    assert input_schema(split)["fill"] == split.fill


def test_baselines_score_a_table_with_gaps(tmp_path: Path) -> None:
    from autosearch.tuning.baselines import run_baselines

    split = load_dataset_and_split(cfg("structured", **{"data.dataset": str(write_csv(tmp_path, gappy_table()))}))
    majority, boosting = run_baselines(split, seed=0)
    assert boosting.name == "gradient_boosting" and boosting.test > majority.test


def test_serving_fills_gaps_with_the_bundles_values() -> None:
    from autosearch.export.outputs import to_raw_array

    manifest = {"input": {"columns": ["size", "city"], "dtypes": {"size": "float64", "city": "str"},
                          "fill": {"size": 0.5, "city": "rome"}}}
    rows = to_raw_array("structured", manifest, [{"size": None, "city": None}, {"size": 2, "city": "oslo"}])
    assert rows.tolist() == [[0.5, "rome"], [2.0, "oslo"]]


@pytest.mark.search
def test_a_search_on_a_table_with_gaps_completes_and_its_bundle_predicts_gaps(tmp_path: Path, home: Path) -> None:
    import autosearch
    from autosearch.tracking import RunStatus, TrialKind, TrialState
    from autosearch.tracking.sqlite import SQLiteTracker
    from autosearch.workflows.search import run_search

    frame = gappy_table()
    path = write_csv(tmp_path, frame)
    c = cfg("structured", **{"data.dataset": str(path), "search.max_trials": 2, "search.epochs": 1})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(c, tracker, home)
    run = tracker.get_run(result.run_id)
    assert run.status is RunStatus.COMPLETED
    baselines = [t for t in tracker.list_trials(result.run_id) if t.kind is TrialKind.BASELINE]
    assert {t.state for t in baselines} == {TrialState.COMPLETED} and len(baselines) == 2
    fill = run.data["missing_values"]["fill"]
    model = autosearch.load(result.bundle)
    assert model.manifest["input"]["fill"] == fill
    features = frame.drop(columns="label").head(40)
    filled = features.fillna(fill)
    assert features.isna().any().any()
    assert np.array_equal(model.predict_proba(features), model.predict_proba(filled))
    out = tmp_path / "predictions.csv"
    features.to_csv(tmp_path / "gaps.csv", index=False)
    from autosearch.export.serve import predict_file
    assert predict_file(result.bundle, str(tmp_path / "gaps.csv"), out)[0] == 40
    assert not pd.read_csv(out)["prediction"].isna().any()
