"""Pieces a reader can hold at once: no module over 350 lines, no function over 60, no code after a return.

Counted from the source with ``ast`` over ``autosearch/`` and ``benchmarks/``: a function's length runs from its
``def`` line to its last line, docstring and nested functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autosearch", "benchmarks")
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _long_functions(path: Path) -> dict[tuple[str, str], int]:
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lengths = {(rel, f"{f.name}:{f.lineno}"): f.end_lineno - f.lineno + 1 for f in _functions(tree)}
    return {key: n for key, n in lengths.items() if n > MAX_FUNCTION_LINES}


def _unreachable(tree: ast.AST) -> list[int]:
    """Lines of statements that follow a return, raise, continue or break in the same block."""
    found = []
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list):
                continue
            for stmt, after in zip(block, block[1:]):
                if isinstance(stmt, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
                    found.append(after.lineno)
    return found


def test_the_sources_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert {"autosearch/cli/results.py", "benchmarks/overhead.py", "autosearch/tuning/resume.py"} <= names


def test_no_module_is_over_350_lines() -> None:
    long = {p.relative_to(ROOT).as_posix(): n for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them along their seams): {long}"


def test_no_function_is_over_60_lines() -> None:
    long = {f"{path} {where}": n for p in _sources() for (path, where), n in _long_functions(p).items()}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them along their seams): {long}"


@pytest.mark.parametrize("source", ["def f():\n    return 0\n    print(frame)\n",
                                    "def f(x):\n    if x:\n        raise ValueError\n        x += 1\n"])
def test_code_after_a_return_or_raise_is_found(source: str) -> None:
    assert _unreachable(ast.parse(source))


def test_no_statement_follows_a_return_raise_continue_or_break() -> None:
    dead = {p.relative_to(ROOT).as_posix(): lines for p in _sources()
            if (lines := _unreachable(ast.parse(p.read_text(encoding="utf-8"))))}
    assert not dead, f"unreachable statements (delete them): {dead}"
