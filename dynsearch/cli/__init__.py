"""The ``dynsearch`` command: train | run | worker | studies | report | dashboard | export | plan | calibrate."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

from ._common import ArgumentParser, UsageError, fail

__all__ = ["main"]


# Module → the commands it defines (``COMMANDS``). Listed here so a module that fails to import still
# shows its commands, each saying why it cannot run, instead of vanishing from the CLI.
_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "train_cmd": ("train",),
    "search_cmd": ("run", "worker", "studies"),
    "report_cmd": ("report", "dashboard", "export"),
    "plan_cmd": ("plan",),
    "calibrate_cmd": ("calibrate",),
}

Configure = Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]


def _unavailable(module_name: str, exc: BaseException) -> tuple[str, Configure]:
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")

    def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
        parser.set_defaults(unavailable=True)  # its real arguments are unknown: accept any

        def run(args: argparse.Namespace) -> int:
            print(f"dynsearch: error: '{args.command}' cannot run: importing dynsearch.cli.{module_name} "
                  f"failed with {reason}", file=sys.stderr)
            return 1

        return run

    return f"unavailable ({reason})", configure


def _commands() -> dict[str, tuple[str, Configure]]:
    # Imported lazily so `dynsearch --help` stays fast and one command's imports don't slow another.
    commands: dict[str, tuple[str, Configure]] = {}
    for module_name, names in _COMMAND_MODULES.items():
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except Exception as exc:  # shown on --help and when the command is used, never dropped silently
            commands.update({name: _unavailable(module_name, exc) for name in names})
            continue
        commands.update(module.COMMANDS)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dynsearch`` console script."""
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from ..plugins import PluginError

    try:
        return _main(argv)
    except PluginError as exc:  # an installed plugin (dynsearch.plugins entry point) that cannot be imported
        fail(str(exc))


def _main(argv: Sequence[str] | None) -> int:
    parser = ArgumentParser(prog="dynsearch", description="Search the hyperparameters of dynamic activation functions.")
    # loaded when this command runs, so `dynsearch --help` and the other commands start fast
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"dynsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (help_text, configure) in _commands().items():
        handlers[name] = configure(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    verbosity = _optuna_verbosity()
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        fail(exc.line(args.command))
    except KeyboardInterrupt:
        print("dynsearch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        # Commands set Optuna's log level for their output; a caller of main() in the same process gets its own back.
        if verbosity is not None:
            sys.modules["optuna"].logging.set_verbosity(verbosity)


def _optuna_verbosity() -> int | None:
    optuna = sys.modules.get("optuna")
    return optuna.logging.get_verbosity() if optuna is not None else None


if __name__ == "__main__":
    sys.exit(main())
