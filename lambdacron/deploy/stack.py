"""Deploy stage, stack operations: package, upload, change set, confirm, execute, wait; destroy.

The deployment zip goes to an artifacts bucket, ``lambdacron-artifacts-<account>-<region>``,
created on first use (private, encrypted, TLS only) and shared by every env of the account and
region, like SAM's managed bucket: the stack's own manifest bucket cannot hold the code of a
function created in the same stack operation. ``deploy.artifacts_bucket`` names an existing one
instead. Keys are content-addressed, so an unchanged package never updates the function.

Every change goes through a change set that is shown before it runs; a stack operation that fails
ends with the failing resources' reasons (DescribeStackEvents) and a StoreError (exit 3).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from lambdacron.deploy.aws import Aws, call, connect, error_code, error_message
from lambdacron.deploy.package import PackageInfo, build_package
from lambdacron.deploy.policy import tls_only_policy
from lambdacron.deploy.settings import DeploySettings, load_settings
from lambdacron.deploy.template import (
    BUCKET,
    DLQ,
    FUNCTION,
    LOG_GROUP,
    TABLE,
    render_template,
    sizing_warnings,
    stack_tags,
    store_plan,
)
from lambdacron.errors import StoreError
from lambdacron.project import Environment
from lambdacron.runtime.manifest import Manifest

Say = Callable[[str], None]
Confirm = Callable[[str], None]
Sleep = Callable[[float], None]

POLL_SECONDS = 5.0
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
FAILED_STATES = frozenset(
    {
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "DELETE_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_FAILED",
    }
)
CAPABILITIES = ["CAPABILITY_IAM"]


@dataclass(frozen=True)
class Stack:
    """A deployed stack as CloudFormation describes it."""

    name: str
    stack_id: str
    status: str
    reason: str | None
    updated: datetime | None
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]
    resources: Mapping[str, str] = field(default_factory=dict)  # logical id -> physical id


@dataclass(frozen=True)
class Change:
    """One row of a change set: what CloudFormation will do to which resource."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str | None


@dataclass(frozen=True)
class DeployResult:
    stack: Stack | None
    changes: tuple[Change, ...]
    package: PackageInfo
    package_location: str

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _quiet(text: str) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# Reading stacks


def describe_stack(aws: Aws, name: str, with_resources: bool = True) -> Stack | None:
    """The stack called ``name`` (or with that id), or None when there is none."""
    cloudformation = aws.client("cloudformation")
    from botocore.exceptions import ClientError

    try:
        found = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in error_message(exc):
            return None
        raise StoreError(f"stack {name}: {error_code(exc)}: {error_message(exc)}") from exc
    if not found or found[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    data = found[0]
    resources: dict[str, str] = {}
    if with_resources:
        listed = call(
            f"stack {name}: describe resources",
            lambda: cloudformation.describe_stack_resources(StackName=data["StackId"]),
        )
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in listed.get("StackResources", ())
            if r.get("LogicalResourceId") and r.get("PhysicalResourceId")
        }
    return Stack(
        name=data["StackName"],
        stack_id=data["StackId"],
        status=data["StackStatus"],
        reason=data.get("StackStatusReason"),
        updated=data.get("LastUpdatedTime") or data.get("CreationTime"),
        outputs={o["OutputKey"]: o["OutputValue"] for o in data.get("Outputs") or ()},
        parameters={p["ParameterKey"]: p["ParameterValue"] for p in data.get("Parameters") or ()},
        resources=resources,
    )


def stack_outputs(env: Environment, stack: Stack) -> dict[str, str]:
    """The template's outputs, filled from the stack's resources when CloudFormation has not
    reported them (yet): the same names either way."""
    derived = {
        "Env": env.name,
        "FunctionName": stack.resources.get(FUNCTION),
        "Store": store_url(env, stack),
        "StateTable": stack.resources.get(TABLE),
        "DeadLetterQueueUrl": stack.resources.get(DLQ),
        "LogGroup": stack.resources.get(LOG_GROUP),
        "ManifestBucket": stack.resources.get(BUCKET),
    }
    return {**{k: v for k, v in derived.items() if v}, **stack.outputs}


def store_url(env: Environment, stack: Stack | None) -> str | None:
    """Where the deployed scheduler reads manifests."""
    plan = store_plan(env)
    if not plan.managed:
        return plan.url
    if stack is None or BUCKET not in stack.resources:
        return None
    return f"s3://{stack.resources[BUCKET]}"


# ---------------------------------------------------------------------------------------------
# Artifacts


def artifacts_bucket_name(account: str, region: str) -> str:
    return f"lambdacron-artifacts-{account}-{region}"


