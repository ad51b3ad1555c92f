"""Load a pipeline's data set: an embedded name, a CSV file or an image folder.

A ``Dataset`` is the whole labelled table (``autosearch.data.split`` makes the
train / validation / test partition). Classes are encoded as integer indices
into ``class_names`` so that metrics, predictions and exports agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autosearch.config import PipelineConfig
from autosearch.data import embedded
from autosearch.data.convert import IMAGE_SUFFIXES, image_files, load_image, texts_to_array, to_numbers
from autosearch.data.csvfile import delimiter_hint, read_csv_file
from autosearch.data.impute import check_features, is_numeric
from autosearch.errors import DataError
from autosearch.fileio import sha256_file

# Which embedded data set serves which input kind.
EMBEDDED = {
    **{name: "text" for name in embedded.TEXT_CORPORA},
    "digits": "image",
    "breast_cancer": "structured",
    "diabetes": "structured",
}
DEFAULT_IMAGE_SIZE = (32, 32)


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # text | image | structured
    problem: str  # classification | regression
    x: Any  # np.ndarray of str (text), float32 images (n, h, w, c), or a DataFrame
    y: np.ndarray  # class indices (classification) or floats (regression)
    class_names: tuple[str, ...] | None = None
    columns: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)


# -- loading ------------------------------------------------------------------

def _column(frame: pd.DataFrame, name: str | None, role: str, flag: str, where: str) -> str:
    columns = ", ".join(map(str, frame.columns))
    if name is None:
        if role in frame.columns:
            return role
        raise DataError(f"{where}: no {role} column given and none named '{role}'; columns are: {columns}. "
                        f"Pass {flag} NAME.{delimiter_hint(frame)}")
    if name not in frame.columns:
        raise DataError(f"{where}: no column '{name}'; columns are: {columns}. Pass {flag} with one of them."
                        f"{delimiter_hint(frame)}")
    return name


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _rows(mask: pd.Series | np.ndarray) -> list[int]:
    """The first five data rows (1 = the first row under the header) where ``mask`` holds."""
    return (np.flatnonzero(np.asarray(mask))[:5] + 1).tolist()


def _encode_labels(labels: pd.Series, where: str, what: str = "the label column") -> tuple[np.ndarray, tuple[str, ...]]:
    if labels.isna().all():
        raise DataError(f"{where}: {what} is empty in every row; fill it, or pass --label-column with the "
                        "column that holds the classes.")
    if labels.isna().any():
        raise DataError(f"{where}: {_n(int(labels.isna().sum()), 'row')} without a label in {what} (data rows "
                        f"{_rows(labels.isna())}); fill or drop them.")
    text = labels.astype(str)
    names = tuple(sorted(text.unique(), key=lambda v: (len(v), v) if v.isdigit() else (np.inf, v)))
    if len(names) < 2:
        raise DataError(f"{where}: {what} has a single class '{names[0]}'; classification needs at least "
                        "two classes.")
    lookup = {name: i for i, name in enumerate(names)}
    return text.map(lookup).to_numpy(dtype="int64"), names


def _regression_target(values: pd.Series, where: str) -> np.ndarray:
    what = f"regression target '{values.name}'"
    numeric = pd.to_numeric(values, errors="coerce")
    missing, bad = values.isna(), numeric.isna() & values.notna()
    if missing.all():
        raise DataError(f"{where}: {what} is empty in every row; fill it, or pass --label-column with the "
                        "column that holds the target.")
    if missing.any():
        raise DataError(f"{where}: {what} is missing in {_n(int(missing.sum()), 'row')} (data rows "
                        f"{_rows(missing)}); fill or drop them.")
    if bad.any():
        examples = values[bad].astype(str).head(3).tolist()
        raise DataError(f"{where}: {what} has {_n(int(bad.sum()), 'non-numeric value')} (e.g. {examples}, data "
                        f"rows {_rows(bad)}); clean the column or choose a classification task.")
    inf = np.isinf(numeric.to_numpy(dtype="float64"))
    if inf.any():
        raise DataError(f"{where}: {what} holds {_n(int(inf.sum()), 'infinite value')} (data rows "
                        f"{_rows(inf)}); replace or drop them.")
    return numeric.to_numpy(dtype="float64")


def _read_csv(cfg: PipelineConfig, path: Path) -> pd.DataFrame:
    return read_csv_file(path, cfg.data.encoding, cfg.data.delimiter)


def _csv_source(path: Path, frame: pd.DataFrame, **columns: str) -> dict[str, Any]:
    return {"path": str(path.resolve()), **columns, "delimiter": frame.attrs.get("delimiter", ","),
            "encoding": frame.attrs.get("encoding", "utf-8")}


def _load_text_csv(cfg: PipelineConfig, path: Path) -> Dataset:
    frame = _read_csv(cfg, path)
    text_col = _column(frame, cfg.data.text_column, "text", "--text-column", str(path))
    label_col = _column(frame, cfg.data.label_column, "label", "--label-column", str(path))
    if text_col == label_col:
        raise DataError(f"{path}: column '{text_col}' is both the text and the label column; pass "
                        "--text-column and --label-column with two different columns.")
    if frame[text_col].notna().any() and pd.api.types.is_numeric_dtype(frame[text_col]):
        raise DataError(f"{path}: text column '{text_col}' holds numbers, not texts; pass --text-column with "
                        f"the column of texts (columns are: {', '.join(map(str, frame.columns))}).")
    return _text_dataset(str(path), frame[text_col], frame[label_col], cfg,
                         _csv_source(path, frame, text_column=text_col, label_column=label_col))


def _text_dataset(name: str, texts: pd.Series, labels: pd.Series, cfg: PipelineConfig, source: dict) -> Dataset:
    texts = texts.fillna("").astype(str)
    empty = texts.str.strip() == ""
    if empty.all():
        raise DataError(f"{name}: text column '{source.get('text_column', 'text')}' is empty in every row; "
                        "pass --text-column with the column of texts.")
    if empty.any():
        raise DataError(
            f"{name}: {_n(int(empty.sum()), 'empty text')} in column '{source.get('text_column', 'text')}' "
            f"(data rows {_rows(empty)}); remove or fill them."
        )
    y, classes = _encode_labels(labels.reset_index(drop=True), name,
                                f"label column '{source.get('label_column', 'label')}'")
    # AutoKeras' TextInput rejects object arrays: give it a unicode array.
    return Dataset(name, "text", "classification", texts_to_array(texts.tolist()), y, classes, (), source)


def _load_structured_frame(cfg: PipelineConfig, name: str, frame: pd.DataFrame, label_col: str, source: dict) -> Dataset:
    columns = ", ".join(map(str, frame.columns))
    features = list(cfg.data.feature_columns or [c for c in frame.columns if c != label_col])
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: no feature column(s) {missing}; columns are: {columns}. Pass --feature-columns "
                        f"(data.feature_columns) with columns of the file.{delimiter_hint(frame)}")
    twice = sorted({c for c in features if features.count(c) > 1})
    if twice:
        raise DataError(f"{name}: feature column(s) {twice} listed more than once; list each column once.")
    if label_col in features:
        raise DataError(f"{name}: the label column '{label_col}' is also listed as a feature; remove it from --feature-columns.")
    if not features:
        raise DataError(f"{name}: no feature columns: the only column is the label column '{label_col}'; "
                        f"add feature columns to the file.{delimiter_hint(frame)}")
    x = frame[features].reset_index(drop=True)
    _refuse_stray_texts(x, name)
    check_features(x, name)
    labels = frame[label_col].reset_index(drop=True)
    if cfg.problem == "regression":
        return Dataset(name, "structured", "regression", x, _regression_target(labels, name), None,
                       tuple(map(str, features)), source)
    y, classes = _encode_labels(labels, name, f"label column '{label_col}'")
    return Dataset(name, "structured", "classification", x, y, classes, tuple(map(str, features)), source)


def _refuse_stray_texts(x: pd.DataFrame, name: str) -> None:
    """A column of numbers with a few cells that hold none ('abc', '?': at most 1 in 20 of its filled cells)
    is refused naming them, rather than silently read as a column of categories."""
    for column in x.columns:
        if is_numeric(x[column]) or pd.api.types.is_bool_dtype(x[column]):
            continue
        values = x[column].dropna()
        bad = int(pd.to_numeric(values, errors="coerce").isna().sum())
        if 0 < bad <= max(1, len(values) // 20) and bad < len(values) - bad:
            to_numbers(x[column], name)  # raises, naming the cells


def _load_image_folder(cfg: PipelineConfig, root: Path) -> Dataset:
    try:
        return _image_folder(cfg, root)
    except OSError as exc:  # an unreadable folder or file, a vanished file
        raise DataError(f"{exc.filename or root}: cannot be read ({exc.strerror or exc}); check its permissions.") \
            from None


def _image_folder(cfg: PipelineConfig, root: Path) -> Dataset:
    size = cfg.data.image_size or DEFAULT_IMAGE_SIZE
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = image_files(root)
        found = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise DataError(f"{root}: no class sub-folders{found}; put each class's images in {root}/<class name>/.")
    files = {name: image_files(root / name) for name in classes}
    for name, found in files.items():
        if not found:
            other = sorted({p.suffix.lower() or p.name for p in (root / name).rglob("*") if p.is_file()})
            held = f"it holds only {', '.join(other[:5])} files" if other else "it is empty"
            raise DataError(f"{root / name}: class folder '{name}' has no images ({held}); add "
                            f"{', '.join(sorted(IMAGE_SUFFIXES))} files or remove the folder.")
    if len(classes) < 2:
        raise DataError(f"{root}: one class folder ('{classes[0]}'); classification needs at least two: "
                        f"add a sub-folder per class under {root}/.")
    images = [load_image(file, size, channels=3) for name in classes for file in files[name]]
    labels = [name for name in classes for _ in files[name]]
    x = np.stack(images)
    if np.all(x[..., :1] == x):  # every image is grey: keep one channel
        x = x[..., :1]
    y, names = _encode_labels(pd.Series(labels), str(root), "the class folders")
    return Dataset(str(root), "image", "classification", x, y, names, (),
                   {"path": str(root.resolve()), "image_size": list(size)})


def _load_embedded(cfg: PipelineConfig, name: str) -> Dataset:
    kind = EMBEDDED[name]
    if kind != cfg.kind:
        fits = [d for d, k in EMBEDDED.items() if k == cfg.kind]
        raise DataError(
            f"{cfg.source}: data set '{name}' holds {kind} data but task '{cfg.task}' needs {cfg.kind} data; "
            f"use one of {', '.join(fits)} or a file of your own."
        )
    source = {"embedded": name}
    if name in embedded.TEXT_CORPORA:
        texts, labels = embedded.load_texts(name)
        return _text_dataset(name, texts, labels, cfg, {**source, "text_column": "text"})
    x, target, class_names, columns = embedded.load_sklearn(name)
    if name == "diabetes" and cfg.problem != "regression":
        raise DataError(f"{cfg.source}: 'diabetes' is a regression data set; use task = 'structured_regression'.")
    if name == "breast_cancer" and cfg.problem == "regression":
        raise DataError(f"{cfg.source}: 'breast_cancer' is a classification data set; use 'diabetes' for regression.")
    if cfg.kind == "image":
        names = tuple(class_names)
        return Dataset(name, "image", "classification", x, target.astype("int64"), names, (), source)
    frame = x.assign(target=target)
    if class_names is not None:
        frame["target"] = [class_names[int(t)] for t in target]
    ds = _load_structured_frame(cfg, name, frame, "target", source)
    if class_names is not None:  # keep scikit-learn's class order
        order = tuple(class_names)
        y = np.array([order.index(ds.class_names[i]) for i in ds.y], dtype="int64")
        ds = Dataset(ds.name, ds.kind, ds.problem, ds.x, y, order, ds.columns, ds.source)
    return ds


def load_dataset(cfg: PipelineConfig) -> Dataset:
    """The pipeline's data set: an embedded name, a CSV file or an image folder."""
    name = cfg.data.dataset
    if name in EMBEDDED:
        ds = _load_embedded(cfg, name)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise DataError(
                f"data file '{name}' not found; give a CSV path, an image folder, or one of the embedded "
                f"data sets: {', '.join(EMBEDDED)}."
            )
        if path.is_dir():
            if cfg.kind != "image":
                raise DataError(f"{path}: a folder is read as images, but task '{cfg.task}' needs a CSV file.")
            ds = _load_image_folder(cfg, path)
        elif cfg.kind == "image":
            raise DataError(f"{path}: image tasks read a folder with one sub-folder per class, not a file.")
        elif cfg.kind == "text":
            ds = _load_text_csv(cfg, path)
        else:
            frame = _read_csv(cfg, path)
            label_col = _column(frame, cfg.data.label_column, "label", "--label-column", str(path))
            ds = _load_structured_frame(cfg, str(path), frame, label_col,
                                        _csv_source(path, frame, label_column=label_col))
        ds.source["sha256"] = sha256_file(path) if path.is_file() else None
    if cfg.data.max_rows is not None and cfg.data.max_rows < len(ds):
        ds = _take_rows(ds, cfg.data.max_rows, cfg.search.seed)
        ds.source["max_rows"] = cfg.data.max_rows
    return ds


def _take_rows(ds: Dataset, n: int, seed: int) -> Dataset:
    """A seeded sample of ``n`` rows (for quick runs and tests), in original order."""
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    x = ds.x.iloc[idx].reset_index(drop=True) if isinstance(ds.x, pd.DataFrame) else ds.x[idx]
    return Dataset(ds.name, ds.kind, ds.problem, x, ds.y[idx], ds.class_names, ds.columns, dict(ds.source))
