"""The `accelsim` command. Each `*_cmd.py` module in this package registers its own subcommands.

Building the parser imports every command module: they import heavy libraries (numba, torch, matplotlib,
pandas, dask) inside the command functions, so `accelsim --help` and `--version` stay fast.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import pkgutil
import sys

from accelsim import __version__
from accelsim.atomic import overwrite_allowed
from accelsim.errors import InputError

DESCRIPTION = ("Simulate recommendation-model inference on package-integrated CPU+accelerator systems; "
               "`accelsim COMMAND --help` for each command.")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option with a default names it."""

    def _format_action(self, action: argparse.Action) -> str:
        helptext = action.help or ""
        default = action.default
        if (action.option_strings and default is not None and default is not False
                and default != argparse.SUPPRESS and default != [] and "default" not in helptext):
            action = copy.copy(action)
            action.help = f"{helptext} (default: %(default)s)" if helptext else "default: %(default)s"
        return super()._format_action(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        # Command modules may ask for RawDescriptionHelpFormatter; ours is one, with the defaults added.
        if kwargs.get("formatter_class") in (None, argparse.HelpFormatter, argparse.RawDescriptionHelpFormatter):
            kwargs["formatter_class"] = _HelpFormatter
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # argparse's default exit code is also 2; keep one-line output
        self.exit(2, f"accelsim: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_force_flag(parser: argparse.ArgumentParser) -> None:
    """Give a writing command `--force`: replace what is at its output path (see accelsim.atomic)."""
    parser.add_argument("--force", action="store_true",
                        help="replace the output path even if it is not a previous output of this command")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module's subcommands."""
    parser = _Parser(prog="accelsim", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.endswith("_cmd")):
        importlib.import_module(f"{__name__}.{mod}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input prints one line and exits 2."""
    args = build_parser().parse_args(argv)
    try:
        with overwrite_allowed(getattr(args, "force", False)):
            rc = args.func(args)
        sys.stdout.flush()
    except InputError as err:
        print(f"accelsim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `accelsim ... | head`: the reader left; end quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush cannot fail
        return 141
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
