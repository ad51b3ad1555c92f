"""Batch predictions from a bundle to a CSV file, streaming large inputs through the one CSV reader.

predict reads only what it can finish (a regular file; a FIFO or a device is refused) and writes only
where it replaces nothing of its inputs: never onto the input, into a bundle, or over a folder.
"""

from __future__ import annotations

import os
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from autosearch.data.convert import IMAGE_SUFFIXES, image_files
from autosearch.data.csvfile import iter_csv_file
from autosearch.errors import InputError
from autosearch.export.columns import check_options, column_mapper
from autosearch.export.format import is_bundle, read_manifest
from autosearch.export.outputs import to_raw_array
from autosearch.export.predictor import Predictor, check_user_code, load
from autosearch.fileio import special_kind


def _frame(predictor: Predictor, inputs: object, keep: pd.DataFrame) -> pd.DataFrame:
    out = keep.reset_index(drop=True).copy()
    if predictor.manifest["problem"] == "classification":
        probs = predictor.predict_proba(inputs)
        names = predictor.class_names
        out["prediction"] = np.array(names, dtype=object)[probs.argmax(axis=1)]
        for i, name in enumerate(names):
            out[f"p_{name}"] = probs[:, i]
    else:
        out["prediction"] = predictor.predict(inputs)
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(output: str | Path, source: Path) -> Path:
    """``output`` as a path predict may write: not a folder, not a device or FIFO, not the input (nor one of
    an input folder's images), not inside a bundle. ``InputError`` naming the clash otherwise."""
    shown, path = str(output), Path(output)
    kind = special_kind(path)
    if shown.endswith(("/", os.sep)) or kind == "a folder":
        raise InputError(f"--output {shown} is a folder; give the path of a CSV file to write, e.g. "
                         f"{path / 'predictions.csv'}.")
    if kind is not None:
        raise InputError(f"--output {shown} is {kind}, not a file predict can replace; give the path of a CSV file.")
    resolved, other = path.resolve(), path.with_name(path.stem + ".predictions.csv")
    if _same_file(path, source):
        raise InputError(f"--output {shown} is the input file; predict would replace what it reads; give another "
                         f"path, e.g. {other}.")
    if source.is_dir() and resolved.is_relative_to(source.resolve()) and resolved.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"--output {shown} is an image in the input folder {source}; predict would replace what "
                         f"it reads; give another path, e.g. {other}.")
    bundle = next((folder for folder in resolved.parents if is_bundle(folder)), None)
    if bundle is not None:
        raise InputError(f"--output {shown} lies inside the bundle {bundle}; a file written there would break "
                         "the bundle's checksums, so write it elsewhere.")
    return path


def check_input(source: Path, kind: str) -> None:
    """``source`` exists, and is what the bundle reads: a regular CSV file, or image files for image models."""
    if not source.exists():
        raise InputError(f"input '{source}' not found; give a CSV file, or image files / a folder for image models.")
    what = special_kind(source)
    if what == "a folder" and kind != "image":
        raise InputError(f"input '{source}' is a folder; give a CSV file (a {kind} model reads rows).")
    if what not in (None, "a folder"):
        raise InputError(f"{source}: not a regular file but {what}, which could be read forever or wait for a "
                         "writer forever; give a CSV file.")


def _chunks(source: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The CSV's rows, ``batch_rows`` at a time, each chunk knowing its file and first data row."""
    first = 0
    for chunk in iter_csv_file(source, chunk_rows=batch_rows):
        chunk.attrs.update(source=str(source), first_row=first)  # messages name the file's data rows
        first += len(chunk)
        yield chunk


def _rows(source: Path, manifest: Mapping[str, Any], batch_rows: int, text_column: str | None,
          columns: Sequence[str]) -> Iterator[tuple[object, pd.DataFrame]]:
    """(the rows as the model reads them: its columns, named by the options), (the rows as read, kept beside
    the predictions); the header is checked against the model's columns when the first chunk is read."""
    chunks = _chunks(source, batch_rows)
    first = next(chunks)
    schema = {**manifest.get("input", {}), "kind": manifest["kind"]}
    to_model = column_mapper(schema, [str(c) for c in first.columns], str(source), text_column, columns)
    for chunk in chain([first], chunks):
        yield to_model(chunk), chunk


def _images(files: list[Path], batch_rows: int) -> Iterator[tuple[object, pd.DataFrame]]:
    for start in range(0, len(files), batch_rows):
        names = [str(f) for f in files[start : start + batch_rows]]
        yield names, pd.DataFrame({"path": names})


def predict_file(bundle: Path, source: str, output: str | Path, fmt: str | None = None,
                 batch_rows: int = 10_000, text_column: str | None = None,
                 columns: Sequence[str] = ()) -> tuple[int, str]:
    """Predict every row (or image) of ``source`` into ``output``; returns (rows, format used).

    ``text_column`` names the CSV's text column (default: the training one); ``columns`` maps structured
    features to the CSV's columns (``["feature=csvcolumn", ...]``). Inputs, options and output are checked
    before the model loads; the first batch of rows is read and converted before too, so most bad inputs are
    refused in a second, before TensorFlow is imported. The CSV is written to a temporary file and renamed,
    so a failure leaves no partial output.
    """
    manifest = read_manifest(bundle)  # fail fast on a bad bundle, before reading inputs
    check_options({**manifest.get("input", {}), "kind": manifest["kind"]}, text_column, columns)
    check_user_code(bundle, manifest.get("imports", []))  # the space's code missing is the bundle's fault too
    source_path = Path(source)
    check_input(source_path, manifest["kind"])
    output = check_output(output, source_path)
    if manifest["kind"] == "image" and source_path.suffix.lower() != ".csv":
        files = image_files(source_path)
        if not files:
            raise InputError(f"no image files in {source_path}.")
        batches: Iterator[tuple[object, pd.DataFrame]] = _images(files, batch_rows)
        first = next(batches)
    else:
        batches = _rows(source_path, manifest, batch_rows, text_column, columns)
        first = next(batches)
        to_raw_array(manifest["kind"], manifest, first[0])  # the first rows' faults, before TensorFlow loads
    predictor = load(bundle, format=fmt)
    return _write(predictor, chain([first], batches), output), predictor.format


def _write(predictor: Predictor, batches: Iterable[tuple[object, pd.DataFrame]], output: Path) -> int:
    """Predict ``batches`` into a temporary sibling of ``output``, renamed to it at the end."""
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    rows = 0
    try:
        for inputs, keep in batches:
            frame = _frame(predictor, inputs, keep)
            try:
                if rows == 0:
                    output.parent.mkdir(parents=True, exist_ok=True)
                frame.to_csv(tmp, mode="a", header=rows == 0, index=False)
            except OSError as exc:
                raise InputError(f"--output {output}: cannot be written ({exc.strerror or exc}); give a path in "
                                 "a folder you can write to.") from None
            rows += len(frame)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return rows
