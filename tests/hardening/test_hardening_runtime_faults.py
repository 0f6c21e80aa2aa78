"""Runtime faults tried on purpose (issue 7), each through the Lambda handler as the platform
calls it: SQS throttling and 5xx (retried, then the DLQ), S3 answering 5xx or SlowDown at cold
start (the invocation fails loudly, the platform's retry succeeds) and on a warm re-read (the last
good manifest is kept, an error line is logged), an HTTP target that hangs (it times out, the others
fire). Faults are injected by a proxy in front of the moto server (tests/runtime/faults.py); each
test states the runs due, fired, failed and lost (``Tally``), with lost = 0.

DynamoDB conditional-check failures and an invocation that dies half-way are in
tests/runtime/test_runtime_handler.py, tagged ``hardening`` too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdacron.runtime import handler
from lambdacron.runtime.errors import StoreError
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.store import FileStore, S3Store
from tests.runtime.faults import (
    SQS_UNAVAILABLE,
    THROTTLING,
    Answer,
    FaultProxy,
    Tally,
    event,
    fault_proxy,
    http_task,
    publish,
    queue_task,
    runs_at,
    runs_in,
    tally,
    xml_error,
)

pytestmark = [pytest.mark.hardening, pytest.mark.aws]

AT_17 = "2026-12-05T17:00"
REPORTS = [f"report-{n}" for n in range(3)]


@pytest.fixture(autouse=True)
def cold_start() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def dlq(aws: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(boto3.client("sqs").create_queue(QueueName="lambdacron-dlq")["QueueUrl"])
    monkeypatch.setenv("LAMBDACRON_DLQ_URL", url)
    return url


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileStore:
    root = tmp_path / "store"
    monkeypatch.setenv("LAMBDACRON_STORE", root.as_uri())
    monkeypatch.setenv("LAMBDACRON_ENV", "prod")
    return FileStore(root)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def events_named(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == name]


# ---------------------------------------------------------------------------------------------
# SQS: throttling and 5xx


@pytest.fixture
def faulty_sqs(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with fault_proxy(aws.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        yield proxy


def reports_queue(store: FileStore) -> str:
    """Three queue tasks due at 17:00, one retry each: they share SendMessageBatch calls."""
    url = str(boto3.client("sqs").create_queue(QueueName="reports")["QueueUrl"])
    publish(store, *(queue_task(name, "0 17 * * *", "reports", retries=1) for name in REPORTS))
    return url


SQS_FAULTS = [*THROTTLING, pytest.param(SQS_UNAVAILABLE, id="503-ServiceUnavailable")]


@pytest.mark.parametrize("answer", SQS_FAULTS)
def test_sqs_refusing_once_is_retried_and_every_run_fires(
    store: FileStore, dlq: str, faulty_sqs: FaultProxy, answer: Answer
) -> None:
    reports = reports_queue(store)
    faulty_sqs.fail(1, answer, only={"SendMessageBatch"})

    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)

    expected = [(name, AT_17) for name in REPORTS]
    assert tally([summary], expected, runs_in(reports), runs_in(dlq)) == Tally(
        due=3, fired=3, failed=0, duplicates=0, lost=0
    )
    assert [o["attempts"] for o in summary["outcomes"]] == [2, 2, 2]
    assert faulty_sqs.operations.count("SendMessageBatch") == 2


@pytest.mark.parametrize("answer", SQS_FAULTS)
def test_sqs_refusing_every_attempt_sends_each_run_to_the_dlq(
    store: FileStore, dlq: str, faulty_sqs: FaultProxy, answer: Answer
) -> None:
    reports = reports_queue(store)
    faulty_sqs.fail(2, answer, only={"SendMessageBatch"})  # the first try and the retry

    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)

    expected = [(name, AT_17) for name in REPORTS]
    assert tally([summary], expected, runs_in(reports), runs_in(dlq)) == Tally(
        due=3, fired=0, failed=3, duplicates=0, lost=0
    )
    assert {(o["attempts"], o["dlq"]) for o in summary["outcomes"]} == {(2, True)}


# ---------------------------------------------------------------------------------------------
# S3: 5xx and SlowDown when the manifest is read

S3_FAULTS = [
    pytest.param(xml_error(503, "SlowDown"), "SlowDown", id="503-SlowDown"),
    pytest.param(xml_error(500, "InternalError"), "InternalError", id="500-InternalError"),
]


@pytest.fixture
def s3_store(aws: Any, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    """The bucket the scheduler reads, and a publisher that reaches S3 without the proxy."""
    boto3.client("s3").create_bucket(Bucket="manifests")
    monkeypatch.setenv("LAMBDACRON_STORE", "s3://manifests/lambdacron")
    monkeypatch.setenv("LAMBDACRON_ENV", "prod")
    publisher = S3Store("manifests", "lambdacron")
    publisher.list_versions("prod")  # its client is made now, on the direct endpoint
    return publisher


@pytest.fixture
def faulty_s3(s3_store: S3Store, aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with fault_proxy(aws.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        yield proxy


def every_minute(url: str) -> Task:
    return http_task("every", "* * * * *", url)


@pytest.mark.parametrize(("answer", "code"), S3_FAULTS)
def test_s3_failing_at_cold_start_fails_the_invocation_and_a_retry_succeeds(
    s3_store: S3Store,
    faulty_s3: FaultProxy,
    http_server: Any,
    capsys: pytest.CaptureFixture[str],
    answer: Answer,
    code: str,
) -> None:
    publish(s3_store, every_minute(http_server.url))
    faulty_s3.fail(100, answer)  # every attempt botocore makes

    with pytest.raises(StoreError) as caught:
        handler.handler(event("2026-12-05T17:00:00Z"), None)

    assert str(caught.value) == (
        f"s3://manifests/lambdacron/prod/manifest.json: S3 answered {code}: {code} (injected)"
    )
    (failed,) = events_named(log_lines(capsys), "invocation_failed")
    assert (failed["level"], failed["error_type"]) == ("error", "StoreError")
    assert http_server.requests == []

    faulty_s3.fail(0, answer)
    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)  # the platform's retry

    assert tally([summary], [("every", AT_17)], runs_at(http_server)) == Tally(
        due=1, fired=1, failed=0, duplicates=0, lost=0
    )


@pytest.mark.parametrize(("answer", "code"), S3_FAULTS)
def test_s3_failing_on_a_warm_re_read_keeps_the_last_good_manifest(
    s3_store: S3Store,
    faulty_s3: FaultProxy,
    http_server: Any,
    capsys: pytest.CaptureFixture[str],
    answer: Answer,
    code: str,
) -> None:
    publish(s3_store, every_minute(http_server.url))
    first = handler.handler(event("2026-12-05T17:00:00Z"), None)
    new = http_task("new", "* * * * *", http_server.url)
    publish(s3_store, every_minute(http_server.url), new, version=2)
    faulty_s3.fail(100, answer)

    kept = handler.handler(event("2026-12-05T17:01:00Z"), None)

    (rejected,) = events_named(log_lines(capsys), "manifest_rejected")
    assert (rejected["level"], rejected["kept_version"]) == ("error", 1)
    assert rejected["error"] == (
        f"s3://manifests/lambdacron/prod/manifest.json: S3 answered {code}: {code} (injected)"
    )
    assert kept["manifest_version"] == 1

    faulty_s3.fail(0, answer)
    recovered = handler.handler(event("2026-12-05T17:02:00Z"), None)
    assert recovered["manifest_version"] == 2

    expected = [("every", f"2026-12-05T17:0{m}") for m in range(3)] + [("new", "2026-12-05T17:02")]
    assert tally([first, kept, recovered], expected, runs_at(http_server)) == Tally(
        due=4, fired=4, failed=0, duplicates=0, lost=0
    )


# ---------------------------------------------------------------------------------------------
# An HTTP target that hangs


def test_a_hanging_http_target_times_out_and_the_others_fire(
    store: FileStore, dlq: str, http_server: Any
) -> None:
    http_server.delay = 5.0
    reports = str(boto3.client("sqs").create_queue(QueueName="reports")["QueueUrl"])
    slow = http_task("slow", "0 17 * * *", http_server.url, retries=0, timeout=0.3)
    others = [queue_task(f"report-{n}", "0 17 * * *", "reports") for n in range(4)]
    publish(store, slow, *others)

    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)

    expected = [(task.name, AT_17) for task in (slow, *others)]
    assert tally([summary], expected, runs_in(reports), runs_in(dlq)) == Tally(
        due=5, fired=4, failed=1, duplicates=0, lost=0
    )
    (timed_out,) = [o for o in summary["outcomes"] if o["status"] == "failed"]
    assert timed_out["error"] == (
        f"sending it: POST {http_server.url}/slow failed: ReadTimeout: no answer within 0.3 s, "
        "the task's timeout"
    )
