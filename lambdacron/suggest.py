"""Words for users: "did you mean" suggestions and short descriptions of the values they wrote.

Shared by every validation stage (env files, templates, tasks, expressions), so that a misspelt
key, name or value is answered the same way everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's default: close enough to catch one or two wrong letters, far enough to stay silent
# on unrelated words.
CUTOFF = 0.6
MAX_SHOWN = 40


def did_you_mean(word: object, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, or None when none is close.

    A match that differs only in case wins first (``jobqueue`` -> ``jobQueue``), because the
    AWS parameter names mix cases and that is the commonest slip.
    """
    if not isinstance(word, str) or not word:
        return None
    choices = list(dict.fromkeys(candidates))
    if word in choices:
        return None
    by_folded = {choice.casefold(): choice for choice in choices}
    folded = word.casefold()
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=CUTOFF)
    return by_folded[close[0]] if close else None


def describe(value: object) -> str:
    """``value`` as a user reads it in a message: ``a string ('5')``, ``an integer (5)``, ``null``.

    Booleans and null use their YAML spelling, since YAML is what the user wrote.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({quote(value)})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def quote(text: object) -> str:
    """``'text'``, shortened when long and with control characters escaped, so that one
    message stays on one line of a terminal."""
    shown = str(text)
    if not shown.isprintable():
        shown = repr(shown)[1:-1]
    if len(shown) > MAX_SHOWN:
        shown = shown[: MAX_SHOWN - 3] + "..."
    return f"'{shown}'"


def join_or(words: Iterable[str], conjunction: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"
