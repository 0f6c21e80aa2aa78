"""The dispatcher: concurrency, retries with backoff, the dead-letter queue, claims, and SQS
batching, against the moto server, the local HTTP server and a fault-injecting proxy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from lambdacron.runtime.clients import Clients
from lambdacron.runtime.context import FireContext
from lambdacron.runtime.dispatch import BACKOFF_BASE, Dispatcher
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.placeholders import placeholder
from lambdacron.runtime.secrets import MASK
from tests.runtime.faults import SQS_UNAVAILABLE, THROTTLING, Answer, FaultProxy, fault_proxy

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


@pytest.fixture
def faulty_sqs(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """SQS reached through a proxy that can fail on purpose (throttling and 5xx, issue 7)."""
    with fault_proxy(aws.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        yield proxy


def test_sqs_5xx_on_a_batch_is_retried(faulty_sqs: FaultProxy) -> None:
    reports = create_queue("reports")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(5)]
    sleeps = Sleeps()
    dispatcher = Dispatcher(Clients(), sleep=sleeps)
    faulty_sqs.operations.clear()
    faulty_sqs.fail(1, SQS_UNAVAILABLE)

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
    # every attempt of the batch (1 + 2 retries), then the DLQ works
    faulty_sqs.fail(3, SQS_UNAVAILABLE)

    outcomes = dispatcher.fire_all(contexts)

    assert [(o.status, o.attempts, o.dlq) for o in outcomes] == [("failed", 3, True)] * 3
    assert faulty_sqs.operations == ["SendMessageBatch"] * 3 + ["SendMessage"] * 3
    assert sorted(json.loads(b)["task"] for b in drain(dlq)) == ["report-0", "report-1", "report-2"]
    assert "ServiceUnavailable" in str(outcomes[0].error)


def test_a_throttled_entry_of_a_batch_is_retried(faulty_sqs: FaultProxy) -> None:
    reports = create_queue("reports")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(3)]
    # SQS accepts the call but refuses each entry, blaming the sender; the code says "slow down"
    failed = [
        {"Id": str(n), "SenderFault": True, "Code": "RequestThrottled", "Message": "Rate exceeded"}
        for n in range(3)
    ]
    answer = Answer(200, json.dumps({"Successful": [], "Failed": failed}).encode())
    faulty_sqs.fail(1, answer, only={"SendMessageBatch"})

    outcomes = Dispatcher(Clients(), sleep=Sleeps()).fire_all(contexts)

    assert [(o.status, o.attempts) for o in outcomes] == [("fired", 2)] * 3
    assert sorted(drain(reports)) == ["m0", "m1", "m2"]


@pytest.mark.parametrize("answer", THROTTLING)
def test_sqs_throttling_is_retried(faulty_sqs: FaultProxy, answer: Answer) -> None:
    reports = create_queue("reports")
    contexts = [queue_task(f"report-{n}", "reports", f"m{n}") for n in range(3)]
    sleeps = Sleeps()
    dispatcher = Dispatcher(Clients(), sleep=sleeps)
    faulty_sqs.fail(2, answer, only={"SendMessageBatch"})

    outcomes = dispatcher.fire_all(contexts)

    assert [(o.status, o.attempts) for o in outcomes] == [("fired", 3)] * 3
    assert len(sleeps.delays) == 2
    assert sorted(drain(reports)) == ["m0", "m1", "m2"]


TOKEN = "s3cr3t/T0k+n 9Xq"  # 16 characters, some of which URL and JSON encodings change
AUTHORIZATION = {"Authorization": placeholder("secret", "ssm:/token")}


@pytest.mark.aws
def test_an_answer_quoting_a_secret_is_masked_before_it_is_cut(aws: Any, http_server: Any) -> None:
    boto3.client("ssm").put_parameter(Name="/token", Value=TOKEN, Type="SecureString")
    http_server.status = 500
    # the token straddles the 300th character: a cut made first would leave "s3cr3t/T"
    http_server.response_body = ("x" * 292 + TOKEN + "y" * 100).encode()
    ctx = http_task("ping", http_server.url, retries=0, headers=AUTHORIZATION)

    outcome = Dispatcher(Clients()).fire(ctx)

    assert outcome.error == (
        f"sending it: POST {http_server.url} answered HTTP 500 Internal Server Error "
        f"(expected 2xx): {'x' * 292}{MASK}{'y' * 5}"
    )


@pytest.mark.aws
def test_an_unreachable_target_is_named_by_its_url_as_written(aws: Any) -> None:
    boto3.client("ssm").put_parameter(Name="/token", Value=TOKEN, Type="SecureString")
    url = f"http://127.0.0.1:9/hook?token={placeholder('secret', 'ssm:/token')}"

    outcome = Dispatcher(Clients()).fire(http_task("ping", url, retries=0))

    # requests would say ".../hook?token=s3cr3t/T0k+n%209Xq (Caused by NewConnectionError(...))"
    assert outcome.error == (
        "sending it: POST http://127.0.0.1:9/hook?token=*** failed: "
        "ConnectionError: [Errno 111] Connection refused"
    )


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
