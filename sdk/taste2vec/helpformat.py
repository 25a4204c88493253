"""One help style for every Taste2Vec CLI: each option's help ends with its default, descriptions keep their line
breaks. Use :class:`Parser` instead of ``argparse.ArgumentParser``; its subcommands inherit the style.

A test walks every parser of every CLI and fails on an option without help text.
"""

from __future__ import annotations

import argparse
from typing import Any

_NO_DEFAULT = (None, False, argparse.SUPPRESS)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Raw descriptions/epilogs, and ``(default: X)`` after every option whose default means something: not for
    flags (False), options without a default (None), or help that already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = any(default is d for d in _NO_DEFAULT) or default == [] or "%(default)" in text \
            or "default" in text.lower()
        if shown or not (action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)):
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with :class:`HelpFormatter`; ``add_subparsers`` makes more of the same class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def iter_parsers(parser: argparse.ArgumentParser):
    """This parser and every subcommand's parser below it, depth first (for tests and docs)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for sub in action.choices.values():
                if id(sub) not in seen:  # aliases share a parser
                    seen.add(id(sub))
                    yield from iter_parsers(sub)


def int_at_least(low: int):
    """An argparse ``type``: an integer >= ``low`` (anything else is argparse's usage error, exit 2, before any
    work starts)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value}: allowed {low} or more")
        return value

    parse.__name__ = f"integer >= {low}"  # argparse names the type in its message
    return parse
