from __future__ import annotations

from pathlib import Path

import pytest

from lambdacron.errors import InvalidInputError, UsageError
from lambdacron.project import deep_merge, find_project, load_env
from tests.helpers import write_project


def make(tmp_path: Path, envs: dict[str, str]) -> Path:
    return write_project(tmp_path, {f"envs/{k}.yml": v for k, v in envs.items()})


def test_extends_chain_deep_merges_and_set_overrides(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "_base": "region: us-east-1\ndefaults: {timezone: Europe/Madrid}\nvars:\n  batch: {queue: q, definition: d}\n  n: 1\n",
            "_mid": "extends: _base\nvars:\n  batch: {queue: q-mid}\n",
            "prod": "extends: _mid\naccount: '012345678901'\nvars:\n  n: 2\n",
        },
    )
    project = find_project(tmp_path)
    env = load_env(project, "prod", ["batch.definition=other:2", "extra.list=[1, 2]", "n=3"])
    assert env.vars == {
        "batch": {"queue": "q-mid", "definition": "other:2"},
        "n": 3,
        "extra": {"list": [1, 2]},
    }
    assert env.region == "us-east-1"
    assert env.account == "012345678901"
    assert env.defaults == {"timezone": "Europe/Madrid"}
    assert env.store == "file://" + str(tmp_path.resolve() / ".lambdacron/store")


def test_unquoted_account_keeps_its_leading_zero(tmp_path: Path) -> None:
    make(tmp_path, {"dev": "account: 012345678901\n"})
    assert load_env(find_project(tmp_path), "dev").account == "012345678901"


def test_extends_cycle_is_reported_with_the_chain(tmp_path: Path) -> None:
    make(tmp_path, {"a": "extends: b\n", "b": "extends: a\n"})
    with pytest.raises(InvalidInputError) as info:
        load_env(find_project(tmp_path), "a")
    assert str(info.value.diagnostics[0]) == (
        "envs/b.yml:1: extends cycle: a → b → a (remove one of the `extends` lines)"
    )


def test_unknown_keys_are_all_reported_with_suggestions(tmp_path: Path) -> None:
    make(
        tmp_path, {"dev": "regoin: us-east-1\nvars: {}\ndefautls: {}\ndefaults:\n  timezon: UTC\n"}
    )
    with pytest.raises(InvalidInputError) as info:
        load_env(find_project(tmp_path), "dev")
    assert [str(d) for d in info.value.diagnostics] == [
        "envs/dev.yml:1: unknown key 'regoin' (did you mean 'region'?)",
        "envs/dev.yml:3: unknown key 'defautls' (did you mean 'defaults'?)",
        "envs/dev.yml:5: unknown key 'defaults.timezon' (did you mean 'timezone'?)",
    ]
    assert info.value.summary() == "3 errors in 1 file (env dev). Nothing was written."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "region: Mars\n",
            "envs/dev.yml:1: region 'Mars' is not an AWS region name (e.g. us-east-1 or eu-west-1)",
        ),
        ("account: 12345\n", "envs/dev.yml:1: account 12345 is not a 12-digit AWS account id"),
        ("vars: [1]\n", "envs/dev.yml:1: 'vars' must be a mapping"),
        (
            "vars:\n  env: x\n",
            "envs/dev.yml:2: vars key 'env' is reserved (templates see the environment as `env`) (rename the variable)",
        ),
        ("extends: _bsae\n", "envs/dev.yml:1: extends '_bsae': no file envs/_bsae.yml"),
        (
            "deploy:\n  memory_size: big\n",
            "envs/dev.yml:2: 'deploy.memory_size' must be a whole number",
        ),
        ("a: [1\n", "envs/dev.yml:2: invalid YAML: did not find expected ',' or ']'"),
        ("a: 1\na: 2\n", "envs/dev.yml:2: duplicate key 'a' (first at line 1); keep one of them"),
        ("defaults:\n  timezone: Mars/Base\n", "envs/dev.yml:2: defaults:"),
    ],
)
def test_bad_env_files(tmp_path: Path, text: str, expected: str) -> None:
    make(tmp_path, {"dev": text, "_base": "{}\n"})
    with pytest.raises(InvalidInputError) as info:
        load_env(find_project(tmp_path), "dev")
    assert str(info.value.diagnostics[0]).startswith(expected)


def test_unknown_and_abstract_env_names_are_usage_errors(tmp_path: Path) -> None:
    make(tmp_path, {"dev": "{}\n", "_base": "{}\n"})
    project = find_project(tmp_path)
    with pytest.raises(
        UsageError, match=r"--env dve: no file envs/dve.yml \(did you mean 'dev'\?\)"
    ):
        load_env(project, "dve")
    with pytest.raises(UsageError, match="abstract"):
        load_env(project, "_base")


def test_bad_set_is_a_usage_error(tmp_path: Path) -> None:
    make(tmp_path, {"dev": "{}\n"})
    with pytest.raises(UsageError, match=r"expected path\.to\.key=value"):
        load_env(find_project(tmp_path), "dev", ["novalue"])


def test_project_found_from_a_subfolder_and_settings_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(
        tmp_path,
        {
            "lambdacron.yml": "templates: tpl\nstore: s3://b/p\n",
            "tpl/x.yml.j2": "",
            "envs/dev.yml": "",
        },
    )
    (tmp_path / "deep/er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep/er")
    project = find_project(None)
    assert project.root == tmp_path.resolve()
    assert project.templates == (tmp_path / "tpl").resolve()
    assert project.store == "s3://b/p"


def test_no_project_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="lambdacron init"):
        find_project(None)


def test_deep_merge_replaces_lists_and_scalars() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "d": {"x": 1}}) == {
        "a": {"b": 1, "c": [2]},
        "d": {"x": 1},
    }