def upload_package(aws: Aws, settings: DeploySettings, info: PackageInfo, say: Say) -> str:
    """Put the zip in the artifacts bucket (unless that very zip is there) and return its key."""
    bucket = settings.artifacts_bucket or artifacts_bucket_name(aws.account, aws.region)
    _ensure_bucket(aws, bucket, create=settings.artifacts_bucket is None, say=say)
    key = f"{settings.stack_name}/{info.key_name}"
    s3 = aws.client("s3")
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return key
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise StoreError(f"s3://{bucket}/{key}: {error_message(exc)}") from exc
    say(f"Uploading the package ({info.size:,} bytes) to s3://{bucket}/{key}")
    call(
        f"uploading s3://{bucket}/{key}",
        lambda: s3.put_object(Bucket=bucket, Key=key, Body=info.path.read_bytes()),
    )
    return key


def _ensure_bucket(aws: Aws, bucket: str, create: bool, say: Say) -> None:
    s3 = aws.client("s3")
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        code = error_code(exc)
        if code in ("403", "AccessDenied"):
            raise StoreError(
                f"artifacts bucket {bucket}: access denied (it may belong to another account); "
                "name a bucket of yours in `deploy.artifacts_bucket`"
            ) from exc
        if code not in ("404", "NoSuchBucket", "NotFound") or not create:
            raise StoreError(
                f"artifacts bucket {bucket}: {code}: {error_message(exc)}; create it, or fix "
                "`deploy.artifacts_bucket`"
            ) from exc
    say(f"Creating the artifacts bucket s3://{bucket} (private, encrypted)")
    _create_artifacts_bucket(aws, bucket)


def _create_artifacts_bucket(aws: Aws, bucket: str) -> None:
    s3 = aws.client("s3")
    where = f"creating s3://{bucket}"
    location = (
        {}
        if aws.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    )
    call(where, lambda: s3.create_bucket(Bucket=bucket, **location))
    call(
        where,
        lambda: s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        ),
    )
    call(
        where,
        lambda: s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        ),
    )
    if not str(s3.meta.endpoint_url).startswith("https://"):
        return  # a TLS-only policy would lock out this very client (a local S3 emulator)
    policy = tls_only_policy(
        f"arn:{aws.partition}:s3:::{bucket}", f"arn:{aws.partition}:s3:::{bucket}/*"
    )
    call(where, lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy)))


