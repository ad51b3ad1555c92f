"""Write a self-describing bundle: the model in three formats, its fitted preprocessing, a manifest.

A bundle answers on raw inputs in another process: AutoKeras 3 tokenizes text
and encodes labels *outside* the Keras model, so the fitted AutoKeras pipeline
travels with the model. The bundle is assembled in a temporary directory,
reloaded and checked against the in-memory model, and only then renamed into
place: an interrupted or failed export leaves no half bundle, and the old one as it was.

A bundle replaces only an empty folder or a bundle of autosearch's whose folder holds nothing but the
files its manifest lists: a folder with a manifest.json of its own, or a bundle folder to which the user
added a file, is refused naming it (``check_replaceable``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from autosearch.errors import ExportError
from autosearch.export.format import (
    BUNDLE_FORMAT,
    FORMAT_FILES,
    MANIFEST,
    PREPROCESSING,
    TOLERANCE,
    bundle_files,
    file_digests,
)
from autosearch.export.outputs import model_outputs
from autosearch.fileio import write_json_atomic


def _model_input_spec(model: Any) -> dict[str, Any]:
    """dtype and shape of the model's (first) input, and of each input of a several-input model."""
    specs = [{"dtype": str(i.dtype), "shape": [None if d is None else int(d) for d in i.shape]} for i in model.inputs]
    return {**specs[0], "inputs": specs}


def _save_model(model: Any, pipeline: Any, manifest: Mapping[str, Any], folder: Path,
                force_h5: bool) -> tuple[str | None, dict[str, Any] | None]:
    """The model as .keras and SavedModel (``serving_default`` on raw inputs, ``serve`` on numeric ones), or
    .keras and H5 when the SavedModel fails (or ``force_h5``); returns (why H5 was written, ``None`` when it
    was not; how to call the SavedModel, ``None`` without one)."""
    model.save(folder / FORMAT_FILES["keras"])
    fallback_reason, serving = "forced (--h5)" if force_h5 else None, None
    if not force_h5:
        from autosearch.export.serving import write_saved_model

        try:
            serving = write_saved_model(model, pipeline, manifest, folder / FORMAT_FILES["saved_model"])
        except Exception as exc:  # noqa: BLE001 - any failure means: fall back to H5
            shutil.rmtree(folder / FORMAT_FILES["saved_model"], ignore_errors=True)
            fallback_reason = f"{type(exc).__name__}: {exc}".strip()[:500]
    if fallback_reason:
        model.save(folder / FORMAT_FILES["h5"])
    return fallback_reason, serving


def preprocessing_version(pipeline: Any) -> int:
    """The text preprocessing's version of a fitted pipeline (1 for data without a tokenizer of ours, and
    for tokenizers saved before versions were recorded)."""
    return max([int(getattr(step, "version", 1)) for steps in pipeline.inputs for step in steps] or [1])


