"""The shipped pipelines: TOML files installed with the package, found by name from any directory.

``autosearch search --pipeline text`` reads ``text.toml`` here. A value that is not a shipped name (a ``.toml``
suffix, a folder in it, or any other word) is the user's own file, read from where it is. This module reads
TOML and nothing else, so that listing the pipelines never imports TensorFlow.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
DEFAULT = "text"


@dataclass(frozen=True)
class ShippedPipeline:
    """One shipped pipeline as ``autosearch pipelines`` lists it."""

    name: str
    task: str
    dataset: str
    max_trials: int | None
    time_budget: str
    path: Path


def shipped_names() -> list[str]:
    """The names of the shipped pipelines, sorted."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


def is_bare_name(value: str | Path) -> bool:
    """A word with no folder and no suffix: what names a shipped pipeline rather than a file."""
    text = str(value)
    return bool(text) and Path(text).name == text and "." not in text


def resolve(name_or_path: str | Path) -> Path:
    """The file a ``--pipeline`` value means: the shipped pipeline of that name, else the path as given."""
    if is_bare_name(name_or_path) and str(name_or_path) in shipped_names():
        return SHIPPED_DIR / f"{name_or_path}.toml"
    return Path(name_or_path)


def describe() -> list[ShippedPipeline]:
    """Each shipped pipeline's name, task, data set and default budget."""
    rows = []
    for name in shipped_names():
        path = SHIPPED_DIR / f"{name}.toml"
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        search = raw.get("search", {})
        rows.append(ShippedPipeline(name=name, task=str(raw.get("task", "")),
                                    dataset=str(raw.get("data", {}).get("dataset", "")),
                                    max_trials=search.get("max_trials"),
                                    time_budget=str(search.get("time_budget", "")), path=path))
    return rows
