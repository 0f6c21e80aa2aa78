"""Deploy stage, template: the environment's CloudFormation stack, as data.

One stack per environment and region (``lambdacron-<env>`` by default): the scheduler function,
its role (permissions derived from the manifest by ``policy``), the one-minute EventBridge rule,
the DynamoDB state table, the dead-letter queue, the log group, two alarms (tasks failed; no tick
processed) with an optional email subscription, and the manifest bucket unless the env's store
names an S3 bucket already.

The deployment zip is not named in the template: ``PackageBucket`` and ``PackageKey`` are stack
parameters, so ``lambdacron template`` needs no AWS access and prints exactly what ``deploy``
deploys. Pure: data in, data out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from lambdacron import __version__
from lambdacron.deploy.policy import (
    ACCOUNT,
    INLINE_POLICY_LIMIT,
    PARTITION,
    REGION,
    Grant,
    document_size,
    manifest_grants,
    policy_document,
    tls_only_policy,
)
from lambdacron.deploy.settings import DeploySettings, load_settings
from lambdacron.project import Environment
from lambdacron.runtime.log import NAMESPACE
from lambdacron.runtime.manifest import Manifest
from lambdacron.runtime.state import TABLE_KEY, TABLE_KEY_TYPE, TTL_ATTRIBUTE

RUNTIME = "python3.14"  # the newest Python runtime in cfn-lint's Lambda lifecycle data
ARCHITECTURE = "arm64"
HANDLER = "lambdacron.runtime.handler.handler"
METRIC_NAMESPACE = NAMESPACE  # the handler's embedded-metric-format metrics, dimension env
TICK_METRIC = "lag_seconds"  # written once per processed tick (fan-out batches do not write it)
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# Logical ids the policy references through Fn::Sub, and the code that reads stack resources.
FUNCTION = "SchedulerFunction"
ROLE = "SchedulerRole"
TABLE = "StateTable"
DLQ = "DeadLetterQueue"
LOG_GROUP = "SchedulerLogGroup"
BUCKET = "ManifestBucket"
RULE = "TickRule"
TOPIC = "AlarmTopic"
ENV_VARS = (
    "LAMBDACRON_STORE",
    "LAMBDACRON_ENV",
    "LAMBDACRON_STATE_TABLE",
    "LAMBDACRON_DLQ_URL",
    "LAMBDACRON_MAX_CATCHUP_MINUTES",
)


@dataclass(frozen=True)
class StorePlan:
    """Where the scheduler reads manifests. ``managed``: the stack creates the bucket (the env
    publishes to the local store, which a Lambda cannot read)."""

    managed: bool
    bucket: str  # a bucket name, or "${ManifestBucket}" for Fn::Sub when managed
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def store_plan(env: Environment) -> StorePlan:
    if env.store.startswith("s3://"):
        bucket, _, prefix = env.store.removeprefix("s3://").partition("/")
        return StorePlan(managed=False, bucket=bucket, prefix=prefix.strip("/"))
    return StorePlan(managed=True, bucket="${" + BUCKET + "}", prefix="")


def base_grants(env: Environment, settings: DeploySettings) -> set[Grant]:
    """What the scheduler needs whatever its tasks: read its env's manifests, its table, its
    DLQ, its log group, and invoke itself (a big minute is fanned out to further invocations)."""
    store = store_plan(env)
    objects = "/".join(part for part in (store.prefix, env.name, "*") if part)
    table = f"${{{TABLE}.Arn}}"
    return {
        Grant("s3:GetObject", f"arn:{PARTITION}:s3:::{store.bucket}/{objects}"),
        # Without ListBucket S3 answers 403 rather than 404 for a manifest not yet published.
        Grant("s3:ListBucket", f"arn:{PARTITION}:s3:::{store.bucket}"),
        Grant("dynamodb:GetItem", table),
        Grant("dynamodb:PutItem", table),
        Grant("dynamodb:UpdateItem", table),
        Grant("sqs:SendMessage", f"${{{DLQ}.Arn}}"),
        Grant("logs:CreateLogStream", f"${{{LOG_GROUP}.Arn}}"),
        Grant("logs:PutLogEvents", f"${{{LOG_GROUP}.Arn}}"),
        Grant(
            "lambda:InvokeFunction",
            f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{settings.function_name}",
        ),
    }


def scheduler_grants(env: Environment, manifest: Manifest, settings: DeploySettings) -> set[Grant]:
    return base_grants(env, settings) | manifest_grants(manifest.tasks)


def render_template(
    env: Environment, manifest: Manifest, settings: DeploySettings | None = None
) -> dict[str, Any]:
    """The stack's template for ``env``, the role's permissions derived from ``manifest``."""
    settings = settings or load_settings(env)
    store = store_plan(env)
    tags = stack_tags(env, settings)
    resources: dict[str, Any] = {}
    if store.managed:
        resources.update(_bucket(tags))
    resources.update(_queue_and_table(tags))
    resources.update(_function(env, manifest, settings, store, tags))
    resources.update(_schedule())
    resources.update(_alarms(env, settings, tags))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"lambdacron scheduler for env {env.name} (lambdacron {__version__})",
        "Parameters": {
            "PackageBucket": {
                "Type": "String",
                "Description": "S3 bucket holding the deployment zip (`lambdacron package`)",
            },
            "PackageKey": {"Type": "String", "Description": "S3 key of the deployment zip"},
        },
        "Resources": resources,
        "Outputs": _outputs(env, settings, store),
    }


def stack_tags(env: Environment, settings: DeploySettings) -> dict[str, str]:
    return {"lambdacron:env": env.name, "lambdacron:stack": settings.stack_name, **settings.tags}


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _bucket(tags: Mapping[str, str]) -> dict[str, Any]:
    # Retained on delete: the manifest history outlives the stack (and a versioned bucket holding
    # objects could not be deleted anyway).
    keep = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    return {
        BUCKET: {
            "Type": "AWS::S3::Bucket",
            **keep,
            "Properties": {
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "Tags": _tag_list(tags),
            },
        },
        "ManifestBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            **keep,
            "Properties": {
                "Bucket": {"Ref": BUCKET},
                "PolicyDocument": tls_only_policy(
                    {"Fn::GetAtt": [BUCKET, "Arn"]}, {"Fn::Sub": f"${{{BUCKET}.Arn}}/*"}
                ),
            },
        },
    }


def _queue_and_table(tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        DLQ: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "Tags": _tag_list(tags),
            },
        },
        TABLE: {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": TABLE_KEY, "AttributeType": TABLE_KEY_TYPE}
                ],
                "KeySchema": [{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "Tags": _tag_list(tags),
            },
        },
    }


def function_environment(
    env: Environment, settings: DeploySettings, store: StorePlan
) -> dict[str, Any]:
    """The scheduler's environment variables (brief §4), as template values."""
    return {
        "LAMBDACRON_STORE": {"Fn::Sub": store.url} if store.managed else store.url,
        "LAMBDACRON_ENV": env.name,
        "LAMBDACRON_STATE_TABLE": {"Ref": TABLE},
        "LAMBDACRON_DLQ_URL": {"Ref": DLQ},
        "LAMBDACRON_MAX_CATCHUP_MINUTES": str(settings.max_catchup_minutes),
    }


