"""Every target type against the moto server and the local HTTP server: the request that
arrives, with its placeholders filled in."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody

from lambdacron.runtime.clients import Clients
from lambdacron.runtime.context import FireContext, Outcome
from lambdacron.runtime.dispatch import Dispatcher
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.placeholders import placeholder
from lambdacron.runtime.targets import TARGETS, TargetError, lambda_, stepfunctions, target

pytestmark = pytest.mark.aws

# 2026-12-05 17:00 UTC = 18:00 in Madrid, the task's time zone.
MINUTE = int(datetime(2026, 12, 5, 17, 0, tzinfo=UTC).timestamp()) // 60
RUN_DATE = placeholder("scheduled_time", "%Y-%m-%d %H:%M")
LOCAL_RUN_DATE = "2026-12-05 18:00"


def make_task(target: dict[str, Any], name: str = "monthly-report", retries: int = 2) -> Task:
    return Task(name, "0 18 5 * *", "Europe/Madrid", target, retries=retries)


def fire(target: dict[str, Any], name: str = "monthly-report") -> tuple[Outcome, FireContext]:
    ctx = FireContext.at("prod", make_task(target, name), MINUTE)
    return Dispatcher(Clients()).fire(ctx), ctx


def receive(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages", []))


def queue_arn(url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def role_arn() -> str:
    iam = boto3.client("iam")
    return str(iam.create_role(RoleName="runner", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def test_queue_message_body_is_json_with_the_scheduled_date(aws: Any) -> None:
    url = boto3.client("sqs").create_queue(QueueName="reports")["QueueUrl"]
    body = {"report": "monthly", "run_date": RUN_DATE, "task": placeholder("task_name")}

    outcome, _ = fire({"type": "queue", "QueueName": "reports", "MessageBody": body})

    [message] = receive(url)
    assert outcome.status == "fired"
    assert outcome.response_id == message["MessageId"]
    assert json.loads(message["Body"]) == {
        "report": "monthly",
        "run_date": LOCAL_RUN_DATE,
        "task": "monthly-report",
    }


def test_queue_attributes_and_url_pass_through(aws: Any) -> None:
    url = boto3.client("sqs").create_queue(QueueName="plain")["QueueUrl"]
    attributes = {"run": {"DataType": "String", "StringValue": RUN_DATE}}

    outcome, _ = fire(
        {"type": "queue", "QueueUrl": url, "MessageBody": "go", "MessageAttributes": attributes}
    )

    [message] = receive(url)
    assert outcome.status == "fired"
    assert message["Body"] == "go"
    assert message["MessageAttributes"]["run"]["StringValue"] == LOCAL_RUN_DATE


def test_queue_name_is_resolved_once_per_process(aws: Any) -> None:
    url = boto3.client("sqs").create_queue(QueueName="reports")["QueueUrl"]
    clients = Clients()
    lookups: list[str] = []
    clients.client("sqs").meta.events.register(
        "before-call.sqs.GetQueueUrl", lambda **kwargs: lookups.append("GetQueueUrl")
    )
    dispatcher = Dispatcher(clients)
    for minute in (MINUTE, MINUTE + 1):
        task = make_task({"type": "queue", "QueueName": "reports", "MessageBody": "x"})
        assert dispatcher.fire(FireContext.at("prod", task, minute)).status == "fired"

    assert len(receive(url)) == 2
    assert lookups == ["GetQueueUrl"]


def test_fifo_queue_gets_execution_id_as_dedup_id_and_task_as_group(aws: Any) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    target = {"type": "queue", "QueueName": "jobs.fifo", "MessageBody": "run"}

    first, ctx = fire(target)
    again, _ = fire(target)  # the same run sent twice: SQS drops the copy

    messages = receive(url)
    assert (first.status, again.status) == ("fired", "fired")
    assert len(messages) == 1
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == ctx.execution_id
    assert messages[0]["Attributes"]["MessageGroupId"] == "monthly-report"


def test_fifo_queue_keeps_the_ids_the_task_sets(aws: Any) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]

    fire(
        {
            "type": "queue",
            "QueueUrl": url,
            "MessageBody": "run",
            "MessageGroupId": "reports",
            "MessageDeduplicationId": "report-" + placeholder("scheduled_time", "%Y%m%d"),
        }
    )

    [message] = receive(url)
    assert message["Attributes"]["MessageDeduplicationId"] == "report-20261205"
    assert message["Attributes"]["MessageGroupId"] == "reports"


def test_missing_queue_fails_permanently(aws: Any) -> None:
    outcome, _ = fire({"type": "queue", "QueueName": "nope", "MessageBody": "x"})

    assert outcome.status == "failed"
    assert outcome.attempts == 1
    assert outcome.error is not None and "NonExistentQueue" in outcome.error


def create_function(name: str) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn(),
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
    )


def record_invocations(clients: Clients) -> list[dict[str, Any]]:
    """moto's docker-free Lambda answers every invoke with the payload it received; keep it,
    and put the stream back for the target to read."""
    seen: list[dict[str, Any]] = []

    def after_invoke(parsed: dict[str, Any], **kwargs: Any) -> None:
        body = parsed["Payload"].read()
        parsed["Payload"] = StreamingBody(io.BytesIO(body), len(body))
        seen.append({"status": parsed["StatusCode"], "payload": json.loads(body)})

    clients.client("lambda").meta.events.register("after-call.lambda.Invoke", after_invoke)
    return seen


@pytest.mark.parametrize(
    ("payload_key", "invocation_type", "status"),
    [("Payload", None, 202), ("InvokeArgs", None, 202), ("Payload", "RequestResponse", 200)],
)
def test_lambda_invocation_payload(
    aws: Any, payload_key: str, invocation_type: str | None, status: int
) -> None:
    create_function("report")
    clients = Clients()
    seen = record_invocations(clients)
    target: dict[str, Any] = {
        "type": "lambda",
        "FunctionName": "report",
        payload_key: {"period": "monthly", "run_date": RUN_DATE, "id": placeholder("execution_id")},
    }
    if invocation_type:
        target["InvocationType"] = invocation_type
    ctx = FireContext.at("prod", make_task(target), MINUTE)

    outcome = Dispatcher(clients).fire(ctx)

    assert outcome.status == "fired"
    assert outcome.response_id
    assert seen == [
        {
            "status": status,
            "payload": {"period": "monthly", "run_date": LOCAL_RUN_DATE, "id": ctx.execution_id},
        }
    ]


def test_lambda_function_error_is_a_permanent_failure() -> None:
    response = {"FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')}

    with pytest.raises(TargetError) as caught:
        lambda_.check({"FunctionName": "report"}, response)

    assert caught.value.describe(str) == (
        'Lambda function report failed (Unhandled): {"errorMessage": "boom"}'
    )
    assert caught.value.transient is False
    lambda_.check({"FunctionName": "report"}, {"StatusCode": 200})


def batch_setup() -> None:
    batch = boto3.client("batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="reports-env",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role_arn(),
    )
    batch.create_job_queue(
        jobQueueName="reports",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
        ],
    )
    batch.register_job_definition(
        jobDefinitionName="finp-reports",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 128, "command": ["true"]},
    )


def test_batch_job_parameters_with_the_scheduled_date(aws: Any) -> None:
    batch_setup()
    target = {
        "type": "batch",
        "jobName": "monthly-report-prod",
        "jobQueue": "reports",
        "jobDefinition": "finp-reports:1",
        "parameters": {"period": "monthly", "year": 2026, "run_date": RUN_DATE},
        "tags": {"owner": "finp"},
    }

    outcome, _ = fire(target)

    [job] = boto3.client("batch").describe_jobs(jobs=[str(outcome.response_id)])["jobs"]
    assert outcome.status == "fired"
    assert job["jobName"] == "monthly-report-prod"
    assert job["parameters"] == {"period": "monthly", "year": "2026", "run_date": LOCAL_RUN_DATE}


def test_athena_query_string_and_request_token(aws: Any) -> None:
    target = {
        "type": "athena",
        "QueryString": "SELECT * FROM sales WHERE day = DATE '"
        + placeholder("scheduled_time", "%Y-%m-%d")
        + "'",
        "ResultConfiguration": {"OutputLocation": "s3://finp-athena/results/"},
        "QueryExecutionContext": {"Database": "finance"},
    }

    outcome, ctx = fire(target)

    execution = boto3.client("athena").get_query_execution(
        QueryExecutionId=str(outcome.response_id)
    )
    assert outcome.status == "fired"
    assert (
        execution["QueryExecution"]["Query"] == "SELECT * FROM sales WHERE day = DATE '2026-12-05'"
    )
    assert execution["QueryExecution"]["QueryExecutionContext"] == {"Database": "finance"}
    request = target_request(target, ctx)
    assert request["ClientRequestToken"] == ctx.execution_id


def target_request(target_map: dict[str, Any], ctx: FireContext) -> dict[str, Any]:
    return target(target_map["type"]).build(make_task(target_map), ctx)


def test_http_method_headers_body_and_a_secret_from_ssm(aws: Any, http_server: Any) -> None:
    secret_value = "s3cr3t-t0ken/with+chars"
    boto3.client("ssm").put_parameter(
        Name="/finp/api-token", Value=secret_value, Type="SecureString"
    )
    target = {
        "type": "http",
        "method": "post",
        "url": f"{http_server.url}/reports/run",
        "headers": {
            "Authorization": "Bearer " + placeholder("secret", "ssm:/finp/api-token"),
            "X-Run": placeholder("execution_id"),
        },
        "params": {"date": placeholder("scheduled_time", "%Y-%m-%d")},
        "json": {"period": "monthly", "run_date": RUN_DATE},
    }

    outcome, ctx = fire(target)

    [request] = http_server.requests
    assert outcome.status == "fired"
    assert outcome.response_id == "200"
    assert request.method == "POST"
    assert request.path == "/reports/run?date=2026-12-05"
    assert request.headers["Authorization"] == f"Bearer {secret_value}"
    assert request.headers["X-Run"] == ctx.execution_id
    assert request.json() == {"period": "monthly", "run_date": LOCAL_RUN_DATE}
    assert secret_value not in json.dumps(outcome.to_log())


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_http_methods_and_raw_body(http_server: Any, method: str) -> None:
    body = "" if method in ("GET", "HEAD") else "date=" + placeholder("scheduled_time", "%d/%m")
    target = {"type": "http", "method": method, "url": f"{http_server.url}/x", "body": body}

    outcome, _ = fire(target)

    [request] = http_server.requests
    assert outcome.status == "fired"
    assert request.method == method
    assert request.body == (b"" if not body else b"date=05/12")


@pytest.mark.parametrize(
    ("status", "expect_status", "fired"),
    [(204, None, True), (302, 302, True), (302, None, False), (201, [200, 202], False)],
)
def test_http_expect_status(http_server: Any, status: int, expect_status: Any, fired: bool) -> None:
    http_server.status = status
    target: dict[str, Any] = {"type": "http", "method": "GET", "url": http_server.url}
    if expect_status is not None:
        target["expect_status"] = expect_status

    outcome, _ = fire(target)

    assert outcome.status == ("fired" if fired else "failed")
    assert outcome.attempts == 1
    if not fired:
        assert outcome.error is not None and f"answered HTTP {status}" in outcome.error


def test_sns_message_reaches_a_subscribed_queue(aws: Any) -> None:
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="reports")["TopicArn"]
    url = boto3.client("sqs").create_queue(QueueName="report-events")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(url))

    outcome, _ = fire(
        {
            "type": "sns",
            "TopicArn": topic,
            "Subject": "Report " + placeholder("scheduled_time", "%Y-%m-%d"),
            "Message": {"period": "monthly", "run_date": RUN_DATE},
        }
    )

    [message] = receive(url)
    envelope = json.loads(message["Body"])
    assert outcome.status == "fired"
    assert envelope["MessageId"] == outcome.response_id
    assert envelope["Subject"] == "Report 2026-12-05"
    assert json.loads(envelope["Message"]) == {"period": "monthly", "run_date": LOCAL_RUN_DATE}


def state_machine() -> str:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    created = boto3.client("stepfunctions").create_state_machine(
        name="reports", definition=json.dumps(definition), roleArn=role_arn()
    )
    return str(created["stateMachineArn"])


def test_stepfunctions_execution_name_and_input(aws: Any) -> None:
    arn = state_machine()

    outcome, ctx = fire(
        {"type": "stepfunctions", "stateMachineArn": arn, "input": {"run_date": RUN_DATE}}
    )

    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=str(outcome.response_id)
    )
    assert outcome.status == "fired"
    assert execution["name"] == ctx.execution_id
    assert json.loads(execution["input"]) == {"run_date": LOCAL_RUN_DATE}


def test_stepfunctions_execution_already_exists_counts_as_fired(aws: Any) -> None:
    arn = state_machine()
    target = {"type": "stepfunctions", "stateMachineArn": arn, "input": {"n": 1}}
    ctx = FireContext.at("prod", make_task(target), MINUTE)
    started = boto3.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=ctx.execution_id, input='{"other": "input"}'
    )

    outcome = Dispatcher(Clients()).fire(ctx)

    assert (outcome.status, outcome.attempts) == ("fired", 1)
    assert outcome.response_id == started["executionArn"]
    assert stepfunctions.execution_arn(arn, ctx.execution_id) == started["executionArn"]


def test_eventbridge_event_reaches_a_rule_target(aws: Any) -> None:
    events = boto3.client("events")
    url = boto3.client("sqs").create_queue(QueueName="bus-events")["QueueUrl"]
    events.put_rule(Name="reports", EventPattern=json.dumps({"source": ["finp.reports"]}))
    events.put_targets(Rule="reports", Targets=[{"Id": "queue", "Arn": queue_arn(url)}])

    outcome, _ = fire(
        {
            "type": "eventbridge",
            "Source": "finp.reports",
            "DetailType": "Report due",
            "Detail": {"period": "monthly", "run_date": RUN_DATE},
            "Resources": ["arn:aws:batch:us-east-1:123456789012:job-queue/reports"],
        }
    )

    [message] = receive(url)
    event = json.loads(message["Body"])
    assert outcome.status == "fired"
    assert event["id"] == outcome.response_id
    assert (event["source"], event["detail-type"]) == ("finp.reports", "Report due")
    assert event["detail"] == {"period": "monthly", "run_date": LOCAL_RUN_DATE}


def test_eventbridge_failed_entry_is_a_failure(aws: Any) -> None:
    outcome, _ = fire(
        {"type": "eventbridge", "Source": "finp", "DetailType": "x", "Detail": "not json"}
    )

    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.error == (
        "sending it: EventBridge refused the event: MalformedDetail: Detail is malformed."
    )


BUILD_TABLE = [
    (
        {"type": "queue", "QueueName": "q", "MessageBody": ["a", 1], "DelaySeconds": 5},
        {"QueueName": "q", "MessageBody": '["a",1]', "DelaySeconds": 5},
    ),
    (
        {"type": "queue", "QueueUrl": "https://sqs/1/q.fifo", "MessageBody": "m"},
        {
            "QueueUrl": "https://sqs/1/q.fifo",
            "MessageBody": "m",
            "MessageDeduplicationId": "{id}",
            "MessageGroupId": "t",
        },
    ),
    (
        {"type": "lambda", "FunctionName": "f", "InvokeArgs": {"a": 1}, "Qualifier": "live"},
        {"FunctionName": "f", "Payload": '{"a":1}', "InvocationType": "Event", "Qualifier": "live"},
    ),
    (
        {"type": "lambda", "FunctionName": "f", "InvocationType": "RequestResponse"},
        {"FunctionName": "f", "InvocationType": "RequestResponse"},
    ),
    (
        {
            "type": "batch",
            "jobName": "j",
            "jobQueue": "q",
            "jobDefinition": "d:1",
            "parameters": {"on": True, "list": [1, 2]},
            "retryStrategy": {"attempts": 2},
        },
        {
            "jobName": "j",
            "jobQueue": "q",
            "jobDefinition": "d:1",
            "parameters": {"on": "true", "list": "[1,2]"},
            "retryStrategy": {"attempts": 2},
        },
    ),
    (
        {"type": "athena", "QueryString": "SELECT ?", "WorkGroup": "w", "ExecutionParameters": [1]},
        {
            "QueryString": "SELECT ?",
            "WorkGroup": "w",
            "ExecutionParameters": ["1"],
            "ClientRequestToken": "{id}",
        },
    ),
    (
        {"type": "http", "method": "get", "url": "http://h/x", "headers": {"X-N": 1}},
        {"method": "GET", "url": "http://h/x", "timeout": 10.0, "headers": {"X-N": "1"}},
    ),
    (
        {
            "type": "http",
            "method": "PUT",
            "url": "http://h/x",
            "body": {"a": 1},
            "timeout": 3,
            "expect_status": 201,
        },
        {
            "method": "PUT",
            "url": "http://h/x",
            "timeout": 3.0,
            "data": b'{"a":1}',
            "expect_status": [201],
        },
    ),
    (
        {"type": "sns", "TopicArn": "arn:aws:sns:us-east-1:1:t.fifo", "Message": {"a": 1}},
        {
            "TopicArn": "arn:aws:sns:us-east-1:1:t.fifo",
            "Message": '{"a":1}',
            "MessageDeduplicationId": "{id}",
            "MessageGroupId": "t",
        },
    ),
    (
        {"type": "stepfunctions", "stateMachineArn": "arn:sm", "input": {"a": 1}, "name": "n"},
        {"stateMachineArn": "arn:sm", "input": '{"a":1}', "name": "n"},
    ),
    (
        {"type": "stepfunctions", "stateMachineArn": "arn:sm"},
        {"stateMachineArn": "arn:sm", "name": "{id}"},
    ),
    (
        {
            "type": "eventbridge",
            "Source": "s",
            "DetailType": "d",
            "Detail": {"a": 1},
            "EventBusName": "bus",
        },
        {
            "Entries": [
                {"Source": "s", "DetailType": "d", "Detail": '{"a":1}', "EventBusName": "bus"}
            ]
        },
    ),
]


@pytest.mark.parametrize(("target_map", "expected"), BUILD_TABLE)
def test_build_uses_the_aws_parameter_names(
    target_map: dict[str, Any], expected: dict[str, Any]
) -> None:
    task = Task("t", "* * * * *", "UTC", target_map)
    ctx = FireContext.at("prod", task, MINUTE)
    filled = json.loads(
        json.dumps(expected, default=bytes.decode).replace("{id}", ctx.execution_id)
    )
    if "data" in expected:
        filled["data"] = expected["data"]

    assert target(target_map["type"]).build(task, ctx) == filled


def test_registry_knows_every_type_of_the_brief() -> None:
    assert sorted(TARGETS) == sorted(
        ["queue", "lambda", "batch", "athena", "http", "sns", "stepfunctions", "eventbridge"]
    )
    with pytest.raises(TargetError) as caught:
        target("cron")
    assert str(caught.value) == (
        "unknown task type 'cron'; lambdacron knows queue, lambda, batch, athena, http, sns, "
        "stepfunctions, eventbridge; fix the template's `type:` and publish again"
    )
