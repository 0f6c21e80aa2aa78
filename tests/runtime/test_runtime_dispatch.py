"""The dispatcher: concurrency, retries with backoff, the dead-letter queue, claims, and SQS
batching, against the moto server, the local HTTP server and a fault-injecting proxy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests

from lambdacron.runtime.clients import Clients
from lambdacron.runtime.context import FireContext
from lambdacron.runtime.dispatch import BACKOFF_BASE, Dispatcher
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.placeholders import placeholder

MINUTE = int(datetime(2026, 12, 5, 17, 0, tzinfo=UTC).timestamp()) // 60
RUN_DATE = placeholder("scheduled_time", "%Y-%m-%d")


def context(name: str, target: dict[str, Any], retries: int = 2) -> FireContext:
    task = Task(name, "0 17 5 * *", "UTC", target, retries=retries)
    return FireContext.at("prod", task, MINUTE)


def http_task(name: str, url: str, **extra: Any) -> FireContext:
    retries = extra.pop("retries", 2)
    return context(name, {"type": "http", "method": "POST", "url": url, **extra}, retries)


def queue_task(name: str, queue: str, body: Any = "hello", **extra: Any) -> FireContext:
    return context(name, {"type": "queue", "QueueName": queue, "MessageBody": body, **extra})


def create_queue(name: str) -> str:
    return str(boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"])


def drain(url: str) -> list[str]:
    sqs = boto3.client("sqs")
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@dataclass
class Sleeps:
    """An injected ``sleep`` that records delays and may act between attempts."""

    delays: list[float] = field(default_factory=list)
    then: Any = None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.then is not None:
            self.then()


def test_transient_http_failure_is_retried_with_backoff(http_server: Any) -> None:
    http_server.status = 503
    sleeps = Sleeps(then=lambda: setattr(http_server, "status", 200))
    claims: list[str] = []

    def claim(ctx: FireContext) -> bool:
        claims.append(ctx.task.name)
        return True

    dispatcher = Dispatcher(Clients(), sleep=sleeps, rng=lambda: 1.0)
    [outcome] = dispatcher.fire_all([http_task("ping", http_server.url)], claim=claim)

    assert (outcome.status, outcome.attempts, outcome.response_id) == ("fired", 2, "200")
    assert len(http_server.requests) == 2
    assert sleeps.delays == [BACKOFF_BASE]
    assert claims == ["ping"]


def test_backoff_is_exponential_with_full_jitter(http_server: Any) -> None:
    http_server.status = 500
    sleeps = Sleeps()
    dispatcher = Dispatcher(Clients(), sleep=sleeps, rng=lambda: 0.5)

    outcome = dispatcher.fire(http_task("ping", http_server.url, retries=4))

    assert (outcome.status, outcome.attempts) == ("failed", 5)
    assert sleeps.delays == [0.5 * BACKOFF_BASE * 2**n for n in range(4)]
    assert outcome.error == (
        f"sending it: POST {http_server.url} answered HTTP 500 Internal Server Error "
        '(expected 2xx): {"ok": true}'
    )


def test_permanent_http_failure_is_not_retried(http_server: Any) -> None:
    http_server.status = 404
    sleeps = Sleeps()

    outcome = Dispatcher(Clients(), sleep=sleeps).fire(http_task("ping", http_server.url))

    assert (outcome.status, outcome.attempts, outcome.dlq) == ("failed", 1, False)
    assert sleeps.delays == []
    assert len(http_server.requests) == 1


@pytest.mark.aws
def test_failing_task_lands_in_the_dlq_while_the_others_fire(aws: Any, http_server: Any) -> None:
    boto3.client("ssm").put_parameter(Name="/api/key", Value="k3y-value", Type="SecureString")
    dlq = create_queue("lambdacron-dlq")
    reports = create_queue("reports")
    http_server.status = 503
    http_server.response_body = b"upstream rejected key k3y-value"
    failing = http_task(
        "broken",
        f"{http_server.url}/run",
        headers={"X-Key": placeholder("secret", "ssm:/api/key")},
        json={"date": RUN_DATE},
    )
    others = [queue_task(f"report-{n}", "reports", {"date": RUN_DATE}) for n in range(3)]
    dispatcher = Dispatcher(Clients(), dlq_url=dlq, sleep=Sleeps())

    outcomes = dispatcher.fire_all([failing, *others])

    assert [o.status for o in outcomes] == ["failed", "fired", "fired", "fired"]
    assert (outcomes[0].attempts, outcomes[0].dlq) == (3, True)
    assert sorted(drain(reports)) == ['{"date":"2026-12-05"}'] * 3
    [letter] = [json.loads(body) for body in drain(dlq)]
    assert letter == {
        "env": "prod",
        "task": "broken",
        "type": "http",
        "scheduled": "2026-12-05T17:00:00Z",
        "execution_id": failing.execution_id,
        "request": {
            "method": "POST",
            "url": f"{http_server.url}/run",
            "timeout": 10.0,
            "headers": {"X-Key": "${lambdacron:secret:ssm:/api/key}"},
            "json": {"date": "2026-12-05"},
        },
        "error": f"sending it: POST {http_server.url}/run answered HTTP 503 Service Unavailable "
        "(expected 2xx): upstream rejected key ***",
        "attempts": 3,
    }
    assert http_server.requests[0].headers["X-Key"] == "k3y-value"
    assert "k3y-value" not in json.dumps([o.to_log() for o in outcomes])


@pytest.mark.aws
def test_missing_secret_fails_permanently_and_names_the_reference(aws: Any) -> None:
    dlq = create_queue("dlq")
    ctx = queue_task("report", "reports", placeholder("secret", "ssm:/nope"))

    outcome = Dispatcher(Clients(), dlq_url=dlq, sleep=Sleeps()).fire(ctx)

    assert (outcome.status, outcome.attempts, outcome.dlq) == ("failed", 1, True)
    assert outcome.error == (
        "sending it: secret 'ssm:/nope': not found in SSM Parameter Store; create it, or fix "
        "the reference in the template"
    )
    [letter] = [json.loads(body) for body in drain(dlq)]
    assert letter["request"]["MessageBody"] == "${lambdacron:secret:ssm:/nope}"


@pytest.mark.aws
def test_unknown_type_fails_and_the_dlq_keeps_the_task_mapping(aws: Any) -> None:
    dlq = create_queue("dlq")
    ctx = context("odd", {"type": "carrier-pigeon", "to": "ops"})

    outcome = Dispatcher(Clients(), dlq_url=dlq).fire(ctx)

    assert (outcome.status, outcome.attempts, outcome.dlq) == ("failed", 1, True)
    [letter] = [json.loads(body) for body in drain(dlq)]
    assert letter["request"] == {"type": "carrier-pigeon", "to": "ops"}


def test_unreachable_dlq_is_reported_in_the_outcome(http_server: Any) -> None:
    # AWS_ENDPOINT_URL points at a dead port here: the DLQ cannot be written.
    http_server.status = 400
    dispatcher = Dispatcher(Clients(), dlq_url="http://127.0.0.1:9/1/dlq", sleep=Sleeps())

    outcome = dispatcher.fire(http_task("ping", http_server.url))

    assert (outcome.status, outcome.dlq) == ("failed", False)
    assert outcome.error is not None
    assert "and the dead-letter queue refused it: EndpointConnectionError" in outcome.error


@pytest.mark.aws
def test_hanging_http_target_times_out_without_blocking_the_others(
    aws: Any, http_server: Any
) -> None:
    http_server.delay = 5.0
    reports = create_queue("reports")
    hanging = http_task("slow", http_server.url, timeout=0.3, retries=0)
    others = [queue_task(f"report-{n}", "reports") for n in range(4)]

    outcomes = Dispatcher(Clients(), max_workers=4).fire_all([hanging, *others])

    assert [o.status for o in outcomes] == ["failed", "fired", "fired", "fired", "fired"]
    assert outcomes[0].error is not None and "ReadTimeout" in outcomes[0].error
    assert len(drain(reports)) == 4


@pytest.mark.aws
def test_claim_refused_is_a_duplicate_and_sends_nothing(aws: Any, http_server: Any) -> None:
    reports = create_queue("reports")
    contexts = [http_task("ping", http_server.url)] + [
        queue_task(f"report-{n}", "reports") for n in range(3)
    ]

    outcomes = Dispatcher(Clients()).fire_all(contexts, claim=lambda ctx: False)

    assert [(o.status, o.attempts, o.response_id) for o in outcomes] == [("duplicate", 0, None)] * 4
    assert http_server.requests == []
    assert drain(reports) == []


def test_claim_that_raises_fails_the_task_without_sending(http_server: Any) -> None:
    def claim(ctx: FireContext) -> bool:
        raise RuntimeError("state table unreachable")

    [outcome] = Dispatcher(Clients()).fire_all([http_task("ping", http_server.url)], claim)

    assert (outcome.status, outcome.attempts) == ("failed", 0)
    assert outcome.error == "claiming it: RuntimeError: state table unreachable"
    assert http_server.requests == []


@pytest.mark.aws
def test_claims_in_a_queue_batch_are_per_task(aws: Any) -> None:
    reports = create_queue("reports")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(6)]
    claimed: list[str] = []
    lock = threading.Lock()

    def claim(ctx: FireContext) -> bool:
        with lock:
            claimed.append(ctx.task.name)
        return ctx.task.name not in ("report-1", "report-4")

    outcomes = Dispatcher(Clients()).fire_all(contexts, claim=claim)

    assert [o.status for o in outcomes] == [
        "fired",
        "duplicate",
        "fired",
        "fired",
        "duplicate",
        "fired",
    ]
    assert sorted(claimed) == [f"report-{n}" for n in range(6)]
    assert sorted(drain(reports)) == ["m0", "m2", "m3", "m5"]


@pytest.mark.aws
def test_queue_tasks_share_batch_calls_and_keep_their_order(aws: Any) -> None:
    reports, audit = create_queue("reports"), create_queue("audit")
    contexts = [queue_task(f"report-{n:02}", "reports", f"r{n}") for n in range(23)]
    contexts.insert(5, queue_task("audit-0", "audit", "a0"))
    contexts.insert(9, queue_task("audit-1", "audit", "a1"))
    clients = Clients()
    calls: list[str] = []
    clients.client("sqs").meta.events.register(
        "before-call.sqs.*", lambda model, **kwargs: calls.append(model.name)
    )

    outcomes = Dispatcher(clients).fire_all(contexts)

    assert [o.task for o in outcomes] == [ctx.task.name for ctx in contexts]
    assert {o.status for o in outcomes} == {"fired"}
    assert sorted(drain(reports)) == sorted(f"r{n}" for n in range(23))
    assert sorted(drain(audit)) == ["a0", "a1"]
    assert sorted(c for c in calls if c != "GetQueueUrl") == ["SendMessageBatch"] * 4


@pytest.mark.aws
def test_a_refused_entry_fails_alone_in_its_batch(aws: Any) -> None:
    dlq = create_queue("dlq")
    reports = create_queue("reports")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(4)]
    contexts[2] = queue_task("report-2", "reports", "m2", DelaySeconds=901)

    outcomes = Dispatcher(Clients(), dlq_url=dlq, sleep=Sleeps()).fire_all(contexts)

    assert [o.status for o in outcomes] == ["fired", "fired", "failed", "fired"]
    assert (outcomes[2].attempts, outcomes[2].dlq) == (1, True)
    assert "DelaySeconds" in str(outcomes[2].error)
    assert sorted(drain(reports)) == ["m0", "m1", "m3"]
    assert [json.loads(body)["task"] for body in drain(dlq)] == ["report-2"]


@dataclass
class FaultProxy:
    """Forwards to the moto server, but answers the next ``faults`` requests with a 503."""

    url: str
    faults: int = 0
    operations: list[str] = field(default_factory=list)


@pytest.fixture
def faulty_sqs(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """SQS reached through a proxy that can fail on purpose (throttling and 5xx, issue 7)."""
    state = FaultProxy(url="")
    upstream = aws.url

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.operations.append(str(self.headers.get("X-Amz-Target", "")).split(".")[-1])
            if state.faults > 0:
                state.faults -= 1
                self._answer(503, b'{"__type": "ServiceUnavailable", "message": "try again"}')
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            reply = requests.post(upstream + self.path, data=body, headers=headers, timeout=10)
            self._answer(reply.status_code, reply.content)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", state.url)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_sqs_5xx_on_a_batch_is_retried(faulty_sqs: FaultProxy) -> None:
    reports = create_queue("reports")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(5)]
    sleeps = Sleeps()
    dispatcher = Dispatcher(Clients(), sleep=sleeps)
    faulty_sqs.operations.clear()
    faulty_sqs.faults = 1

    outcomes = dispatcher.fire_all(contexts)

    assert [(o.status, o.attempts) for o in outcomes] == [("fired", 2)] * 5
    assert faulty_sqs.operations == ["GetQueueUrl", "GetQueueUrl", "SendMessageBatch"]
    assert len(sleeps.delays) == 1
    assert sorted(drain(reports)) == [f"m{n}" for n in range(5)]


def test_sqs_that_keeps_failing_sends_to_the_dlq_after_the_retries(
    faulty_sqs: FaultProxy,
) -> None:
    create_queue("reports")
    dlq = create_queue("dlq")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(3)]
    dispatcher = Dispatcher(Clients(), dlq_url=dlq, sleep=Sleeps())
    assert dispatcher.fire(queue_task("warm-up", "reports")).status == "fired"
    faulty_sqs.operations.clear()
    faulty_sqs.faults = 3  # every attempt of the batch (1 + 2 retries), then the DLQ works

    outcomes = dispatcher.fire_all(contexts)

    assert [(o.status, o.attempts, o.dlq) for o in outcomes] == [("failed", 3, True)] * 3
    assert faulty_sqs.operations == ["SendMessageBatch"] * 3 + ["SendMessage"] * 3
    assert sorted(json.loads(b)["task"] for b in drain(dlq)) == ["report-0", "report-1", "report-2"]
    assert "ServiceUnavailable" in str(outcomes[0].error)


def test_outcomes_follow_the_order_of_the_contexts(http_server: Any) -> None:
    contexts = [http_task(f"ping-{n}", f"{http_server.url}/{n}") for n in range(12)]

    outcomes = Dispatcher(Clients(), max_workers=3).fire_all(contexts)

    assert [o.task for o in outcomes] == [f"ping-{n}" for n in range(12)]
    assert sorted(r.path for r in http_server.requests) == sorted(f"/{n}" for n in range(12))
    assert Dispatcher(Clients()).fire_all([]) == []


@pytest.mark.aws
def test_fifo_dlq_gets_a_group_and_the_execution_id_as_dedup_id(aws: Any, http_server: Any) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    http_server.status = 400
    ctx = http_task("ping", http_server.url)

    outcome = Dispatcher(Clients(), dlq_url=dlq).fire(ctx)

    [message] = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert (outcome.status, outcome.dlq) == ("failed", True)
    assert message["Attributes"]["MessageGroupId"] == "ping"
    assert message["Attributes"]["MessageDeduplicationId"] == ctx.execution_id


@pytest.mark.aws
def test_a_request_too_large_for_the_dlq_is_left_out_of_the_letter(aws: Any) -> None:
    dlq = create_queue("dlq")
    ctx = queue_task("big", "missing-queue", "x" * 300_000)

    outcome = Dispatcher(Clients(), dlq_url=dlq).fire(ctx)

    [letter] = [json.loads(body) for body in drain(dlq)]
    assert (outcome.status, outcome.dlq) == ("failed", True)
    assert letter["request"] is None
    assert letter["request_omitted"] == "too large for an SQS message; see the task in the manifest"
    assert (letter["task"], letter["execution_id"]) == ("big", ctx.execution_id)