def _function(
    env: Environment,
    manifest: Manifest,
    settings: DeploySettings,
    store: StorePlan,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    role: dict[str, Any] = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
        "Description": f"lambdacron scheduler of env {env.name}: the permissions its tasks need",
        "Policies": [
            {
                "PolicyName": "scheduler",
                "PolicyDocument": policy_document(scheduler_grants(env, manifest, settings)),
            }
        ],
        "Tags": _tag_list(tags),
    }
    if settings.managed_policy_arns:
        role["ManagedPolicyArns"] = list(settings.managed_policy_arns)
    function: dict[str, Any] = {
        "FunctionName": settings.function_name,
        "Description": f"lambdacron scheduler of env {env.name}",
        "Runtime": RUNTIME,
        "Architectures": [ARCHITECTURE],
        "Handler": HANDLER,
        "Code": {"S3Bucket": {"Ref": "PackageBucket"}, "S3Key": {"Ref": "PackageKey"}},
        "Role": {"Fn::GetAtt": [ROLE, "Arn"]},
        "MemorySize": settings.memory_size,
        "Timeout": settings.timeout,
        "Environment": {"Variables": function_environment(env, settings, store)},
        "Tags": _tag_list(tags),
    }
    if settings.reserved_concurrency is not None:
        function["ReservedConcurrentExecutions"] = settings.reserved_concurrency
    return {
        LOG_GROUP: {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": settings.log_group_name,
                "RetentionInDays": settings.log_retention_days,
                "Tags": _tag_list(tags),
            },
        },
        ROLE: {"Type": "AWS::IAM::Role", "Properties": role},
        # The log group first: the role may not create it, so it must exist before a tick runs.
        FUNCTION: {"Type": "AWS::Lambda::Function", "DependsOn": LOG_GROUP, "Properties": function},
    }


def _schedule() -> dict[str, Any]:
    return {
        RULE: {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "lambdacron tick: the scheduler evaluates every minute",
                "ScheduleExpression": "rate(1 minute)",
                "State": "ENABLED",
                "Targets": [{"Arn": {"Fn::GetAtt": [FUNCTION, "Arn"]}, "Id": "scheduler"}],
            },
        },
        "TickPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": FUNCTION},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [RULE, "Arn"]},
            },
        },
    }


