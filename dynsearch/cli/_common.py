"""What every command shares: one-line errors with exit code 2, and an argument parser that obeys it."""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import Iterable, NoReturn

__all__ = ["UsageError", "ArgumentParser", "closest", "did_you_mean", "fail", "positive_int"]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, nothing written.

    The line names the command and ends with a pointer to its help; ``about_file`` drops the pointer
    for what is wrong inside a file (a study file, an export), whose message already says where.
    """

    def __init__(self, message: str, *, about_file: bool = False) -> None:
        super().__init__(message)
        self.about_file = about_file

    def line(self, command: str) -> str:
        """``"<command>: <message>; see 'dynsearch <command> --help'"`` (the command named once).

        Example:
            >>> UsageError("--epochs: expected an integer >= 1, got 0.").line("train")
            "train: --epochs: expected an integer >= 1, got 0; see 'dynsearch train --help'"
            >>> UsageError("s.toml: n_trials: expected an integer", about_file=True).line("run")
            'run: s.toml: n_trials: expected an integer'
        """
        message = str(self)
        text = message if message.startswith(f"{command}: ") else f"{command}: {message}"
        if self.about_file or "--help'" in message:
            return text
        return f"{text.rstrip('.')}; see 'dynsearch {command} --help'"


def fail(message: str) -> NoReturn:
    """Print ``dynsearch: error: <message>`` on stderr and exit with code 2."""
    print(f"dynsearch: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to ``word`` (difflib), or None when nothing is close.

    Example:
        >>> closest("treshold", ["fixed", "threshold", "linear"])
        'threshold'
        >>> closest("zzz", ["fixed", "threshold"]) is None
        True
    """
    options = list(choices)
    for candidate in (word, word.strip().lower()):
        match = difflib.get_close_matches(candidate, options, n=1, cutoff=0.6)
        if match:
            return match[0]
    return None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` when a choice is close to ``word``, else ``""``."""
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match else ""


def _command_name(prog: str) -> str:
    """``"dynsearch train"`` → ``"train"``; the top-level parser is ``"dynsearch"``."""
    return prog.split(" ", 1)[1] if " " in prog else prog


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage dump) naming its command, with a hint, exit code 2."""

    def error(self, message: str) -> NoReturn:
        prefix = "" if " " not in self.prog else f"{_command_name(self.prog)}: "
        fail(f"{prefix}{self._reword(message)}; see '{self.prog} --help'")

    def _reword(self, message: str) -> str:
        """argparse's message plus the nearest valid name, for an unknown flag or command."""
        if message.startswith("unrecognized arguments:"):
            flags = [a.split("=", 1)[0] for a in message.split(":", 1)[1].split() if a.startswith("--")]
            known = [s for action in self._actions for s in action.option_strings if s.startswith("--")]
            for flag in flags:
                match = closest(flag, known)
                if match:
                    return f"{message} (did you mean {match}?)"
        if message.startswith("argument COMMAND: invalid choice:") and message.count("'") >= 2:
            word = message.split("'", 2)[1]
            commands = [c for a in self._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices]
            return f"unknown command {word!r}{did_you_mean(word, commands)}; commands: {', '.join(commands)}"
        return message

    def parse_args(self, args=None, namespace=None):
        # Unknown flags after a subcommand are reported by the subcommand, which knows its own flags and help.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras and not getattr(parsed, "unavailable", False):
            command = getattr(parsed, "command", None)
            owner = self._subparser(command) if command else None
            (owner or self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _subparser(self, name: str) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(name)
        return None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, with a message that says so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
