"""Deploy stage, policy: the scheduler role's IAM permissions, derived from the manifest.

Each task type asks for the one API call its target makes, on the resources the task names (a
queue, a function, a job queue and definition, a work group, a topic, a state machine, an event
bus), and every ``secret(...)`` reference asks to read that parameter or secret. HTTP tasks need
nothing. ARNs are built from names with ``${AWS::Partition}``, ``${AWS::Region}`` and
``${AWS::AccountId}`` for ``Fn::Sub``; a part that is only known at fire time (a runtime
placeholder) becomes ``*``, the only wildcard this module writes.

A grant is one (action, resource) pair; the policy document groups them into statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lambdacron.runtime.manifest import Task
from lambdacron.runtime.placeholders import PATTERN, unescape

PARTITION = "${AWS::Partition}"
REGION = "${AWS::Region}"
ACCOUNT = "${AWS::AccountId}"
SECRET_SUFFIX = "-??????"  # Secrets Manager appends six random characters to every secret's ARN


@dataclass(frozen=True, order=True)
class Grant:
    """Allow ``action`` on ``resource``: an ARN, possibly with ``${AWS::...}`` or
    ``${Logical.Arn}`` references for ``Fn::Sub`` (a literal ``${`` is written ``${!``)."""

    action: str
    resource: str


def task_grants(task: Task) -> set[Grant]:
    """What firing ``task`` needs: its target's call plus its secrets."""
    target = task.target
    builder = TYPE_GRANTS.get(task.type)
    grants = set(builder(target)) if builder else set()
    return grants | secret_grants(target)


def manifest_grants(tasks: Iterable[Task]) -> set[Grant]:
    grants: set[Grant] = set()
    for task in tasks:
        grants |= task_grants(task)
    return grants


def policy_document(grants: Iterable[Grant]) -> dict[str, Any]:
    """An IAM policy document: actions that share the same resources share one statement."""
    by_action: dict[str, set[str]] = {}
    for grant in grants:
        by_action.setdefault(grant.action, set()).add(grant.resource)
    by_resources: dict[tuple[str, ...], list[str]] = {}
    for action, resources in sorted(by_action.items()):
        by_resources.setdefault(tuple(sorted(resources)), []).append(action)
    statements = [
        {
            "Sid": statement_id(actions, index),
            "Effect": "Allow",
            "Action": actions,
            "Resource": [sub(resource) for resource in resources],
        }
        for index, (resources, actions) in enumerate(
            sorted(by_resources.items(), key=lambda item: (item[1], item[0]))
        )
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def tls_only_policy(bucket_arn: Any, objects_arn: Any) -> dict[str, Any]:
    """A bucket policy refusing every request not made over TLS (ARNs as strings or CFN)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def statement_id(actions: Sequence[str], index: int) -> str:
    """A readable, unique Sid: the first action in CamelCase plus the statement's number."""
    service, _, name = actions[0].partition(":")
    return f"{service.capitalize()}{name}{index}"


def sub(resource: str) -> Any:
    """``resource`` as a template value: plain when it references nothing, else ``Fn::Sub``."""
    if re.search(r"\$\{(?!!)", resource):
        return {"Fn::Sub": resource}
    return resource.replace("${!", "${")


# IAM's limit for a role's inline policies together, white space not counted.
INLINE_POLICY_LIMIT = 10_240
# The longest text each reference can become once substituted, for a size that errs high.
WORST_CASE = {PARTITION: "aws-us-gov", REGION: "ap-southeast-5", ACCOUNT: "123456789012"}


def document_size(document: Mapping[str, Any]) -> int:
    """An upper estimate of the size IAM will count for ``document`` once deployed."""
    text = json.dumps(document, separators=(",", ":"))
    for reference, worst in WORST_CASE.items():
        text = text.replace(reference, worst)
    text = text.replace('{"Fn::Sub":', "")  # the wrapper goes; its closing brace stays: harmless
    # A reference to a stack resource becomes an ARN of at most about 140 characters.
    return len(re.sub(r"\$\{[A-Za-z0-9]+(\.Arn)?\}", "x" * 140, text))


def grants_of_document(document: Mapping[str, Any]) -> set[Grant]:
    """The grants a policy document (as rendered by ``policy_document``) gives, each resource
    as its ``Fn::Sub`` text: the inverse of ``policy_document``, for comparisons."""
    grants: set[Grant] = set()
    for statement in document.get("Statement", ()):
        actions = _as_list(statement.get("Action"))
        for resource in _as_list(statement.get("Resource")):
            text = resource["Fn::Sub"] if isinstance(resource, dict) else _escape(resource)
            grants |= {Grant(action, text) for action in actions}
    return grants


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------
# Names and ARNs


def _escape(text: str) -> str:
    """Literal text for ``Fn::Sub``: a ``${`` the user wrote is not a reference."""
    return text.replace("${", "${!")


def _name(value: Any) -> str:
    """A name from a task, for an ARN: runtime placeholders (known only at fire time) become
    ``*``, anything else is literal."""
    return "*".join(_escape(part) for part in PATTERN.split(str(value))[::3])


def arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def named_arn(value: Any, service: str, resource_prefix: str) -> str:
    """``value`` if it is an ARN already, else the ARN of the resource of that name in the
    stack's own region and account."""
    name = _name(value)
    if name.startswith("arn:"):
        return name
    return arn(service, f"{resource_prefix}{name}")


# ---------------------------------------------------------------------------------------------
# One builder per task type: the target mapping -> the grants its API call needs


def queue_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    if target.get("QueueUrl"):
        yield Grant("sqs:SendMessage", queue_url_arn(str(target["QueueUrl"])))
        return
    queue = arn("sqs", _name(target["QueueName"]))
    yield Grant("sqs:SendMessage", queue)
    yield Grant("sqs:GetQueueUrl", queue)  # the target resolves the name once per cold start


def queue_url_arn(url: str) -> str:
    """``https://sqs.eu-west-1.amazonaws.com/123456789012/name`` -> the queue's ARN. The legacy
    ``queue.amazonaws.com`` hosts are understood; any other host (a local endpoint) keeps the
    stack's region."""
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    name = _name(path[-1]) if path else "*"
    account = _name(path[-2]) if len(path) >= 2 else ACCOUNT
    host = parts.hostname or ""
    region = REGION
    match = re.match(r"^(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$", host)
    if match:
        region = match.group(1) or match.group(2)
    elif host == "queue.amazonaws.com":
        region = "us-east-1"
    return arn("sqs", name, region=region, account=account)


def lambda_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    yield Grant(
        "lambda:InvokeFunction", function_arn(target["FunctionName"], target.get("Qualifier"))
    )


def function_arn(function: Any, qualifier: Any = None) -> str:
    """The ARN IAM checks for an Invoke: qualified (version or alias) when the call is."""
    name = _name(function)
    if name.startswith("arn:"):
        base, qualified = name, name.count(":") == 7
    elif re.match(r"^\d{12}:function:", name):  # a partial ARN: account:function:name
        base, qualified = f"arn:{PARTITION}:lambda:{REGION}:{name}", name.count(":") == 3
    else:
        base, qualified = arn("lambda", f"function:{name}"), ":" in name
    if qualifier is not None and not qualified:
        base += ":" + _name(qualifier)
    return base


def batch_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    yield Grant("batch:SubmitJob", named_arn(target["jobQueue"], "batch", "job-queue/"))
    definition = named_arn(target["jobDefinition"], "batch", "job-definition/")
    if not re.search(r":[^:/]+$", definition.rpartition("/")[2]):
        definition += ":*"  # a name without revision runs its latest active revision
    yield Grant("batch:SubmitJob", definition)
    if target.get("tags"):
        # Tagging on submission is authorised separately, on the job the call creates.
        yield Grant("batch:TagResource", arn("batch", "job/*"))


def athena_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    workgroup = _name(target.get("WorkGroup") or "primary")
    yield Grant("athena:StartQueryExecution", arn("athena", f"workgroup/{workgroup}"))
    location = (target.get("ResultConfiguration") or {}).get("OutputLocation")
    if location:
        bucket, _, prefix = str(location).removeprefix("s3://").partition("/")
        objects = f"{prefix.rstrip('/')}/*" if prefix.strip("/") else "*"
        yield Grant("s3:GetBucketLocation", f"arn:{PARTITION}:s3:::{_name(bucket)}")
        yield Grant("s3:PutObject", f"arn:{PARTITION}:s3:::{_name(bucket)}/{_name(objects)}")


def sns_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    yield Grant("sns:Publish", named_arn(target["TopicArn"], "sns", ""))


def stepfunctions_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    yield Grant(
        "states:StartExecution", named_arn(target["stateMachineArn"], "states", "stateMachine:")
    )


def eventbridge_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    bus = target.get("EventBusName") or "default"
    yield Grant("events:PutEvents", named_arn(bus, "events", "event-bus/"))


def http_grants(target: Mapping[str, Any]) -> Iterator[Grant]:
    return iter(())  # HTTP calls leave AWS: nothing to allow


TYPE_GRANTS = {
    "queue": queue_grants,
    "lambda": lambda_grants,
    "batch": batch_grants,
    "athena": athena_grants,
    "http": http_grants,
    "sns": sns_grants,
    "stepfunctions": stepfunctions_grants,
    "eventbridge": eventbridge_grants,
}


# ---------------------------------------------------------------------------------------------
# Secrets


def secret_references(value: Any) -> Iterator[str]:
    """Every ``secret`` placeholder's reference in a task's strings, keys included."""
    if isinstance(value, str):
        for match in PATTERN.finditer(value):
            if match.group(1) == "secret" and match.group(2) is not None:
                yield unescape(match.group(2)) or ""
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from secret_references(key)
            yield from secret_references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from secret_references(item)


def secret_grants(target: Mapping[str, Any]) -> set[Grant]:
    grants = set()
    for reference in secret_references(target):
        grant = secret_grant(reference)
        if grant is not None:
            grants.add(grant)
    return grants


def secret_grant(reference: str) -> Grant | None:
    """``ssm:/path`` -> GetParameter on that parameter; ``secretsmanager:name[#key]`` ->
    GetSecretValue on that secret. A malformed reference grants nothing (the compiler rejects
    it; the scheduler would report it at fire time)."""
    kind, _, name = reference.partition(":")
    if kind == "ssm" and name:
        if name.startswith("arn:"):
            return Grant("ssm:GetParameter", _escape(name))
        return Grant("ssm:GetParameter", arn("ssm", "parameter/" + _escape(name.lstrip("/"))))
    if kind == "secretsmanager" and name:
        secret_id = name.partition("#")[0]
        if secret_id.startswith("arn:"):
            full = re.search(r"-[A-Za-z0-9]{6}$", secret_id)
            return Grant(
                "secretsmanager:GetSecretValue",
                _escape(secret_id) + ("" if full else SECRET_SUFFIX),
            )
        return Grant(
            "secretsmanager:GetSecretValue",
            arn("secretsmanager", f"secret:{_escape(secret_id)}{SECRET_SUFFIX}"),
        )
    return None
