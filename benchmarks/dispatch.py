"""Benchmarks, the dispatch: firing due tasks at loopback servers through the real dispatcher.

Two measurements. The figure: 1,000 due SQS tasks (ten queues) through ``Dispatcher.fire_all``
against one ``send_message`` after another. The rates: due tasks per second that one invocation
dispatches for each target type, without and with the DynamoDB claim that precedes every fire
when the scheduler has a state table. AWS is whatever the environment points boto3 at (the
benchmark's moto server); HTTP tasks go to ``http_url``.

Clients are warm (a warm container): each measurement is preceded by a few fires that create the
clients and resolve the queue URLs. Synthetic tasks keep their payloads and placeholders; only
their resource names are pointed at the resources made here.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from benchmarks import synth
from benchmarks.report import Rate, Row, median
from lambdacron.runtime.clients import Clients
from lambdacron.runtime.context import FireContext, Outcome
from lambdacron.runtime.dispatch import Dispatcher
from lambdacron.runtime.handler import DEFAULT_FANOUT_THRESHOLD, DEFAULT_MAX_WORKERS, AwsClients
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.state import TABLE_KEY, TABLE_KEY_TYPE, DynamoState
from lambdacron.runtime.targets.base import as_text

SQS_TASKS = 1000
QUEUES = 10
MIN_SPEEDUP = 5.0
RATE_TASKS = 300
# Fires are keyed by minute: each measurement takes a minute of its own, so claims never clash.
FIRST_MINUTE = 29_400_000
WARM_UP_TASKS = 3


@dataclass(frozen=True)
class Resources:
    """What the synthetic tasks are pointed at."""

    queue_urls: Mapping[str, str]
    function: str
    job_queue: str
    job_definition: str
    work_group: str
    topic: str
    state_machine: str
    table: str
    http_url: str


def create_resources(http_url: str) -> Resources:
    """One resource of each kind on the AWS endpoint of the environment (moto)."""
    import boto3

    session = boto3.session.Session()
    sqs = session.client("sqs")
    queue_urls = {
        f"bench-{index}": sqs.create_queue(QueueName=f"bench-{index}")["QueueUrl"]
        for index in range(QUEUES)
    }
    role = session.client("iam").create_role(
        RoleName="lambdacron-bench", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    session.client("lambda").create_function(
        FunctionName="bench-function",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _function_zip()},
    )
    batch = session.client("batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="bench", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName="bench-jobs",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )
    batch.register_job_definition(
        jobDefinitionName="bench-definition",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 128, "command": ["true"]},
    )
    session.client("athena").create_work_group(
        Name="bench",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://bench-results/"}},
    )
    topic = session.client("sns").create_topic(Name="bench-topic")["TopicArn"]
    machine = session.client("stepfunctions").create_state_machine(
        name="bench-machine",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn=role,
    )["stateMachineArn"]
    session.client("dynamodb").create_table(
        TableName="bench-state",
        AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": TABLE_KEY_TYPE}],
        KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return Resources(
        queue_urls=queue_urls,
        function="bench-function",
        job_queue="bench-jobs",
        job_definition="bench-definition",
        work_group="bench",
        topic=topic,
        state_machine=machine,
        table="bench-state",
        http_url=http_url,
    )


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def retarget(task: Task, resources: Resources) -> Task:
    """``task`` with its resource names replaced by ``resources``; payloads untouched."""
    target = dict(task.target)
    kind = task.type
    if kind == "queue":
        # The same synthetic queue always maps to the same bench queue: batching stays realistic.
        target["QueueName"] = f"bench-{zlib.crc32(target['QueueName'].encode()) % QUEUES}"
    elif kind == "lambda":
        target["FunctionName"] = resources.function
    elif kind == "batch":
        target.update(jobQueue=resources.job_queue, jobDefinition=resources.job_definition)
    elif kind == "athena":
        target["WorkGroup"] = resources.work_group
    elif kind == "http":
        target["url"] = resources.http_url + urlsplit(target["url"]).path
    elif kind == "sns":
        target["TopicArn"] = resources.topic
    elif kind == "stepfunctions":
        target["stateMachineArn"] = resources.state_machine
    return replace(task, target=target)


def tasks_by_type(resources: Resources, count: int) -> dict[str, list[Task]]:
    """``count`` enabled synthetic tasks of every type, retargeted."""
    found: dict[str, list[Task]] = {name: [] for name in synth.TARGETS}
    # The rarest type is 5% of the mix: 25 jobs per task wanted leave room to spare.
    for job in synth.jobs(max(count * 25, 2000)):
        group = found[job.type]
        if job.enabled and len(group) < count:
            group.append(retarget(synth.task(job), resources))
    return found


class Bench:
    """A warm dispatcher, as a scheduler container holds it, and the minutes it fires at."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.dispatcher = Dispatcher(
            Clients(max_pool_connections=DEFAULT_MAX_WORKERS), max_workers=DEFAULT_MAX_WORKERS
        )
        aws = AwsClients()
        self.sqs = aws.client("sqs")
        self.state = DynamoState(resources.table, synth.ENV, lambda: aws.client("dynamodb"))
        self._minute = FIRST_MINUTE

    def fire(self, tasks: Sequence[Task], claim: bool = False) -> float:
        """Seconds to fire ``tasks`` at a fresh minute, contexts included; all must fire."""
        if any(task.type == "queue" for task in tasks):
            self.purge_queues()
        self._minute += 1
        started = time.perf_counter()
        contexts = [FireContext.at(synth.ENV, task, self._minute) for task in tasks]
        outcomes = self.dispatcher.fire_all(contexts, claim=self._claim if claim else None)
        elapsed = time.perf_counter() - started
        _check(outcomes, len(tasks))
        return elapsed

    def purge_queues(self) -> None:
        """Empty the bench queues: moto's SendMessage slows down with every message a queue
        holds (from 6 ms to 66 ms a call at 4,000), which SQS itself does not. PurgeQueue
        works once a minute, so each queue is deleted and made again (moto allows it at once,
        and the URL stays the same)."""
        for name, url in self.resources.queue_urls.items():
            self.sqs.delete_queue(QueueUrl=url)
            if self.sqs.create_queue(QueueName=name)["QueueUrl"] != url:
                raise RuntimeError(f"queue {name} came back with another URL than {url}")

    def _claim(self, ctx: FireContext) -> bool:
        return self.state.claim(ctx.task.name, ctx.minute, ctx.execution_id)