def write_bundle(
    model: Any,
    pipeline: Any,
    out: Path,
    manifest: Mapping[str, Any],
    check_inputs: Any,
    *,
    force_h5: bool = False,
) -> Path:
    """Write ``model`` + ``pipeline`` to ``out`` and verify it on ``check_inputs`` (raw inputs).

    ``manifest`` carries the run's facts (ids, task, schema, classes, scores,
    fingerprint); formats, checksums, versions and the verification are added here.
    """
    from autosearch.environment import package_versions

    out = Path(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(out)
    tmp = out.parent / f".{out.name}.tmp-{_owner()}"
    tmp.mkdir()
    try:
        expected = model_outputs(model, pipeline, manifest, check_inputs)
        fallback_reason, serving = _save_model(model, pipeline, manifest, tmp, force_h5)
        pipeline.save(str(tmp / PREPROCESSING))
        if serving and serving["raw"]:
            from autosearch.export.parity import check_parity

            serving["raw"]["verification"] = check_parity(tmp / FORMAT_FILES["saved_model"], model, pipeline,
                                                          manifest, serving["raw"], check_inputs, out)
        formats = {f: name for f, name in FORMAT_FILES.items() if (tmp / name).exists()}
        full = {
            **manifest,
            "format_version": BUNDLE_FORMAT,
            "created_at": time.time(),
            "model_input": _model_input_spec(model),
            "formats": formats,
            "preprocessing": PREPROCESSING,
            "preprocessing_version": preprocessing_version(pipeline),
            "serving": serving,
            "h5_fallback_reason": fallback_reason,
            "versions": package_versions(),
            "files": file_digests(tmp),
        }
        write_json_atomic(tmp / MANIFEST, full)
        full["verification"] = _verify_formats(tmp, formats, expected, check_inputs, out)
        write_json_atomic(tmp / MANIFEST, full)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _verify_formats(tmp: Path, formats: Mapping[str, str], expected: np.ndarray, check_inputs: Any,
                    out: Path) -> dict[str, Any]:
    """Each format reloaded from ``tmp`` answers ``check_inputs`` as the in-memory model did (``expected``):
    the verification record, or ``ExportError``."""
    from autosearch.export.predictor import load

    diffs = {}
    for fmt in formats:
        got = load(tmp, format=fmt).outputs(check_inputs)
        diffs[fmt] = float(np.max(np.abs(got - expected))) if len(expected) else 0.0
    worst = max(diffs.values())
    if not worst <= TOLERANCE:
        raise ExportError(
            f"exported model does not reproduce the in-memory predictions (max difference {worst:.3g} > "
            f"{TOLERANCE:g}, per format {diffs}); nothing was written to {out}."
        )
    return {"rows": int(len(expected)), "max_abs_diff": diffs, "tolerance": TOLERANCE}


def check_replaceable(out: Path, shown: Path | None = None) -> None:
    """A bundle may replace an empty folder or an autosearch bundle holding only the files its manifest
    lists, never anything else: export deletes only what it wrote. ``ExportError`` naming what is there
    (``shown``: the name to give ``out`` in the message)."""
    shown = shown or out
    if out.is_symlink():
        raise ExportError(f"{shown} is a symbolic link (to {os.readlink(out)}); give --out the folder itself.")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{shown} is a file, not a bundle folder; give --out a new or empty directory.")
    if not out.is_dir():
        return
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    if not entries:
        return
    shown_entries = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    if MANIFEST not in entries:
        raise ExportError(f"{shown} is not empty and not an autosearch bundle (it holds {shown_entries}); nothing "
                          "was written. Give --out a new or empty directory.")
    owned = bundle_files(out)
    if owned is None:
        raise ExportError(f"{shown}/{MANIFEST} is not an autosearch bundle manifest, so {shown} is a folder of "
                          f"yours (it holds {shown_entries}); nothing was written. Give --out a new or empty "
                          "directory.")
    extra = _first_unlisted(out, *owned)
    if extra is not None:
        raise ExportError(f"{shown} is an autosearch bundle, but the bundle holds {extra}, which is not one of the "
                          "files its manifest lists; nothing was written. Move it out of the folder, or give "
                          "--out another directory.")


def _first_unlisted(out: Path, files: set[str], format_dirs: set[str]) -> str | None:
    """The first path under ``out`` that is not the bundle's: a file its manifest does not list, or an empty
    folder outside the model formats' folders (SavedModel's empty assets/ is the bundle's)."""
    parents = {str(parent) for rel in files for parent in Path(rel).parents}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_dir() and not path.is_symlink():
            if str(rel) in parents or rel.parts[0] in format_dirs or any(path.iterdir()):
                continue  # a folder of the bundle, or one whose files are named below
            return f"{rel}/"
        if str(rel) not in files:
            return str(rel)
    return None


def _owner() -> str:
    """``p<pid>-<random>``: the temporary folders of an export name the process that writes them."""
    return f"p{os.getpid()}-{secrets.token_hex(3)}"


def _dead_owner(folder: Path) -> bool:
    """Whether ``folder`` (``.export.tmp-p<pid>-...``) was left by a process of this host that no longer runs."""
    tail = folder.name.rsplit(".", 1)[-1].partition("-")[2]  # p<pid>-<random>
    pid = tail.partition("-")[0][1:]
    if not (tail.startswith("p") and pid.isdigit()):
        return False  # not named by an owner: leave it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clear_leftovers(out: Path) -> None:
    """What an export killed mid-way (SIGKILL, power cut) left beside ``out``: its temporary folder is
    removed; a previous bundle swapped out by ``_replace_dir`` when the kill came between its two renames
    is put back when ``out`` is missing, else removed. Folders of a live export are left alone."""
    for folder in sorted(out.parent.glob(f".{out.name}.old-*")) + sorted(out.parent.glob(f".{out.name}.tmp-*")):
        if not folder.is_dir() or not _dead_owner(folder):
            continue
        if ".old-" in folder.name and not out.exists() and (folder / MANIFEST).is_file():
            folder.rename(out)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; an existing ``dst`` is swapped out first, then deleted."""
    old = None
    if dst.exists() or dst.is_symlink():
        old = dst.parent / f".{dst.name}.old-{_owner()}"
        dst.rename(old)
        try:  # again, once swapped out: something may have appeared while the bundle was verified
            check_replaceable(old, shown=dst)
        except ExportError:
            old.rename(dst)
            raise
    try:
        src.rename(dst)
    except OSError:
        if old is not None:
            old.rename(dst)  # put the previous bundle back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def score_and_export(model: Any, pipeline: Any, cfg: Any, split: Any, trial: tuple[str, str, float | None],
                     out: Path | None, *, predictions: Path | None = None, force_h5: bool = False,
                     manifest_extra: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Path | None]:
    """The one export sequence of search, export and reproduce: the manifest of ``trial`` (run id, trial id,
    objective; plus ``manifest_extra``, e.g. an ensemble's members), the model's scores on validation and
    test (their predictions kept in ``predictions`` when given), then the bundle in ``out`` (none when
    ``out`` is None). Returns the scores and the bundle."""
    from autosearch.export.evaluate import score_model, write_predictions
    from autosearch.export.manifest import bundle_manifest

    run_id, trial_id, objective = trial
    manifest = {**bundle_manifest(cfg, split, run_id, trial_id, objective), **(manifest_extra or {})}
    scores, outputs = score_model(model, pipeline, manifest, split)
    if predictions is not None:
        write_predictions(split, outputs, predictions)
    if out is None:
        return scores, None
    return scores, write_bundle(model, pipeline, out, {**manifest, "scores": scores}, split.raw_x("validation"),
                                force_h5=force_h5)
