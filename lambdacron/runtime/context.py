"""Dispatch stage, the data it works on: which task fires for which scheduled minute
(``FireContext``) and what came of it (``Outcome``)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lambdacron.runtime.manifest import Task

Status = Literal["fired", "failed", "duplicate", "skipped"]

# The strictest consumer of the id is a Step Functions execution name: at most 80 characters of
# [A-Za-z0-9_-]. Athena's ClientRequestToken wants at least 32. The layout below gives 41 to 79.
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_NAME_ROOM = 39
_HASH_CHARS = 24


def execution_id(env: str, task_name: str, minute: int) -> str:
    """The stable id of ``task_name`` in ``env`` at ``minute`` (UTC epoch seconds // 60).

    Readable (task name and UTC minute) and unique (a hash of all three), so that it can serve
    as an idempotency key: SQS FIFO deduplication id, Step Functions execution name, Athena
    ClientRequestToken.
    """
    stamp = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y%m%dT%H%MZ")
    digest = hashlib.sha256(f"{env}\0{task_name}\0{minute}".encode()).hexdigest()[:_HASH_CHARS]
    readable = _NAME_CHARS.sub("_", task_name)[:_NAME_ROOM]
    return f"{readable}-{stamp}-{digest}"


@dataclass(frozen=True)
class FireContext:
    """One task due at one scheduled minute. ``scheduled`` is aware, in UTC, on the minute."""

    env: str
    task: Task
    scheduled: datetime
    execution_id: str

    @classmethod
    def at(cls, env: str, task: Task, minute: int) -> FireContext:
        """The context of ``task`` at ``minute`` (UTC epoch seconds // 60)."""
        scheduled = datetime.fromtimestamp(minute * 60, UTC)
        return cls(env, task, scheduled, execution_id(env, task.name, minute))

    @property
    def minute(self) -> int:
        return int(self.scheduled.timestamp()) // 60

    @property
    def scheduled_iso(self) -> str:
        return self.scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Outcome:
    """What happened to one task at one scheduled minute: one log line's worth.

    ``scheduled`` is an ISO 8601 UTC string; ``error`` is already redacted of secret values;
    ``dlq`` is True when the failure was recorded on the dead-letter queue.
    """

    task: str
    scheduled: str
    status: Status
    response_id: str | None = None
    attempts: int = 0
    duration_ms: int = 0
    error: str | None = None
    dlq: bool = False

    def to_log(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "scheduled": self.scheduled,
            "status": self.status,
            "response_id": self.response_id,
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "dlq": self.dlq,
        }
