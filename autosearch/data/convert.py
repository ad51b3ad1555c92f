"""Raw rows, texts and image files as AutoKeras takes them.

Used when training (data sets) and when serving (reloaded bundles), so both
convert the same way. Pure NumPy / pandas / Pillow: no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from autosearch.errors import AutosearchError, DataError
from autosearch.fileio import special_kind

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def table_to_array(frame: pd.DataFrame) -> np.ndarray:
    """A feature table as AutoKeras' StructuredDataInput takes it."""
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes)
    return frame.to_numpy(dtype="float32" if numeric else object)


def _data_rows(mask: Any, first_row: int) -> list[int]:
    """The first five data rows (1 = the first row under the header) where ``mask`` holds."""
    return (np.flatnonzero(np.asarray(mask))[:5] + 1 + first_row).tolist()


def to_numbers(values: pd.Series, where: str, error: type[AutosearchError] = DataError,
               first_row: int = 0) -> pd.Series:
    """A feature column as numbers (gaps stay gaps); ``error`` naming the first cells that hold no number.
    Training and predict refuse such a cell the same way: it never silently makes the column a category."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        rows, count = _data_rows(bad, first_row), int(bad.sum())
        more = f" ({count} such cells, data rows {rows})" if count > 1 else ""
        raise error(f"{where}: feature column '{values.name}' holds numbers, but data row {rows[0]} holds "
                    f"{values[bad].iloc[0]!r}{more}; put a number there, or leave the cell empty to have it filled.")
    return numbers


def check_finite(frame: pd.DataFrame, columns: Sequence[Any], where: str,
                 error: type[AutosearchError] = DataError, first_row: int = 0) -> None:
    """Refuse an infinite number in the numeric ``columns`` of ``frame``, in training and in predict alike."""
    for column in columns:
        inf = np.isinf(frame[column].to_numpy(dtype="float64", na_value=np.nan))
        if inf.any():
            raise error(f"{where}: feature column '{column}' holds {int(inf.sum())} infinite "
                        f"value{'' if inf.sum() == 1 else 's'} (data rows {_data_rows(inf, first_row)}); replace "
                        "them with numbers, or leave the cells empty to have them filled.")


def fill_missing(frame: pd.DataFrame, fill: Mapping[str, Any] | None) -> pd.DataFrame:
    """``frame`` with its gaps filled by ``fill`` (column -> value; see ``autosearch.data.impute``).

    Columns without an entry keep their gaps; the frame is returned as is when nothing is missing.
    """
    columns = [c for c in frame.columns if fill and str(c) in fill and frame[c].isna().any()]
    if not columns:
        return frame
    out = frame.copy()
    for column in columns:
        out[column] = out[column].where(out[column].notna(), fill[str(column)])
    return out


def split_inputs(frame: pd.DataFrame, layout: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
    """One array per model input of a several-input graph: a text input reads its ``column`` as texts,
    a table input its ``columns`` (all columns when it lists none)."""
    arrays = []
    for spec in layout:
        if spec["type"] == "TextInput":
            arrays.append(texts_to_array(frame[spec["column"]].tolist()))
        else:
            arrays.append(table_to_array(frame[list(spec.get("columns") or frame.columns)]))
    return arrays


def texts_to_array(texts: Sequence[Any]) -> np.ndarray:
    """Texts as AutoKeras' TextInput takes them: a unicode array, never ``object``."""
    return np.array(["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in texts], dtype=str)


def load_image(path: Path, size: Sequence[int], channels: int = 3) -> np.ndarray:
    """One image file as float32 (h, w, channels), resized to ``size`` = (h, w)."""
    from PIL import Image

    kind = special_kind(path)
    if kind is not None:
        raise DataError(f"{path}: not a regular file but {kind}, which could be read forever or wait for a writer "
                        "forever; remove it or replace it with an image file.")
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB").resize((int(size[1]), int(size[0])))
            arr = np.asarray(img, dtype="float32")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).replace(f" '{path}'", "").split()) or type(exc).__name__
        raise DataError(f"{path}: not a readable image ({reason}); remove or replace it.") from None
    return arr[..., np.newaxis] if channels == 1 else arr


def image_files(path: Path) -> list[Path]:
    """Image files under a folder (sorted), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p, path))
    return [path]


def _hidden(path: Path, root: Path) -> bool:
    """Dot files and folders (macOS ``._x.png`` resource forks, ``.ipynb_checkpoints``) are not data."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)
