"""Observing a deployed env on the moto server: status (live manifest, drift, missing
permissions, last processed minute, alarms), logs (parsed, filtered, followed) and run --remote."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from lambdacron.deploy.observe import (
    Drift,
    LogRecord,
    invoke_remote_run,
    local_package_digest,
    parse_line,
    parse_since,
    read_logs,
    status,
)
from lambdacron.deploy.policy import Grant
from lambdacron.deploy.stack import deploy
from lambdacron.errors import StoreError, UsageError
from lambdacron.project import Environment
from lambdacron.runtime.manifest import Manifest, Task, dumps
from lambdacron.runtime.state import DynamoState
from lambdacron.runtime.store import open_store

pytestmark = [
    pytest.mark.aws,
    # moto skips the resource types it does not model (alarms, bucket policy) and says so.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

LOAD = Task(
    "load-trades",
    "* * * * *",
    "UTC",
    {"type": "queue", "QueueName": "finp-loads", "MessageBody": "go"},
)
NOTIFY = Task(
    "notify",
    "0 9 * * *",
    "UTC",
    {"type": "sns", "TopicArn": "arn:aws:sns:us-east-1:123456789012:finance", "Message": "m"},
)
GROUP = "/aws/lambda/lambdacron-dev"


def make_env(tmp_path: Path, **deploy_settings: Any) -> Environment:
    return Environment(
        name="dev",
        path=tmp_path / "envs/dev.yml",
        store=f"file://{tmp_path}/s",
        region="us-east-1",
        deploy=deploy_settings,
    )


def deployed(tmp_path: Path, *tasks: Task, **deploy_settings: Any) -> tuple[Environment, Any]:
    env = make_env(tmp_path, **deploy_settings)
    manifest = Manifest(env="dev", tasks=tasks or (LOAD,))
    result = deploy(env, manifest, confirm=lambda q: None, sleep=lambda s: None)
    return env, result.stack


def publish(stack: Any, *tasks: Task, version: int = 1) -> Manifest:
    manifest = Manifest(
        env="dev",
        tasks=tasks,
        version=version,
        published_by="tester",
        published_at="2026-12-04T09:00:00Z",
    ).with_digest()
    store = open_store(f"s3://{stack.resources['ManifestBucket']}")
    store.write_version("dev", version, dumps(manifest))
    live = store.read_live("dev")
    store.replace_live("dev", dumps(manifest), None if live is None else live.etag)
    return manifest


def test_status_of_a_deployed_env(aws, tmp_path: Path) -> None:
    env, stack = deployed(tmp_path)
    manifest = publish(stack, LOAD)
    DynamoState(
        stack.resources["StateTable"], "dev", lambda: boto3.client("dynamodb")
    ).set_processed(int(datetime(2026, 12, 4, 10, 7, tzinfo=UTC).timestamp()) // 60)
    report = status(env)
    assert report.stack.status == "CREATE_COMPLETE"
    assert report.live is not None
    assert (report.live.version, report.live.digest, report.live.tasks) == (1, manifest.digest, 1)
    assert report.live.published_by == "tester"
    assert report.drift == ()
    assert report.missing_grants == ()
    assert report.last_processed == "2026-12-04T10:07Z"
    assert report.alarms == ()
    assert report.problems == ()
    assert report.outputs["FunctionName"] == "lambdacron-dev"
    data = report.to_dict()
    assert data["status"] == "CREATE_COMPLETE"
    assert data["live_manifest"]["version"] == 1
    json.dumps(data)


def test_status_before_anything_is_deployed_or_published(aws, tmp_path: Path) -> None:
    report = status(make_env(tmp_path))
    assert report.stack is None
    assert report.to_dict()["status"] == "NOT_DEPLOYED"
    env, _ = deployed(tmp_path)
    report = status(env)
    assert (report.live, report.last_processed, report.problems) == (None, None, ())


def test_status_shows_settings_drift_against_the_env_file(aws, tmp_path: Path) -> None:
    deployed(tmp_path)
    report = status(make_env(tmp_path, memory_size=512, max_catchup_minutes=5))
    assert set(report.drift) == {
        Drift("MemorySize", "256", "512"),
        Drift("env LAMBDACRON_MAX_CATCHUP_MINUTES", "60", "5"),
    }


def test_status_shows_code_that_is_not_this_lambdacron(aws, tmp_path: Path) -> None:
    env, _ = deployed(tmp_path)
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context): return {}")
    boto3.client("lambda").update_function_code(
        FunctionName="lambdacron-dev", ZipFile=other.getvalue()
    )
    [row] = status(env).drift
    assert row.setting == "package"
    assert row.deployed == "sha256:" + hashlib.sha256(other.getvalue()).hexdigest()
    assert row.expected == local_package_digest()


def test_status_names_permissions_the_live_manifest_needs(aws, tmp_path: Path) -> None:
    env, stack = deployed(tmp_path, LOAD)
    publish(stack, LOAD, NOTIFY)  # a task of a new type, published without a deploy
    report = status(env)
    assert report.missing_grants == (
        Grant("sns:Publish", "arn:aws:sns:us-east-1:123456789012:finance"),
    )


def test_status_lists_alarms_in_alarm(aws, tmp_path: Path) -> None:
    env, _ = deployed(tmp_path)
    cloudwatch = boto3.client("cloudwatch")
    for name in ("lambdacron-dev-failed-tasks", "lambdacron-dev-no-tick", "someone-else"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="lambdacron",
            MetricName="failed",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    for name in ("lambdacron-dev-failed-tasks", "someone-else"):
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="1 failed")
    assert status(env).alarms == (("lambdacron-dev-failed-tasks", "1 failed"),)


def test_a_manifest_that_cannot_be_read_is_a_problem_not_a_crash(aws, tmp_path: Path) -> None:
    env, stack = deployed(tmp_path)
    boto3.client("s3").put_object(
        Bucket=stack.resources["ManifestBucket"], Key="dev/manifest.json", Body=b"{not json"
    )
    report = status(env)
    assert report.live is None
    assert len(report.problems) == 1
    assert report.problems[0].startswith("live manifest: ")
    assert "not valid JSON" in report.problems[0]


# ---------------------------------------------------------------------------------------------
# logs


def line(**fields: Any) -> str:
    return json.dumps({"level": "info", "time": "2026-12-04T10:07:01.000Z", **fields})


FIRED = line(
    event="task_fired",
    env="dev",
    task="load-trades",
    scheduled="2026-12-04T10:07:00Z",
    status="fired",
    response_id="m-1",
    attempts=1,
    duration_ms=42,
    error=None,
)
FAILED = line(
    level="error",
    event="task_failed",
    env="dev",
    task="notify",
    scheduled="2026-12-04T10:07:00Z",
    status="failed",
    response_id=None,
    attempts=3,
    duration_ms=900,
    error="AccessDenied: not allowed",
)
METRICS = line(event="metrics", env="dev", due=2, fired=1, _aws={"CloudWatchMetrics": []})
DROPPED = line(level="warning", event="catchup_dropped", env="dev", dropped_minutes=3)


@pytest.fixture
def log_stream(aws) -> Iterator[Any]:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")

    def put(*messages: str, at: datetime) -> None:
        stamp = int(at.timestamp() * 1000)
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName="s",
            logEvents=[{"timestamp": stamp + i, "message": m} for i, m in enumerate(messages)],
        )

    yield put


def test_logs_are_parsed_and_filtered(log_stream: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    log_stream(
        "START RequestId: 1 Version: $LATEST",
        FIRED,
        METRICS,
        FAILED,
        DROPPED,
        "END RequestId: 1",
        at=now,
    )
    records = list(read_logs(make_env(tmp_path), since=parse_since("10m", now)))
    assert [(r.task, r.outcome) for r in records] == [
        ("load-trades", "fired"),
        ("notify", "failed"),
        (None, "catchup_dropped"),
    ]
    assert records[0].row()[1:] == ["load-trades", "fired", "1", "42 ms", "m-1"]
    assert records[1].row()[1:] == ["notify", "failed", "3", "900 ms", "AccessDenied: not allowed"]
    only = list(read_logs(make_env(tmp_path), "notify", since=parse_since("10m", now)))
    assert [r.outcome for r in only] == ["failed"]


def test_logs_since_leaves_older_lines_out(log_stream: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    log_stream(FIRED, at=datetime(2026, 1, 1, tzinfo=UTC))
    log_stream(FAILED, at=now)
    records = list(read_logs(make_env(tmp_path), since=parse_since("1h", now)))
    assert [r.task for r in records] == ["notify"]


def test_follow_polls_for_new_lines(log_stream: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    log_stream(FIRED, at=now)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        log_stream(FAILED, at=now)  # arrives while waiting; the line already seen is not repeated

    records = list(
        read_logs(
            make_env(tmp_path),
            since=parse_since("5m", now),
            follow=True,
            sleep=sleep,
            poll_seconds=2.0,
            polls=1,
        )
    )
    assert [r.task for r in records] == ["load-trades", "notify"]
    assert sleeps == [2.0]


def test_logs_of_an_env_not_deployed(aws, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="log group /aws/lambda/lambdacron-dev does not exist"):
        list(read_logs(make_env(tmp_path)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2026, 12, 4, 9, 30, tzinfo=UTC)),
        ("1h", datetime(2026, 12, 4, 9, 0, tzinfo=UTC)),
        ("2d", datetime(2026, 12, 2, 10, 0, tzinfo=UTC)),
        (" 45 s ", datetime(2026, 12, 4, 9, 59, 15, tzinfo=UTC)),
        ("2026-12-04T08:00:00Z", datetime(2026, 12, 4, 8, 0, tzinfo=UTC)),
        ("2026-12-04T08:00", datetime(2026, 12, 4, 8, 0, tzinfo=UTC)),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    assert parse_since(text, datetime(2026, 12, 4, 10, 0, tzinfo=UTC)) == expected


def test_a_bad_since_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--since 'yesterday': expected a duration such as 30m"):
        parse_since("yesterday", datetime(2026, 12, 4, tzinfo=UTC))


def test_lines_that_are_not_records() -> None:
    assert parse_line("REPORT RequestId: 1 Duration: 3 ms", 0) is None
    assert parse_line(METRICS, 0) is None
    assert parse_line(line(event="fanout", batches=2), 0) is None
    assert parse_line("{broken", 0) is None
    assert parse_line(FIRED, 0, task="other") is None
    assert parse_line(FIRED, 0) == LogRecord(
        time="1970-01-01 00:00:00",
        task="load-trades",
        outcome="fired",
        attempts=1,
        duration_ms=42,
        response_id="m-1",
        error=None,
        scheduled="2026-12-04T10:07:00Z",
    )


# ---------------------------------------------------------------------------------------------
# run --remote


def queue_lambda_answer(aws: Any, *answers: str) -> None:
    """moto's Docker-free Lambda answers invokes from this queue, in order."""
    requests.post(
        f"{aws.url}/moto-api/static/lambda-simple/response",
        json={"results": list(answers), "region": "us-east-1"},
        timeout=10,
    ).raise_for_status()


