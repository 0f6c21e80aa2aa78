"""Deploy stage, observing a deployed env: ``status`` (stack, live manifest, settings drift,
missing permissions, last processed minute, alarms), ``logs`` (the scheduler's structured log
lines) and ``run --remote`` (invoke the deployed function with a run event).

Reading only: nothing here changes the stack, the store or the state table.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from lambdacron.deploy.aws import Aws, call, connect, error_code, error_message
from lambdacron.deploy.package import build_package
from lambdacron.deploy.policy import (
    ACCOUNT,
    PARTITION,
    REGION,
    Grant,
    grants_of_document,
    manifest_grants,
)
from lambdacron.deploy.settings import DeploySettings, load_settings
from lambdacron.deploy.stack import Stack, describe_stack, stack_outputs, store_url
from lambdacron.deploy.template import FUNCTION, ROLE, TABLE, function_environment, store_plan
from lambdacron.errors import LambdacronError, StoreError, UsageError
from lambdacron.project import Environment
from lambdacron.runtime.manifest import Manifest, loads

Sleep = Callable[[float], None]
FOLLOW_SECONDS = 5.0
SINCE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Drift:
    """A function setting that differs from what the env file would deploy."""

    setting: str
    deployed: str | None
    expected: str | None


@dataclass(frozen=True)
class LiveManifest:
    version: int
    digest: str
    published_at: str | None
    published_by: str | None
    tasks: int


@dataclass(frozen=True)
class Status:
    """What ``lambdacron status`` reports. ``problems`` are parts that could not be read."""

    env: str
    stack_name: str
    account: str
    region: str
    stack: Stack | None
    outputs: Mapping[str, str] = field(default_factory=dict)
    live: LiveManifest | None = None
    drift: tuple[Drift, ...] = ()
    missing_grants: tuple[Grant, ...] = ()
    last_processed: str | None = None
    alarms: tuple[tuple[str, str], ...] = ()  # (name, reason) of alarms in ALARM
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        stack = self.stack
        return {
            "env": self.env,
            "stack": self.stack_name,
            "account": self.account,
            "region": self.region,
            "status": stack.status if stack else "NOT_DEPLOYED",
            "status_reason": stack.reason if stack else None,
            "updated": stack.updated.isoformat() if stack and stack.updated else None,
            "outputs": dict(self.outputs),
            "live_manifest": vars(self.live) if self.live else None,
            "drift": [vars(d) for d in self.drift],
            "missing_permissions": [vars(g) for g in self.missing_grants],
            "last_processed_minute": self.last_processed,
            "alarms_in_alarm": [{"name": n, "reason": r} for n, r in self.alarms],
            "problems": list(self.problems),
        }


# ---------------------------------------------------------------------------------------------
# status


def status(env: Environment) -> Status:
    """The deployed env as it is now. Parts that fail to read are reported, not raised."""
    settings = load_settings(env)
    aws = connect(env)
    stack = describe_stack(aws, settings.stack_name)
    base = Status(env.name, settings.stack_name, aws.account, aws.region, stack)
    if stack is None:
        return base
    problems: list[str] = []

    def attempt(what: str, read: Callable[[], Any], default: Any) -> Any:
        try:
            return read()
        except LambdacronError as exc:
            problems.append(f"{what}: {exc}")
            return default

    live_manifest: Manifest | None = attempt("live manifest", lambda: _live(env, stack, aws), None)
    drifted = attempt("function settings", lambda: drift(aws, env, settings, stack), ())
    missing = attempt(
        "permissions",
        lambda: missing_grants(aws, stack, live_manifest) if live_manifest else (),
        (),
    )
    processed = attempt("state table", lambda: _last_processed(aws, env, stack), None)
    alarms = attempt("alarms", lambda: _alarms(aws, settings), ())
    return replace(
        base,
        outputs=stack_outputs(env, stack),
        live=_summary(live_manifest) if live_manifest else None,
        drift=drifted,
        missing_grants=missing,
        last_processed=processed,
        alarms=alarms,
        problems=tuple(problems),
    )


def _live(env: Environment, stack: Stack, aws: Aws) -> Manifest | None:
    from lambdacron.runtime.store import open_store

    url = store_url(env, stack)
    if url is None:
        return None
    found = open_store(url, aws.region).read_live(env.name)
    return None if found is None else loads(found.data, f"{url} ({env.name}/manifest.json)")


def _summary(manifest: Manifest) -> LiveManifest:
    return LiveManifest(
        manifest.version,
        manifest.digest,
        manifest.published_at,
        manifest.published_by,
        len(manifest.tasks),
    )


def expected_settings(
    env: Environment, settings: DeploySettings, stack: Stack
) -> dict[str, str | None]:
    """The function settings the env file generates, references resolved against the stack."""
    variables = function_environment(env, settings, store_plan(env))
    expected: dict[str, str | None] = {
        "package": local_package_digest(),
        "MemorySize": str(settings.memory_size),
        "Timeout": str(settings.timeout),
        "ReservedConcurrentExecutions": _text(settings.reserved_concurrency),
    }
    for name, value in sorted(variables.items()):
        expected[f"env {name}"] = resolve(value, stack.resources)
    return expected


def deployed_settings(aws: Aws, function: str) -> dict[str, str | None]:
    client = aws.client("lambda")
    config = call(
        f"function {function}", lambda: client.get_function_configuration(FunctionName=function)
    )
    concurrency = call(
        f"function {function}", lambda: client.get_function_concurrency(FunctionName=function)
    )
    deployed: dict[str, str | None] = {
        "package": _code_digest(config.get("CodeSha256")),
        "MemorySize": _text(config.get("MemorySize")),
        "Timeout": _text(config.get("Timeout")),
        "ReservedConcurrentExecutions": _text(concurrency.get("ReservedConcurrentExecutions")),
    }
    for name, value in (config.get("Environment") or {}).get("Variables", {}).items():
        deployed[f"env {name}"] = value
    return deployed


def local_package_digest() -> str:
    """The digest of the zip this lambdacron would deploy: the code that ``deploy`` would
    upload, to compare with the code that runs."""
    with tempfile.TemporaryDirectory(prefix="lambdacron-") as folder:
        return "sha256:" + build_package(Path(folder) / "lambdacron.zip").sha256


def _code_digest(code_sha256: Any) -> str | None:
    """Lambda's CodeSha256 (base64) in the ``sha256:<hex>`` form used everywhere else."""
    if not isinstance(code_sha256, str):
        return None
    try:
        return "sha256:" + base64.b64decode(code_sha256).hex()
    except ValueError:
        return code_sha256


