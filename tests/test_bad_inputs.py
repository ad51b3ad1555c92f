"""Every bad input a user can give ``autosearch search`` gets one line (what, where, how to fix),
exit code 2, no traceback, and leaves AUTOSEARCH_HOME empty: no tracker.db, no runs/.

Each case runs the real CLI in a fresh process and fails before TensorFlow is imported. The same
table, with the line each case prints, is in the README ("bad input -> what the user sees").
"""

from __future__ import annotations

import bz2
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PIPELINES

Args = Callable[[Path], list[str]]


# -- inputs ------------------------------------------------------------------------

def reviews(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"review": [f"a {'good' if i % 2 else 'bad'} film, number {i}" for i in range(n)],
                         "label": ["pos" if i % 2 else "neg" for i in range(n)]})


def table(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.integers(20, 80, n).astype(float), "city": rng.choice(["oslo", "rome"], n),
                         "label": ["yes" if i % 2 else "no" for i in range(n)]})


def csv(t: Path, frame: pd.DataFrame, name: str = "data.csv", **kwargs) -> str:
    frame.to_csv(t / name, index=False, **kwargs)
    return str(t / name)


def raw(t: Path, data: bytes | str, name: str = "data.csv") -> str:
    (t / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return str(t / name)


def pipeline(t: Path, base: str = "text", data: str = "", search: str = "", top: str = "") -> str:
    """A copy of ``pipelines/<base>.toml`` with extra lines in [data] / [search] / at the top."""
    text = (PIPELINES / f"{base}.toml").read_text()
    text = top + "\n" + text.replace("[data]\n", f"[data]\n{data}\n").replace("[search]\n", f"[search]\n{search}\n")
    (t / "mine.toml").write_text(text)
    return str(t / "mine.toml")


def setting(t: Path, key: str, value: str, base: str = "text") -> str:
    """A copy of ``pipelines/<base>.toml`` whose ``key = ...`` line reads ``key = value``."""
    lines = (PIPELINES / f"{base}.toml").read_text().splitlines()
    assert any(line.startswith(f"{key} =") for line in lines), key
    (t / "mine.toml").write_text("\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line
                                           for line in lines))
    return str(t / "mine.toml")


def family(t: Path, value: str) -> str:
    """The text pipeline with ``family = value`` in its [space]."""
    text = (PIPELINES / "text.toml").read_text()
    (t / "mine.toml").write_text("\n".join(f"family = {value}" if line.startswith("family =") else line
                                           for line in text.splitlines()))
    return str(t / "mine.toml")


def images(t: Path, classes: dict[str, int], extra: dict[str, bytes] | None = None) -> str:
    """An image folder: ``classes`` name -> number of PNGs, plus ``extra`` relative path -> bytes."""
    from PIL import Image

    root = t / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name, n in classes.items():
        (root / name).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    for rel, data in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return str(root)


def png(t: Path, size: int = 12) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(1).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(t / "tmp.png")
    return (t / "tmp.png").read_bytes()


def fifo(t: Path, name: str) -> str:
    """A named pipe no one writes to: reading it would wait forever."""
    os.mkfifo(t / name)
    return str(t / name)


def xlsx(t: Path) -> str:
    with zipfile.ZipFile(t / "data.csv", "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>\x00")
    return str(t / "data.csv")


TEXT = ["--text-column", "review"]
STRUCTURED = ["search", "--pipeline", "structured"]
REGRESSION = ["search", "--pipeline", "structured_regression"]

