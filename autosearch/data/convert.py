"""Raw rows, texts and image files as AutoKeras takes them.

Used when training (data sets) and when serving (reloaded bundles), so both
convert the same way. Pure NumPy / pandas / Pillow: no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from autosearch.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def table_to_array(frame: pd.DataFrame) -> np.ndarray:
    """A feature table as AutoKeras' StructuredDataInput takes it."""
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes)
    return frame.to_numpy(dtype="float32" if numeric else object)


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
