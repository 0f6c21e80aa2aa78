"""Stack operations on the moto server: deploy (change set, confirm, outputs), the deployed
function's handler firing due tasks, updates, refusals and failures, destroy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdacron.deploy.stack import (
    Change,
    artifacts_bucket_name,
    deploy,
    destroy,
    failure_reasons,
    format_changes,
    stack_outputs,
)
from lambdacron.errors import StoreError, UsageError
from lambdacron.project import Environment
from lambdacron.runtime import handler
from lambdacron.runtime.manifest import Manifest, Task, dumps
from lambdacron.runtime.store import open_store

pytestmark = [
    pytest.mark.aws,
    # moto skips the resource types it does not model (alarms, bucket policy) and says so.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]
ACCOUNT = "123456789012"  # moto's


def no_sleep(seconds: float) -> None:
    return None


class Recorder:
    """Collects what a stack operation says and asks."""

    def __init__(self, answer: BaseException | None = None) -> None:
        self.said: list[str] = []
        self.asked: list[str] = []
        self.answer = answer

    def say(self, text: str) -> None:
        self.said.append(text)

    def confirm(self, question: str) -> None:
        self.asked.append(question)
        if self.answer is not None:
            raise self.answer

    @property
    def text(self) -> str:
        return "\n".join(self.said)


def make_env(
    tmp_path: Path, store: str | None = None, account: str | None = None, **deploy_settings: Any
) -> Environment:
    return Environment(
        name="dev",
        path=tmp_path / "envs/dev.yml",
        store=store or f"file://{tmp_path / 'store'}",
        region="us-east-1",
        account=account,
        deploy=deploy_settings,
    )


def make_manifest(*tasks: Task, version: int = 0) -> Manifest:
    return Manifest(env="dev", tasks=tasks, version=version).with_digest()


LOAD = Task(
    "load-trades",
    "* * * * *",
    "UTC",
    {"type": "queue", "QueueName": "finp-loads", "MessageBody": {"table": "trades"}},
)
HOURLY = Task(
    "hourly",
    "0 * * * *",
    "UTC",
    {"type": "queue", "QueueName": "finp-loads", "MessageBody": "hourly"},
)


def run_deploy(env: Environment, manifest: Manifest, recorder: Recorder | None = None) -> Any:
    recorder = recorder or Recorder()
    return deploy(env, manifest, confirm=recorder.confirm, say=recorder.say, sleep=no_sleep)


@pytest.fixture
def fresh_handler() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


def publish(url: str, manifest: Manifest, version: int) -> None:
    """What ``lambdacron publish`` leaves in the store: the version, then the live manifest."""
    store = open_store(url)
    data = dumps(Manifest(env="dev", tasks=manifest.tasks, version=version).with_digest())
    store.write_version("dev", version, data)
    live = store.read_live("dev")
    store.replace_live("dev", data, None if live is None else live.etag)


def test_deploy_then_the_deployed_handler_fires_due_tasks(
    aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_handler: None
) -> None:
    queue = boto3.client("sqs").create_queue(QueueName="finp-loads")["QueueUrl"]
    env = make_env(tmp_path)
    manifest = make_manifest(LOAD, HOURLY)
    recorder = Recorder()
    result = run_deploy(env, manifest, recorder)

    assert result.stack.status == "CREATE_COMPLETE"
    assert recorder.asked == ["Deploy these 11 changes to stack lambdacron-dev?"]
    assert "  Add  SchedulerFunction     AWS::Lambda::Function" in recorder.said
    bucket = artifacts_bucket_name(ACCOUNT, "us-east-1")
    assert result.package_location == f"s3://{bucket}/lambdacron-dev/{result.package.key_name}"
    stored = boto3.client("s3").get_object(
        Bucket=bucket, Key=f"lambdacron-dev/{result.package.key_name}"
    )
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == result.package.sha256
    outputs = stack_outputs(env, result.stack)
    assert outputs["FunctionName"] == "lambdacron-dev"
    assert outputs["Store"] == f"s3://{result.stack.resources['ManifestBucket']}"

    function = boto3.client("lambda").get_function_configuration(FunctionName="lambdacron-dev")
    variables = function["Environment"]["Variables"]
    assert variables["LAMBDACRON_STORE"] == outputs["Store"]
    assert variables["LAMBDACRON_STATE_TABLE"] == result.stack.resources["StateTable"]
    assert variables["LAMBDACRON_DLQ_URL"] == result.stack.resources["DeadLetterQueue"]

    publish(variables["LAMBDACRON_STORE"], manifest, 1)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    event = {
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": "2026-12-04T10:07:00Z",
        "resources": [],
    }
    summary = handler.handler(event, None)

    assert summary["manifest_version"] == 1
    assert [(o["task"], o["status"]) for o in summary["outcomes"]] == [("load-trades", "fired")]
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]) for m in messages["Messages"]] == [{"table": "trades"}]
    # The state table the stack created holds the claim: the same event fires nothing again.
    again = handler.handler(event, None)
    assert again["outcomes"] == []
    assert "Messages" not in boto3.client("sqs").receive_message(QueueUrl=queue)


def test_an_unchanged_deploy_changes_nothing_and_asks_nothing(aws, tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run_deploy(env, make_manifest(LOAD))
    recorder = Recorder()
    result = run_deploy(env, make_manifest(LOAD), recorder)
    assert not result.changed
    assert recorder.asked == []
    assert "No changes: stack lambdacron-dev is up to date." in recorder.said


def test_an_update_shows_its_change_set_then_applies_it(aws, tmp_path: Path) -> None:
    run_deploy(make_env(tmp_path), make_manifest(LOAD))
    recorder = Recorder()
    result = run_deploy(make_env(tmp_path, memory_size=512), make_manifest(LOAD), recorder)
    assert result.changed
    assert recorder.asked == [
        f"Deploy these {len(result.changes)} changes to stack lambdacron-dev?"
    ]
    assert any(c.logical_id == "SchedulerFunction" and c.action == "Modify" for c in result.changes)
    assert result.stack.status == "UPDATE_COMPLETE"
    function = boto3.client("lambda").get_function_configuration(FunctionName="lambdacron-dev")
    assert function["MemorySize"] == 512


def test_a_refused_first_deploy_leaves_no_stack(aws, tmp_path: Path) -> None:
    recorder = Recorder(answer=UsageError("No terminal to ask on: pass --yes to confirm."))
    with pytest.raises(UsageError):
        run_deploy(make_env(tmp_path), make_manifest(LOAD), recorder)
    assert len(recorder.asked) == 1
    assert describe_stack_or_none() is None


def describe_stack_or_none() -> Any:
    stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def test_the_account_pin_is_checked_before_anything(aws, tmp_path: Path) -> None:
    env = make_env(tmp_path, account="210987654321")
    with pytest.raises(StoreError) as caught:
        run_deploy(env, make_manifest(LOAD))
    assert caught.value.exit_code == 3
    assert str(caught.value).startswith(
        "env dev is pinned to AWS account 210987654321, but the credentials in use"
    )
    assert "belong to account 123456789012. Nothing was changed." in str(caught.value)
    assert boto3.client("s3").list_buckets()["Buckets"] == []
    assert describe_stack_or_none() is None


def test_a_missing_store_bucket_is_reported(aws, tmp_path: Path) -> None:
    env = make_env(tmp_path, store="s3://no-such-bucket/manifests")
    with pytest.raises(StoreError, match=r"the store bucket no-such-bucket .* does not exist"):
        run_deploy(env, make_manifest(LOAD))


def test_an_existing_store_bucket_is_read_not_created(aws, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket="finp-lambdacron")
    env = make_env(tmp_path, store="s3://finp-lambdacron/manifests")
    result = run_deploy(env, make_manifest(LOAD))
    assert "ManifestBucket" not in result.stack.resources
    assert stack_outputs(env, result.stack)["Store"] == "s3://finp-lambdacron/manifests"


def test_a_failed_stack_operation_names_the_reason(aws, tmp_path: Path) -> None:
    # The log group's name is taken: CloudFormation (moto here) cannot create it.
    boto3.client("logs").create_log_group(logGroupName="/aws/lambda/lambdacron-dev")
    with pytest.raises(StoreError) as caught:
        run_deploy(make_env(tmp_path), make_manifest(LOAD))
    assert caught.value.exit_code == 3
    assert "lambdacron-dev" in str(caught.value)
    assert "already exists" in str(caught.value)


def test_failure_reasons_name_the_failing_resources_first_cause_first() -> None:
    events = [
        {
            "LogicalResourceId": "lambdacron-dev",
            "ResourceType": "AWS::CloudFormation::Stack",
            "ResourceStatus": "UPDATE_IN_PROGRESS",
            "ResourceStatusReason": "User Initiated",
        },
        {
            "LogicalResourceId": "SchedulerLogGroup",
            "ResourceType": "AWS::Logs::LogGroup",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "/aws/lambda/lambdacron-dev already exists",
        },
        {
            "LogicalResourceId": "StateTable",
            "ResourceType": "AWS::DynamoDB::Table",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "Resource creation cancelled",
        },
        {
            "LogicalResourceId": "lambdacron-dev",
            "ResourceType": "AWS::CloudFormation::Stack",
            "ResourceStatus": "UPDATE_ROLLBACK_IN_PROGRESS",
            "ResourceStatusReason": "The following resource(s) failed to create: [SchedulerLogGroup].",
        },
        {
            "LogicalResourceId": "lambdacron-dev",
            "ResourceType": "AWS::CloudFormation::Stack",
            "ResourceStatus": "UPDATE_FAILED",
            "ResourceStatusReason": "see above",
        },
    ]
    assert failure_reasons(events) == [
        "SchedulerLogGroup (AWS::Logs::LogGroup): /aws/lambda/lambdacron-dev already exists"
    ]
    assert failure_reasons(events[-1:]) == [
        "lambdacron-dev (AWS::CloudFormation::Stack): see above"
    ]


def test_change_rows_are_aligned() -> None:
    rows = format_changes(
        [
            Change("Add", "StateTable", "AWS::DynamoDB::Table", None),
            Change("Modify", "SchedulerFunction", "AWS::Lambda::Function", "True"),
        ]
    )
    assert rows == [
        "Add     StateTable         AWS::DynamoDB::Table",
        "Modify  SchedulerFunction  AWS::Lambda::Function  replacement: True",
    ]


def test_destroy_deletes_the_stack_and_keeps_the_manifests(aws, tmp_path: Path) -> None:
    env = make_env(tmp_path)
    deployed = run_deploy(env, make_manifest(LOAD))
    bucket = deployed.stack.resources["ManifestBucket"]
    publish(f"s3://{bucket}", make_manifest(LOAD), 1)
    recorder = Recorder()
    assert destroy(env, confirm=recorder.confirm, say=recorder.say, sleep=no_sleep) is True
    assert recorder.asked == [
        f"Delete stack lambdacron-dev ({len(deployed.stack.resources)} resources) in account "
        f"123456789012, us-east-1? The scheduler stops. The manifest bucket {bucket} and its "
        "manifests are kept."
    ]
    assert describe_stack_or_none() is None
    assert open_store(f"s3://{bucket}").read_live("dev") is not None
    again = Recorder()
    assert destroy(env, confirm=again.confirm, say=again.say, sleep=no_sleep) is False
    assert again.asked == []
    assert again.said == ["Stack lambdacron-dev does not exist in account 123456789012, us-east-1."]


def test_a_refused_destroy_deletes_nothing(aws, tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run_deploy(env, make_manifest(LOAD))
    recorder = Recorder(answer=UsageError("no"))
    with pytest.raises(UsageError):
        destroy(env, confirm=recorder.confirm, say=recorder.say, sleep=no_sleep)
    assert describe_stack_or_none()["StackStatus"] == "CREATE_COMPLETE"