def _alarms(env: Environment, settings: DeploySettings, tags: Mapping[str, str]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    actions: dict[str, Any] = {}
    if settings.alarm_email:
        resources[TOPIC] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "DisplayName": f"lambdacron {env.name} alarms",
                "Tags": _tag_list(tags),
            },
        }
        resources["AlarmEmail"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": TOPIC},
                "Protocol": "email",
                "Endpoint": settings.alarm_email,
            },
        }
        actions = {"AlarmActions": [{"Ref": TOPIC}], "OKActions": [{"Ref": TOPIC}]}
    resources["FailedTasksAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": settings.alarm_name("failed-tasks"),
            "AlarmDescription": f"lambdacron env {env.name}: a task failed after its retries "
            f"(it is in the dead-letter queue). `lambdacron logs --env {env.name} --since 1h`",
            "Namespace": METRIC_NAMESPACE,
            "MetricName": "failed",
            "Dimensions": [{"Name": "env", "Value": env.name}],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            **actions,
            "Tags": _tag_list(tags),
        },
    }
    resources["NoTickAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": settings.alarm_name("no-tick"),
            "AlarmDescription": f"lambdacron env {env.name}: no tick processed for "
            f"{settings.tick_alarm_minutes} minutes (the scheduler is not invoked, or cannot "
            f"load its manifest or state). `lambdacron status --env {env.name}`",
            # The handler writes one metrics line, with lag_seconds, per tick it processed.
            "Namespace": METRIC_NAMESPACE,
            "MetricName": TICK_METRIC,
            "Dimensions": [{"Name": "env", "Value": env.name}],
            "Statistic": "SampleCount",
            "Period": 60,
            "EvaluationPeriods": settings.tick_alarm_minutes,
            "DatapointsToAlarm": settings.tick_alarm_minutes,
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
            # No data is the very thing to alarm on: no tick wrote its metrics line.
            "TreatMissingData": "breaching",
            **actions,
            "Tags": _tag_list(tags),
        },
    }
    return resources


def _outputs(env: Environment, settings: DeploySettings, store: StorePlan) -> dict[str, Any]:
    outputs: dict[str, Any] = {
        "Env": {"Description": "lambdacron environment", "Value": env.name},
        "FunctionName": {"Description": "the scheduler function", "Value": {"Ref": FUNCTION}},
        "FunctionArn": {"Value": {"Fn::GetAtt": [FUNCTION, "Arn"]}},
        "Store": {
            "Description": "where the scheduler reads manifests (publish here)",
            "Value": {"Fn::Sub": store.url} if store.managed else store.url,
        },
        "StateTable": {"Value": {"Ref": TABLE}},
        "DeadLetterQueueUrl": {"Value": {"Ref": DLQ}},
        "LogGroup": {"Value": {"Ref": LOG_GROUP}},
    }
    if store.managed:
        outputs["ManifestBucket"] = {"Value": {"Ref": BUCKET}}
    if settings.alarm_email:
        outputs["AlarmTopic"] = {"Value": {"Ref": TOPIC}}
    return outputs


class _Dumper(yaml.SafeDumper):
    """CloudFormation rejects YAML anchors and aliases: write every shared value out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def template_yaml(template: Mapping[str, Any]) -> str:
    """CloudFormation YAML (long-form intrinsic functions, so plain YAML tools read it too)."""
    return yaml.dump(
        dict(template), Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False
    )


def template_json(template: Mapping[str, Any]) -> str:
    return json.dumps(template, indent=1, sort_keys=False)


def sizing_warnings(env: Environment, settings: DeploySettings, manifest: Manifest) -> list[str]:
    """What is worth a word before deploying: tasks that could outlast the function's timeout with
    every retry, and a derived policy too big for IAM."""
    warnings = []
    for task in manifest.tasks:
        if task.type != "http":
            continue
        worst = float(task.target.get("timeout", 10)) * (task.retries + 1)
        if worst > settings.timeout:
            warnings.append(
                f"task {task.name}: {task.retries + 1} attempts of up to "
                f"{task.target.get('timeout', 10)} s could outlast the function's "
                f"{settings.timeout} s timeout; raise deploy.timeout (at most 900) or lower "
                "the task's timeout or retries"
            )
    size = document_size(policy_document(scheduler_grants(env, manifest, settings)))
    if size > INLINE_POLICY_LIMIT:
        warnings.append(
            f"the scheduler's policy may reach {size:,} characters, more than the "
            f"{INLINE_POLICY_LIMIT:,} IAM allows a role's inline policies: the deploy may fail. "
            "Fewer distinct target resources (queues, functions, topics...) make it smaller"
        )
    return warnings
