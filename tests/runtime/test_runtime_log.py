"""Runtime log lines: one JSON object per line, embedded-metric-format counts, and every string
passed through the redactor before it is written."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator

import pytest

from lambdacron.runtime.log import METRICS, NAMESPACE, Log

SECRET = 'p@ss "w\\ord" é'


def redact(text: str) -> str:
    return text.replace(SECRET, "***")


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def log(lines: list[str]) -> Log:
    return Log(redact=redact, sink=lines.append, clock=lambda: 1_796_490_000.5)


def test_event_line_is_one_json_object(log: Log, lines: list[str]) -> None:
    log.info("task_fired", task="report", attempts=1, dlq=False, response_id=None)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert json.loads(lines[0]) == {
        "level": "info",
        "event": "task_fired",
        "time": "2026-12-05T17:00:00.500Z",
        "task": "report",
        "attempts": 1,
        "dlq": False,
        "response_id": None,
    }


def test_levels(log: Log, lines: list[str]) -> None:
    log.warning("catchup_dropped")
    log.error("manifest_rejected")
    assert [json.loads(line)["level"] for line in lines] == ["warning", "error"]


def test_secret_is_redacted_everywhere_before_json_escaping(log: Log, lines: list[str]) -> None:
    log.error(
        "task_failed",
        error=f"GET http://x/?token={SECRET} failed",
        nested={"headers": [f"Bearer {SECRET}"], SECRET: "as a key"},
        other=ValueError(SECRET),
    )
    record = json.loads(lines[0])
    assert SECRET not in lines[0]
    # JSON would have escaped the quote and backslash: the raw value must be gone, not an escape
    assert json.dumps(SECRET)[1:-1] not in lines[0]
    assert record["error"] == "GET http://x/?token=*** failed"
    assert record["nested"] == {"headers": ["Bearer ***"], "***": "as a key"}
    assert record["other"] == "***"


def test_metrics_line_is_embedded_metric_format(log: Log, lines: list[str]) -> None:
    log.metrics(
        "prod",
        {"due": 3, "fired": 2, "failed": 1, "duplicates": 0, "lag_seconds": 4.25},
        manifest_version=7,
    )
    record = json.loads(lines[0])
    directive = record["_aws"]
    assert directive["Timestamp"] == 1_796_490_000_500
    (metrics,) = directive["CloudWatchMetrics"]
    assert metrics["Namespace"] == NAMESPACE == "lambdacron"
    assert metrics["Dimensions"] == [["env"]]
    assert metrics["Metrics"] == [
        {"Name": "due", "Unit": "Count"},
        {"Name": "fired", "Unit": "Count"},
        {"Name": "failed", "Unit": "Count"},
        {"Name": "duplicates", "Unit": "Count"},
        {"Name": "lag_seconds", "Unit": "Seconds"},
    ]
    # every declared metric and dimension has its value at the top level, as EMF requires
    for name in ["env", *(m["Name"] for m in metrics["Metrics"])]:
        assert name in record
    assert record["due"] == 3 and record["lag_seconds"] == 4.25 and record["manifest_version"] == 7


def test_metrics_ignores_names_it_does_not_declare(log: Log, lines: list[str]) -> None:
    log.metrics("prod", {"due": 1, "skipped": 4})
    record = json.loads(lines[0])
    assert [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["due"]
    assert "skipped" not in record
    assert set(METRICS) >= {"due", "fired", "failed", "duplicates", "lag_seconds"}


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as possible, so that an unlocked sink would split lines."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_lines_from_many_threads_never_interleave() -> None:
    chars: list[str] = []

    def slow_sink(line: str) -> None:
        # Character by character, like a stream write that a thread switch can split.
        for char in line + "\n":
            chars.append(char)

    log = Log(redact=redact, sink=slow_sink)

    def emit(n: int) -> None:
        for i in range(200):
            log.info("task_fired", worker=n, i=i, padding="x" * 50)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = "".join(chars).splitlines()
    assert len(written) == 1600
    assert all(json.loads(line)["event"] == "task_fired" for line in written)
