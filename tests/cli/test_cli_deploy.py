"""package, template, deploy, status, logs and destroy through the CLI, on projects built in
tmp_path, against the moto server for everything that reaches AWS."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from lambdacron.cli import app
from lambdacron.deploy import invoke_remote_run
from lambdacron.project import find_project, load_env
from tests.helpers import write_project

runner = CliRunner()

QUEUE_TEMPLATE = """\
name: load-trades
expression: "30 2 * * *"
task:
  type: queue
  QueueName: {{ queue }}
  MessageBody:
    table: trades
"""


def project(root: Path, env_text: str = "region: us-east-1\n") -> Path:
    return write_project(
        root,
        {
            "templates/load.yml.j2": QUEUE_TEMPLATE,
            "envs/dev.yml": env_text + "vars:\n  queue: finp-loads\n",
        },
    )


def run(root: Path, *args: str) -> Any:
    return runner.invoke(app, [*args, "--project", str(root)])


def test_package_writes_the_zip_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "dist" / "scheduler.zip"
    result = runner.invoke(app, ["package", "--out", str(out), "--output", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"] == str(out)
    assert data["size"] == out.stat().st_size
    assert "requests==" in " ".join(data["distributions"])
    assert "lambdacron/runtime/handler.py" in zipfile.ZipFile(out).namelist()
    text = runner.invoke(app, ["package", "--out", str(tmp_path / "again.zip")])
    assert text.exit_code == 0
    assert data["sha256"] in text.stdout
    assert f"{data['size']:,} bytes" in text.stdout


def test_template_prints_the_stack(tmp_path: Path) -> None:
    root = project(tmp_path, "region: us-east-1\ndeploy:\n  memory_size: 512\n")
    result = run(root, "template", "--env", "dev")
    assert result.exit_code == 0, result.output
    template = yaml.safe_load(result.stdout)
    function = template["Resources"]["SchedulerFunction"]["Properties"]
    assert function["MemorySize"] == 512
    statements = template["Resources"]["SchedulerRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    queue_arn = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:finp-loads"}
    assert any("sqs:SendMessage" in s["Action"] and queue_arn in s["Resource"] for s in statements)
    as_json = run(root, "template", "--env", "dev", "--format", "json")
    assert json.loads(as_json.stdout) == template
    output_json = run(root, "template", "--env", "dev", "--output", "json")
    assert json.loads(output_json.stdout) == template


def test_bad_deploy_settings_exit_1(tmp_path: Path) -> None:
    root = project(tmp_path, "region: us-east-1\ndeploy:\n  memory_size: 64\n")
    result = run(root, "template", "--env", "dev")
    assert result.exit_code == 1
    assert "deploy.memory_size must be between 128 and 10240, not 64" in result.stderr


@pytest.mark.aws
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_deploy_status_logs_destroy(aws, tmp_path: Path) -> None:
    root = project(tmp_path)
    refused = run(root, "deploy", "--env", "dev")
    assert refused.exit_code == 2
    assert "No terminal to ask on: pass --yes to confirm." in refused.stderr
    stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(stack["StackStatus"] == "DELETE_COMPLETE" for stack in stacks)

    deployed = run(root, "deploy", "--env", "dev", "--yes")
    assert deployed.exit_code == 0, deployed.output
    assert "Change set for stack lambdacron-dev (account 123456789012, us-east-1):" in (
        deployed.stderr
    )
    assert "Add  SchedulerFunction" in deployed.stderr
    assert "CREATE_COMPLETE" in deployed.stderr
    outputs = dict(line.split(None, 1) for line in deployed.stdout.splitlines()[1:])
    assert outputs["FunctionName"] == "lambdacron-dev"
    assert outputs["Store"].startswith("s3://lambdacron-dev-manifestbucket-")
    assert f"set `store: {outputs['Store']}` in envs/dev.yml" in deployed.stderr

    unchanged = run(root, "deploy", "--env", "dev", "--yes")
    assert unchanged.exit_code == 0
    assert "No changes: stack lambdacron-dev is up to date." in unchanged.stderr

    status = run(root, "status", "--env", "dev")
    assert status.exit_code == 0, status.output
    assert status.stdout.splitlines()[:5] == [
        "stack      lambdacron-dev (123456789012, us-east-1): CREATE_COMPLETE",
        "manifest   nothing published",
        "processed  no minute yet",
        "settings   as the env file says",
        "permissions cover the live manifest",
    ]
    as_json = json.loads(run(root, "status", "--env", "dev", "--output", "json").stdout)
    assert as_json["status"] == "CREATE_COMPLETE"
    assert as_json["outputs"]["FunctionName"] == "lambdacron-dev"

    logs = boto3.client("logs")
    logs.create_log_stream(logGroupName="/aws/lambda/lambdacron-dev", logStreamName="s")
    line = {
        "level": "info",
        "event": "task_fired",
        "task": "load-trades",
        "status": "fired",
        "attempts": 1,
        "duration_ms": 12,
        "response_id": "m-1",
    }
    logs.put_log_events(
        logGroupName="/aws/lambda/lambdacron-dev",
        logStreamName="s",
        logEvents=[
            {"timestamp": int(datetime.now(UTC).timestamp() * 1000), "message": json.dumps(line)}
        ],
    )
    table = run(root, "logs", "--env", "dev", "--since", "30m")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split() == [
        "time",
        "task",
        "outcome",
        "attempts",
        "duration",
        "response",
        "id",
        "/",
        "error",
    ]
    assert table.stdout.splitlines()[1].split()[2:] == [
        "load-trades",
        "fired",
        "1",
        "12",
        "ms",
        "m-1",
    ]
    other = run(root, "logs", "--env", "dev", "other-task")
    assert other.exit_code == 0
    assert other.stdout == ""
    assert "No scheduler lines since" in other.stderr
    records = json.loads(run(root, "logs", "--env", "dev", "--output", "json").stdout)
    assert [r["task"] for r in records] == ["load-trades"]

    destroyed = run(root, "destroy", "--env", "dev", "--yes")
    assert destroyed.exit_code == 0, destroyed.output
    assert "Stack lambdacron-dev deleted." in destroyed.stderr
    gone = run(root, "status", "--env", "dev")
    assert gone.stdout.splitlines() == [
        "stack      lambdacron-dev (123456789012, us-east-1): NOT_DEPLOYED",
        "           not deployed: run `lambdacron deploy --env dev`",
    ]


@pytest.mark.aws
def test_the_account_pin_exits_3(aws, tmp_path: Path) -> None:
    root = project(tmp_path, 'region: us-east-1\naccount: "210987654321"\n')
    for command in (["deploy", "--yes"], ["destroy", "--yes"], ["status"], ["logs"]):
        result = run(root, *command, "--env", "dev")
        assert result.exit_code == 3, (command, result.output)
        assert "env dev is pinned to AWS account 210987654321" in result.stderr


def test_a_bad_since_exits_2(tmp_path: Path) -> None:
    result = run(project(tmp_path), "logs", "--env", "dev", "--since", "soon")
    assert result.exit_code == 2
    assert "--since 'soon': expected a duration such as 30m, 1h or 2d" in result.stderr


@pytest.mark.aws
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_invoke_remote_run_for_the_run_command(aws, tmp_path: Path) -> None:
    import requests

    root = project(tmp_path)
    assert run(root, "deploy", "--env", "dev", "--yes").exit_code == 0
    summary = {
        "env": "dev",
        "manifest_version": 3,
        "minutes": ["2026-12-04T10:00:00Z"],
        "outcomes": [{"task": "load-trades", "status": "fired"}],
        "counts": {"fired": 1},
    }
    requests.post(
        f"{aws.url}/moto-api/static/lambda-simple/response",
        json={"results": [json.dumps(summary)], "region": "us-east-1"},
        timeout=10,
    ).raise_for_status()
    env = load_env(find_project(root), "dev")
    assert invoke_remote_run(env, "load-trades") == summary
