"""Secrets end to end: a project whose HTTP task sends ``secret("ssm:/app/token")`` in a header is
rendered, published to the local store and fired (``run``, ``tick --fire``, ``run --published``
and the Lambda handler with a dead-letter queue), once answered and once refused by a server
that echoes the secret back. The header that reaches the server holds the real value; nothing
lambdacron writes does: rendered files, manifests, store, CLI output, log lines, logging
records, the handler's summary, the DLQ message and the target's error message.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import boto3
import pytest
from typer.testing import CliRunner

from lambdacron.cli import app
from lambdacron.runtime import handler
from lambdacron.runtime.secrets import MASK

pytestmark = [pytest.mark.hardening, pytest.mark.aws]

# Characters that URL- and JSON-encoding change, so that every encoded form is looked for.
SECRET = "s3cr3t/T0k+n 9Xq"
FORMS = {SECRET, quote(SECRET, safe=""), quote_plus(SECRET), json.dumps(SECRET)[1:-1]}
REFERENCE = "${lambdacron:secret:ssm:/app/token}"
AT = "2026-12-05T17:00Z"

TEMPLATE = """\
name: hook
expression: "0 17 * * *"
retries: 1
task:
  type: http
  method: POST
  url: "{{ hook }}/hook"
  headers:
    Authorization: {{ ("Bearer " ~ secret("ssm:/app/token")) | tojson }}
  json:
    at: {{ scheduled_time("%Y-%m-%dT%H:%M") | tojson }}
"""

runner = CliRunner()


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def files_under(root: Path) -> Iterator[tuple[str, str]]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            yield str(path.relative_to(root)), path.read_bytes().decode("utf-8", "replace")


class Seen:
    """Everything lambdacron said or wrote during the test, by where it was found."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def cli(self, root: Path, *args: str, exit_code: int = 0) -> Any:
        result = runner.invoke(app, [*args, "--project", str(root)])
        self.texts.append((f"`{' '.join(args)}` output", result.output))
        assert result.exit_code == exit_code, result.output
        return result

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def leaking(self) -> list[str]:
        return [where for where, text in self.texts if leaks(text)]


@pytest.fixture
def project(tmp_path: Path, http_server: Any) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs/dev.yml").write_text(f"vars:\n  hook: {http_server.url}\n")
    (tmp_path / "templates/hook.yml.j2").write_text(TEMPLATE)
    return tmp_path


def handler_run(
    root: Path, monkeypatch: pytest.MonkeyPatch, dlq_url: str, seen: Seen, capsys: Any
) -> dict[str, Any]:
    """One scheduled invocation of the Lambda handler on the published manifest."""
    monkeypatch.setenv("LAMBDACRON_STORE", f"file://{root / '.lambdacron/store'}")
    monkeypatch.setenv("LAMBDACRON_ENV", "dev")
    monkeypatch.setenv("LAMBDACRON_DLQ_URL", dlq_url)
    handler.reset()
    try:
        summary = handler.handler(
            {"time": "2026-12-05T17:00:00Z", "detail-type": "Scheduled Event"}
        )
    finally:
        handler.reset()
    output = capsys.readouterr()
    seen.add("handler log lines", output.out + output.err)
    seen.add("handler summary", json.dumps(summary))
    return summary