def drift(aws: Aws, env: Environment, settings: DeploySettings, stack: Stack) -> tuple[Drift, ...]:
    """Every setting whose deployed value differs from what the env file would deploy now."""
    function = stack.resources.get(FUNCTION) or settings.function_name
    deployed = deployed_settings(aws, function)
    expected = expected_settings(env, settings, stack)
    names = sorted(
        set(expected) | {name for name in deployed if name.startswith("env LAMBDACRON_")}
    )
    return tuple(
        Drift(name, deployed.get(name), expected.get(name))
        for name in names
        if deployed.get(name) != expected.get(name)
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def resolve(value: Any, resources: Mapping[str, str]) -> str | None:
    """A template value with ``Ref`` and ``Fn::Sub`` of the stack's own resources resolved."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Ref" in value:
        return resources.get(str(value["Ref"]))
    if isinstance(value, Mapping) and "Fn::Sub" in value:
        return re.sub(
            r"\$\{([A-Za-z0-9]+)\}",
            lambda m: resources.get(m.group(1), m.group(0)),
            str(value["Fn::Sub"]),
        )
    return None


def missing_grants(aws: Aws, stack: Stack, manifest: Manifest) -> tuple[Grant, ...]:
    """The permissions ``manifest``'s tasks need that the deployed role does not give: a task
    of a new kind published since the last deploy. The role's policy is read from the deployed
    template, in the very form ``policy`` writes it (``deploy.managed_policy_arns`` are not
    read: what they allow is the user's to know); the result is shown with ARNs expanded."""
    body = call(
        f"stack {stack.name}: template",
        lambda: aws.client("cloudformation").get_template(StackName=stack.stack_id),
    )["TemplateBody"]
    template = body if isinstance(body, Mapping) else yaml.safe_load(body)
    role = template.get("Resources", {}).get(ROLE, {}).get("Properties", {})
    granted: set[Grant] = set()
    for policy in role.get("Policies", ()):
        granted |= grants_of_document(policy.get("PolicyDocument", {}))
    needed = manifest_grants(manifest.tasks) - granted
    return tuple(sorted(Grant(g.action, _expand(g.resource, aws)) for g in needed))


def _expand(resource: str, aws: Aws) -> str:
    """A grant's ``Fn::Sub`` text as IAM stores it once CloudFormation has substituted it."""
    return (
        resource.replace(PARTITION, aws.partition)
        .replace(REGION, aws.region)
        .replace(ACCOUNT, aws.account)
        .replace("${!", "${")
    )


def _last_processed(aws: Aws, env: Environment, stack: Stack) -> str | None:
    from lambdacron.runtime.state import DynamoState

    table = stack.resources.get(TABLE)
    if table is None:
        return None
    minute = DynamoState(table, env.name, lambda: aws.client("dynamodb")).last_processed()
    if minute is None:
        return None
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _alarms(aws: Aws, settings: DeploySettings) -> tuple[tuple[str, str], ...]:
    names = [settings.alarm_name("failed-tasks"), settings.alarm_name("no-tick")]
    found = call(
        "cloudwatch describe-alarms",
        lambda: aws.client("cloudwatch").describe_alarms(AlarmNames=names, StateValue="ALARM"),
    )
    return tuple(
        (str(alarm["AlarmName"]), str(alarm.get("StateReason", "")))
        for alarm in found.get("MetricAlarms", ())
        if alarm.get("StateValue") == "ALARM"
    )


# ---------------------------------------------------------------------------------------------
# logs


@dataclass(frozen=True)
class LogRecord:
    """One scheduler log line worth showing: a task's outcome, or a warning or error."""

    time: str
    task: str | None
    outcome: str
    attempts: int | None = None
    duration_ms: int | None = None
    response_id: str | None = None
    error: str | None = None
    scheduled: str | None = None

    def row(self) -> list[str]:
        return [
            self.time,
            self.task or "-",
            self.outcome,
            "" if self.attempts is None else str(self.attempts),
            "" if self.duration_ms is None else f"{self.duration_ms} ms",
            self.error or self.response_id or "",
        ]


LOG_COLUMNS = ("time", "task", "outcome", "attempts", "duration", "response id / error")


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``1h``, ``2d`` (also ``s`` and ``w``) before ``now``, or an ISO 8601 time."""
    match = SINCE.match(text)
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected a duration such as 30m, 1h or 2d, or an ISO time such "
            "as 2026-12-04T09:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_line(message: str, timestamp_ms: int, task: str | None = None) -> LogRecord | None:
    """The record a log message holds, or None: Lambda's own lines, metrics lines and info lines
    other than task outcomes are left out, as are other tasks' lines when ``task`` is given."""
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        line = json.loads(text)
    except ValueError:
        return None
    if not isinstance(line, dict):
        return None
    event = str(line.get("event", ""))
    is_task = event.startswith("task_")
    if not is_task and line.get("level") not in ("warning", "error"):
        return None
    if task is not None and line.get("task") != task:
        return None
    when = datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return LogRecord(
        time=when,
        task=_text(line.get("task")),
        outcome=str(line.get("status") or event) if is_task else event,
        attempts=_int(line.get("attempts")),
        duration_ms=_int(line.get("duration_ms")),
        response_id=_text(line.get("response_id")),
        error=_text(line.get("error")),
        scheduled=_text(line.get("scheduled")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def log_group(env: Environment) -> str:
    return load_settings(env).log_group_name


def read_logs(
    env: Environment,
    task: str | None = None,
    since: datetime | None = None,
    follow: bool = False,
    *,
    sleep: Sleep = time.sleep,
    poll_seconds: float = FOLLOW_SECONDS,
    polls: int | None = None,
) -> Iterator[LogRecord]:
    """The scheduler's records since ``since``, oldest first; with ``follow``, then poll for new
    ones (for ever, or ``polls`` more times)."""
    aws = connect(env)
    group = log_group(env)
    start = since or datetime.now(UTC) - timedelta(hours=1)
    start_ms = int(start.timestamp() * 1000)
    seen: set[str] = set()
    remaining = polls
    while True:
        for event in _log_events(aws, group, start_ms, task):
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            start_ms = max(start_ms, int(event["timestamp"]))
            record = parse_line(str(event.get("message", "")), int(event["timestamp"]), task)
            if record is not None:
                yield record
        if not follow or remaining == 0:
            return
        if remaining is not None:
            remaining -= 1
        sleep(poll_seconds)


def _log_events(aws: Aws, group: str, start_ms: int, task: str | None) -> Iterator[dict[str, Any]]:
    from botocore.exceptions import ClientError

    logs = aws.client("logs")
    token: str | None = None
    # One task's lines are selected by CloudWatch already (task names need no quoting); the
    # records are still checked here, so a pattern CloudWatch ignored would change nothing.
    pattern = {"filterPattern": f'{{ $.task = "{task}" }}'} if task else {}
    while True:
        extra = {"nextToken": token, **pattern} if token else dict(pattern)
        try:
            page = logs.filter_log_events(logGroupName=group, startTime=start_ms, **extra)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise StoreError(
                    f"log group {group} does not exist: the env is not deployed here "
                    "(`lambdacron deploy`), or the region is not the env's"
                ) from exc
            raise StoreError(f"log group {group}: {error_message(exc)}") from exc
        yield from sorted(page.get("events", ()), key=lambda e: (e["timestamp"], e["eventId"]))
        token = page.get("nextToken")
        if not token:
            return


# ---------------------------------------------------------------------------------------------
# run --remote


def invoke_remote_run(env: Environment, task: str) -> dict[str, Any]:
    """Fire ``task`` now in the deployed scheduler (``{"lambdacron": {"run": TASK}}``,
    RequestResponse) and return the handler's summary. Never retried: a retry could fire twice."""
    from botocore.config import Config

    settings = load_settings(env)
    aws = connect(env)
    client = aws.session.client(
        "lambda",
        config=Config(read_timeout=settings.timeout + 30, retries={"total_max_attempts": 1}),
    )
    payload = json.dumps({"lambdacron": {"run": task}}).encode()
    from botocore.exceptions import ClientError

    try:
        response = client.invoke(
            FunctionName=settings.function_name,
            InvocationType="RequestResponse",
            Payload=payload,
        )
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise StoreError(
                f"env {env.name}: the scheduler function {settings.function_name} does not exist "
                f"in account {aws.account}, {aws.region}; run `lambdacron deploy --env {env.name}`"
            ) from exc
        raise StoreError(
            f"invoking {settings.function_name}: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    body = response["Payload"].read().decode("utf-8", "replace")
    if response.get("FunctionError"):
        raise StoreError(
            f"the scheduler function {settings.function_name} failed running {task}: "
            f"{_function_error(body)}"
        )
    try:
        summary = json.loads(body)
    except ValueError:
        summary = None
    if not isinstance(summary, dict) or not isinstance(summary.get("outcomes"), list):
        raise StoreError(
            f"the scheduler function {settings.function_name} answered {body[:200]!r}, not a run "
            "summary; is it a lambdacron scheduler? Run `lambdacron deploy` to update it"
        )
    return summary


def _function_error(body: str) -> str:
    try:
        error = json.loads(body)
    except ValueError:
        return body[:500]
    if isinstance(error, dict):
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
    return body[:500]
