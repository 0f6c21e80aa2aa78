"""The error hierarchy. Each error carries its data and builds its own message; the CLI maps
``exit_code`` to the process exit status in one place."""

from __future__ import annotations


class LambdacronError(Exception):
    """Base of every error lambdacron reports to a user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(LambdacronError):
    """The command line itself is wrong (unknown env, missing option, bad ISO time...)."""

    exit_code = 2


class StoreError(LambdacronError):
    """AWS, network or store failure: unreachable, missing bucket, no credentials, account pin."""

    exit_code = 3


class ManifestError(LambdacronError):
    """A manifest that cannot be used: unknown format, bad JSON, digest mismatch."""

    exit_code = 3

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class PublishConflictError(LambdacronError):
    """Someone published since the plan was made."""

    exit_code = 4

    def __init__(self, env: str, expected: int | None, found: int | None) -> None:
        self.env = env
        self.expected = expected
        self.found = found
        was = "no manifest" if expected is None else f"version {expected}"
        now = "no manifest" if found is None else f"version {found}"
        super().__init__(
            f"env {env}: the live manifest changed while publishing (planned against {was}, "
            f"now {now}). Nothing was changed. Run `lambdacron plan --env {env}` and publish again."
        )
