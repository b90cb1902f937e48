"""The ``dynsearch`` command: train | run | worker | studies | report | dashboard | export."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from ._common import ArgumentParser, UsageError, fail

__all__ = ["main"]


def _commands() -> dict[str, tuple[str, Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]]]:
    # Imported lazily so `dynsearch --help` stays fast and one command's imports don't slow another.
    from . import train_cmd

    commands = {"train": ("train one model under one strategy and print a summary", train_cmd.configure)}
    for module_name in ("search_cmd", "report_cmd", "plan_cmd"):
        try:
            module = __import__(f"{__name__}.{module_name}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module_name}":
                raise
            continue
        commands.update(module.COMMANDS)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dynsearch`` console script."""
    parser = ArgumentParser(prog="dynsearch", description="Search the hyperparameters of dynamic activation functions.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"dynsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (help_text, configure) in _commands().items():
        handlers[name] = configure(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print("dynsearch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
