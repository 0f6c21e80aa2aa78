"""Dispatch stage, placeholders: replace ``${lambdacron:...}`` in every string of a request
with its value at fire time (see lambdacron.runtime.placeholders).

``scheduled_time(fmt)`` is formatted in the task's own time zone; ``secret(ref)`` is resolved
by the given resolver, or left as written when there is none (what the dead-letter queue keeps,
so that a secret value is never copied there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from lambdacron.runtime.context import FireContext
from lambdacron.runtime.placeholders import KINDS, PATTERN, PREFIX, unescape
from lambdacron.runtime.targets.base import TargetError

Resolver = Callable[[str], str]


def expand(value: Any, ctx: FireContext, secret: Resolver | None = None) -> Any:
    """``value`` (strings, mappings, lists, other scalars) with every placeholder replaced."""
    if isinstance(value, str):
        return expand_text(value, ctx, secret)
    if isinstance(value, dict):
        return {
            expand_text(k, ctx, secret) if isinstance(k, str) else k: expand(v, ctx, secret)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [expand(v, ctx, secret) for v in value]
    return value


def expand_text(text: str, ctx: FireContext, secret: Resolver | None = None) -> str:
    if PREFIX not in text:
        return text

    def replace(match: Any) -> str:
        return _value(match.group(0), match.group(1), unescape(match.group(2)), ctx, secret)

    # One pass: a value that itself looks like a placeholder (a secret, say) stays as it is.
    return str(PATTERN.sub(replace, text))


def _value(
    whole: str, kind: str, argument: str | None, ctx: FireContext, secret: Resolver | None
) -> str:
    if kind == "scheduled_time":
        local = ctx.scheduled.astimezone(ZoneInfo(ctx.task.timezone))
        return local.strftime(argument) if argument else local.isoformat()
    if kind == "task_name":
        return ctx.task.name
    if kind == "execution_id":
        return ctx.execution_id
    if kind == "secret" and argument:
        return secret(argument) if secret is not None else whole
    raise TargetError(
        f"task {ctx.task.name}: unknown placeholder {whole}; lambdacron knows "
        f"{', '.join(KINDS)} (secret needs a reference); re-render the task with this version",
        transient=False,
    )
