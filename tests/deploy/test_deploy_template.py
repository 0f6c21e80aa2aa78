"""The stack template: valid CloudFormation (cfn-lint) for the example project's envs, the
settings it is sized from, and its parts: bucket, function, schedule, table, queue, alarms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint

from lambdacron.build import compile_env
from lambdacron.deploy.policy import Grant, grants_of_document, manifest_grants
from lambdacron.deploy.settings import (
    DeploySettings,
    bounded_name,
    default_stack_name,
    load_settings,
)
from lambdacron.deploy.template import (
    ENV_VARS,
    render_template,
    sizing_warnings,
    store_plan,
    template_json,
    template_yaml,
)
from lambdacron.errors import InvalidInputError
from lambdacron.project import Environment, find_project, load_env
from lambdacron.runtime.manifest import Manifest, Task
from lambdacron.runtime.state import TABLE_KEY, TTL_ATTRIBUTE

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = find_project(REPO)


def environment(store: str = "file:///tmp/store", **deploy: Any) -> Environment:
    return Environment(name="prod", path=Path("envs/prod.yml"), store=store, deploy=deploy)


def every_type() -> Manifest:
    targets = [
        {"type": "queue", "QueueName": "loads", "MessageBody": "x"},
        {"type": "lambda", "FunctionName": "cleanup"},
        {"type": "batch", "jobName": "j", "jobQueue": "q", "jobDefinition": "d:1"},
        {"type": "athena", "QueryString": "select 1", "WorkGroup": "wg"},
        {"type": "http", "method": "GET", "url": "https://example.com", "timeout": 120},
        {"type": "sns", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"},
        {
            "type": "stepfunctions",
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:s",
        },
        {"type": "eventbridge", "Source": "s", "DetailType": "d", "Detail": {}},
    ]
    tasks = tuple(Task(f"t-{t['type']}", "* * * * *", "UTC", t) for t in targets)
    return Manifest(env="prod", tasks=tasks)


def lint_errors(template: dict[str, Any]) -> list[str]:
    return [
        str(match) for match in lint(template_yaml(template), regions=["us-east-1", "eu-west-1"])
    ]


@pytest.mark.parametrize("name", EXAMPLE.env_names())
def test_cfn_lint_passes_for_the_example_project(name: str) -> None:
    env = load_env(EXAMPLE, name)
    template = render_template(env, compile_env(EXAMPLE, env))
    assert lint_errors(template) == []


@pytest.mark.parametrize("name", EXAMPLE.env_names())
def test_the_example_policy_names_every_resource_and_never_star(name: str) -> None:
    env = load_env(EXAMPLE, name)
    manifest = compile_env(EXAMPLE, env)
    role = render_template(env, manifest)["Resources"]["SchedulerRole"]["Properties"]
    document = role["Policies"][0]["PolicyDocument"]
    for statement in document["Statement"]:
        assert statement["Resource"] != "*"
        assert "*" not in statement["Resource"], statement
    granted = grants_of_document(document)
    assert manifest_grants(manifest.tasks) <= granted
    queue = env.vars["batch"]["queue"]
    sub = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}"
    assert Grant("batch:SubmitJob", f"{sub}:job-queue/{queue}") in granted
    assert Grant("batch:SubmitJob", f"{sub}:job-definition/finp-reports:3") in granted
    types = {task.type for task in manifest.tasks}
    services = {g.action.split(":")[0] for g in granted}
    # Only what the tasks' types and the scheduler itself use: no HTTP permission, nothing else.
    assert services <= {
        "s3",
        "dynamodb",
        "sqs",
        "logs",
        "lambda",
        "batch",
        "athena",
        "sns",
        "states",
        "events",
        "ssm",
        "secretsmanager",
    }
    assert ("stepfunctions" in types) == ("states" in services)


@pytest.mark.parametrize(
    "env",
    [
        environment(),
        environment(
            "s3://finp-lambdacron/manifests",
            alarm_email="oncall@example.com",
            memory_size=512,
            timeout=900,
            log_retention_days=90,
            max_catchup_minutes=120,
            tags={"team": "finp", "cost": 42},
            reserved_concurrency=None,
            tick_alarm_minutes=10,
            managed_policy_arns=["arn:aws:iam::aws:policy/AmazonAthenaFullAccess"],
        ),
    ],
    ids=["defaults", "every-setting"],
)
def test_cfn_lint_passes_with_every_task_type(env: Environment) -> None:
    assert lint_errors(render_template(env, every_type())) == []


def test_yaml_and_json_forms_hold_the_same_template() -> None:
    template = render_template(environment(alarm_email="a@example.com"), every_type())
    assert yaml.safe_load(template_yaml(template)) == template
    assert yaml.safe_load(template_json(template)) == template
    assert "&id" not in template_yaml(template)  # CloudFormation rejects YAML anchors


def resources(template: dict[str, Any]) -> dict[str, Any]:
    return {k: v["Properties"] for k, v in template["Resources"].items()}


def test_the_local_store_gets_a_hardened_retained_bucket() -> None:
    template = render_template(environment(), every_type())
    bucket = template["Resources"]["ManifestBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statement = resources(template)["ManifestBucketPolicy"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    variables = resources(template)["SchedulerFunction"]["Environment"]["Variables"]
    assert variables["LAMBDACRON_STORE"] == {"Fn::Sub": "s3://${ManifestBucket}"}


def test_an_s3_store_is_used_as_it_is() -> None:
    template = render_template(environment("s3://finp-lambdacron/manifests/"), every_type())
    assert "ManifestBucket" not in template["Resources"]
    assert "ManifestBucketPolicy" not in template["Resources"]
    variables = resources(template)["SchedulerFunction"]["Environment"]["Variables"]
    assert variables["LAMBDACRON_STORE"] == "s3://finp-lambdacron/manifests"
    role = resources(template)["SchedulerRole"]["Policies"][0]["PolicyDocument"]
    granted = {(g.action, g.resource) for g in grants_of_document(role)}
    assert (
        "s3:GetObject",
        "arn:${AWS::Partition}:s3:::finp-lambdacron/manifests/prod/*",
    ) in granted
    assert ("s3:ListBucket", "arn:${AWS::Partition}:s3:::finp-lambdacron") in granted
    assert store_plan(environment("s3://b")).url == "s3://b"


def test_the_function_and_its_schedule() -> None:
    env = environment(memory_size=512, timeout=120, max_catchup_minutes=30)
    template = render_template(env, every_type())
    function = resources(template)["SchedulerFunction"]
    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "lambdacron.runtime.handler.handler"
    assert (function["MemorySize"], function["Timeout"]) == (512, 120)
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["FunctionName"] == "lambdacron-prod"
    assert set(function["Environment"]["Variables"]) == set(ENV_VARS)
    assert function["Environment"]["Variables"]["LAMBDACRON_ENV"] == "prod"
    assert function["Environment"]["Variables"]["LAMBDACRON_MAX_CATCHUP_MINUTES"] == "30"
    assert function["Code"] == {
        "S3Bucket": {"Ref": "PackageBucket"},
        "S3Key": {"Ref": "PackageKey"},
    }
    rule = resources(template)["TickRule"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    permission = resources(template)["TickPermission"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["TickRule", "Arn"]}
    assert resources(template)["SchedulerLogGroup"]["LogGroupName"] == "/aws/lambda/lambdacron-prod"


def test_state_table_queue_and_log_group() -> None:
    template = render_template(environment(log_retention_days=14), every_type())
    table = resources(template)["StateTable"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": TABLE_KEY, "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert resources(template)["DeadLetterQueue"]["SqsManagedSseEnabled"] is True
    assert resources(template)["SchedulerLogGroup"]["RetentionInDays"] == 14


def test_alarms_and_the_optional_email() -> None:
    quiet = render_template(environment(), every_type())
    assert "AlarmTopic" not in quiet["Resources"]
    assert "AlarmActions" not in resources(quiet)["FailedTasksAlarm"]
    loud = resources(
        render_template(
            environment(alarm_email="oncall@example.com", tick_alarm_minutes=7), every_type()
        )
    )
    assert loud["AlarmEmail"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": "oncall@example.com",
    }
    failed, tick = loud["FailedTasksAlarm"], loud["NoTickAlarm"]
    assert (failed["Namespace"], failed["MetricName"]) == ("lambdacron", "failed")
    assert failed["Dimensions"] == [{"Name": "env", "Value": "prod"}]
    assert failed["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert (tick["Namespace"], tick["MetricName"], tick["Statistic"]) == (
        "lambdacron",
        "lag_seconds",
        "SampleCount",
    )
    assert tick["TreatMissingData"] == "breaching"
    assert tick["EvaluationPeriods"] == tick["DatapointsToAlarm"] == 7
    assert failed["AlarmName"] == "lambdacron-prod-failed-tasks"


def test_tags_reach_every_taggable_resource() -> None:
    template = render_template(environment(tags={"team": "finp"}), every_type())
    for name in (
        "ManifestBucket",
        "DeadLetterQueue",
        "StateTable",
        "SchedulerLogGroup",
        "SchedulerRole",
        "SchedulerFunction",
        "FailedTasksAlarm",
        "NoTickAlarm",
    ):
        tags = {t["Key"]: t["Value"] for t in resources(template)[name]["Tags"]}
        assert tags == {
            "lambdacron:env": "prod",
            "lambdacron:stack": "lambdacron-prod",
            "team": "finp",
        }, name


def test_settings_defaults_and_names() -> None:
    settings = load_settings(environment())
    assert settings == DeploySettings(stack_name="lambdacron-prod")
    assert (settings.memory_size, settings.timeout, settings.reserved_concurrency) == (256, 300, 1)
    assert default_stack_name("dev_eu") != default_stack_name("dev-eu")
    assert default_stack_name("dev_eu").startswith("lambdacron-dev-eu-")
    long = load_settings(environment(stack_name="a" * 80))
    assert len(long.function_name) == 64
    assert long.function_name == bounded_name("a" * 80, 64) != bounded_name("a" * 79 + "b", 64)


def test_bad_settings_are_all_reported() -> None:
    env = environment(
        memory_size=64,
        log_retention_days=10,
        tags={"aws:x": "y"},
        alarm_email="nobody",
        stack_name="1abc",
        colour="red",
        managed_policy_arns=["AmazonS3ReadOnlyAccess"],
    )
    with pytest.raises(InvalidInputError) as caught:
        load_settings(env)
    text = str(caught.value)
    for fragment in (
        "deploy.memory_size must be between 128 and 10240, not 64",
        "deploy.log_retention_days must be one of CloudWatch Logs' retention periods: 1, 3,",
        "tag name 'aws:x' is not allowed",
        "deploy.alarm_email 'nobody' is not an email address",
        "deploy.stack_name '1abc' is not a stack name",
        "unknown key 'deploy.colour'",
        "'AmazonS3ReadOnlyAccess' is not an IAM managed policy ARN",
        "7 errors in 1 file (env prod)",
    ):
        assert fragment in text


def test_tasks_that_could_outlast_the_timeout_are_named() -> None:
    settings = load_settings(environment(timeout=200))
    warnings = sizing_warnings(environment(), settings, every_type())
    assert warnings == [
        "task t-http: 3 attempts of up to 120 s could outlast the function's 200 s timeout; "
        "raise deploy.timeout (at most 900) or lower the task's timeout or retries"
    ]
    env = environment(timeout=900)
    assert sizing_warnings(env, load_settings(env), every_type()) == []


def test_a_policy_too_big_for_iam_is_announced() -> None:
    env = environment()

    def queues(count: int) -> tuple[Task, ...]:
        return tuple(
            Task(
                f"load-{i}",
                "@daily",
                "UTC",
                {"type": "queue", "QueueName": f"finp-loads-{i:03}", "MessageBody": "x"},
            )
            for i in range(count)
        )

    small, big = (Manifest(env="prod", tasks=queues(n)) for n in (20, 200))
    assert sizing_warnings(env, load_settings(env), small) == []
    [warning] = sizing_warnings(env, load_settings(env), big)
    assert warning.startswith("the scheduler's policy may reach ")
    assert "more than the 10,240 IAM allows a role's inline policies" in warning
