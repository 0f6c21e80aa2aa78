"""Helpers for the runtime's fault tests (issue 7): a proxy in front of the moto server that
answers chosen requests with an error of its own, the events and manifests a scheduler is given,
and ``Tally``, the account of runs (due, fired, failed, duplicates, lost) every fault test states.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3
import pytest
import requests

from lambdacron.runtime.manifest import Manifest, Task, dumps
from lambdacron.runtime.placeholders import placeholder
from lambdacron.runtime.store import Store
from tests.helpers import loopback_server

# ---------------------------------------------------------------------------------------------
# A fault-injecting proxy

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class Answer:
    """What the proxy says instead of the service."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def json_error(status: int, code: str, query_code: str | None = None) -> Answer:
    """An error of a JSON-protocol service (SQS). ``query_code``: the ``x-amzn-query-error``
    header SQS adds for clients of its former query protocol; botocore reports it as the code."""
    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": "Rate exceeded"})
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if query_code is not None:
        headers["x-amzn-query-error"] = f"{query_code};Sender"
    return Answer(status, body.encode(), headers)


def xml_error(status: int, code: str) -> Answer:
    """An error of S3, e.g. 503 SlowDown or 500 InternalError."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{code} (injected)</Message>"
        "<RequestId>FAULT</RequestId></Error>"
    )
    return Answer(status, body.encode(), {"Content-Type": "application/xml"})


SQS_UNAVAILABLE = json_error(503, "ServiceUnavailable")
# How SQS says "slow down": HTTP 400 and a code, in the JSON body or (for clients of its former
# query protocol) in the x-amzn-query-error header, which botocore reports instead.
THROTTLING = [
    pytest.param(json_error(400, "ThrottlingException"), id="ThrottlingException"),
    pytest.param(json_error(400, "RequestThrottled"), id="RequestThrottled"),
    pytest.param(
        json_error(400, "RequestThrottled", "AWS.SimpleQueueService.RequestThrottled"),
        id="AWS.SimpleQueueService.RequestThrottled",
    ),
    pytest.param(json_error(400, "KmsThrottled"), id="KmsThrottled"),
    pytest.param(
        json_error(400, "KmsThrottled", "KMS.ThrottlingException"), id="KMS.ThrottlingException"
    ),
]


@dataclass
class FaultProxy:
    """Forwards every request to ``upstream`` (the moto server), except that the next ``faults``
    requests whose operation is in ``only`` (any operation when empty) get ``answer`` instead.

    ``operations`` records every request: the JSON protocols' ``X-Amz-Target`` operation (e.g.
    ``SendMessageBatch``), else the method and path (S3: ``GET /bucket/key``).
    """

    upstream: str
    url: str = ""
    answer: Answer = SQS_UNAVAILABLE
    faults: int = 0
    only: Collection[str] = ()
    operations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, times: int, answer: Answer, only: Collection[str] = ()) -> None:
        with self.lock:
            self.faults, self.answer, self.only = times, answer, only

    def take(self, operation: str) -> Answer | None:
        """The injected answer for this request, or None to forward it."""
        with self.lock:
            self.operations.append(operation)
            if self.faults > 0 and (not self.only or operation in self.only):
                self.faults -= 1
                return self.answer
        return None

    def forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        reply = requests.request(
            method,
            self.upstream + path,
            data=body,
            headers={k: v for k, v in headers.items() if k.lower() != "host"},
            timeout=10,
            stream=True,
            allow_redirects=False,
        )
        # Raw bytes: S3 objects are stored gzip-encoded and must arrive as they were stored.
        content = reply.raw.read(decode_content=False)
        kept = {
            k: v
            for k, v in reply.headers.items()
            if k.lower() not in HOP_BY_HOP or (method == "HEAD" and k.lower() == "content-length")
        }
        return Answer(reply.status_code, content, kept)


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A ``FaultProxy`` listening on 127.0.0.1 for the duration of the block."""
    proxy = FaultProxy(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" for S3 PUTs

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target")
            operation = target.split(".")[-1] if target else f"{self.command} {self.path}"
            answer = proxy.take(operation.split("?")[0])
            if answer is None:
                answer = proxy.forward(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if "content-length" not in {name.lower() for name in answer.headers}:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with loopback_server(Handler) as url:
        proxy.url = url
        yield proxy


# ---------------------------------------------------------------------------------------------
# Tasks, manifests and events


def run_body() -> dict[str, str]:
    """What a test task sends: its name and scheduled minute, so that every arrival is a run."""
    return {"task": placeholder("task_name"), "at": placeholder("scheduled_time", "%Y-%m-%dT%H:%M")}


def http_task(name: str, expression: str, url: str, retries: int = 2, **target: Any) -> Task:
    """A task that POSTs its run to ``url``/``name``."""
    spec = {"type": "http", "method": "POST", "url": f"{url}/{name}", "json": run_body(), **target}
    return Task(name=name, expression=expression, timezone="UTC", target=spec, retries=retries)


def queue_task(name: str, expression: str, queue: str, retries: int = 2) -> Task:
    """A task that sends its run to the SQS queue named ``queue``."""
    spec = {"type": "queue", "QueueName": queue, "MessageBody": run_body()}
    return Task(name=name, expression=expression, timezone="UTC", target=spec, retries=retries)


def publish(store: Store, *tasks: Task, version: int = 1, env: str = "prod") -> Manifest:
    manifest = Manifest(env=env, tasks=tasks, version=version).with_digest()
    data = dumps(manifest)
    store.write_version(env, version, data)
    live = store.read_live(env)
    store.replace_live(env, data, None if live is None else live.etag)
    return manifest


def event(iso: str) -> dict[str, Any]:
    """An EventBridge scheduled event for the minute ``iso``."""
    return {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": iso,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/lambdacron-prod"],
        "detail": {},
    }


# ---------------------------------------------------------------------------------------------
# Runs, and what became of them

Run = tuple[str, str]  # (task, scheduled minute as "2026-12-05T17:00")


def runs_at(server: Any) -> list[Run]:
    """The runs an ``http_server`` received, in arrival order."""
    return [(r.json()["task"], r.json()["at"]) for r in server.requests]


def runs_in(queue_url: str) -> list[Run]:
    """The runs waiting in a queue: messages sent by ``queue_task``, or DLQ letters."""
    sqs = boto3.client("sqs")
    found: list[Run] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return found
        for message in messages:
            body = json.loads(message["Body"])
            found.append((body["task"], body.get("at") or body["scheduled"][:16]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class Tally:
    """The account of the runs (task, scheduled minute) of one or more invocations.

    ``due``, ``fired``, ``failed`` and ``duplicates`` are the sums of the invocations' summary
    counts. A run is *lost* when it was due and neither reached its target nor is in the DLQ:
    no one fired it and no one reported it. A duplicate (its claim already held, DynamoDB's
    conditional check failed) is lost only if the holder of the claim neither fired nor
    dead-lettered it, so lost = |expected runs - delivered - dead-lettered|, taken from what the
    target and the DLQ received, not from the summaries. ``repeated``: deliveries beyond the first
    of a run, i.e. runs fired twice. When nothing is lost, due = fired + failed + duplicates
    (invocations without fan-out).
    """

    due: int
    fired: int
    failed: int
    duplicates: int
    lost: int
    repeated: int = 0


def tally(
    summaries: Sequence[Mapping[str, Any]],
    expected: Iterable[Run],
    delivered: Sequence[Run],
    dead_lettered: Iterable[Run] = (),
) -> Tally:
    """``expected``: the runs the schedule says were due (written out by the test);
    ``delivered``: every arrival at the targets; ``dead_lettered``: the letters in the DLQ."""
    counts = Counter[str]()
    for summary in summaries:
        counts.update(summary["counts"])
    arrivals = Counter(delivered)
    return Tally(
        due=counts["due"],
        fired=counts["fired"],
        failed=counts["failed"],
        duplicates=counts["duplicates"],
        lost=len(set(expected) - set(arrivals) - set(dead_lettered)),
        repeated=sum(arrivals.values()) - len(arrivals),
    )
