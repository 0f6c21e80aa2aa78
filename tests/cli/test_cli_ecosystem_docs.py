"""The pre-commit hook and the documentation: the hook runs a real command on the right files,
the docs' YAML and JSON parse, every lambdacron command they show exists with those options, and
every example output they show is what the command prints."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lambdacron.cli import app
from tests.helpers import REPO, simple_project

runner = CliRunner()
DOCS = ("docs/ci.md", "docs/editors.md", "docs/calendar.md")


def hook() -> dict[str, object]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    return hooks[0]


def test_hook_definition() -> None:
    found = hook()
    assert found["id"] == "lambdacron-validate"
    assert found["entry"] == "lambdacron validate --all-envs"
    assert found["language"] == "python"
    assert found["pass_filenames"] is False
    assert {"name", "description", "files"} <= set(found)


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("templates/monthly-report.yml.j2", True),
        ("templates/ops/heartbeat.yml.j2", True),
        ("envs/prod.yml", True),
        ("lambdacron.yml", True),
        ("lambdacron.yaml", True),
        ("deploy/cron/templates/_report.yml.j2", True),
        ("deploy/cron/envs/_base.yml", True),
        ("deploy/cron/lambdacron.yml", True),
        ("README.md", False),
        ("lambdacron/render.py", False),
        ("mytemplates/x.yml.j2", False),
        ("tests/test_envs.py", False),
        ("lambdacron.yml.bak", False),
    ],
)
def test_hook_files_pattern(path: str, matches: bool) -> None:
    # pre-commit searches the pattern in each staged path (re.search)
    assert bool(re.search(str(hook()["files"]), path)) is matches


def test_hook_entry_passes_on_a_valid_project_and_blocks_an_invalid_one(tmp_path: Path) -> None:
    program, *args = shlex.split(str(hook()["entry"]))
    assert program == "lambdacron"
    assert runner.invoke(app, [*args, "--project", str(REPO)]).exit_code == 0
    simple_project(tmp_path, **{"templates/bad.yml.j2": "{{ nope }}"})
    assert runner.invoke(app, [*args, "--project", str(tmp_path)]).exit_code == 1


def test_the_local_hook_in_the_docs_matches_the_published_one() -> None:
    config = yaml.safe_load(_blocks("docs/ci.md", "yaml")[-1])
    local = config["repos"][0]["hooks"][0]
    published = hook()
    for key in ("id", "entry", "pass_filenames", "files"):
        assert local[key] == published[key], key


@pytest.mark.parametrize("doc", DOCS)
def test_yaml_and_json_blocks_parse(doc: str) -> None:
    for block in _blocks(doc, "yaml"):
        assert yaml.safe_load(block) is not None
    for block in _blocks(doc, "json"):
        json.loads(block)


@pytest.mark.parametrize("doc", DOCS)
def test_commands_in_the_docs_exist_with_their_options(doc: str) -> None:
    group: Any = typer.main.get_command(app)
    shown = list(_commands(doc))
    assert shown, f"{doc} shows no lambdacron command"
    for words in shown:
        first = words[0]
        command = group
        if not first.startswith("-"):
            assert first in group.commands, f"{doc}: `lambdacron {first}` is not a command"
            command = group.commands[first]
            words = words[1:]
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
        for word in words:
            if word.startswith("-") and word != "--":
                option = word.split("=", 1)[0]
                assert option in known, f"{doc}: `lambdacron {first}` has no option {option}"


@pytest.mark.parametrize("doc", DOCS)
def test_example_outputs_in_the_docs_are_real(doc: str) -> None:
    """When an example changes (the example project, a message), run the command in the doc again
    and paste its output."""
    for command, output in _examples(doc):
        args = shlex.split(command)
        assert args[0] == "lambdacron"
        result = runner.invoke(
            app, [*args[1:], "--project", str(REPO)] if "--env" in args else args[1:]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == output, f"{doc}: the output of `{command}` changed"


def _text(doc: str) -> str:
    return (REPO / doc).read_text(encoding="utf-8")


def _blocks(doc: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _text(doc), re.S)


def _examples(doc: str) -> Iterator[tuple[str, str]]:
    for block in _blocks(doc, "console"):
        command, _, output = block.partition("\n")
        assert command.startswith("$ ")
        if output:
            yield command[2:], output


def _commands(doc: str) -> Iterator[list[str]]:
    text = _text(doc)
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    for chunk in [*fenced, *inline]:
        for line in chunk.splitlines():
            line = re.sub(r"(^|\s)#.*", "", line)  # shell and YAML comments
            for found in re.finditer(r"(?<![\w./$-])lambdacron((?: +[^\s`|]+)+)", line):
                yield found.group(1).split()
