from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lambdacron.cli import app
from tests.helpers import BATCH_TEMPLATE, REPO, simple_project

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def test_render_writes_build_folder(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = run("render", "--env", "dev", "--project", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "build/dev/tasks/job.yml").is_file()
    assert (
        json.loads((tmp_path / "build/dev/manifest.json").read_text())["tasks"][0]["name"] == "job"
    )
    assert "Rendered 1 tasks for env dev into build/dev/" in result.stderr


def test_render_stdout_writes_nothing(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = run("render", "--env", "dev", "--stdout", "--project", str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.startswith("---\n# Source: templates/job.yml.j2\nname: job\n")
    assert not (tmp_path / "build").exists()


def test_render_with_set_override(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = run(
        "render",
        "--env",
        "dev",
        "--stdout",
        "--set",
        "batch.queue=override-q",
        "--project",
        str(tmp_path),
    )
    assert "jobQueue: override-q" in result.stdout


def test_invalid_project_exits_1_writes_nothing_and_counts(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{"templates/bad.yml.j2": BATCH_TEMPLATE.format(name="bad", expression="0 17 5 * * *")},
    )
    result = run("render", "--env", "dev", "--project", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        'build/dev/tasks/bad.yml:3: expression "0 17 5 * * *": 6 fields; crontab takes 5 (minute hour day month weekday)'
    )
    assert result.stderr.splitlines()[-1] == "1 error in 1 file (env dev). Nothing was written."
    assert not (tmp_path / "build").exists()
    assert "Traceback" not in result.output


def test_validate_all_envs_on_the_repository_example() -> None:
    result = run("validate", "--all-envs", "--project", str(REPO))
    assert result.exit_code == 0, result.output
    assert "env dev: " in result.stderr and "env prod: " in result.stderr


def test_validate_github_annotations(tmp_path: Path) -> None:
    simple_project(tmp_path, **{"templates/bad.yml.j2": "{{ nope }}"})
    result = run("validate", "--env", "dev", "--output", "github", "--project", str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout.startswith("::error file=templates/bad.yml.j2,line=1::'nope' is undefined")


def test_validate_needs_an_env(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = run("validate", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert "pass --env ENV or --all-envs" in result.stderr


def test_unknown_env_is_exit_2(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = run("list", "--env", "dve", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert "(did you mean 'dev'?)" in result.stderr


def test_list_plain_text_and_json(tmp_path: Path) -> None:
    simple_project(tmp_path)
    text = run("list", "--env", "dev", "--project", str(tmp_path))
    assert text.exit_code == 0, text.output
    header, row = text.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "TYPE",
        "EXPRESSION",
        "SCHEDULE",
        "TIMEZONE",
        "ENABLED",
        "NEXT",
        "RUN",
    ]
    assert row.startswith("job   batch  0 17 5 * *  At 17:00, on day 5 of the month  UTC")
    data = json.loads(
        run("list", "--env", "dev", "--output", "json", "--project", str(tmp_path)).stdout
    )
    assert data[0]["name"] == "job" and data[0]["next_run"].endswith("17:00:00+00:00")


def test_next_from_a_given_time_in_the_task_zone(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{"envs/dev.yml": "defaults: {timezone: Europe/Madrid}\nvars:\n  batch: {queue: q}\n"},
    )
    result = run(
        "next",
        "--env",
        "dev",
        "job",
        "-n",
        "2",
        "--from",
        "2026-12-04T00:00Z",
        "--output",
        "json",
        "--project",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["next"] == [
        "2026-12-05T17:00:00+01:00",
        "2027-01-05T17:00:00+01:00",
    ]


def test_next_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = run("next", "--env", "dev", "--from", "tomorrow", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert "--from 'tomorrow': not an ISO time" in result.stderr


def test_init_scaffolds_a_project_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / ".gitignore").read_text() == "build/\n.lambdacron/\n"
    check = run("validate", "--all-envs", "--project", str(target))
    assert check.exit_code == 0, check.output
    assert json.loads((target / ".lambdacron/task.schema.json").read_text())["$schema"]
    rendered = run("render", "--env", "dev", "--project", str(target))
    assert rendered.exit_code == 0, rendered.output
    assert (target / "build/dev/tasks/monthly-report.yml").read_text().splitlines()[:2] == [
        "# Source: templates/monthly-report.yml.j2",
        "# yaml-language-server: $schema=../../../.lambdacron/task.schema.json",
    ]
    (target / "templates/monthly-report.yml.j2").write_text('name: m\nexpression: "0 17 5 * * *"\n')
    bad = run("validate", "--env", "dev", "--project", str(target))
    assert bad.stderr.splitlines()[:2] == [
        "build/dev/tasks/m.yml:3: task is missing required key 'task' (add task: what to do: a type "
        "and the keys of that type)",
        "  rendered from templates/monthly-report.yml.j2",
    ]
    assert bad.stderr.splitlines()[2].startswith("build/dev/tasks/m.yml:4: expression")
    again = run("init", str(target))
    assert again.exit_code == 2 and "already exist" in again.stderr


def test_schema_is_json(tmp_path: Path) -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["$schema"].startswith("https://json-schema.org/draft/2020-12")
    assert json.loads(run("schema", "--output", "json").stdout) == json.loads(result.stdout)
    assert run("schema", "--output", "yaml").exit_code == 2


@pytest.mark.parametrize("variable", ["NO_COLOR"])
def test_no_color_output_has_no_escape_codes(tmp_path: Path, variable: str) -> None:
    simple_project(tmp_path, **{"templates/bad.yml.j2": "{{ nope }}"})
    result = run("validate", "--env", "dev", "--project", str(tmp_path), env={variable: "1"})
    assert "\x1b[" not in result.output
