"""Task validation: each type's good and bad shapes, and the exact words of the problems."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from lambdacron.schema import NAME_PATTERN, TASK_TYPES, Problem, validate_task

ARN = "123456789012"

MINIMAL: dict[str, dict[str, Any]] = {
    "queue": {"type": "queue", "QueueName": "reports", "MessageBody": "go"},
    "lambda": {"type": "lambda", "FunctionName": "report"},
    "batch": {
        "type": "batch",
        "jobName": "monthly-report-prod",
        "jobQueue": "reports",
        "jobDefinition": "finp-reports:3",
    },
    "athena": {"type": "athena", "QueryString": "SELECT 1", "WorkGroup": "primary"},
    "http": {"type": "http", "url": "https://example.com/hook", "method": "POST"},
    "sns": {"type": "sns", "TopicArn": f"arn:aws:sns:us-east-1:{ARN}:alerts", "Message": "hi"},
    "stepfunctions": {
        "type": "stepfunctions",
        "stateMachineArn": f"arn:aws:states:us-east-1:{ARN}:stateMachine:report",
    },
    "eventbridge": {
        "type": "eventbridge",
        "Source": "finp.reports",
        "DetailType": "report due",
        "Detail": {"period": "monthly"},
    },
}

FULL: list[dict[str, Any]] = [
    {
        "type": "queue",
        "QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ARN}/reports.fifo",
        "MessageBody": {"period": "monthly", "run": "${lambdacron:scheduled_time:%Y-%m-%d}"},
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "report"},
            "size": {"DataType": "Number.int", "StringValue": "3"},
        },
        "DelaySeconds": 900,
        "MessageGroupId": "reports",
        "MessageDeduplicationId": "${lambdacron:execution_id}",
    },
    {"type": "queue", "QueueName": "reports.fifo", "MessageBody": ["a", 1], "DelaySeconds": 0},
    {
        "type": "lambda",
        "FunctionName": f"arn:aws:lambda:eu-west-1:{ARN}:function:report:live",
        "Payload": {"period": "monthly"},
        "InvocationType": "RequestResponse",
        "Qualifier": "live",
    },
    {"type": "lambda", "FunctionName": "report", "InvokeArgs": "{}", "InvocationType": "DryRun"},
    {"type": "lambda", "FunctionName": f"{ARN}:function:report", "Payload": [1, 2]},
    {
        **MINIMAL["batch"],
        "parameters": {"period": "monthly", "year": 2026, "dry": False, "ratio": 0.5},
        "containerOverrides": {"environment": [{"name": "A", "value": "b"}]},
        "arrayProperties": {"size": 10},
        "dependsOn": [{"jobId": "abc", "type": "SEQUENTIAL"}],
        "retryStrategy": {"attempts": 3, "evaluateOnExit": [{"action": "RETRY"}]},
        "timeout": {"attemptDurationSeconds": 3600},
        "tags": {"team": "finp", "cost": 12},
        "propagateTags": True,
    },
    {
        "type": "athena",
        "QueryString": "SELECT * FROM t WHERE d = ?",
        "ResultConfiguration": {
            "OutputLocation": "s3://finp-results/athena/",
            "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            "ExpectedBucketOwner": ARN,
        },
        "QueryExecutionContext": {"Database": "finp", "Catalog": "AwsDataCatalog"},
        "ExecutionParameters": ["2026-12-04", 3, True],
    },
    {
        "type": "athena",
        "QueryString": "SELECT 1",
        "ResultConfiguration": {"OutputLocation": "s3://bucket"},
    },
    {
        "type": "http",
        "url": "http://127.0.0.1:8080/x?y=1",
        "method": "GET",
        "headers": {"Authorization": "${lambdacron:secret:ssm:/finp/token}", "X-Count": 3},
        "params": {"q": "x", "n": 1, "tags": ["a", "b"]},
        "timeout": 2.5,
        "expect_status": [200, 204],
    },
    {
        "type": "http",
        "url": "${lambdacron:secret:ssm:/hooks/slack}",
        "method": "POST",
        "json": {"text": "hi"},
        "expect_status": 202,
        "timeout": 300,
    },
    {"type": "http", "url": "https://x.example", "method": "PUT", "body": "", "timeout": 1},
    {"type": "http", "url": "https://x.example", "method": "DELETE", "json": "just a string"},
    {
        **MINIMAL["sns"],
        "TopicArn": f"arn:aws-us-gov:sns:us-gov-west-1:{ARN}:alerts.fifo",
        "Message": {"default": "hi"},
        "Subject": "x" * 100,
        "MessageAttributes": {"kind": {"DataType": "Binary", "BinaryValue": "aGk="}},
        "MessageGroupId": "g",
    },
    {
        **MINIMAL["stepfunctions"],
        "input": {"period": "monthly"},
        "name": "${lambdacron:execution_id}",
    },
    {
        **MINIMAL["eventbridge"],
        "EventBusName": "finp",
        "Resources": [f"arn:aws:s3:::finp-{ARN}"],
    },
]


def task(target: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "monthly-report",
        "expression": "0 17 5 * *",
        "task": copy.deepcopy(target if target is not None else MINIMAL["batch"]),
    }
    data.update(top)
    return data


def problems(data: object) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    return [(p.path, p.message, p.hint) for p in validate_task(data)]


def messages(data: object) -> list[str]:
    return [p.message for p in validate_task(data)]


@pytest.mark.parametrize("kind", list(MINIMAL))
def test_minimal_task_of_each_type_is_valid(kind: str) -> None:
    assert problems(task(MINIMAL[kind])) == []


@pytest.mark.parametrize("target", FULL, ids=lambda t: str(t["type"]))
def test_full_shapes_are_valid(target: dict[str, Any]) -> None:
    assert problems(task(target)) == []


def test_every_type_is_covered() -> None:
    assert set(MINIMAL) == set(TASK_TYPES) == {t["type"] for t in FULL}


def test_top_level_keys_are_valid() -> None:
    data = task(timezone="Europe/Madrid", enabled=False, description="", retries=0)
    assert problems(data) == []
    assert problems(task(timezone="UTC", retries=10, enabled=True)) == []
    assert problems(task(expression="H(0-29) 2 * * *")) == []


REQUIRED = [
    (kind, key)
    for kind, t in TASK_TYPES.items()
    for key, rules in t.schema.items()
    if rules.get("required") and key != "type"
]


@pytest.mark.parametrize(("kind", "key"), REQUIRED)
def test_each_required_key_missing(kind: str, key: str) -> None:
    target = {k: v for k, v in MINIMAL[kind].items() if k != key}
    found = validate_task(task(target))
    assert [(p.path, p.message) for p in found] == [
        (("task",), f"task ({kind}) is missing required key '{key}'")
    ]
    assert found[0].hint is not None and found[0].hint.startswith(f"add {key}: ")


def test_the_required_keys_are_the_briefs() -> None:
    assert {k: sorted(key for kk, key in REQUIRED if kk == k) for k in TASK_TYPES} == {
        "queue": ["MessageBody"],
        "lambda": ["FunctionName"],
        "batch": ["jobDefinition", "jobName", "jobQueue"],
        "athena": ["QueryString"],
        "http": ["method", "url"],
        "sns": ["Message", "TopicArn"],
        "stepfunctions": ["stateMachineArn"],
        "eventbridge": ["Detail", "DetailType", "Source"],
    }


@pytest.mark.parametrize(
    ("target", "message", "hint"),
    [
        (
            {"type": "queue", "MessageBody": "x"},
            "task (queue) is missing required key 'QueueName' or 'QueueUrl'",
            "name the queue with QueueName or QueueUrl",
        ),
        (
            {"type": "athena", "QueryString": "x"},
            "task (athena) is missing required key 'ResultConfiguration.OutputLocation' or "
            "'WorkGroup'",
            "Athena needs somewhere to write results: an s3:// OutputLocation, or a WorkGroup "
            "that sets one",
        ),
        (
            {
                "type": "athena",
                "QueryString": "x",
                "ResultConfiguration": {"ExpectedBucketOwner": ARN},
            },
            "task (athena) is missing required key 'ResultConfiguration.OutputLocation' or "
            "'WorkGroup'",
            "Athena needs somewhere to write results: an s3:// OutputLocation, or a WorkGroup "
            "that sets one",
        ),
        (
            {**MINIMAL["queue"], "QueueUrl": "https://sqs.example/1/q"},
            "task (queue) has both 'QueueName' and 'QueueUrl'",
            "they are alternatives: keep one of them",
        ),
        (
            {**MINIMAL["http"], "json": {}, "body": "x"},
            "task (http) has both 'json' and 'body'",
            "they are alternatives: keep one of them",
        ),
        (
            {**MINIMAL["lambda"], "Payload": {}, "InvokeArgs": {}},
            "task (lambda) has both 'Payload' and 'InvokeArgs'",
            "they are alternatives: keep one of them",
        ),
    ],
)
def test_alternatives(target: dict[str, Any], message: str, hint: str) -> None:
    assert problems(task(target)) == [(("task",), message, hint)]


def test_athena_accepts_both_an_output_location_and_a_workgroup() -> None:
    target = {**MINIMAL["athena"], "ResultConfiguration": {"OutputLocation": "s3://b/p/"}}
    assert problems(task(target)) == []


def bad(kind: str, **changes: Any) -> dict[str, Any]:
    return task({**MINIMAL[kind], **changes})


WRONG_VALUES = [
    (
        bad("queue", MessageBody=5),
        ("task", "MessageBody"),
        "MessageBody of task (queue) must be a string, a mapping or a list, got an integer (5)",
    ),
    (
        bad("queue", MessageBody=None),
        ("task", "MessageBody"),
        "MessageBody of task (queue) must be a string, a mapping or a list, got null",
    ),
    (
        bad("queue", DelaySeconds=901),
        ("task", "DelaySeconds"),
        "DelaySeconds of task (queue) must be between 0 and 900, got 901",
    ),
    (
        bad("queue", DelaySeconds=-1),
        ("task", "DelaySeconds"),
        "DelaySeconds of task (queue) must be between 0 and 900, got -1",
    ),
    (
        bad("queue", DelaySeconds="5"),
        ("task", "DelaySeconds"),
        "DelaySeconds of task (queue) must be an integer, got a string ('5')",
    ),
    (
        bad("queue", DelaySeconds=True),
        ("task", "DelaySeconds"),
        "DelaySeconds of task (queue) must be an integer, got true",
    ),
    (
        bad("queue", QueueName="my queue"),
        ("task", "QueueName"),
        "QueueName of task (queue) 'my queue' is not valid",
    ),
    (
        bad("queue", MessageAttributes={"k": "v"}),
        ("task", "MessageAttributes", "k"),
        "MessageAttributes.k of task (queue) must be a mapping, got a string ('v')",
    ),
    (
        bad("queue", MessageAttributes={"k": {"StringValue": "v"}}),
        ("task", "MessageAttributes", "k"),
        "MessageAttributes.k of task (queue) is missing required key 'DataType'",
    ),
    (
        bad("queue", MessageAttributes={"k": {"DataType": "Text"}}),
        ("task", "MessageAttributes", "k", "DataType"),
        "MessageAttributes.k.DataType of task (queue) 'Text' is not valid",
    ),
    (
        bad("queue", MessageGroupId="g" * 129),
        ("task", "MessageGroupId"),
        "MessageGroupId of task (queue) must be at most 128 characters, got 129",
    ),
    (
        bad("lambda", FunctionName="my function"),
        ("task", "FunctionName"),
        "FunctionName of task (lambda) 'my function' is not valid",
    ),
    (
        bad("lambda", FunctionName=""),
        ("task", "FunctionName"),
        "FunctionName of task (lambda) must not be empty",
    ),
    (
        bad("lambda", Payload=5),
        ("task", "Payload"),
        "Payload of task (lambda) must be a string, a mapping or a list, got an integer (5)",
    ),
    (
        bad("lambda", InvocationType="event"),
        ("task", "InvocationType"),
        "InvocationType of task (lambda) must be one of Event, RequestResponse, DryRun, got 'event'",
    ),
    (
        bad("lambda", Qualifier="v 1"),
        ("task", "Qualifier"),
        "Qualifier of task (lambda) 'v 1' is not valid",
    ),
    (
        bad("batch", jobName="monthly report"),
        ("task", "jobName"),
        "jobName of task (batch) 'monthly report' is not valid",
    ),
    (
        bad("batch", jobDefinition=3),
        ("task", "jobDefinition"),
        "jobDefinition of task (batch) must be a string, got an integer (3)",
    ),
    (
        bad("batch", parameters=["a"]),
        ("task", "parameters"),
        "parameters of task (batch) must be a mapping, got a list",
    ),
    (
        bad("batch", parameters={"a": {"b": 1}}),
        ("task", "parameters", "a"),
        "parameters.a of task (batch) must be a string, a number or a boolean, got a mapping",
    ),
    (
        bad("batch", timeout=600),
        ("task", "timeout"),
        "timeout of task (batch) must be a mapping, got an integer (600)",
    ),
    (
        bad("batch", timeout={"attemptDurationSeconds": 30}),
        ("task", "timeout", "attemptDurationSeconds"),
        "timeout.attemptDurationSeconds of task (batch) must be at least 60, got 30",
    ),
    (
        bad("batch", arrayProperties={"size": 1}),
        ("task", "arrayProperties", "size"),
        "arrayProperties.size of task (batch) must be between 2 and 10000, got 1",
    ),
    (
        bad("batch", retryStrategy={"attempts": 11}),
        ("task", "retryStrategy", "attempts"),
        "retryStrategy.attempts of task (batch) must be between 1 and 10, got 11",
    ),
    (
        bad("batch", dependsOn=[{"jobId": "a"}, "b"]),
        ("task", "dependsOn", 1),
        "dependsOn[1] of task (batch) must be a mapping, got a string ('b')",
    ),
    (
        bad("batch", propagateTags="yes"),
        ("task", "propagateTags"),
        "propagateTags of task (batch) must be true or false, got a string ('yes')",
    ),
    (
        bad("athena", QueryString=""),
        ("task", "QueryString"),
        "QueryString of task (athena) must not be empty",
    ),
    (
        bad("athena", ResultConfiguration={"OutputLocation": "bucket/prefix"}),
        ("task", "ResultConfiguration", "OutputLocation"),
        "ResultConfiguration.OutputLocation of task (athena) 'bucket/prefix' is not valid",
    ),
    (
        bad("athena", ExecutionParameters=[]),
        ("task", "ExecutionParameters"),
        "ExecutionParameters of task (athena) must not be empty",
    ),
    (
        bad("athena", ExecutionParameters=["a", ["b"]]),
        ("task", "ExecutionParameters", 1),
        "ExecutionParameters[1] of task (athena) must be a string, a number or a boolean, got a list",
    ),
    (
        bad("athena", QueryExecutionContext="finp"),
        ("task", "QueryExecutionContext"),
        "QueryExecutionContext of task (athena) must be a mapping, got a string ('finp')",
    ),
    (
        bad("http", url="ftp://example.com"),
        ("task", "url"),
        "url of task (http) 'ftp://example.com' is not valid",
    ),
    (
        bad("http", url="example.com"),
        ("task", "url"),
        "url of task (http) 'example.com' is not valid",
    ),
    (
        bad("http", method="get"),
        ("task", "method"),
        "method of task (http) must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, got 'get'",
    ),
    (
        bad("http", method="FETCH"),
        ("task", "method"),
        "method of task (http) must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, got 'FETCH'",
    ),
    (
        bad("http", timeout=0),
        ("task", "timeout"),
        "timeout of task (http) must be between 1 and 300, got 0",
    ),
    (
        bad("http", timeout=301),
        ("task", "timeout"),
        "timeout of task (http) must be between 1 and 300, got 301",
    ),
    (
        bad("http", timeout="10s"),
        ("task", "timeout"),
        "timeout of task (http) must be a number, got a string ('10s')",
    ),
    (
        bad("http", expect_status=99),
        ("task", "expect_status"),
        "expect_status of task (http) must be between 100 and 599, got 99",
    ),
    (
        bad("http", expect_status=[200, 600]),
        ("task", "expect_status", 1),
        "expect_status[1] of task (http) must be between 100 and 599, got 600",
    ),
    (
        bad("http", expect_status=[200, "201"]),
        ("task", "expect_status", 1),
        "expect_status[1] of task (http) must be an integer, got a string ('201')",
    ),
    (
        bad("http", expect_status="2xx"),
        ("task", "expect_status"),
        "expect_status of task (http) must be an HTTP status (100-599) or a list of them, "
        "got a string ('2xx')",
    ),
    (
        bad("http", expect_status=[]),
        ("task", "expect_status"),
        "expect_status of task (http) must not be empty",
    ),
    (
        bad("http", headers={"A": ["b"]}),
        ("task", "headers", "A"),
        "headers.A of task (http) must be a string, a number or a boolean, got a list",
    ),
    (
        bad("http", json=None),
        ("task", "json"),
        "json of task (http) must be a JSON value (mapping, list, string, number or boolean), got null",
    ),
    (
        bad("http", body={"a": 1}),
        ("task", "body"),
        "body of task (http) must be a string, got a mapping",
    ),
    (
        bad("sns", TopicArn="alerts"),
        ("task", "TopicArn"),
        "TopicArn of task (sns) 'alerts' is not valid",
    ),
    (
        bad("sns", Subject="s" * 101),
        ("task", "Subject"),
        "Subject of task (sns) must be at most 100 characters, got 101",
    ),
    (
        bad("stepfunctions", stateMachineArn=f"arn:aws:states:us-east-1:{ARN}:execution:x"),
        ("task", "stateMachineArn"),
        f"stateMachineArn of task (stepfunctions) 'arn:aws:states:us-east-1:{ARN}...' is not valid",
    ),
    (
        bad("stepfunctions", input="{}"),
        ("task", "input"),
        "input of task (stepfunctions) must be a mapping, got a string ('{}')",
    ),
    (
        bad("stepfunctions", name="n" * 81),
        ("task", "name"),
        "name of task (stepfunctions) must be at most 80 characters, got 81",
    ),
    (
        bad("eventbridge", Detail="{}"),
        ("task", "Detail"),
        "Detail of task (eventbridge) must be a mapping, got a string ('{}')",
    ),
    (
        bad("eventbridge", Resources="arn:x"),
        ("task", "Resources"),
        "Resources of task (eventbridge) must be a list, got a string ('arn:x')",
    ),
    (
        bad("eventbridge", Resources=[5]),
        ("task", "Resources", 0),
        "Resources[0] of task (eventbridge) must be a string, got an integer (5)",
    ),
]


@pytest.mark.parametrize(("data", "path", "message"), WRONG_VALUES)
def test_wrong_values(data: dict[str, Any], path: tuple[str | int, ...], message: str) -> None:
    found = validate_task(data)
    assert [(p.path, p.message) for p in found] == [(path, message)]


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (bad("lambda", InvocationType="event"), "did you mean 'Event'?"),
        (bad("http", method="get"), "did you mean 'GET'?"),
        (bad("http", url="ftp://x"), "an http:// or https:// URL, or a secret(...) reference"),
        (bad("sns", TopicArn="alerts"), "arn:aws:sns:REGION:ACCOUNT:TOPIC"),
        (bad("http", method="FETCH"), "did you mean 'PATCH'?"),
        (bad("http", method="TRACE"), None),
    ],
)
def test_value_hints(data: dict[str, Any], hint: str | None) -> None:
    (found,) = validate_task(data)
    assert found.hint == hint


UNKNOWN_KEYS = [
    (
        bad("batch", jobQeue="q"),
        ("task", "jobQeue"),
        "unknown key 'jobQeue' in task (batch)",
        "did you mean 'jobQueue'?",
    ),
    (
        bad("batch", jobqueue="q"),
        ("task", "jobqueue"),
        "unknown key 'jobqueue' in task (batch)",
        "did you mean 'jobQueue'?",
    ),
    (
        bad("queue", MesageBody="x"),
        ("task", "MesageBody"),
        "unknown key 'MesageBody' in task (queue)",
        "did you mean 'MessageBody'?",
    ),
    (
        bad("lambda", functionName="x"),
        ("task", "functionName"),
        "unknown key 'functionName' in task (lambda)",
        "did you mean 'FunctionName'?",
    ),
    (
        bad("http", header={}),
        ("task", "header"),
        "unknown key 'header' in task (http)",
        "did you mean 'headers'?",
    ),
    (
        bad("http", data="x"),
        ("task", "data"),
        "unknown key 'data' in task (http)",
        "the keys are type, url, method, headers, params, json, body, timeout, expect_status",
    ),
    (
        bad("sns", QueueUrl="x"),
        ("task", "QueueUrl"),
        "unknown key 'QueueUrl' in task (sns)",
        "'QueueUrl' is a key of queue tasks, not of sns tasks",
    ),
    (
        bad("queue", MessageSystemAttributes={}),
        ("task", "MessageSystemAttributes"),
        "unknown key 'MessageSystemAttributes' in task (queue)",
        "did you mean 'MessageAttributes'?",
    ),
    (
        bad("batch", retries=3),
        ("task", "retries"),
        "unknown key 'retries' in task (batch)",
        "'retries' belongs at the top level of the task, next to task:",
    ),
    (
        bad("athena", QueryExecutionContext={"Databse": "x"}),
        ("task", "QueryExecutionContext", "Databse"),
        "unknown key 'Databse' in QueryExecutionContext of task (athena)",
        "did you mean 'Database'?",
    ),
    (
        task(expresion="x"),
        ("expresion",),
        "unknown key 'expresion' in task",
        "did you mean 'expression'?",
    ),
    (
        task(time_zone="UTC"),
        ("time_zone",),
        "unknown key 'time_zone' in task",
        "did you mean 'timezone'?",
    ),
    (
        task(jobQueue="x"),
        ("jobQueue",),
        "unknown key 'jobQueue' in task",
        "'jobQueue' belongs inside task: (type batch)",
    ),
    (
        task(MessageAttributes={}),
        ("MessageAttributes",),
        "unknown key 'MessageAttributes' in task",
        "'MessageAttributes' belongs inside task: (type queue or sns)",
    ),
    (
        task(owner="me"),
        ("owner",),
        "unknown key 'owner' in task",
        "the keys are name, expression, timezone, enabled, description, retries, task",
    ),
    (
        task(source="templates/x.yml.j2"),
        ("source",),
        "unknown key 'source' in task",
        "the keys are name, expression, timezone, enabled, description, retries, task",
    ),
]


@pytest.mark.parametrize(("data", "path", "message", "hint"), UNKNOWN_KEYS)
def test_unknown_keys(data: dict[str, Any], path: tuple[str, ...], message: str, hint: str) -> None:
    assert problems(data) == [(path, message, hint)]


def test_unknown_key_message_reads_as_a_diagnostic() -> None:
    """With the compiler's Diagnostic, message and hint make the brief's line."""
    from lambdacron.errors import Diagnostic

    (found,) = validate_task(bad("batch", jobQeue="q"))
    line = str(Diagnostic("build/prod/tasks/a.yml", 9, found.message, found.hint))
    assert line == (
        "build/prod/tasks/a.yml:9: unknown key 'jobQeue' in task (batch) (did you mean 'jobQueue'?)"
    )


@pytest.mark.parametrize(
    ("target", "path", "message", "hint"),
    [
        (
            {"type": "bach"},
            ("task", "type"),
            "unknown task type 'bach'",
            "did you mean 'batch'? the types are queue, lambda, batch, athena, http, sns, "
            "stepfunctions, eventbridge",
        ),
        (
            {"type": "sqs"},
            ("task", "type"),
            "unknown task type 'sqs'",
            "did you mean 'sns'? the types are queue, lambda, batch, athena, http, sns, "
            "stepfunctions, eventbridge",
        ),
        (
            {"type": "cron"},
            ("task", "type"),
            "unknown task type 'cron'",
            "the types are queue, lambda, batch, athena, http, sns, stepfunctions, eventbridge",
        ),
        (
            {"type": 5},
            ("task", "type"),
            "task type must be one of queue, lambda, batch, athena, http, sns, stepfunctions, "
            "eventbridge, got an integer (5)",
            None,
        ),
        (
            {"jobName": "x"},
            ("task",),
            "'task' is missing required key 'type'",
            "add type: one of queue, lambda, batch, athena, http, sns, stepfunctions, eventbridge",
        ),
    ],
)
def test_task_types(
    target: dict[str, Any], path: tuple[str, ...], message: str, hint: str | None
) -> None:
    assert problems(task(target)) == [(path, message, hint)]


BAD_NAMES = [
    "monthly report",
    "-report",
    ".hidden",
    "_private",
    "a/b",
    "../etc",
    "rapport-été",
    "a" * 129,
    "report\n",
    "a:b",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_with_bad_characters(name: str) -> None:
    (found,) = validate_task(task(name=name))
    assert found.path == ("name",)
    assert found.message.startswith("name '") and found.message.endswith("' is not valid")
    assert found.hint == (
        "a task name is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )
    assert not NAME_PATTERN.match(name)


def test_an_empty_name() -> None:
    assert messages(task(name="")) == ["name must not be empty"]


def test_a_newline_in_a_name_is_shown_escaped() -> None:
    assert messages(task(name="report\n")) == ["name 'report\\n' is not valid"]


@pytest.mark.parametrize("name", ["a", "A1", "monthly-report", "v1.2_final", "9" * 128])
def test_good_names(name: str) -> None:
    assert problems(task(name=name)) == []
    assert NAME_PATTERN.match(name)


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("Europe/Madird", "did you mean 'Europe/Madrid'?"),
        ("europe/madrid", "did you mean 'Europe/Madrid'?"),
        ("America/New York", "did you mean 'America/New_York'?"),
        ("utc", "did you mean 'UTC'?"),
        ("Mars/Olympus_Mons", "e.g. 'Europe/Madrid' or 'UTC'"),
        ("", "e.g. 'Europe/Madrid' or 'UTC'"),
    ],
)
def test_time_zones_that_do_not_exist(zone: str, hint: str) -> None:
    assert problems(task(timezone=zone)) == [
        (("timezone",), f"timezone '{zone}' is not an IANA time zone", hint)
    ]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Madrid", "America/New_York", "Asia/Kolkata"])
def test_time_zones_that_exist(zone: str) -> None:
    assert problems(task(timezone=zone)) == []


@pytest.mark.parametrize(
    ("retries", "message"),
    [
        (11, "retries must be between 0 and 10, got 11"),
        (-1, "retries must be between 0 and 10, got -1"),
        (100, "retries must be between 0 and 10, got 100"),
        ("2", "retries must be an integer, got a string ('2')"),
        (2.0, "retries must be an integer, got a number (2.0)"),
        (True, "retries must be an integer, got true"),
        (None, "retries must be an integer, got null"),
    ],
)
def test_retries_out_of_bounds(retries: object, message: str) -> None:
    assert messages(task(retries=retries)) == [message]


@pytest.mark.parametrize(
    ("top", "path", "message"),
    [
        ({"enabled": "no"}, ("enabled",), "enabled must be true or false, got a string ('no')"),
        ({"enabled": 1}, ("enabled",), "enabled must be true or false, got an integer (1)"),
        ({"description": 5}, ("description",), "description must be a string, got an integer (5)"),
        ({"timezone": 1}, ("timezone",), "timezone must be a string, got an integer (1)"),
        ({"name": 5}, ("name",), "name must be a string, got an integer (5)"),
        ({"task": "batch"}, ("task",), "task must be a mapping, got a string ('batch')"),
        ({"task": None}, ("task",), "task must be a mapping, got null"),
        (
            {"expression": 5},
            ("expression",),
            'expression must be a crontab string, e.g. "0 17 5 * *", got an integer (5)',
        ),
        (
            {"expression": None},
            ("expression",),
            'expression must be a crontab string, e.g. "0 17 5 * *", got null',
        ),
        (
            {"expression": "0 17 5 * * *"},
            ("expression",),
            'expression "0 17 5 * * *": 6 fields; crontab takes 5 (minute hour day month weekday)',
        ),
        (
            {"expression": "cron(0 17 5 * ? *)"},
            ("expression",),
            'expression "cron(0 17 5 * ? *)" is an AWS EventBridge expression; lambdacron takes '
            'crontab: use "0 17 5 * *"',
        ),
        (
            {"expression": "0 0 31 2 *"},
            ("expression",),
            'expression "0 0 31 2 *": never fires (February has no 31st)',
        ),
    ],
)
def test_top_level_values(top: dict[str, Any], path: tuple[str, ...], message: str) -> None:
    assert [(p.path, p.message) for p in validate_task(task(**top))] == [(path, message)]


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("name", "add name: the task's name, unique in its environment"),
        ("task", "add task: what to do: a type and the keys of that type"),
    ],
)
def test_missing_top_level_keys(key: str, hint: str) -> None:
    data = task()
    del data[key]
    assert problems(data) == [((), f"task is missing required key '{key}'", hint)]


@pytest.mark.parametrize("data", ["name: x", ["name", "x"], None, 5])
def test_a_task_must_be_a_mapping(data: object) -> None:
    (found,) = validate_task(data)
    assert found.path == ()
    assert found.message.startswith("a task must be a mapping of keys to values, got ")
    assert found.hint == "start the document with name:, expression: and task:"


def test_non_string_keys_are_unknown() -> None:
    data: dict[object, object] = {1: "x"}
    data.update(task())
    assert messages(data) == ["unknown key '1' in task"]


def test_every_problem_of_a_task_is_reported_in_document_order() -> None:
    data = {
        "name": "monthly report",
        "expression": "61 17 5 * *",
        "timezone": "Europe/Madird",
        "retries": 11,
        "expresion": "x",
        "task": {
            "type": "batch",
            "jobName": "r",
            "jobQeue": "q",
            "jobDefinition": 5,
            "timeout": 600,
        },
        "enabled": "yes",
    }
    assert [p.path for p in validate_task(data)] == [
        ("name",),
        ("expression",),
        ("timezone",),
        ("retries",),
        ("expresion",),
        ("task",),
        ("task", "jobQeue"),
        ("task", "jobDefinition"),
        ("task", "timeout"),
        ("enabled",),
    ]
    assert messages(data)[5] == "task (batch) is missing required key 'jobQueue'"


def test_validators_keep_no_state_between_tasks() -> None:
    assert problems(bad("queue", DelaySeconds=901))
    assert problems(task(MINIMAL["queue"])) == []
    assert problems(task(expression="0 0 31 2 *"))
    assert problems(task()) == []


def test_the_hash_seed_reaches_the_expression_check() -> None:
    data = task(expression="0 0 H(29-31) 2 *")
    seeds = [f"prod/report-{n}" for n in range(30)]
    results = {not validate_task(data, hash_seed=seed) for seed in seeds}
    assert results == {True, False}


def test_problems_are_frozen() -> None:
    problem = Problem(("task",), "m", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.message = "other"  # type: ignore[misc]


def test_validate_task_does_not_change_its_input() -> None:
    data = task(FULL[0], timezone="Europe/Madrid")
    before = copy.deepcopy(data)
    validate_task(data)
    assert data == before