def test_no_secret_value_anywhere_but_in_the_request(
    project: Path,
    aws: Any,
    http_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    boto3.client("ssm").put_parameter(Name="/app/token", Value=SECRET, Type="SecureString")
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="lambdacron-dlq")["QueueUrl"]
    seen = Seen()

    seen.cli(project, "render", "--env", "dev")
    seen.cli(project, "publish", "--env", "dev", "--yes", "-m", "first")
    seen.cli(project, "run", "--env", "dev", "hook", "--at", AT)
    seen.cli(project, "tick", "--env", "dev", "--at", AT, "--fire", "-o", "json")
    seen.cli(project, "run", "--env", "dev", "hook", "--at", AT, "--published")
    handler_run(project, monkeypatch, dlq_url, seen, capsys)
    answered = len(http_server.requests)

    # the target refuses, quoting the token it was sent
    http_server.status = 500
    http_server.response_body = json.dumps({"error": f"token {SECRET} revoked"}).encode()
    failed = seen.cli(project, "run", "--env", "dev", "hook", "--at", AT, exit_code=1)
    seen.cli(project, "tick", "--env", "dev", "--at", AT, "--fire", exit_code=1)
    summary = handler_run(project, monkeypatch, dlq_url, seen, capsys)
    messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    for message in messages:
        seen.add("DLQ message", message["Body"])
    seen.add("logging records", "\n".join(r.getMessage() for r in caplog.records))
    for where, text in files_under(project):
        seen.add(where, text)

    assert seen.leaking() == []
    # ...and the value was there to be found: every request carried it
    assert answered == 4
    assert {r.headers["Authorization"] for r in http_server.requests} == {f"Bearer {SECRET}"}
    # the reference, not the value, is what the files and the DLQ keep
    assert REFERENCE in (project / "build/dev/tasks/hook.yml").read_text()
    assert REFERENCE in (project / ".lambdacron/store/dev/manifest.json").read_text()
    (dead,) = messages
    assert json.loads(dead["Body"])["request"]["headers"]["Authorization"] == f"Bearer {REFERENCE}"
    # the server's answer is quoted, with the token masked
    assert f"token {MASK} revoked" in failed.stderr
    (outcome,) = summary["outcomes"]
    assert outcome["status"] == "failed" and f"token {MASK} revoked" in outcome["error"]
    assert f"token {MASK} revoked" in json.loads(dead["Body"])["error"]


# ---------------------------------------------------------------------------------------------
# Leaks found by trying: SDK debug logging, an answer cut through a secret, requests' URL quoting

URL_TEMPLATE = TEMPLATE.replace(
    'url: "{{ hook }}/hook"', "url: \"{{ hook }}/hook?token={{ secret('ssm:/app/token') }}\""
)


def hook_project(root: Path, hook: str, template: str = TEMPLATE) -> Path:
    (root / "templates").mkdir()
    (root / "envs").mkdir()
    (root / "envs/dev.yml").write_text(f"vars:\n  hook: {hook}\n")
    (root / "templates/hook.yml.j2").write_text(template)
    boto3.client("ssm").put_parameter(Name="/app/token", Value=SECRET, Type="SecureString")
    return root


def test_debug_logging_of_the_aws_sdk_does_not_carry_the_secret(
    tmp_path: Path, aws: Any, http_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    root = hook_project(tmp_path, http_server.url)
    caplog.set_level(logging.DEBUG)
    Seen().cli(root, "run", "--env", "dev", "hook", "--at", AT)
    assert [r.name for r in caplog.records if leaks(r.getMessage())] == []
    assert len(http_server.requests) == 1


def test_no_part_of_the_secret_survives_the_truncated_error_body(
    tmp_path: Path, aws: Any, http_server: Any
) -> None:
    root = hook_project(tmp_path, http_server.url)
    http_server.status = 500
    http_server.response_body = ("x" * 292 + SECRET).encode()  # cut at 300: 8 of its 16 chars
    result = Seen().cli(root, "run", "--env", "dev", "hook", "--at", AT, exit_code=1)
    assert SECRET[:8] not in result.output
    assert "x" * 292 + MASK in result.output


def test_a_secret_in_the_url_of_an_unreachable_target_is_masked(tmp_path: Path, aws: Any) -> None:
    root = hook_project(tmp_path, "http://127.0.0.1:9", URL_TEMPLATE)
    result = Seen().cli(root, "run", "--env", "dev", "hook", "--at", AT, exit_code=1)
    assert "s3cr3t" not in result.output
    assert "http://127.0.0.1:9/hook?token=*** failed: ConnectionError" in result.output
