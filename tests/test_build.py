from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdacron.build import build_env, write_build
from lambdacron.errors import InvalidInputError
from lambdacron.project import find_project, load_env
from lambdacron.runtime.manifest import loads
from tests.helpers import BATCH_TEMPLATE, REPO, simple_project, write_project


def build(root: Path, env: str = "dev"):
    project = find_project(root)
    return build_env(project, load_env(project, env))


def errors(root: Path, env: str = "dev") -> list[str]:
    with pytest.raises(InvalidInputError) as info:
        build(root, env)
    return [str(d) for d in info.value.diagnostics]


def test_repository_example_renders_the_finp_reports_from_one_template() -> None:
    result = build(REPO, "prod")
    names = [t.name for t in result.manifest.tasks]
    assert {"weekly-report", "monthly-report"} <= set(names)
    monthly = result.manifest.task("monthly-report")
    assert monthly is not None
    assert monthly.expression == "0 17 5 * *"
    assert monthly.source == "templates/monthly-report.yml.j2"
    assert monthly.timezone == "America/New_York"
    assert monthly.target["jobQueue"] == "finp-reports-prod"
    assert monthly.target["parameters"]["run_date"] == "${lambdacron:scheduled_time:%Y-%m-%d}"
    assert {t.type for t in result.manifest.tasks} == {
        "batch",
        "queue",
        "lambda",
        "athena",
        "http",
        "sns",
        "stepfunctions",
        "eventbridge",
    }
    heartbeat = result.manifest.task("heartbeat")
    assert heartbeat is not None
    assert (
        heartbeat.target["headers"]["Authorization"]
        == "Bearer ${lambdacron:secret:ssm:/finp/heartbeat-token}"
    )


def test_rendered_file_is_headed_by_its_source(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = build(tmp_path)
    (file,) = result.files
    assert file.path == "build/dev/tasks/job.yml"
    assert file.text.startswith("# Source: templates/job.yml.j2\nname: job\n")


def test_write_build_writes_tasks_and_manifest(tmp_path: Path) -> None:
    simple_project(tmp_path)
    result = build(tmp_path)
    out = write_build(result, tmp_path / "build" / "dev")
    assert (out / "tasks" / "job.yml").read_text().startswith("# Source: templates/job.yml.j2")
    manifest = loads((out / "manifest.json").read_bytes())
    assert manifest.digest == result.manifest.digest
    assert [t.name for t in manifest.tasks] == ["job"]


def test_multi_document_templates_give_several_tasks_and_skip_empty_ones(tmp_path: Path) -> None:
    docs = (
        "---\n"
        + BATCH_TEMPLATE.format(name="a", expression="@daily")
        + "---\n---\n"
        + BATCH_TEMPLATE.format(name="b", expression="@hourly")
    )
    simple_project(tmp_path, **{"templates/job.yml.j2": docs})
    assert [t.name for t in build(tmp_path).manifest.tasks] == ["a", "b"]


def test_defaults_merge_under_tasks(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{
            "envs/dev.yml": "defaults: {timezone: Europe/Madrid, retries: 5}\nvars:\n  batch: {queue: q}\n"
        },
    )
    (task,) = build(tmp_path).manifest.tasks
    assert (task.timezone, task.retries, task.enabled) == ("Europe/Madrid", 5, True)


def test_errors_point_at_the_rendered_file_line_and_name_the_template(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{"templates/job.yml.j2": BATCH_TEMPLATE.format(name="job", expression="0 17 5 * * *")},
    )
    assert errors(tmp_path) == [
        'build/dev/tasks/job.yml:3: expression "0 17 5 * * *": 6 fields; crontab takes 5 (minute hour day month weekday)\n'
        "  rendered from templates/job.yml.j2"
    ]


def test_every_error_of_every_file_is_reported(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{
            "templates/a.yml.j2": BATCH_TEMPLATE.format(name="a", expression="61 * * * *"),
            "templates/b.yml.j2": "name: b\nexpression: '@daily'\ntask: {type: bach}\n",
            "templates/c.yml.j2": "{{ undefined_name }}",
        },
    )
    found = errors(tmp_path)
    assert len(found) == 3
    assert found[0].startswith("templates/c.yml.j2:1: 'undefined_name' is undefined")
    assert found[1].startswith("build/dev/tasks/a.yml:3: ")
    assert found[2].startswith("build/dev/tasks/b.yml:4: ")


def test_duplicate_names_across_files_and_case_folding(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{
            "templates/other.yml.j2": BATCH_TEMPLATE.format(name="job", expression="@daily"),
            "templates/upper.yml.j2": BATCH_TEMPLATE.format(name="JOB", expression="@daily"),
        },
    )
    assert errors(tmp_path) == [
        "build/dev/tasks/job.yml:2: duplicate task name 'job' (first defined in templates/job.yml.j2; "
        "rename one of them)\n  rendered from templates/other.yml.j2",
        "build/dev/tasks/JOB.yml:2: task name 'JOB' collides with 'job' (names must differ by more than "
        "case) (first defined in templates/job.yml.j2; rename one of them)\n  rendered from templates/upper.yml.j2",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "expression: */5 * * * *",
            "build/dev/tasks/t.yml:3: invalid YAML: did not find expected alphabetic or "
            "numeric character (a value starting with '*' must be quoted: expression: \"*/5 * * * *\")",
        ),
        (
            "expression: '@daily'\nenabled: no",
            "build/dev/tasks/t.yml:4: enabled must be true or false, got a string ('no')",
        ),
        (
            "expression: 1:30",
            'build/dev/tasks/t.yml:3: expression "1:30": 1 field; crontab takes 5',
        ),
    ],
)
def test_yaml_traps_give_clear_errors(tmp_path: Path, line: str, expected: str) -> None:
    simple_project(
        tmp_path,
        **{
            "templates/job.yml.j2": "",
            "templates/t.yml.j2": f"name: t\n{line}\ntask: {{type: http, url: 'http://x', method: GET}}\n",
        },
    )
    found = errors(tmp_path)
    assert found[0].startswith(expected), found


