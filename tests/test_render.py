from __future__ import annotations

from pathlib import Path

import pytest

from lambdacron.build import build_env
from lambdacron.errors import InvalidInputError
from lambdacron.project import find_project, load_env
from lambdacron.render import render_all
from tests.helpers import simple_project, write_project


def rendered(tmp_path: Path, template: str, env: str = "vars: {x: 1}\n", **files: str) -> str:
    write_project(tmp_path, {"envs/dev.yml": env, "templates/t.yml.j2": template, **files})
    project = find_project(tmp_path)
    outputs, problems = render_all(project, load_env(project, "dev"))
    assert not problems, [str(p) for p in problems]
    return outputs[0].text


def problems_of(
    tmp_path: Path, template: str, env: str = "vars: {x: 1}\n", **files: str
) -> list[str]:
    write_project(tmp_path, {"envs/dev.yml": env, "templates/t.yml.j2": template, **files})
    project = find_project(tmp_path)
    _, problems = render_all(project, load_env(project, "dev"))
    return [str(p) for p in problems]


def test_helpers_render_placeholders(tmp_path: Path) -> None:
    text = rendered(
        tmp_path,
        '{{ scheduled_time("%Y-%m-%d") }} {{ task_name() }} {{ execution_id() }} {{ secret("ssm:/a/b") }}',
    )
    assert (
        text
        == "${lambdacron:scheduled_time:%Y-%m-%d} ${lambdacron:task_name} ${lambdacron:execution_id} ${lambdacron:secret:ssm:/a/b}"
    )


def test_env_is_visible_with_its_settings(tmp_path: Path) -> None:
    assert (
        rendered(
            tmp_path,
            "{{ env.name }} {{ env.region }} {{ x }}",
            env="region: eu-west-1\nvars: {x: 7}\n",
        )
        == "dev eu-west-1 7"
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a: {{ bach }}\n", "templates/t.yml.j2:1: 'bach' is undefined (did you mean 'batch'?)"),
        (
            "a: 1\nb: {{ nothing_like_it }}\n",
            "templates/t.yml.j2:2: 'nothing_like_it' is undefined (define it under `vars:` in the env file, or pass --set NAME=value)",
        ),
        (
            "{{ required(none, 'set vars.queue for this env') }}",
            "templates/t.yml.j2:1: set vars.queue for this env",
        ),
        ("{{ required(missing, 'queue please') }}", "templates/t.yml.j2:1: queue please"),
        ("\n\n{{ fail('not in prod') }}", "templates/t.yml.j2:3: not in prod"),
        (
            "{% if %}",
            "templates/t.yml.j2:1: template syntax error: Expected an expression, got 'end of statement block'",
        ),
        (
            "{{ ''.__class__.__mro__ }}",
            "templates/t.yml.j2:1: unsafe template code refused: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        ("{{ batch.__init__.__globals__ }}", "templates/t.yml.j2:1: unsafe template code refused"),
        ("{{ batch.update({'a': 1}) }}", "templates/t.yml.j2:1: unsafe template code refused"),
        (
            '{% include "../envs/dev.yml" %}',
            "templates/t.yml.j2:1: template '../envs/dev.yml' not found in templates/",
        ),
        (
            '{% include "/etc/passwd" %}',
            "templates/t.yml.j2:1: template '/etc/passwd' not found in templates/",
        ),
        (
            '{{ secret("vault:x") }}',
            "templates/t.yml.j2:1: secret('vault:x'): expected \"ssm:/path/name\"",
        ),
        (
            "{{ range(10**9) | list }}",
            "templates/t.yml.j2:1: Range too big. The sandbox blocks ranges larger than",
        ),
    ],
)
def test_template_errors(tmp_path: Path, template: str, expected: str) -> None:
    found = problems_of(tmp_path, template, env="vars: {batch: {queue: q}}\n")
    assert len(found) == 1
    assert found[0].startswith(expected)


def test_error_in_a_macro_names_the_chain(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        '{% from "_m.yml.j2" import m with context %}\n{{ m() }}\n',
        **{"templates/_m.yml.j2": "{% macro m() %}\nname: {{ quue }}\n{% endmacro %}\n"},
    )
    assert found == [
        "templates/_m.yml.j2:2: 'quue' is undefined (define it under `vars:` in the env file, or pass --set NAME=value)\n  templates/t.yml.j2:2"
    ]


def test_symlink_out_of_templates_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "_leak.yml.j2").symlink_to(tmp_path / "secret.txt")
    found = problems_of(tmp_path, '{% include "_leak.yml.j2" %}')
    assert found == [
        "templates/_leak.yml.j2: symlink leading outside templates/ (templates are confined to "
        "the templates folder: copy it in instead)\n  templates/t.yml.j2:1"
    ]


def test_partials_are_not_tasks(tmp_path: Path) -> None:
    simple_project(
        tmp_path,
        **{
            "templates/_partial.yml.j2": "{{ fail('never rendered') }}",
            "templates/_dir/x.yml.j2": "{{ fail('never rendered') }}",
        },
    )
    project = find_project(tmp_path)
    outputs, problems = render_all(project, load_env(project, "dev"))
    assert [o.source for o in outputs] == ["templates/job.yml.j2"] and not problems


def test_all_template_errors_are_collected(tmp_path: Path) -> None:
    simple_project(
        tmp_path, **{"templates/a.yml.j2": "{{ one }}", "templates/b.yml.j2": "{{ two }}"}
    )
    project = find_project(tmp_path)
    with pytest.raises(InvalidInputError) as info:
        build_env(project, load_env(project, "dev"))
    assert [d.path for d in info.value.diagnostics] == ["templates/a.yml.j2", "templates/b.yml.j2"]
    assert info.value.summary() == "2 errors in 2 files (env dev). Nothing was written."
