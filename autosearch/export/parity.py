"""The raw-input signature against the training-time preprocessing, before a bundle is published.

``check_parity`` feeds the reloaded SavedModel's ``serving_default`` the validation rows and a fixed corpus
of edge cases, as a client of TensorFlow Serving would send them (strings; ``""`` for a missing cell;
PNG bytes), and compares its outputs with the ``.keras`` model fed by the Python preprocessing that trained
it: within ``TOLERANCE`` (1e-5; relative to the value for regression), or ``ExportError`` and no bundle.
JPEG and resized images cannot agree exactly (decoders and resamplers differ): their largest difference is
recorded and must stay within ``IMAGE_BOUND``.
"""

from __future__ import annotations

import io
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autosearch.errors import ExportError
from autosearch.export.format import TOLERANCE
from autosearch.export.outputs import model_outputs

IMAGE_BOUND = 0.05  # largest probability difference allowed for JPEG and resized images (stated, README)
UNSEEN = "\u2298unseen category"


def text_edge_cases(texts: Any) -> list[str]:
    """Accents in NFD, non-breaking and ideographic spaces, CJK, emoji, empty, longer than any sequence,
    100,000 characters, case that lowers differently, control whitespace."""
    sample = " ".join(str(t) for t in list(texts)[:3]) or "a text"
    return [
        unicodedata.normalize("NFD", "Café déjà vu, naïve Zoë; ÉLAN"), unicodedata.normalize("NFC", "Café déjà vu"),
        "non\u00a0breaking\u202fspaces\u3000and\u2009thin", "日本語のテキストです。中文文本，标点", "",
        "emoji 👍🏽 👨\u200d👩\u200d👧 ❤️ ok!!", (sample + " ") * 200, ("word " * 20_000)[:100_000],
        "ΟΔΟΣ İstanbul STRASSE straße", "tabs\tand\nnew lines\r\n\x0b\x1c\x85 end", "don't stop_me 3.14 ①②",
    ]


def table_edge_cases(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """The first validation row with each column missing in turn, with all missing, and with each text
    column holding a category training never saw."""
    row = frame.iloc[:1]
    rows = [row.assign(**{c: np.nan}) for c in frame.columns] + [row.assign(**{c: np.nan for c in frame.columns})]
    numeric = [c for c in frame.columns if str(dtypes.get(str(c), "")).startswith(("int", "uint", "float"))]
    rows += [row.assign(**{c: UNSEEN}) for c in frame.columns if c not in numeric]
    out = pd.concat(rows, ignore_index=True)
    for c in numeric:
        out[c] = pd.to_numeric(out[c])
    return out


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    out = io.BytesIO()
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype("uint8")).save(out, format="PNG")
    return out.getvalue()


def raw_feed(manifest: Mapping[str, Any], serving: Mapping[str, Any], raw: Any) -> dict[str, list]:
    """Raw inputs (texts, a table, images or image bytes) as the signature's keyed strings."""
    kind = manifest["kind"]
    if kind == "text":
        from autosearch.data.convert import texts_to_array

        return {"text": [t.encode("utf-8") for t in texts_to_array(list(raw)).tolist()]}
    if kind == "structured":
        columns = {spec["column"]: key for key, spec in serving["inputs"].items()}
        return {key: [_cell(v) for v in raw[column].tolist()] for column, key in columns.items()}
    return {"image_bytes": [r if isinstance(r, bytes) else png_bytes(r) for r in raw]}


def _diff(manifest: Mapping[str, Any], got: Mapping[str, np.ndarray], expected: np.ndarray) -> float:
    if not len(expected):
        return 0.0
    if manifest["problem"] == "classification":
        return float(np.max(np.abs(got["probabilities"] - expected)))
    return float(np.max(np.abs(got["value"] - expected) / np.maximum(1.0, np.abs(expected))))


def _jpeg_cases(model: Any, pipeline: Any, manifest: Mapping[str, Any], images: np.ndarray, loaded: Any,
                serving: Mapping[str, Any]) -> dict[str, float]:
    """JPEG at the model's size and PNG at twice its size, through Pillow (training) and the graph."""
    from PIL import Image

    from autosearch.export.serving import call_raw

    found: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, scale in (("jpeg", "JPEG", 1), ("resized_png", "PNG", 2)):
            paths, blobs = [], []
            for i, image in enumerate(images[:16]):
                img = Image.open(io.BytesIO(png_bytes(image)))
                img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
                path = Path(tmp) / f"{name}{i}.{fmt.lower()}"
                img.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
                paths.append(str(path))
                blobs.append(path.read_bytes())
            expected = model_outputs(model, pipeline, manifest, paths)
            got = call_raw(loaded, raw_feed(manifest, serving, blobs))
            found[name] = _diff(manifest, got, expected)
    return found


def check_parity(saved_model: Path, model: Any, pipeline: Any, manifest: Mapping[str, Any],
                 serving: Mapping[str, Any], validation: Any, out: Path) -> dict[str, Any]:
    """The verification record of ``serving_default`` (see the module doc); ``ExportError`` naming the
    largest difference when it does not reproduce the in-memory model."""
    import tensorflow as tf

    from autosearch.export.serving import call_raw

    loaded = tf.saved_model.load(str(saved_model))
    kind = manifest["kind"]
    if kind == "text":
        cases: Any = text_edge_cases(validation)
    elif kind == "structured":
        cases = table_edge_cases(validation, manifest["input"].get("dtypes", {}))
    else:
        cases = validation[:0]
    record: dict[str, Any] = {"tolerance": TOLERANCE}
    for name, raw in (("validation", validation), ("edge_cases", cases)):
        if not len(raw):
            record[name] = {"rows": 0, "max_abs_diff": 0.0}
            continue
        expected = model_outputs(model, pipeline, manifest, raw)
        diff = _diff(manifest, call_raw(loaded, raw_feed(manifest, serving, raw)), expected)
        record[name] = {"rows": int(len(expected)), "max_abs_diff": diff}
        if not diff <= TOLERANCE:
            raise ExportError(f"the SavedModel's raw-input signature does not reproduce the training preprocessing "
                              f"on the {name.replace('_', ' ')} (max difference {diff:.3g} > {TOLERANCE:g}); "
                              f"nothing was written to {out}. Re-export with --h5 to skip the SavedModel.")
    if kind == "image":
        images = record["image_bound"] = {"bound": IMAGE_BOUND, **_jpeg_cases(model, pipeline, manifest,
                                                                               np.asarray(validation), loaded, serving)}
        worst = max(v for k, v in images.items() if k != "bound")
        if not worst <= IMAGE_BOUND:
            raise ExportError(f"the SavedModel's raw-input signature differs from Pillow's decoding by {worst:.3g} "
                              f"(> {IMAGE_BOUND:g}) on JPEG or resized images; nothing was written to {out}.")
    return record
