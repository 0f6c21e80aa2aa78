"""Runtime placeholders: what templates write for values only known at fire time.

``scheduled_time("%Y-%m-%d")``, ``task_name()``, ``execution_id()`` and ``secret("ssm:/x")`` render
to ``${lambdacron:KIND}`` or ``${lambdacron:KIND:ARGUMENT}`` strings. They are stored as such in
the rendered YAML and the manifest, and expanded by the scheduler in every string of a request.
A ``}`` or ``\\`` inside an argument is escaped with a backslash.
"""

from __future__ import annotations

import re

PREFIX = "${lambdacron:"
KINDS = ("scheduled_time", "task_name", "execution_id", "secret")
PATTERN = re.compile(r"\$\{lambdacron:([a-z_]+)(?::((?:[^}\\]|\\.)*))?\}")


def placeholder(kind: str, argument: str | None = None) -> str:
    """The placeholder text for ``kind`` (one of KINDS) with an optional argument."""
    if argument is None:
        return f"{PREFIX}{kind}}}"
    escaped = argument.replace("\\", "\\\\").replace("}", "\\}")
    return f"{PREFIX}{kind}:{escaped}}}"


def unescape(argument: str | None) -> str | None:
    if argument is None:
        return None
    return re.sub(r"\\(.)", r"\1", argument)
