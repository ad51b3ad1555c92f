"""Command line: parse, call the library, print, exit (0 ok, 2 bad input, 130 interrupted, 143 terminated).

Each module of this package registers the sub-commands of one part of the flow (``register(sub)``) and
holds their ``cmd_*`` functions: a few lines that parse, call one library function and print.
"""

from __future__ import annotations

import signal
import sys
import traceback
from typing import Any, Sequence

from autosearch.cli import distributed, package, results, search
from autosearch.cli.parsing import Parser, subcommand_factory
from autosearch.errors import AutosearchError, Marked, Terminated

MODULES = (search, distributed, results, package)  # the order of `autosearch --help`


def parser() -> Parser:
    root = Parser(prog="autosearch", description=__doc__.splitlines()[0])
    root.add_argument("--debug", action="store_true", help="show tracebacks")
    root.add_argument("--version", action=package.VersionAction)
    sub = subcommand_factory(root)
    for module in MODULES:
        module.register(sub)
    return root


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # like Ctrl-C: close what is running, exit 143
    try:
        return args.func(args)
    except AutosearchError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return exc.exit_code
    except BrokenPipeError:  # `autosearch leaderboard | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as exc:
        print(f"\n{interrupted(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)


def interrupted(exc: KeyboardInterrupt) -> str:
    """The last line of a command stopped by Ctrl-C or SIGTERM: what its search marked INTERRUPTED (``Marked``)
    and the exact resume command, or, for a command that had no run (predict, export, report...), no claim."""
    said = str(exc) or "interrupted (Ctrl-C)"
    marked: Marked | None = getattr(exc, "marked", None)
    if marked is None:
        return f"{said}."
    trials = marked.trials
    what = ("" if trials is None else ", no trial was running" if not trials else
            f", and so is its running trial {trials[0]}" if len(trials) == 1 else
            f", and so are its running trials {', '.join(trials)}")
    return (f"{said}: run {marked.run_id} is marked INTERRUPTED{what}. Continue it with "
            f"'autosearch resume {marked.run_id}'.")


if __name__ == "__main__":
    sys.exit(main())
