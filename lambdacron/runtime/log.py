"""Runtime logging: one JSON line per event, CloudWatch embedded-metric-format counts.

The last runtime stage: what the scheduler says about what it did. In Lambda every line goes to
stdout, where CloudWatch Logs picks it up; ``serve`` and the CLI point the sink at stderr. Every
string of every line, keys included, passes through the secrets redactor before it is written, so
a resolved secret value can never reach a log, whatever field it hides in.

Lines carry ``level`` (info, warning, error) and ``event``; ``error`` lines are alarm-worthy.
The metric line uses namespace ``NAMESPACE``, dimension ``env`` and the names in ``METRICS``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

NAMESPACE = "lambdacron"
# Metric name -> CloudWatch unit. "lag_seconds": how late the tick's evaluation started after
# its scheduled minute began (wall clock, the only use of it in the runtime).
METRICS: Mapping[str, str] = {
    "due": "Count",
    "fired": "Count",
    "failed": "Count",
    "duplicates": "Count",
    "delegated": "Count",
    "dropped_minutes": "Count",
    "lag_seconds": "Seconds",
}

Redactor = Callable[[str], str]
Sink = Callable[[str], None]


def stdout_sink(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def stderr_sink(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Log:
    """Writes redacted JSON lines to ``sink``; safe to call from dispatch worker threads.

    ``redact`` is the process's ``Secrets.redact``: it is required so that no log can be made
    without it.
    """

    def __init__(
        self,
        redact: Redactor,
        sink: Sink = stdout_sink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._redact = redact
        self._clock = clock
        self._lock = threading.Lock()

    def event(self, level: str, event: str, **fields: Any) -> None:
        record = {"level": level, "event": event, "time": self._now(), **fields}
        self.write(record)

    def info(self, event: str, **fields: Any) -> None:
        self.event("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.event("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.event("error", event, **fields)

    def metrics(self, env: str, counts: Mapping[str, float], **fields: Any) -> None:
        """One embedded-metric-format line: CloudWatch turns it into metrics, no API call."""
        names = [name for name in METRICS if name in counts]
        record: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [["env"]],
                        "Metrics": [{"Name": n, "Unit": METRICS[n]} for n in names],
                    }
                ],
            },
            "level": "info",
            "event": "metrics",
            "env": env,
            **{name: counts[name] for name in names},
            **fields,
        }
        self.write(record)

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(self._clean(record), default=str, ensure_ascii=False, sort_keys=False)
        with self._lock:
            self._sink(line)

    def _clean(self, value: Any) -> Any:
        """Redact every string, before JSON escaping could disguise a secret's characters."""
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, Mapping):
            return {self._clean(str(k)): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self._redact(str(value))

    def _now(self) -> str:
        moment = datetime.fromtimestamp(self._clock(), UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
