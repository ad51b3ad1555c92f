"""argparse with one-line errors, the options every sub-command shares, and argument types."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn

from autosearch.errors import AutosearchError

SubCommand = Callable[..., argparse.ArgumentParser]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (what, where, how to fix) instead of a usage block; the options named in
    ``dash_values`` take a value that starts with '-' (``--sort -duration``), which argparse reads as an option."""

    dash_values: set[str] = set()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        if args is not None and self.dash_values:
            args, joined = list(args), []
            for arg in args:
                if joined and joined[-1] in self.dash_values and arg[:1] == "-" and arg[:2] != "--":
                    joined[-1] = f"{joined[-1]}={arg}"
                else:
                    joined.append(arg)
            args = joined
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see '{self.prog} --help'.\n")


def subcommand_factory(root: Parser) -> SubCommand:
    """``sub(name, help, func, tracker=True)``: a sub-command parser that runs ``func(args)``, with the
    shared options (``--debug`` anywhere, ``--tracker`` unless ``tracker=False``)."""
    # SUPPRESS keeps a sub-command's default from overwriting a --debug given before it.
    debug = Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    tracked = Parser(add_help=False, parents=[debug])
    tracked.add_argument("--tracker", help="tracker URI (default: $AUTOSEARCH_TRACKING_URI or "
                                           "sqlite:///<home>/tracker.db)")
    subparsers = root.add_subparsers(dest="command", required=True, parser_class=Parser)

    def sub(name: str, help: str, func: Callable[[argparse.Namespace], int],
            tracker: bool = True) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, help=help, parents=[tracked if tracker else debug])
        parser.set_defaults(func=func)
        return parser

    return sub


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise AutosearchError(f"{question} needs confirmation; run it in a terminal or pass --yes.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
