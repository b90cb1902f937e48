"""What every command shares: one-line errors with exit code 2, and an argument parser that obeys it."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["UsageError", "ArgumentParser", "fail", "positive_int"]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, nothing written."""


def fail(message: str) -> NoReturn:
    """Print ``dynsearch: error: <message>`` on stderr and exit with code 2."""
    print(f"dynsearch: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: {message} (see '{self.prog} --help')")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, with a message that says so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
