"""Expressions in plain words (cron-descriptor), for ``list``, ``explain`` and ``calendar``."""

from __future__ import annotations

from functools import lru_cache

from lambdacron.runtime.cron import MACROS


@lru_cache(maxsize=4096)
def describe(expression: str) -> str:
    """``"0 17 5 * *"`` → ``"At 17:00, on day 5 of the month"`` (24-hour clock)."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    text = MACROS.get(expression.strip().lower(), expression)
    try:
        return str(ExpressionDescriptor(text, options).get_description())
    except Exception:  # cron-descriptor raises several types; a description is a nicety
        return expression