def check_store_bucket(aws: Aws, env: Environment) -> None:
    """An env whose store names an S3 bucket relies on that bucket existing."""
    plan = store_plan(env)
    if plan.managed:
        return
    from botocore.exceptions import ClientError

    try:
        aws.client("s3").head_bucket(Bucket=plan.bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise StoreError(
                f"env {env.name}: the store bucket {plan.bucket} (store: {env.store}) does not "
                "exist; create it, or remove `store:` from the env file to have the stack create "
                "a manifest bucket"
            ) from exc
        raise StoreError(f"store bucket {plan.bucket}: {code}: {error_message(exc)}") from exc


# ---------------------------------------------------------------------------------------------
# Deploy


def deploy(
    env: Environment,
    manifest: Manifest,
    *,
    confirm: Confirm,
    say: Say = _quiet,
    sleep: Sleep = time.sleep,
    poll_seconds: float = POLL_SECONDS,
) -> DeployResult:
    """Create or update the env's stack through a change set, after ``confirm``."""
    settings = load_settings(env)
    aws = connect(env)
    check_store_bucket(aws, env)
    for warning in sizing_warnings(env, settings, manifest):
        say(f"warning: {warning}")
    stack = _ready_stack(aws, settings, confirm, say, sleep, poll_seconds)
    creating = stack is None or stack.status == "REVIEW_IN_PROGRESS"
    with tempfile.TemporaryDirectory(prefix="lambdacron-") as folder:
        info = build_package(Path(folder) / "lambdacron.zip")
        key = upload_package(aws, settings, info, say)
    bucket = settings.artifacts_bucket or artifacts_bucket_name(aws.account, aws.region)
    location = f"s3://{bucket}/{key}"
    # Compact: CloudFormation takes at most 51,200 bytes of template body.
    body = json.dumps(render_template(env, manifest, settings), separators=(",", ":"))
    parameters = {"PackageBucket": bucket, "PackageKey": key}
    change_set = _create_change_set(
        aws, settings, env, body, parameters, creating, sleep, poll_seconds
    )
    if change_set is None:
        say(f"No changes: stack {settings.stack_name} is up to date.")
        return DeployResult(describe_stack(aws, settings.stack_name), (), info, location)
    changes = _changes(aws, settings.stack_name, change_set)
    say(f"Change set for stack {settings.stack_name} (account {aws.account}, {aws.region}):")
    for line in format_changes(changes):
        say("  " + line)
    try:
        confirm(f"Deploy these {len(changes)} changes to stack {settings.stack_name}?")
    except BaseException:
        _discard(aws, settings.stack_name, change_set, creating)
        raise
    seen = _event_ids(aws, settings.stack_name)
    call(
        f"stack {settings.stack_name}: executing the change set",
        lambda: aws.client("cloudformation").execute_change_set(
            ChangeSetName=change_set, StackName=settings.stack_name
        ),
    )
    _wait(aws, settings.stack_name, seen, say, sleep, poll_seconds)
    return DeployResult(describe_stack(aws, settings.stack_name), tuple(changes), info, location)


def _ready_stack(
    aws: Aws,
    settings: DeploySettings,
    confirm: Confirm,
    say: Say,
    sleep: Sleep,
    poll_seconds: float,
) -> Stack | None:
    """The current stack, if it can take a change set. A stack whose creation failed holds
    nothing and cannot be updated: it is deleted first (after asking), as CloudFormation
    requires."""
    stack = describe_stack(aws, settings.stack_name, with_resources=False)
    if stack is None:
        return None
    if stack.status == "ROLLBACK_COMPLETE":
        confirm(
            f"Stack {stack.name} failed to create earlier (ROLLBACK_COMPLETE) and holds nothing; "
            "CloudFormation can only delete it. Delete it and create it again?"
        )
        seen = _event_ids(aws, stack.name)
        call(
            f"stack {stack.name}: delete",
            lambda: aws.client("cloudformation").delete_stack(StackName=stack.name),
        )
        _wait(aws, stack.stack_id, seen, say, sleep, poll_seconds)
        return None
    if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
        raise StoreError(
            f"stack {stack.name} is busy ({stack.status}); wait for it to finish "
            "(`lambdacron status`) and deploy again"
        )
    if stack.status in ("UPDATE_ROLLBACK_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise StoreError(
            f"stack {stack.name} is stuck in {stack.status}: {stack.reason or 'no reason given'}. "
            "Fix the resource named in the stack's events (CloudFormation console), then continue "
            "the rollback or run `lambdacron destroy` and deploy again"
        )
    return stack


def _create_change_set(
    aws: Aws,
    settings: DeploySettings,
    env: Environment,
    body: str,
    parameters: Mapping[str, str],
    creating: bool,
    sleep: Sleep,
    poll_seconds: float,
) -> str | None:
    """Create the change set and wait until it is ready; None when there is nothing to change."""
    from botocore.exceptions import ClientError

    cloudformation = aws.client("cloudformation")
    name = "lambdacron-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    try:
        created = cloudformation.create_change_set(
            StackName=settings.stack_name,
            ChangeSetName=name,
            ChangeSetType="CREATE" if creating else "UPDATE",
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
            Tags=[{"Key": k, "Value": v} for k, v in stack_tags(env, settings).items()],
            Description=f"lambdacron deploy of env {env.name}",
        )
    except ClientError as exc:
        if any(text in error_message(exc) for text in NO_CHANGES):
            return None
        raise StoreError(
            f"stack {settings.stack_name}: CloudFormation refused the change set: "
            f"{error_code(exc)}: {error_message(exc)}"
        ) from exc
    change_set_id = str(created["Id"])
    while True:
        described = call(
            f"stack {settings.stack_name}: change set",
            lambda: cloudformation.describe_change_set(ChangeSetName=change_set_id),
        )
        status = described["Status"]
        if status == "CREATE_COMPLETE":
            return change_set_id
        if status == "FAILED":
            reason = str(described.get("StatusReason") or "")
            _discard(aws, settings.stack_name, change_set_id, creating)
            if any(text in reason for text in NO_CHANGES):
                return None
            raise StoreError(f"stack {settings.stack_name}: the change set failed: {reason}")
        sleep(poll_seconds)


def _changes(aws: Aws, stack_name: str, change_set: str) -> list[Change]:
    cloudformation = aws.client("cloudformation")
    changes: list[Change] = []
    token: str | None = None
    while True:
        extra = {"NextToken": token} if token else {}
        page = call(
            f"stack {stack_name}: change set",
            partial(cloudformation.describe_change_set, ChangeSetName=change_set, **extra),
        )
        for item in page.get("Changes", ()):
            change = item.get("ResourceChange", {})
            changes.append(
                Change(
                    action=str(change.get("Action", "")),
                    logical_id=str(change.get("LogicalResourceId", "")),
                    resource_type=str(change.get("ResourceType", "")),
                    replacement=change.get("Replacement"),
                )
            )
        token = page.get("NextToken")
        if not token:
            return changes


def format_changes(changes: Sequence[Change]) -> list[str]:
    """One aligned line per change: action, resource, type, and whether it is replaced."""
    rows = [
        (
            change.action,
            change.logical_id,
            change.resource_type,
            "" if change.replacement in (None, "False") else f"replacement: {change.replacement}",
        )
        for change in changes
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, [*widths, 0], strict=True)).rstrip()
        for row in rows
    ]