def test_digest_is_stable_under_reordering_and_formatting(tmp_path: Path) -> None:
    one = write_project(
        tmp_path / "one",
        {
            "envs/dev.yml": "",
            "templates/a.yml.j2": "name: a\nexpression: '@daily'\ntask: {type: http, url: 'http://x', method: GET}\n"
            "---\nname: b\nexpression: '@hourly'\ntask: {type: http, url: 'http://y', method: POST}\n",
        },
    )
    two = write_project(
        tmp_path / "two",
        {
            "envs/dev.yml": "",
            "templates/a.yml.j2": '---\ntask:\n  method: POST\n  url: http://y\n  type: http\nexpression: "@hourly"\nname: b\n'
            "---\ntask:\n    url: 'http://x'\n    type: http\n    method: GET\nname: a\nexpression: '@daily'\n",
        },
    )
    digest_one = build(one).manifest.digest
    assert digest_one == build(two).manifest.digest
    assert digest_one.startswith("sha256:")
    changed = write_project(
        tmp_path / "three",
        {
            "envs/dev.yml": "",
            "templates/a.yml.j2": "name: a\nexpression: '@daily'\ntask: {type: http, url: 'http://x', method: GET}\n",
        },
    )
    assert build(changed).manifest.digest != digest_one


def test_manifest_json_has_sorted_keys(tmp_path: Path) -> None:
    simple_project(tmp_path)
    out = write_build(build(tmp_path), tmp_path / "out")
    data = json.loads((out / "manifest.json").read_text())
    assert list(data["tasks"][0]) == sorted(data["tasks"][0])


def test_hash_expressions_are_stored_concrete_and_stable(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{"templates/job.yml.j2": BATCH_TEMPLATE.format(name="job", expression="H H(0-5) * * *")},
    )
    first = build(tmp_path).manifest.tasks[0]
    again = build(tmp_path).manifest.tasks[0]
    assert first.expression == again.expression
    minute, hour, *rest = first.expression.split()
    assert 0 <= int(minute) <= 59 and 0 <= int(hour) <= 5 and rest == ["*", "*", "*"]
    assert first.extra["expression_source"] == "H H(0-5) * * *"


def test_expression_white_space_does_not_change_the_digest(tmp_path: Path) -> None:
    simple_project(
        tmp_path / "a",
        **{"templates/job.yml.j2": BATCH_TEMPLATE.format(name="job", expression="0  17 5 * *")},
    )
    simple_project(tmp_path / "b")
    assert build(tmp_path / "a").manifest.digest == build(tmp_path / "b").manifest.digest
