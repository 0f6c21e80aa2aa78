"""The scheduler's IAM policy, derived from the manifest: per task type exactly the actions it
needs, on the resources its tasks name; never ``*`` where the ARN is known."""

from __future__ import annotations

from typing import Any

import pytest

from lambdacron.deploy.policy import (
    Grant,
    grants_of_document,
    manifest_grants,
    policy_document,
    queue_url_arn,
    secret_grant,
    sub,
    task_grants,
)
from lambdacron.runtime.manifest import Task

P, R, A = "${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"


def arn(service: str, resource: str, region: str = R, account: str = A) -> str:
    return f"arn:{P}:{service}:{region}:{account}:{resource}"


def task(target: dict[str, Any], name: str = "t") -> Task:
    return Task(name, "* * * * *", "UTC", target)


# One row per kind of task: the target, and exactly the grants it needs.
TYPES: list[tuple[str, dict[str, Any], set[Grant]]] = [
    (
        "queue by name",
        {"type": "queue", "QueueName": "loads", "MessageBody": "x"},
        {
            Grant("sqs:SendMessage", arn("sqs", "loads")),
            Grant("sqs:GetQueueUrl", arn("sqs", "loads")),
        },
    ),
    (
        "queue by url",
        {
            "type": "queue",
            "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/210987654321/x.fifo",
            "MessageBody": "x",
        },
        {Grant("sqs:SendMessage", arn("sqs", "x.fifo", "eu-west-1", "210987654321"))},
    ),
    (
        "lambda by name",
        {"type": "lambda", "FunctionName": "cleanup"},
        {Grant("lambda:InvokeFunction", arn("lambda", "function:cleanup"))},
    ),
    (
        "lambda with a qualifier",
        {"type": "lambda", "FunctionName": "cleanup", "Qualifier": "live"},
        {Grant("lambda:InvokeFunction", arn("lambda", "function:cleanup:live"))},
    ),
    (
        "lambda alias in the name",
        {"type": "lambda", "FunctionName": "cleanup:7"},
        {Grant("lambda:InvokeFunction", arn("lambda", "function:cleanup:7"))},
    ),
    (
        "lambda by ARN",
        {
            "type": "lambda",
            "FunctionName": "arn:aws:lambda:us-west-2:210987654321:function:f",
            "Qualifier": "prod",
        },
        {Grant("lambda:InvokeFunction", "arn:aws:lambda:us-west-2:210987654321:function:f:prod")},
    ),
    (
        "lambda by partial ARN",
        {"type": "lambda", "FunctionName": "210987654321:function:f"},
        {Grant("lambda:InvokeFunction", f"arn:{P}:lambda:{R}:210987654321:function:f")},
    ),
    (
        "batch with a revision",
        {"type": "batch", "jobName": "j", "jobQueue": "reports", "jobDefinition": "defs:3"},
        {
            Grant("batch:SubmitJob", arn("batch", "job-queue/reports")),
            Grant("batch:SubmitJob", arn("batch", "job-definition/defs:3")),
        },
    ),
    (
        "batch latest revision, ARNs, tags",
        {
            "type": "batch",
            "jobName": "j",
            "jobQueue": "arn:aws:batch:us-east-1:210987654321:job-queue/q",
            "jobDefinition": "defs",
            "tags": {"team": "finp"},
        },
        {
            Grant("batch:SubmitJob", "arn:aws:batch:us-east-1:210987654321:job-queue/q"),
            Grant("batch:SubmitJob", arn("batch", "job-definition/defs:*")),
            Grant("batch:TagResource", arn("batch", "job/*")),
        },
    ),
    (
        "athena work group",
        {"type": "athena", "QueryString": "select 1", "WorkGroup": "reports"},
        {Grant("athena:StartQueryExecution", arn("athena", "workgroup/reports"))},
    ),
    (
        "athena output location",
        {
            "type": "athena",
            "QueryString": "select 1",
            "ResultConfiguration": {"OutputLocation": "s3://results/athena/"},
        },
        {
            Grant("athena:StartQueryExecution", arn("athena", "workgroup/primary")),
            Grant("s3:GetBucketLocation", f"arn:{P}:s3:::results"),
            Grant("s3:PutObject", f"arn:{P}:s3:::results/athena/*"),
        },
    ),
    ("http", {"type": "http", "method": "GET", "url": "https://example.com"}, set()),
    (
        "sns",
        {"type": "sns", "TopicArn": "arn:aws:sns:us-east-1:210987654321:finance", "Message": "m"},
        {Grant("sns:Publish", "arn:aws:sns:us-east-1:210987654321:finance")},
    ),
    (
        "stepfunctions",
        {
            "type": "stepfunctions",
            "stateMachineArn": "arn:aws:states:us-east-1:210987654321:stateMachine:close",
        },
        {
            Grant(
                "states:StartExecution", "arn:aws:states:us-east-1:210987654321:stateMachine:close"
            )
        },
    ),
    (
        "eventbridge default bus",
        {"type": "eventbridge", "Source": "s", "DetailType": "d", "Detail": {}},
        {Grant("events:PutEvents", arn("events", "event-bus/default"))},
    ),
    (
        "eventbridge named bus",
        {
            "type": "eventbridge",
            "Source": "s",
            "DetailType": "d",
            "Detail": {},
            "EventBusName": "finp-events",
        },
        {Grant("events:PutEvents", arn("events", "event-bus/finp-events"))},
    ),
    (
        "http with secrets",
        {
            "type": "http",
            "method": "POST",
            "url": "https://example.com",
            "headers": {"Authorization": "Bearer ${lambdacron:secret:ssm:/finp/token}"},
            "json": {
                "${lambdacron:secret:secretsmanager:db#user}": "${lambdacron:secret:secretsmanager:db#password}"
            },
        },
        {
            Grant("ssm:GetParameter", arn("ssm", "parameter/finp/token")),
            Grant("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:db-??????")),
        },
    ),
]