# name -> (argv after `autosearch`, key words of the one line)
BAD_INPUTS: dict[str, tuple[Args, list[str]]] = {
    # pipeline and flags
    "unknown pipeline": (lambda t: ["search", "--pipeline", "video"],
                         ["unknown pipeline 'video'", "known pipelines: ", "image, structured, structured_regression, text"]),
    "pipeline file is a FIFO": (lambda t: ["search", "--pipeline", fifo(t, "mine.toml")],
                                ["pipeline file", "mine.toml' is not a regular file but a named pipe", "TOML file"]),
    "pipeline is a folder": (lambda t: ["search", "--pipeline", str(t)], ["is not a regular file but a folder"]),
    "unknown pipeline key": (lambda t: ["search", "--pipeline", pipeline(t, search="trials = 3")],
                             ["unknown key 'search.trials'", "allowed keys in [search]", "max_trials"]),
    "unknown text family": (lambda t: ["search", "--pipeline", family(t, '["ngram", "lstm"]')],
                            ["space.family = ['ngram', 'lstm'] is not allowed", "use some of ngram, bag, cnn, rnn"]),
    "invalid TOML": (lambda t: ["search", "--pipeline", pipeline(t, top="name = ")], ["invalid TOML", "line"]),
    "bad tuner": (lambda t: ["search", "--tuner", "grid"], ["search.tuner = 'grid'", "greedy, bayesian"]),
    "bad ensemble": (lambda t: ["search", "--ensemble", "most"], ["search.ensemble = 'most'", "use auto, off, always."]),
    "max trials 0": (lambda t: ["search", "--max-trials", "0"], ["search.max_trials = 0 must be at least 1"]),
    "max trials not a number": (lambda t: ["search", "--max-trials", "abc"], ["--max-trials", "invalid int value"]),
    "negative epochs": (lambda t: ["search", "--epochs", "-1"], ["search.epochs = -1 must be at least 1"]),
    "time budget 10x": (lambda t: ["search", "--time-budget", "10x"], ["'10x' is not a duration", "10m"]),
    "image size 0x3": (lambda t: ["search", "--pipeline", "image", "--image-size", "0x3"],
                       ["data.image_size", "two positive sizes"]),
    "max rows 0": (lambda t: ["search", "--max-rows", "0"], ["data.max_rows = 0 must be at least 1"]),
    "max rows negative": (lambda t: ["search", "--max-rows", "-5"], ["data.max_rows = -5 must be at least 1"]),
    "negative seed": (lambda t: ["search", "--seed", "-1"], ["search.seed = -1"]),
    "split leaves no training rows": (lambda t: ["search", "--pipeline", _split(t)],
                                      ["split.validation = 0.75", "at least 10% for training"]),
    "bad tracker uri": (lambda t: ["search", "--max-rows", "300", "--tracker", "mongodb://x"],
                        ["unknown tracker URI 'mongodb://x'", "valid schemes", "sqlite://"]),
    "negative patience": (lambda t: ["search", "--patience", "-1"], ["search.patience = -1 must be 0 (off) or more"]),
    "batch size 0": (lambda t: ["search", "--batch-size", "0"], ["search.batch_size = 0 must be at least 1"]),
    # the objective: a metric the task's trials report, in the direction that is better
    "objective val_f1": (lambda t: ["search", "--pipeline", setting(t, "objective", '"val_f1"')],
                         ["search.objective = 'val_f1' is not a metric a text_classification trial reports",
                          "use one of val_accuracy (max), val_loss (min)"]),
    "objective a training metric": (lambda t: ["search", "--pipeline", setting(t, "objective", '"accuracy"')],
                                    ["search.objective = 'accuracy'", "val_accuracy (max)"]),
    "regression objective val_accuracy": (
        lambda t: ["search", "--pipeline", setting(t, "objective", '"val_accuracy"', "structured_regression")],
        ["search.objective = 'val_accuracy'", "structured_regression", "val_mean_absolute_error (min)"]),
    "direction against the objective": (lambda t: ["search", "--pipeline", setting(t, "direction", '"min"')],
                                        ["search.direction = 'min' would rank the worst val_accuracy first",
                                         'direction = "max"']),
    # time budgets that could not stop a trial
    "time budget 0s": (lambda t: ["search", "--time-budget", "0s"], ["time_budget = '0s' is too short",
                                                                      "the minimum is 1s", "leave it out"]),
    "time budget 0.5 (seconds)": (lambda t: ["search", "--time-budget", "0.5"], ["'0.5' is too short"]),
    "time budget 0 in the file": (lambda t: ["search", "--pipeline", setting(t, "time_budget", "0")],
                                  ["search.time_budget = 0 is too short", "minimum is 1s"]),
    # a bad value in the file is reported even when a flag overrides it
    "file epochs -5, --epochs 3": (lambda t: ["search", "--pipeline", setting(t, "epochs", "-5"), "--epochs", "3"],
                                   ["mine.toml: search.epochs = -5 must be at least 1", "the file's own value"]),
    "file max_trials 0, --max-trials 2": (
        lambda t: ["search", "--pipeline", setting(t, "max_trials", "0"), "--max-trials", "2"],
        ["mine.toml: search.max_trials = 0 must be at least 1", "even though an override replaces it"]),
    "file patience -1, --patience 2": (
        lambda t: ["search", "--pipeline", setting(t, "patience", "-1"), "--patience", "2"],
        ["mine.toml: search.patience = -1 must be 0 (off) or more", "the file's own value"]),
    "file tuner grid, --tuner random": (
        lambda t: ["search", "--pipeline", setting(t, "tuner", '"grid"'), "--tuner", "random"],
        ["mine.toml: search.tuner = 'grid' is not allowed", "the file's own value"]),
    "file time budget soon, --time-budget 1m": (
        lambda t: ["search", "--pipeline", setting(t, "time_budget", '"soon"'), "--time-budget", "1m"],
        ["search.time_budget = 'soon' is not a duration", "the file's own value"]),
    "file seed -3, --seed 1": (lambda t: ["search", "--pipeline", setting(t, "seed", "-3"), "--seed", "1"],
                               ["mine.toml: search.seed = -3", "the file's own value"]),
    "file batch size 0, --batch-size 8": (
        lambda t: ["search", "--pipeline", setting(t, "batch_size", "0"), "--batch-size", "8"],
        ["mine.toml: search.batch_size = 0 must be at least 1", "the file's own value"]),
    "file max_rows 0, --max-rows 100": (
        lambda t: ["search", "--pipeline", pipeline(t, data="max_rows = 0"), "--max-rows", "100"],
        ["mine.toml: data.max_rows = 0 must be at least 1", "the file's own value"]),
    # tracker URIs: unknown options refused with the known ones, values checked, before the data are read
    "clearml timeout=0": (lambda t: ["search", "--tracker", "clearml://p?timeout=0"],
                          ["timeout=0 is not a positive number of seconds", "?timeout=10"]),
    "clearml timeout=-1": (lambda t: ["search", "--tracker", "clearml://p?timeout=-1"],
                           ["timeout=-1 is not a positive number of seconds"]),
    "clearml timeout=abc": (lambda t: ["search", "--tracker", "clearml://p?timeout=abc"],
                            ["timeout=abc is not a positive number of seconds"]),
    "clearml unknown option": (lambda t: ["search", "--tracker", "clearml://p?bogus=1"],
                               ["clearml://p?bogus=1", "unknown option 'bogus'",
                                "offline (1 or 0), timeout (seconds, e.g. 10), trial_tasks (1 or 0)"]),
    "clearml offline=maybe": (lambda t: ["search", "--tracker", "clearml://p?offline=maybe"],
                              ["offline=maybe must be 1 or 0"]),
    "sqlite URI with an option": (lambda t: ["search", "--tracker", f"sqlite:///{t}/x.db?bogus=1"],
                                  ["has options (bogus)", "sqlite:// takes none",
                                   "give the path alone, e.g. sqlite:////"]),
    "postgresql unknown option": (lambda t: ["search", "--tracker", "postgresql://u:pw@127.0.0.1:1/db?bogus=1"],
                                  ["postgresql://u:***@127.0.0.1:1/db?bogus=1", "unknown option 'bogus'",
                                   "the options libpq knows are", "sslmode"]),
    "postgresql connect_timeout=abc": (
        lambda t: ["search", "--tracker", "postgresql://u@127.0.0.1:1/db?connect_timeout=abc"],
        ["connect_timeout=abc is not a whole number of seconds", "?connect_timeout=10"]),
    "postgresql option without a value": (lambda t: ["search", "--tracker", "postgres://u@127.0.0.1:1/db?sslmode"],
                                          ["option 'sslmode' has no value", "sslmode=<value>"]),
    "chief with an unknown URI option": (lambda t: ["chief", "--tracker", "postgresql://u@127.0.0.1:1/db?bogus=1"],
                                         ["unknown option 'bogus'"]),
    "--offline with the SQLite tracker": (lambda t: ["search", "--offline", "--tracker", f"sqlite:///{t}/x.db"],
                                          ["--offline is for the ClearML tracker", "--tracker clearml://<project>"]),
    "--workers with the ClearML tracker": (lambda t: ["search", "--workers", "2", "--tracker", "clearml://p"],
                                           ["needs a tracker every process reads, not clearml://"]),
    "--workers with --offline": (lambda t: ["search", "--workers", "2", "--offline", "--tracker", "clearml://p"],
                                 ["--offline (ClearML) does not combine with --workers"]),
    "reproduce negative tolerance": (lambda t: ["reproduce", "x/1", "--tolerance", "-1"],
                                     ["--tolerance", "must be 0 or more"]),
    "embedded set of the wrong kind": (lambda t: ["search", "--data", "digits"], ["holds image data", "needs text"]),
    # files
    "missing file": (lambda t: ["search", "--data", str(t / "nope.csv")], ["nope.csv' not found"]),
    "empty file": (lambda t: ["search", "--data", raw(t, b""), *TEXT], ["the file is empty"]),
    "blank lines only": (lambda t: ["search", "--data", raw(t, "\n \n\n"), *TEXT], ["the file is empty"]),
    "header only": (lambda t: ["search", "--data", raw(t, "review,label\n"), *TEXT],
                    ["header (review, label) but no data rows"]),
    "binary file named .csv": (lambda t: ["search", "--data", raw(t, png(t)), *TEXT],
                               ["not a text CSV file", "NUL bytes", "export the table as CSV"]),
    "xlsx renamed .csv": (lambda t: ["search", "--data", xlsx(t), *TEXT], ["zip archive (an .xlsx workbook?)"]),
    "damaged bz2 file": (lambda t: ["search", "--data", raw(t, bz2.compress(b"review,label\n")[:20]), *TEXT],
                         ["a damaged bz2 file"]),
    "folder given as the CSV": (lambda t: ["search", "--data", str(t), *TEXT],
                                ["a folder is read as images", "needs a CSV file"]),
    "latin-1 file": (lambda t: ["search", "--data", raw(t, "review,label\nok film,pos\ncaf\xe9 film,neg\n".encode(
        "latin-1")), *TEXT], ["not UTF-8 text", "byte 0xe9 on line 3", 'data.encoding = "latin-1"', "iconv"]),
    "wrong data.encoding": (lambda t: ["search", "--pipeline", pipeline(t, data='encoding = "ascii"'),
                                       "--data", csv(t, reviews().assign(review="café")), *TEXT],
                            ["not ascii text", "byte 0xc3 on line 2", "data.encoding"]),
    "unknown data.encoding": (lambda t: ["search", "--pipeline", pipeline(t, data='encoding = "klingon"'),
                                         "--data", csv(t, reviews()), *TEXT],
                              ["data.encoding = 'klingon' is not an encoding", "latin-1"]),
    "bad data.delimiter": (lambda t: ["search", "--pipeline", pipeline(t, data='delimiter = ";;"'),
                                      "--data", csv(t, reviews()), *TEXT], ["data.delimiter = ';;'", "one character"]),
    "wrong data.delimiter": (lambda t: ["search", "--pipeline", pipeline(t, data='delimiter = ";"'),
                                        "--data", csv(t, reviews()), *TEXT],
                             ["no column 'review'", "read as one column", "data.delimiter = ','"]),
    "duplicate column names": (lambda t: ["search", "--data", raw(t, "review,label,review\nx,pos,y\n"), *TEXT],
                               ["names column 'review' twice (columns 1 and 3)"]),
    "ragged row (pandas parse error)": (lambda t: ["search", "--data", raw(t, "review,label\na,pos\nb,neg,x,y\n"),
                                                   *TEXT], ["Expected 2 fields in line 3, saw 4", "delimiter: comma"]),
    "rows wider than the header": (lambda t: ["search", "--data", raw(t, "review,label\na,pos,1\nb,neg,2\n"), *TEXT],
                                   ["line 2 has more fields than the header's 2 columns"]),
    "unclosed quote": (lambda t: ["search", "--data", raw(t, 'review,label\n"a,pos\nb,neg\n'), *TEXT],
                       ["EOF inside string", "quoting"]),
    # text columns
    "missing text column": (lambda t: ["search", "--data", csv(t, reviews())], ["no text column", "--text-column"]),
    "unknown text column": (lambda t: ["search", "--data", csv(t, reviews()), "--text-column", "body"],
                            ["no column 'body'", "columns are: review, label"]),
    "unknown label column": (lambda t: ["search", "--data", csv(t, reviews()), *TEXT, "--label-column", "stars"],
                             ["no column 'stars'"]),
    "text column is numeric": (lambda t: ["search", "--data", csv(t, reviews().assign(review=range(60))), *TEXT],
                               ["text column 'review' holds numbers, not texts"]),
    "text column is the label column": (lambda t: ["search", "--data", csv(t, reviews()), "--text-column", "label"],
                                        ["'label' is both the text and the label column"]),
    "empty texts": (lambda t: ["search", "--data", csv(t, reviews().assign(
        review=lambda f: f.review.where(f.index > 1))), *TEXT], ["2 empty texts", "rows [1, 2]"]),
    "text column entirely empty": (lambda t: ["search", "--data", csv(t, reviews().assign(review=None)), *TEXT],
                                   ["text column 'review' is empty in every row"]),
    # labels and classes
    "single class": (lambda t: ["search", "--data", csv(t, reviews().assign(label="pos")), *TEXT],
                     ["single class 'pos'"]),
    "label column entirely empty": (lambda t: ["search", "--data", csv(t, reviews().assign(label=None)), *TEXT],
                                    ["label column 'label' is empty in every row"]),
    "some labels missing": (lambda t: ["search", "--data", csv(t, reviews().assign(
        label=lambda f: f.label.where(f.index != 4))), *TEXT], ["1 row without a label in label column 'label'", "rows [5]"]),
    "too few rows": (lambda t: ["search", "--data", csv(t, reviews(10)), *TEXT], ["too few rows (10)"]),
    "one row in a class": (lambda t: ["search", "--data", csv(t, pd.concat([reviews(), reviews(1).assign(
        label="meh")])), *TEXT], ["class 'meh' has 1 row(s)", "at least 3"]),
    "numeric target in a classification task": (
        lambda t: [*STRUCTURED, "--data", csv(t, table(40).assign(label=np.arange(40) * 1.5))],
        ["over 40 classes", "are numbers", "--pipeline structured_regression"]),
    # tables
    "non-numeric regression target": (
        lambda t: [*REGRESSION, "--data", csv(t, pd.DataFrame({"x": range(40), "label": ["3.5"] * 39 + ["high"]}))],
        ["non-numeric", "'high'"]),
    "infinite regression target": (
        lambda t: [*REGRESSION, "--data", csv(t, pd.DataFrame({"x": range(40), "label": [1.0] * 39 + [np.inf]}))],
        ["regression target 'label' holds 1 infinite value", "rows [40]"]),
    "regression target entirely empty": (
        lambda t: [*REGRESSION, "--data", csv(t, pd.DataFrame({"x": range(40), "label": [None] * 40}))],
        ["regression target 'label' is empty in every row"]),
    "infinite feature value": (lambda t: [*STRUCTURED, "--data", csv(t, table().assign(
        age=lambda f: f.age.where(f.index != 2, np.inf)))], ["'age' holds 1 infinite value (data rows [3])", "leave the cells empty"]),
    "feature column entirely empty": (lambda t: [*STRUCTURED, "--data", csv(t, table().assign(city=None))],
                                      ["feature column(s) ['city'] are empty in every row"]),
    "feature column not in the file": (lambda t: [*STRUCTURED, "--data", csv(t, table()),
                                                  "--feature-columns", "age,zip"],
                                       ["no feature column(s) ['zip']", "--feature-columns"]),
    "label among the features": (lambda t: [*STRUCTURED, "--data", csv(t, table()),
                                            "--feature-columns", "age,label"], ["'label' is also listed as a feature", "--feature-columns"]),
    "only a label column": (lambda t: [*STRUCTURED, "--data", csv(t, table()[["label"]])],
                            ["no feature columns", "only column is the label column"]),
    # image folders
    "image task given a file": (lambda t: ["search", "--pipeline", "image", "--data", csv(t, table())],
                                ["image tasks read a folder", "not a file"]),
    "empty image folder": (lambda t: ["search", "--pipeline", "image", "--data", images(t, {})],
                           ["no class sub-folders", "<class name>"]),
    "images without class folders": (lambda t: ["search", "--pipeline", "image", "--data", images(
        t, {}, {"a.png": png(t), "b.png": png(t)})], ["no class sub-folders (2 images lie directly in it)"]),
    "one class folder": (lambda t: ["search", "--pipeline", "image", "--data", images(t, {"cat": 4})],
                         ["one class folder ('cat')", "at least two"]),
    "class folder of non-images": (lambda t: ["search", "--pipeline", "image", "--data", images(
        t, {"cat": 4}, {"dog/notes.txt": b"x", "dog/a.heic": b"x"})],
        ["class folder 'dog' has no images", "only .heic, .txt files"]),
    "unreadable image": (lambda t: ["search", "--pipeline", "image", "--data", images(
        t, {"cat": 4, "dog": 4}, {"dog/broken.png": b"not an image"})], ["broken.png: not a readable image (cannot identify image file)"]),
    "truncated image": (lambda t: ["search", "--pipeline", "image", "--data", images(
        t, {"cat": 4, "dog": 4}, {"dog/cut.png": png(t, 64)[:2000]})], ["cut.png: not a readable image"]),
}


def _split(t: Path) -> str:
    path = Path(pipeline(t))
    path.write_text(path.read_text().replace("validation = 0.1", "validation = 0.75"))
    return str(path)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_line_exit_2_and_leaves_no_trace(case: str, cli, home: Path, tmp_path: Path) -> None:
    make_args, words = BAD_INPUTS[case]
    work = tmp_path / "in"
    work.mkdir()
    res = cli(*make_args(work), timeout=60)
    assert res.code == 2, res.err
    assert "Traceback" not in res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1, res.err
    assert res.err.strip() == lines[0]  # nothing else on stderr, not even blank lines inside
    for word in words:
        assert word in lines[0], lines[0]
    assert not (home / "tracker.db").exists() and not (home / "runs").exists()
    print(f"{case}\t{lines[0]}")  # `pytest -s` prints the README table rows