def _check(outcomes: Sequence[Outcome], expected: int) -> None:
    failed = [outcome for outcome in outcomes if outcome.status != "fired"]
    if failed or len(outcomes) != expected:
        first = failed[0] if failed else None
        raise RuntimeError(
            f"{len(failed)} of {expected} tasks did not fire ({len(outcomes)} outcomes); first: "
            f"{first}"
        )


def sqs_rows(bench: Bench, tasks: Sequence[Task], repeat: int) -> list[Row]:
    """1,000 due SQS tasks: the dispatcher against one send_message after another, and for
    reference the same batches sent by plain boto3 threads (what this server allows)."""
    import boto3
    from botocore.config import Config

    sqs = boto3.session.Session().client("sqs")
    urls = bench.resources.queue_urls
    bench.fire(tasks[:WARM_UP_TASKS])
    sqs.send_message(QueueUrl=next(iter(urls.values())), MessageBody="warm-up")

    def one_by_one() -> float:
        bench.purge_queues()
        started = time.perf_counter()
        for task in tasks:
            target = task.target
            sqs.send_message(
                QueueUrl=urls[target["QueueName"]], MessageBody=as_text(target["MessageBody"])
            )
        return time.perf_counter() - started

    def raw_batches() -> float:
        bench.purge_queues()
        bodies: dict[str, list[str]] = {}
        for task in tasks:
            target = task.target
            bodies.setdefault(urls[target["QueueName"]], []).append(as_text(target["MessageBody"]))
        calls = [
            (url, [{"Id": str(n), "MessageBody": body} for n, body in enumerate(group[i : i + 10])])
            for url, group in bodies.items()
            for i in range(0, len(group), 10)
        ]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=DEFAULT_MAX_WORKERS) as pool:
            list(
                pool.map(
                    lambda call: pooled.send_message_batch(QueueUrl=call[0], Entries=call[1]), calls
                )
            )
        return time.perf_counter() - started

    pooled = boto3.session.Session().client(
        "sqs", config=Config(max_pool_connections=DEFAULT_MAX_WORKERS)
    )
    fired, baseline, ceiling = [], [], []
    for _ in range(repeat):
        fired.append(bench.fire(tasks))
        baseline.append(one_by_one())
        ceiling.append(raw_batches())
    best = median(baseline) / median(ceiling)
    return [
        Row(
            figure="dispatch due SQS tasks",
            size=len(tasks),
            value=median(fired) * 1000,
            unit="ms",
            baseline=median(baseline) * 1000,
            baseline_name=(
                "baseline: one send_message after another with one warm boto3 client, "
                "queue URLs known."
            ),
            min_ratio=MIN_SPEEDUP,
            note=(
                f"lambdacron: Dispatcher.fire_all with {DEFAULT_MAX_WORKERS} workers and warm "
                f"clients, contexts and placeholders included; {QUEUES} queues, so "
                "SendMessageBatch calls of 10. moto on loopback, in its own process. For "
                "reference, the same batches sent by plain boto3 on "
                f"{DEFAULT_MAX_WORKERS} threads: {median(ceiling) * 1000:.0f} ms ({best:.2f}× "
                "faster than one by one): moto spends its CPU per message, which batching does "
                "not save, and shares the 2 cores with the client, so it bounds every client."
            ),
        )
    ]


def rates(bench: Bench, groups: Mapping[str, Sequence[Task]], repeat: int) -> list[Rate]:
    """Due tasks per second per target type, without and with claims."""
    found = []
    for kind, tasks in groups.items():
        bench.fire(tasks[:WARM_UP_TASKS], claim=True)  # the target's and the table's clients
        plain = [bench.fire(tasks) for _ in range(repeat)]
        claimed = [bench.fire(tasks, claim=True) for _ in range(repeat)]
        found.append(
            Rate(
                type=kind,
                tasks=len(tasks),
                per_second=len(tasks) / median(plain),
                claimed_per_second=len(tasks) / median(claimed),
                server="http.server" if kind == "http" else "moto",
            )
        )
    return found


def run(
    http_url: str, repeat: int, sqs_tasks: int = SQS_TASKS, rate_tasks: int = RATE_TASKS
) -> tuple[list[Row], list[Rate], dict[str, Any]]:
    """The dispatch figure, the rates table and what they mean for the fan-out threshold."""
    resources = create_resources(http_url)
    bench = Bench(resources)
    groups = tasks_by_type(resources, max(sqs_tasks, rate_tasks))
    rows = sqs_rows(bench, groups["queue"][:sqs_tasks], repeat)
    found = rates(bench, {kind: group[:rate_tasks] for kind, group in groups.items()}, repeat)
    threshold = {
        rate.type: {
            "seconds_for_threshold": DEFAULT_FANOUT_THRESHOLD / rate.per_second,
            "seconds_for_threshold_claimed": DEFAULT_FANOUT_THRESHOLD / rate.claimed_per_second,
        }
        for rate in found
    }
    return rows, found, {"fanout_threshold": DEFAULT_FANOUT_THRESHOLD, "per_type": threshold}
