"""Command line: parse, call the library, print, exit (0 ok, 2 bad input, 130 interrupted, 143 terminated).

Each module of this package registers the sub-commands of one part of the flow (``register(sub)``) and
holds their ``cmd_*`` functions: a few lines that parse, call one library function and print.
"""

from __future__ import annotations

import signal
import sys
import traceback
from typing import Any, Sequence

from autosearch.cli import distributed, results, search
from autosearch.cli.parsing import Parser, subcommand_factory
from autosearch.errors import AutosearchError, Terminated

MODULES = (search, distributed, results)  # the order of `autosearch --help`


def parser() -> Parser:
    root = Parser(prog="autosearch", description=__doc__.splitlines()[0])
    root.add_argument("--debug", action="store_true", help="show tracebacks")
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
        resume = f" Continue with 'autosearch resume {args.run_id}'." if getattr(args, "run_id", None) else ""
        print(f"\n{exc or 'interrupted (Ctrl-C)'}: the running trial and the run are marked INTERRUPTED.{resume}",
              file=sys.stderr)
        return getattr(exc, "exit_code", 130)


if __name__ == "__main__":
    sys.exit(main())
