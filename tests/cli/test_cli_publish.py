"""plan, publish, history and rollback through the CLI, on projects built in tmp_path, against
the local store and against S3 on the moto server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from lambdacron.cli import app
from lambdacron.cli import publish as cli_publish
from lambdacron.runtime.manifest import loads
from lambdacron.runtime.store import Store, open_store
from tests.helpers import BATCH_TEMPLATE, simple_project

BUCKET = "lc-cli"
runner = CliRunner()


class Project:
    def __init__(self, root: Path, store_url: str) -> None:
        self.root = root
        self.store_url = store_url

    def run(self, *args: str) -> Any:
        return runner.invoke(app, [*args, "--project", str(self.root)])

    @property
    def store(self) -> Store:
        return open_store(self.store_url)

    def set_queue(self, queue: str) -> None:
        env = self.root / "envs/dev.yml"
        env.write_text(re.sub(r"\{queue: [^}]*\}", f"{{queue: {queue}}}", env.read_text()))


def make_project(root: Path, store_lines: str = "") -> Path:
    simple_project(root)
    env = root / "envs/dev.yml"
    env.write_text(store_lines + env.read_text())
    return root


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.aws)])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    if request.param == "file":
        return Project(make_project(tmp_path), str(tmp_path / ".lambdacron/store"))
    request.getfixturevalue("aws")
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/manifests"
    return Project(make_project(tmp_path, f"store: {url}\nregion: us-east-1\n"), url)


def test_the_whole_cycle(project: Project) -> None:
    plan = project.run("plan", "--env", "dev")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout == "+ job\n\nPlan: 1 to add, 0 to change, 0 to remove.\n"
    assert "nothing published yet" in plan.stderr
    assert project.run("plan", "--env", "dev", "--exit-code").exit_code == 10

    first = project.run("publish", "--env", "dev", "--yes", "-m", "first")
    assert first.exit_code == 0, first.output
    assert first.stderr.splitlines()[-1].startswith(
        "Published version 1 of env dev: 1 tasks, sha256:"
    )
    assert project.store.list_versions("dev") == [1]

    again = project.run("publish", "--env", "dev", "--yes")
    assert again.exit_code == 0
    assert again.stdout == "Plan: 0 to add, 0 to change, 0 to remove.\n"
    assert again.stderr.splitlines()[-1] == (
        "No changes: env dev is up to date (version 1). Nothing was written."
    )
    assert project.store.list_versions("dev") == [1]
    assert project.run("plan", "--env", "dev", "--exit-code").exit_code == 0

    project.set_queue("q-new")
    changed = project.run("plan", "--env", "dev", "--exit-code")
    assert changed.exit_code == 10
    assert changed.stdout == (
        '~ job\n    task.jobQueue: "q-dev" → "q-new"\n\nPlan: 0 to add, 1 to change, 0 to remove.\n'
    )
    assert project.run("publish", "--env", "dev", "-y", "-m", "new queue").exit_code == 0

    rollback = project.run("rollback", "--env", "dev", "--to", "1", "--yes")
    assert rollback.exit_code == 0, rollback.output
    assert '~ job\n    task.jobQueue: "q-new" → "q-dev"' in rollback.stdout
    assert "Published version 3 of env dev" in rollback.stderr

    table = project.run("history", "--env", "dev").stdout.splitlines()
    assert table[0].split() == [
        "VERSION",
        "STATE",
        "PUBLISHED",
        "BY",
        "MESSAGE",
        "DIGEST",
        "TASKS",
        "GIT",
    ]
    assert [line.split()[0] for line in table[1:]] == ["3", "2", "1"]
    assert table[1].split()[1] == "live" and "live" not in table[2] + table[3]
    assert "rollback of 1" in table[1] and "new queue" in table[2] and "first" in table[3]

    entries = json.loads(project.run("history", "--env", "dev", "--output", "json").stdout)
    assert [(e["version"], e["message"], e["rollback_of"], e["live"]) for e in entries] == [
        (3, "rollback of 1", 1, True),
        (2, "new queue", None, False),
        (1, "first", None, False),
    ]
    assert entries[0]["digest"] == entries[2]["digest"]
    live = project.store.read_live("dev")
    assert live is not None and loads(live.data).version == 3


def test_plan_as_json(project: Project) -> None:
    result = project.run("plan", "--env", "dev", "--output", "json")
    data = json.loads(result.stdout)
    assert data["summary"] == {"add": 1, "change": 0, "remove": 0}
    assert data["added"][0]["task"]["jobQueue"] == "q-dev"
    assert (data["next_version"], data["live_version"], data["has_changes"]) == (1, None, True)


def test_plan_as_github_annotations(project: Project) -> None:
    result = project.run("plan", "--env", "dev", "--output", "github", "--exit-code")
    assert result.exit_code == 10
    assert result.stdout.splitlines()[-2:] == [
        "::notice file=templates/job.yml.j2,title=lambdacron plan (env dev)::+ job added",
        "::notice title=lambdacron plan (env dev)::Plan: 1 to add, 0 to change, 0 to remove.",
    ]
    assert project.run("publish", "--env", "dev", "--yes").exit_code == 0
    project.set_queue("q-other")
    changed = project.run("plan", "--env", "dev", "--output", "github")
    assert changed.stdout.splitlines()[-2] == (
        "::notice file=templates/job.yml.j2,title=lambdacron plan (env dev)::~ job changed: "
        "task.jobQueue"
    )


def test_plan_github_annotations_for_an_invalid_project(project: Project) -> None:
    (project.root / "templates/bad.yml.j2").write_text("{{ nope }}")
    result = project.run("plan", "--env", "dev", "--output", "github")
    assert result.exit_code == 1
    assert result.stdout == (
        "::error file=templates/bad.yml.j2,line=1::'nope' is undefined (define it under `vars:` "
        "in the env file, or pass --set NAME=value)\n"
    )


def test_publish_needs_yes_without_a_terminal(project: Project) -> None:
    result = project.run("publish", "--env", "dev")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Publish version 1 of env dev to " + project.store.url + "? No terminal to ask on: pass "
        "--yes to confirm."
    )
    assert project.store.list_versions("dev") == []


def test_dry_run_writes_nothing(project: Project) -> None:
    result = project.run("publish", "--env", "dev", "--dry-run")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == "Dry run: nothing was written."
    assert project.store.list_versions("dev") == [] and project.store.read_live("dev") is None


@pytest.mark.hardening
def test_an_invalid_project_publishes_nothing(project: Project) -> None:
    bad = BATCH_TEMPLATE.format(name="bad", expression="0 17 5 * * *")
    (project.root / "templates/bad.yml.j2").write_text(bad)
    result = project.run("publish", "--env", "dev", "--yes")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "1 error in 1 file (env dev). Nothing was written."
    assert project.store.list_versions("dev") == []


def test_rollback_to_a_missing_version(project: Project) -> None:
    project.run("publish", "--env", "dev", "--yes")
    result = project.run("rollback", "--env", "dev", "--to", "9", "--yes")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "--to 9: env dev has no version 9 (versions 1 to 1); see `lambdacron history --env dev`"
    )


def test_rollback_to_the_live_content_does_nothing(project: Project) -> None:
    project.run("publish", "--env", "dev", "--yes")
    result = project.run("rollback", "--env", "dev", "--to", "1", "--yes")
    assert result.exit_code == 0
    assert "No changes: env dev is up to date (version 1)" in result.stderr
    assert project.store.list_versions("dev") == [1]


def test_history_of_nothing(project: Project) -> None:
    result = project.run("history", "--env", "dev")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "Nothing published yet for env dev" in result.stderr
    assert project.run("history", "--env", "dev", "--output", "json").stdout == "[]\n"


@pytest.mark.hardening
def test_someone_publishing_during_the_confirmation_exits_4(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.run("publish", "--env", "dev", "--yes")
    project.set_queue("q-mine")

    asked: list[str] = []

    def confirm_while_someone_else_publishes(question: str, yes: bool) -> None:
        if asked:  # the other publisher's own confirmation
            return
        asked.append(question)
        project.set_queue("q-theirs")
        assert project.run("publish", "--env", "dev", "--yes", "-m", "theirs").exit_code == 0
        project.set_queue("q-mine")

    monkeypatch.setattr(cli_publish, "confirm", confirm_while_someone_else_publishes)
    result = project.run("publish", "--env", "dev", "--yes", "-m", "mine")
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1] == (
        "env dev: the live manifest changed while publishing (planned against version 1, now "
        "version 2). Nothing was changed. Run `lambdacron plan --env dev` and publish again."
    )
    assert project.store.list_versions("dev") == [1, 2]
    live = project.store.read_live("dev")
    assert live is not None and loads(live.data).message == "theirs"


# --- AWS failures: one clear line, exit 3, nothing written ------------------------------------


def s3_project(tmp_path: Path, extra: str = "") -> Project:
    url = f"s3://{BUCKET}/manifests"
    return Project(make_project(tmp_path, f"store: {url}\nregion: us-east-1\n{extra}"), url)


@pytest.mark.hardening
@pytest.mark.parametrize("command", [["plan"], ["publish", "--yes"], ["history"]])
def test_an_unreachable_store(tmp_path: Path, command: list[str]) -> None:
    result = s3_project(tmp_path).run(*command, "--env", "dev")
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"s3://{BUCKET}/manifests/dev/manifest.json: cannot reach S3 at http://127.0.0.1:9; check "
        "the network, the env's `region` and AWS_ENDPOINT_URL"
    )


@pytest.mark.aws
@pytest.mark.hardening
def test_a_missing_bucket(aws: object, tmp_path: Path) -> None:
    result = s3_project(tmp_path).run("publish", "--env", "dev", "--yes")
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"s3://{BUCKET}/manifests/dev/manifest.json: bucket '{BUCKET}' does not exist; create it "
        "or fix `store:` in the env file"
    )
    assert BUCKET not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


@pytest.mark.aws
@pytest.mark.hardening
def test_missing_credentials(aws: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = s3_project(tmp_path).run("publish", "--env", "dev", "--yes")
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"s3://{BUCKET}/manifests/dev/manifest.json: no AWS credentials found; set AWS_PROFILE, or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or run `aws sso login`)"
    )
    assert "Contents" not in boto3.client(
        "s3", aws_access_key_id="x", aws_secret_access_key="x"
    ).list_objects_v2(Bucket=BUCKET)


@pytest.mark.aws
@pytest.mark.hardening
def test_an_account_mismatch(aws: object, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    project = s3_project(tmp_path, 'account: "999999999999"\n')
    for command in (
        ["plan"],
        ["publish", "--yes"],
        ["history"],
        ["rollback", "--to", "1", "--yes"],
    ):
        result = project.run(*command, "--env", "dev")
        assert result.exit_code == 3, command
        assert result.stderr.strip() == (
            "env dev is pinned to AWS account 999999999999, but the credentials in use belong to "
            "account 123456789012 (arn:aws:sts::123456789012:user/moto); switch AWS_PROFILE or "
            "credentials, or change `account:` in dev.yml"
        )
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)


@pytest.mark.aws
def test_the_matching_account_publishes_as_the_aws_caller(aws: object, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    project = s3_project(tmp_path, 'account: "123456789012"\n')
    assert project.run("publish", "--env", "dev", "--yes").exit_code == 0
    entries = json.loads(project.run("history", "--env", "dev", "-o", "json").stdout)
    assert entries[0]["published_by"] == "arn:aws:sts::123456789012:user/moto"