@pytest.mark.parametrize(
    ("target", "expected"), [row[1:] for row in TYPES], ids=[row[0] for row in TYPES]
)
def test_a_task_needs_exactly_its_grants(target: dict[str, Any], expected: set[Grant]) -> None:
    assert task_grants(task(target)) == expected


@pytest.mark.parametrize(
    ("target", "expected"), [row[1:] for row in TYPES], ids=[row[0] for row in TYPES]
)
def test_adding_a_task_of_a_new_type_adds_exactly_its_permissions(
    target: dict[str, Any], expected: set[Grant]
) -> None:
    others = [
        task(row[1], f"other-{i}")
        for i, row in enumerate(TYPES)
        if row[1]["type"] != target["type"]
    ]
    before = grants_of_document(policy_document(manifest_grants(others)))
    after = grants_of_document(policy_document(manifest_grants([*others, task(target)])))
    assert after - before == expected
    assert before <= after


def test_the_policy_never_grants_star() -> None:
    document = policy_document(
        manifest_grants([task(row[1], f"t{i}") for i, row in enumerate(TYPES)])
    )
    for statement in document["Statement"]:
        assert statement["Resource"] and "*" not in statement["Resource"], statement
        assert statement["Effect"] == "Allow"


def test_statements_share_resources_and_round_trip() -> None:
    grants = {
        Grant("dynamodb:GetItem", "${StateTable.Arn}"),
        Grant("dynamodb:PutItem", "${StateTable.Arn}"),
        Grant("sns:Publish", "arn:aws:sns:us-east-1:210987654321:t"),
    }
    document = policy_document(grants)
    assert document["Statement"] == [
        {
            "Sid": "DynamodbGetItem0",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": [{"Fn::Sub": "${StateTable.Arn}"}],
        },
        {
            "Sid": "SnsPublish1",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": ["arn:aws:sns:us-east-1:210987654321:t"],
        },
    ]
    assert grants_of_document(document) == grants


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("reports-${lambdacron:scheduled_time:%Y}", arn("sqs", "reports-*")),
        ("odd${name}", arn("sqs", "odd${!name}")),  # a literal ${ is not an Fn::Sub reference
    ],
)
def test_names_known_only_at_fire_time_become_a_wildcard_part(name: str, expected: str) -> None:
    grants = task_grants(task({"type": "queue", "QueueName": name, "MessageBody": "x"}))
    assert {g.resource for g in grants} == {expected}
    assert sub("arn:aws:sqs:us-east-1:1:odd${!name}") == "arn:aws:sqs:us-east-1:1:odd${name}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://sqs.us-west-2.amazonaws.com/210987654321/q",
            arn("sqs", "q", "us-west-2", "210987654321"),
        ),
        (
            "https://eu-west-1.queue.amazonaws.com/210987654321/q",
            arn("sqs", "q", "eu-west-1", "210987654321"),
        ),
        (
            "https://queue.amazonaws.com/210987654321/q",
            arn("sqs", "q", "us-east-1", "210987654321"),
        ),
        ("http://127.0.0.1:4566/000000000000/q", arn("sqs", "q", R, "000000000000")),
    ],
)
def test_queue_urls_become_arns(url: str, expected: str) -> None:
    assert queue_url_arn(url) == expected


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("ssm:/a/b", Grant("ssm:GetParameter", arn("ssm", "parameter/a/b"))),
        ("ssm:plain", Grant("ssm:GetParameter", arn("ssm", "parameter/plain"))),
        (
            "ssm:arn:aws:ssm:us-east-1:210987654321:parameter/x",
            Grant("ssm:GetParameter", "arn:aws:ssm:us-east-1:210987654321:parameter/x"),
        ),
        (
            "secretsmanager:db",
            Grant("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:db-??????")),
        ),
        (
            "secretsmanager:arn:aws:secretsmanager:us-east-1:210987654321:secret:db-AbC123#k",
            Grant(
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:210987654321:secret:db-AbC123",
            ),
        ),
        (
            "secretsmanager:arn:aws:secretsmanager:us-east-1:210987654321:secret:db",
            Grant(
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:210987654321:secret:db-??????",
            ),
        ),
        ("vault:x", None),
    ],
)
def test_secret_references(reference: str, expected: Grant | None) -> None:
    assert secret_grant(reference) == expected
