"""Corpus cases found by the first hardening pass and fixed: each with the message a user deserves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hardening.corpus import BATCH, Case, check, outside, outside_folder, task

T = "templates/t.yml.j2"
SOURCE = "\n  rendered from templates/t.yml.j2"
CONFINED_FIX = "(templates are confined to the templates folder: copy it in instead)"


def big(path: Path, root: Path) -> None:
    path.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")


def dangling(path: Path, root: Path) -> None:
    path.symlink_to(root / "nowhere.yml.j2")


INCLUDE_P = 'name: a\n{% include "_p.yml.j2" %}\n'
TAG_FIX = "(remove the tag, or quote the value)"

CASES = [
    Case(
        "undefined key of a var: did you mean",
        {T: "name: a\nq: {{ batch.quue }}\n"},
        f"{T}:2: 'dict object' has no attribute 'quue' (did you mean 'queue'?)",
    ),
    Case(
        "extends itself",
        {T: '{% extends "t.yml.j2" %}\n'},
        f"{T}:1: extends cycle: t.yml.j2 → t.yml.j2 (remove one of the {{% extends %}} tags)",
    ),
    Case(
        "extends cycle of two partials",
        {
            T: '{% extends "_a.yml.j2" %}\n',
            "templates/_a.yml.j2": '{% extends "_b.yml.j2" %}\n',
            "templates/_b.yml.j2": '{% extends "_a.yml.j2" %}\n',
        },
        "templates/_b.yml.j2:1: extends cycle: t.yml.j2 → _a.yml.j2 → _b.yml.j2 → _a.yml.j2 "
        "(remove one of the {% extends %} tags)",
    ),
    Case(
        "Latin-1 partial",
        {T: INCLUDE_P, "templates/_p.yml.j2": "x: 1\ndescription: caf\xe9\n".encode("latin-1")},
        f"templates/_p.yml.j2:2: not UTF-8 text (byte 0xe9 at offset 21) (save the file as UTF-8)\n  {T}:2",
    ),
    Case(
        "binary partial",
        {T: INCLUDE_P, "templates/_p.yml.j2": b"\x00\x01\x02"},
        f"templates/_p.yml.j2: binary file in templates/ (it holds a NUL byte) (only text files can be included)\n  {T}:2",
    ),
    Case(
        "10 MB partial",
        {T: INCLUDE_P, "templates/_p.yml.j2": big},
        "templates/_p.yml.j2: template is 10.5 MB; templates are limited to 1024 KiB "
        f"(split it into several templates)\n  {T}:2",
    ),
    Case(
        "a task template that is a symlink to a file outside",
        {"templates/leak.yml.j2": outside("x.yml")},
        f"templates/leak.yml.j2: symlink leading outside templates/ {CONFINED_FIX}",
    ),
    Case(
        "a symlinked folder of task templates leading outside",
        {"templates/ext": outside_folder()},
        f"templates/ext: symlink leading outside templates/ {CONFINED_FIX}",
    ),
    Case("a dangling symlink", {T: dangling}, f"{T}: cannot read: No such file or directory"),
    Case(
        "a custom YAML tag",
        {T: task(BATCH.replace("jobQueue: q", "jobQueue: !vault x"))},
        f"build/dev/tasks/t.yml:7: YAML tag '!vault' is not supported {TAG_FIX}{SOURCE}",
    ),
    Case(
        "a python YAML tag on a scalar",
        {T: task(BATCH.replace("jobQueue: q", "jobQueue: !!python/name:os.system ''"))},
        f"build/dev/tasks/t.yml:7: YAML tag '!!python/name:os.system' is not supported {TAG_FIX}{SOURCE}",
    ),
    Case(
        "a python YAML tag on a sequence",
        {T: task(BATCH.replace("jobQueue: q", 'jobQueue: !!python/object/apply:os.system ["id"]'))},
        f"build/dev/tasks/t.yml:7: YAML tag '!!python/object/apply:os.system' is not supported {TAG_FIX}{SOURCE}",
    ),
    Case(
        "a custom YAML tag in an env file",
        {"envs/dev.yml": "vars:\n  x: !vault y\n"},
        f"envs/dev.yml:2: YAML tag '!vault' is not supported {TAG_FIX}",
    ),
    Case(
        "a YAML alias inside itself",
        {T: "name: a\nx: &a [*a]\n"},
        f"build/dev/tasks/t.yml:3: a YAML alias inside the value it names (it would contain itself); write the value out{SOURCE}",
    ),
    Case(
        "a YAML alias inside itself in an env file",
        {"envs/dev.yml": "vars:\n  x: &a [*a]\n"},
        "envs/dev.yml:2: a YAML alias inside the value it names (it would contain itself); write the value out",
    ),
    Case(
        "a sequence as a key",
        {T: "? [a, b]\n: 1\n"},
        f"build/dev/tasks/t.yml:2: a key must be a plain string{SOURCE}",
    ),
    Case(
        "a control character from a var",
        {
            "envs/dev.yml": 'vars:\n  x: "a\\u0007b"\n',
            T: task(BATCH.replace("jobQueue: q", "jobQueue: {{ x }}")),
        },
        f"build/dev/tasks/t.yml:7: invalid YAML: control character U+0007 is not allowed here (quote the value with | tojson){SOURCE}",
    ),
    Case(
        "a var named like a helper",
        {"envs/dev.yml": "vars:\n  secret: plain\n"},
        "envs/dev.yml:2: vars key 'secret' is reserved for the template helper secret() (rename the variable)",
    ),
    Case(
        "names equal after case folding",
        {
            "templates/a.yml.j2": task(BATCH, 'name: Report\nexpression: "@daily"\n'),
            "templates/b.yml.j2": task(BATCH, 'name: report\nexpression: "@daily"\n'),
        },
        "build/dev/tasks/report.yml:2: task name 'report' collides with 'Report' (names must differ by more than case) "
        "(first defined in templates/a.yml.j2; rename one of them)\n  rendered from templates/b.yml.j2",
    ),
    Case(
        "the same name in two templates",
        {
            "templates/a.yml.j2": task(BATCH, 'name: report\nexpression: "@daily"\n'),
            "templates/b.yml.j2": task(BATCH, 'name: report\nexpression: "@daily"\n'),
        },
        "build/dev/tasks/report.yml:2: duplicate task name 'report' (first defined in templates/a.yml.j2; rename one of them)"
        "\n  rendered from templates/b.yml.j2",
    ),
    Case(
        "--env with a path",
        {"templates/t.yml.j2": task()},
        "--env ../envs/dev: not an environment name (letters, digits, '_' and '-', the name of a file envs/NAME.yml); environments: dev",
        args=("--env", "../envs/dev"),
        exit_code=2,
    ),
    Case(
        "a string multiplied past any use",
        {T: "name: a\nq: {{ 'x' * 10**8 }}\n"},
        f"{T}:2: template output too large: more than 1024 KiB (a string or list multiplied too far?)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_refused_with_a_clear_message(tmp_path: Path, case: Case) -> None:
    check(tmp_path, case)
