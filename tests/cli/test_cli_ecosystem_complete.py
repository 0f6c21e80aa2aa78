"""Shell completion callbacks: called directly with a click context, and through typer's own
completion machinery on a small app wired the way the CLI wires them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
import typer.core
from typer.testing import CliRunner

from lambdacron.cli.complete import complete_env, complete_task
from tests.helpers import BATCH_TEMPLATE, REPO, simple_project, write_project


def context(**params: Any) -> typer.Context:
    ctx = typer.Context(typer.core.TyperCommand("next"))
    ctx.params = params
    return ctx


def three_envs(root: Path) -> Path:
    return simple_project(
        root,
        **{
            "envs/_base.yml": "vars:\n  batch: {queue: q}\n",
            "envs/prod.yml": "extends: _base\n",
            "envs/preprod.yaml": "extends: _base\n",
            "templates/report.yml.j2": BATCH_TEMPLATE.format(name="report", expression="@daily"),
        },
    )


def test_envs_of_the_project_given_with_project(tmp_path: Path) -> None:
    three_envs(tmp_path)
    assert complete_env(context(project=tmp_path), "") == ["dev", "preprod", "prod"]
    assert complete_env(context(project=tmp_path), "pr") == ["preprod", "prod"]
    assert complete_env(context(project=str(tmp_path)), "d") == ["dev"]
    assert complete_env(context(project=tmp_path), "_") == []  # bases are not environments


def test_envs_of_the_project_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_envs(tmp_path)
    (tmp_path / "templates/sub").mkdir()
    monkeypatch.chdir(tmp_path / "templates/sub")
    assert complete_env(context(project=None), "") == ["dev", "preprod", "prod"]
    assert complete_env(context(), "") == ["dev", "preprod", "prod"]


def test_no_project_means_no_envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert complete_env(context(), "") == []
    assert complete_env(context(project=tmp_path / "missing"), "") == []


def test_a_broken_settings_file_means_no_envs(tmp_path: Path) -> None:
    three_envs(tmp_path)
    (tmp_path / "lambdacron.yml").write_text("templates: [not, a, path]\n", encoding="utf-8")
    assert complete_env(context(project=tmp_path), "") == []


def test_tasks_of_the_rendered_env(tmp_path: Path) -> None:
    three_envs(tmp_path)
    assert complete_task(context(project=tmp_path, env="prod"), "") == [
        ("job", "0 17 5 * *"),
        ("report", "@daily"),
    ]
    assert complete_task(context(project=tmp_path, env="prod"), "re") == [("report", "@daily")]


def test_tasks_show_their_description_and_see_set_overrides(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "envs/dev.yml": "vars:\n  names: [a]\n",
            "templates/many.yml.j2": """\
            {% for n in names %}
            ---
            name: task-{{ n }}
            expression: "@hourly"
            description: Task {{ n }}
            task: {type: http, url: "http://127.0.0.1:9/", method: GET}
            {% endfor %}
            """,
        },
    )
    assert complete_task(context(project=tmp_path, env="dev"), "") == [("task-a", "Task a")]
    with_set = context(project=tmp_path, env="dev", set_=["names=[a, b]"])
    assert complete_task(with_set, "task-") == [("task-a", "Task a"), ("task-b", "Task b")]


def test_example_project_tasks() -> None:
    names = [name for name, _ in complete_task(context(project=REPO, env="prod"), "load-")]
    assert names == ["load-positions", "load-prices", "load-trades"]


@pytest.mark.parametrize(
    "params",
    [
        {},  # no --env yet
        {"env": ""},
        {"env": "nope"},  # unknown env
        {"env": "_base"},  # abstract
        {"env": "dev", "set_": ["not-a-set"]},  # bad --set
    ],
)
def test_without_a_usable_env_there_are_no_tasks(tmp_path: Path, params: dict[str, Any]) -> None:
    three_envs(tmp_path)
    assert complete_task(context(project=tmp_path, **params), "") == []


def test_a_template_that_does_not_render_gives_no_tasks_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three_envs(tmp_path)
    (tmp_path / "templates/bad.yml.j2").write_text("{{ nope }}\n", encoding="utf-8")
    assert complete_task(context(project=tmp_path, env="dev"), "") == []
    assert capsys.readouterr() == ("", "")


# Through typer: the signatures are what typer's ``autocompletion=`` expects.

demo = typer.Typer()


@demo.command("next")
def _next(
    env: Annotated[str, typer.Option("--env", autocompletion=complete_env)],
    task: Annotated[str | None, typer.Argument(autocompletion=complete_task)] = None,
    project: Annotated[Path | None, typer.Option("--project")] = None,
) -> None:
    """A stand-in for a lambdacron command."""


@demo.command("other")
def _other() -> None:
    """A second command, so that ``demo`` is a group like the real CLI."""


def complete(shell_line: str) -> list[str]:
    words = shell_line.split(" ")
    result = CliRunner().invoke(
        demo,
        [],
        prog_name="demo",
        env={
            "_DEMO_COMPLETE": "complete_bash",
            "COMP_WORDS": shell_line,
            "COMP_CWORD": str(len(words) - 1),
        },
    )
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_typer_completes_envs_and_tasks(tmp_path: Path) -> None:
    three_envs(tmp_path)
    assert complete(f"demo next --project {tmp_path} --env ") == ["dev", "preprod", "prod"]
    assert complete(f"demo next --project {tmp_path} --env pre") == ["preprod"]
    assert complete(f"demo next --project {tmp_path} --env prod ") == ["job", "report"]
    assert complete(f"demo next --project {tmp_path} --env prod r") == ["report"]
