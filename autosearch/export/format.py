"""A bundle on disk: its file names, format version, manifest and checksums (no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from autosearch.errors import BundleError
from autosearch.fileio import sha256_file

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
PREPROCESSING = "preprocessing.json"
FORMAT_FILES = {"keras": "model.keras", "saved_model": "saved_model", "h5": "model.h5"}
TOLERANCE = 1e-5  # largest difference a reloaded bundle may show against the in-memory model
_LARGEST_MANIFEST = 16 << 20


def bundle_files(folder: Path) -> tuple[set[str], set[str]] | None:
    """What the autosearch bundle in ``folder`` consists of: (its manifest and every file the manifest lists,
    the folders of its model formats), relative paths; ``None`` when ``folder`` holds no ``manifest.json``
    or one that is not an autosearch bundle manifest (not JSON, no format version, no file list)."""
    path = Path(folder) / MANIFEST
    try:  # not a FIFO (it would never answer), nor a file far larger than any manifest
        if not path.is_file() or path.stat().st_size > _LARGEST_MANIFEST:
            return None
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    files, formats = manifest.get("files"), manifest.get("formats")
    if not (isinstance(manifest.get("format_version"), int) and isinstance(files, dict) and files
            and isinstance(formats, dict) and all(isinstance(k, str) for k in files)):
        return None
    return {MANIFEST, *files}, {str(name) for name in formats.values()}


def is_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds an autosearch bundle (judged by its manifest alone)."""
    return bundle_files(folder) is not None


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` but the manifest, by relative path."""
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST
    }


def read_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle '{path}' not found; export one with 'autosearch export RUN_ID'.")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path} has no {MANIFEST}; it is not an autosearch bundle (re-export it).")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path} is not valid JSON ({exc}); re-export the bundle.") from None
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: bundle format {version!r} is newer than this autosearch reads ({BUNDLE_FORMAT}); "
            "upgrade autosearch."
        )
    return manifest


def verify_checksums(path: Path, manifest: Mapping[str, Any]) -> None:
    expected: Mapping[str, str] = manifest.get("files", {})
    actual = file_digests(Path(path))
    for rel, digest in expected.items():
        if rel not in actual:
            raise BundleError(f"{path}: file '{rel}' is missing; the bundle is incomplete, re-export it.")
        if actual[rel] != digest:
            raise BundleError(
                f"{path}: checksum mismatch for '{rel}' (sha256 {actual[rel][:12]}… != {digest[:12]}…); "
                "the file was changed or damaged, re-export the bundle."
            )