def _discard(aws: Aws, stack_name: str, change_set: str, creating: bool) -> None:
    """Remove a change set that will not run, and the empty stack a first one created."""
    cloudformation = aws.client("cloudformation")
    call(
        f"stack {stack_name}: deleting the change set",
        lambda: cloudformation.delete_change_set(ChangeSetName=change_set, StackName=stack_name),
    )
    if creating:
        stack = describe_stack(aws, stack_name, with_resources=False)
        if stack is not None and stack.status == "REVIEW_IN_PROGRESS":
            call(
                f"stack {stack_name}: delete",
                lambda: cloudformation.delete_stack(StackName=stack_name),
            )


# ---------------------------------------------------------------------------------------------
# Waiting, progress and failure reasons


def _event_ids(aws: Aws, stack: str) -> set[str]:
    return {event["EventId"] for event in _recent_events(aws, stack)}


def _recent_events(aws: Aws, stack: str) -> list[dict[str, Any]]:
    """The newest page of the stack's events, oldest first."""
    from botocore.exceptions import ClientError

    try:
        page = aws.client("cloudformation").describe_stack_events(StackName=stack)
    except ClientError as exc:
        if "does not exist" in error_message(exc):
            return []
        raise StoreError(f"stack {stack}: {error_code(exc)}: {error_message(exc)}") from exc
    return list(reversed(page.get("StackEvents", [])))


def _wait(aws: Aws, stack: str, seen: set[str], say: Say, sleep: Sleep, poll_seconds: float) -> str:
    """Poll until the stack settles, telling each new event; raise with the failing
    resources' reasons when the operation failed. Returns the final status."""
    events: list[dict[str, Any]] = []
    while True:
        for event in _recent_events(aws, stack):
            if event["EventId"] not in seen:
                seen.add(event["EventId"])
                events.append(event)
                say("  " + format_event(event))
        current = describe_stack(aws, stack, with_resources=False)
        status = "DELETE_COMPLETE" if current is None else current.status
        if not status.endswith("_IN_PROGRESS"):
            break
        sleep(poll_seconds)
    if status in FAILED_STATES:
        reasons = failure_reasons(events) or [
            (current.reason if current else None) or "no reason given"
        ]
        raise StoreError(
            f"stack {stack}: {status}. What failed:\n"
            + "\n".join(f"  {reason}" for reason in reasons)
            + "\nFix the cause and deploy again."
        )
    return status


def format_event(event: Mapping[str, Any]) -> str:
    reason = event.get("ResourceStatusReason")
    text = f"{event.get('ResourceStatus', '')}  {event.get('ResourceType', '')}  " + str(
        event.get("LogicalResourceId", "")
    )
    return f"{text}: {reason}" if reason and "FAILED" in str(event.get("ResourceStatus")) else text


def failure_reasons(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """``Logical (Type): reason`` for every resource that failed, first failure first. Resources
    cancelled because another failed are left out: they are noise, not the cause."""
    reasons: list[str] = []
    for event in events:
        status = str(event.get("ResourceStatus", ""))
        reason = str(event.get("ResourceStatusReason") or "")
        if not status.endswith("_FAILED") or "cancelled" in reason.lower():
            continue
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" and reasons:
            continue
        line = f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {reason}"
        if line not in reasons:
            reasons.append(line)
    return reasons


# ---------------------------------------------------------------------------------------------
# Destroy


def destroy(
    env: Environment,
    *,
    confirm: Confirm,
    say: Say = _quiet,
    sleep: Sleep = time.sleep,
    poll_seconds: float = POLL_SECONDS,
) -> bool:
    """Delete the env's stack after ``confirm``; False when there is no stack."""
    settings = load_settings(env)
    aws = connect(env)
    stack = describe_stack(aws, settings.stack_name)
    if stack is None:
        say(f"Stack {settings.stack_name} does not exist in account {aws.account}, {aws.region}.")
        return False
    kept = (
        f" The manifest bucket {stack.resources[BUCKET]} and its manifests are kept."
        if BUCKET in stack.resources
        else ""
    )
    confirm(
        f"Delete stack {stack.name} ({len(stack.resources)} resources) in account {aws.account}, "
        f"{aws.region}? The scheduler stops.{kept}"
    )
    seen = _event_ids(aws, stack.stack_id)
    call(
        f"stack {stack.name}: delete",
        lambda: aws.client("cloudformation").delete_stack(StackName=stack.stack_id),
    )
    _wait(aws, stack.stack_id, seen, say, sleep, poll_seconds)
    return True
