"""What the installed package holds: ``autosearch pipelines`` (the shipped pipelines) and ``--version``.

Both read files and package metadata only: neither imports TensorFlow.
"""

from __future__ import annotations

import argparse
import platform
from importlib import metadata
from pathlib import Path

from autosearch.cli.parsing import SubCommand
from autosearch.pipelines import DEFAULT, SHIPPED_DIR, describe

# the distributions a bug report needs, read from their metadata (never imported)
REPORTED = (("autokeras",), ("keras",), ("tensorflow-cpu", "tensorflow"))


class VersionAction(argparse.Action):
    """``--version``: the line of ``version_line()``, unwrapped (argparse's own action wraps it), then exit 0."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="the installed version, where it runs from, and its AutoKeras/Keras/TensorFlow")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(version_line())
        parser.exit(0)


def register(sub: SubCommand) -> None:
    sub("pipelines", "list the shipped pipelines (their task, data and default budget)", cmd_pipelines,
        tracker=False)


def cmd_pipelines(args: argparse.Namespace) -> int:
    rows = [("name", "task", "data", "trials", "time budget")]
    rows += [(p.name + (" (default)" if p.name == DEFAULT else ""), p.task, p.dataset, str(p.max_trials or ""),
              p.time_budget) for p in describe()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print()
    print(f"Shipped in {SHIPPED_DIR}")
    print("Run one with 'autosearch search --pipeline NAME'; to change one, copy it and give the copy's path: "
          f"cp {SHIPPED_DIR / (DEFAULT + '.toml')} mine.toml && autosearch search --pipeline mine.toml")
    return 0


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def version_line() -> str:
    """``autosearch 0.1.0 from <folder> (Python 3.11.9; autokeras 3.0.0, keras 3.12.4, tensorflow 2.21.0)``."""
    from autosearch import __version__  # the running code's own (an editable install's metadata can lag)

    found = [f"{names[-1]} {v}" for names in REPORTED if (v := _version(*names))]
    where = Path(__file__).resolve().parent.parent
    return f"autosearch {__version__} from {where} (Python {platform.python_version()}; {', '.join(found)})"
