"""Compiler-side errors: diagnostics with a location, collected and raised once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lambdacron.runtime.errors import (
    LambdacronError,
    ManifestError,
    PublishConflictError,
    StoreError,
    UsageError,
)

__all__ = [
    "Diagnostic",
    "InvalidInputError",
    "LambdacronError",
    "ManifestError",
    "PublishConflictError",
    "StoreError",
    "UsageError",
]


@dataclass(frozen=True)
class Diagnostic:
    """One problem at one place: ``path:line: message (hint)``.

    ``path`` is relative to the project root when the file lies inside it. ``hint`` says how to fix it.
    ``trace`` lists further ``path:line`` places (a macro's or include's call chain).
    """

    path: str | None
    line: int | None
    message: str
    hint: str | None = None
    trace: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        for place in self.trace:
            text += f"\n  {place}"
        return text


class InvalidInputError(LambdacronError):
    """Invalid templates, env files or tasks: every problem found, reported at once (exit 1)."""

    exit_code = 1

    def __init__(self, diagnostics: Iterable[Diagnostic], env: str | None = None) -> None:
        self.diagnostics: Sequence[Diagnostic] = tuple(diagnostics)
        self.env = env
        super().__init__(self.summary())

    def summary(self) -> str:
        count = len(self.diagnostics)
        files = {d.path for d in self.diagnostics if d.path}
        noun = "error" if count == 1 else "errors"
        where = f" in {len(files)} file{'s' if len(files) != 1 else ''}" if files else ""
        env = f" (env {self.env})" if self.env else ""
        return f"{count} {noun}{where}{env}. Nothing was written."

    def __str__(self) -> str:
        return "\n".join([*(str(d) for d in self.diagnostics), self.summary()])