def test_run_remote_returns_the_summary(aws, tmp_path: Path) -> None:
    env, _ = deployed(tmp_path)
    summary = {
        "env": "dev",
        "manifest_version": 1,
        "outcomes": [{"task": "load-trades", "status": "fired"}],
    }
    queue_lambda_answer(aws, json.dumps(summary))
    assert invoke_remote_run(env, "load-trades") == summary


@pytest.mark.parametrize("answer", ["Simple Lambda happy path OK", '{"statusCode": 200}'])
def test_run_remote_refuses_an_answer_that_is_not_a_summary(
    aws, tmp_path: Path, answer: str
) -> None:
    env, _ = deployed(tmp_path)
    queue_lambda_answer(aws, answer)
    with pytest.raises(StoreError, match=re.escape(f"answered {answer!r}, not a run summary")):
        invoke_remote_run(env, "load-trades")


def test_cli_run_remote_prints_the_deployed_outcome(aws, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lambdacron.cli import app
    from tests.helpers import write_project

    deployed(tmp_path)
    write_project(tmp_path, {"envs/dev.yml": f"region: us-east-1\nstore: file://{tmp_path}/s\n"})
    fired = {
        "task": "load-trades",
        "scheduled": "2026-12-04T10:07:00Z",
        "status": "fired",
        "response_id": "m-1",
        "attempts": 1,
        "duration_ms": 12.0,
        "error": None,
    }
    summary = {
        "env": "dev",
        "manifest_version": 1,
        "minutes": ["2026-12-04T10:07:00Z"],
        "outcomes": [fired],
        "counts": {"due": 1, "fired": 1, "failed": 0},
    }
    queue_lambda_answer(aws, json.dumps(summary))
    result = CliRunner().invoke(
        app, ["run", "--env", "dev", "load-trades", "--remote", "--project", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "load-trades" in result.stdout and "fired" in result.stdout
    queue_lambda_answer(
        aws, json.dumps({**summary, "outcomes": [{**fired, "status": "failed", "error": "boom"}]})
    )
    failed = CliRunner().invoke(
        app, ["run", "--env", "dev", "load-trades", "--remote", "--project", str(tmp_path)]
    )
    assert failed.exit_code == 1
    assert "task load-trades: failed: boom" in failed.stderr
