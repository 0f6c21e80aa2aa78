"""Targets: the registry of task types. Each type is one module with ``build(task, ctx)``
(pure: the API request) and ``send(request, clients)`` (the response id); see ``base``."""

from __future__ import annotations

from collections.abc import Mapping

from lambdacron.runtime.targets import (
    athena,
    batch,
    eventbridge,
    http,
    lambda_,
    queue,
    sns,
    stepfunctions,
)
from lambdacron.runtime.targets.base import BatchTarget, Target, TargetError

TARGETS: Mapping[str, Target] = {
    "queue": queue,
    "lambda": lambda_,
    "batch": batch,
    "athena": athena,
    "http": http,
    "sns": sns,
    "stepfunctions": stepfunctions,
    "eventbridge": eventbridge,
}
# Types whose API takes several tasks per call; the dispatcher groups their tasks.
BATCH_TARGETS: Mapping[str, BatchTarget] = {"queue": queue}


def target(type_name: str) -> Target:
    """The module of ``type_name``, or a TargetError that lists the known types."""
    try:
        return TARGETS[type_name]
    except KeyError:
        raise TargetError(
            f"unknown task type {type_name!r}; lambdacron knows {', '.join(TARGETS)}; "
            "fix the template's `type:` and publish again",
            transient=False,
        ) from None


__all__ = ["BATCH_TARGETS", "TARGETS", "BatchTarget", "Target", "TargetError", "target"]
