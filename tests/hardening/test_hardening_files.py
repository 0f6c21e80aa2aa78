"""Bad input, loading stage: env files (syntax, keys, ``extends`` chains and cycles, encodings),
YAML traps in rendered tasks (syntax, aliases that blow up, tags, shapes that are not tasks),
project settings, and command lines that are wrong (exit 2). Nothing is ever written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hardening.corpus import BATCH, Case, check, task

pytestmark = pytest.mark.hardening

DEV = "envs/dev.yml"
T = "templates/t.yml.j2"
SOURCE = "\n  rendered from templates/t.yml.j2"


def env(id_: str, files: dict[str, str] | str, expected: str) -> Case:
    return Case(id_, {DEV: files} if isinstance(files, str) else files, expected)


def rendered(id_: str, template: str, line: int, message: str, name: str = "t") -> Case:
    """A template whose output is not a readable task; the error is in its rendered file."""
    return Case(id_, {T: template}, f"build/dev/tasks/{name}.yml:{line}: {message}{SOURCE}")


def usage(id_: str, args: list[str], expected: str) -> Case:
    return Case(id_, {}, expected, args=args, exit_code=2, commands=("render",))


# Nine levels of ten: a billion "x"s if the aliases were expanded.
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
TOO_MANY = (
    "document expands to more than 1,000,000 values (YAML aliases nested too deep?); write the "
    "values out or split the task"
)
CYCLE_FIX = "(remove one of the `extends` lines)"

ENVS = [
    env(
        "env: YAML syntax",
        "vars:\n  x: [1, 2\n",
        f"{DEV}:3: invalid YAML: did not find expected ',' or ']'",
    ),
    env(
        "env: a list, not a mapping", "- a\n- b\n", f"{DEV}:1: expected a mapping of keys to values"
    ),
    env(
        "env: two documents",
        "vars: {}\n---\nvars: {}\n",
        f"{DEV}:3: only one YAML document is allowed here",
    ),
    env(
        "env: unknown key", "varz:\n  x: 1\n", f"{DEV}:1: unknown key 'varz' (did you mean 'vars'?)"
    ),
    env("env: vars is a list", "vars:\n  - x\n", f"{DEV}:1: 'vars' must be a mapping"),
    env(
        "env: region",
        "region: mars-1\nvars: {}\n",
        f"{DEV}:1: region 'mars-1' is not an AWS region name (e.g. us-east-1 or eu-west-1)",
    ),
    env(
        "env: account",
        "account: 12345\nvars: {}\n",
        f'{DEV}:1: account 12345 is not a 12-digit AWS account id (quote it: account: "123456789012")',
    ),
    env(
        "env: store",
        "store: s3://UPPER_bucket\nvars: {}\n",
        f"{DEV}:1: store 's3://UPPER_bucket' is not a valid S3 URL (use s3://bucket-name/prefix)",
    ),
    env(
        "env: vars may not redefine env",
        "vars:\n  env: prod\n",
        f"{DEV}:2: vars key 'env' is reserved (templates see the environment as `env`) "
        "(rename the variable)",
    ),
    env(
        "env: a var name templates cannot use",
        "vars:\n  my-var: 1\n",
        f"{DEV}:2: vars key 'my-var' is not a valid template name (use letters, digits and "
        "underscores, not starting with a digit)",
    ),
    env(
        "env: defaults with a time zone that does not exist",
        "defaults:\n  timezone: Mars/Olympus\nvars: {}\n",
        f"{DEV}:2: defaults: timezone 'Mars/Olympus' is not an IANA time zone "
        "(e.g. 'Europe/Madrid' or 'UTC')",
    ),
    env(
        "env: defaults with too many retries",
        "defaults:\n  retries: 50\nvars: {}\n",
        f"{DEV}:2: defaults: retries must be between 0 and 10, got 50",
    ),
    env(
        "env: defaults with an unknown key",
        "defaults:\n  timezon: UTC\nvars: {}\n",
        f"{DEV}:2: unknown key 'defaults.timezon' (did you mean 'timezone'?)",
    ),
    env(
        "env: deploy setting of the wrong type",
        "deploy:\n  memory_size: big\nvars: {}\n",
        f"{DEV}:2: 'deploy.memory_size' must be a whole number",
    ),
    env(
        "extends: a cycle of three",
        {
            DEV: "extends: _base\nvars: {}\n",
            "envs/_base.yml": "extends: _mid\n",
            "envs/_mid.yml": "extends: dev\n",
        },
        f"envs/_mid.yml:1: extends cycle: dev → _base → _mid → dev {CYCLE_FIX}",
    ),
    env(
        "extends: itself",
        "extends: dev\nvars: {}\n",
        f"{DEV}:1: extends cycle: dev → dev {CYCLE_FIX}",
    ),
    env(
        "extends: a base that does not exist",
        {DEV: "extends: _bsae\nvars: {}\n", "envs/_base.yml": "vars: {}\n"},
        f"{DEV}:1: extends '_bsae': no file envs/_bsae.yml (did you mean '_base'?)",
    ),
    env("extends: a number", "extends: 3\nvars: {}\n", f"{DEV}:1: 'extends' must be an env name"),
    env(
        "extends: the error is in the base",
        {DEV: "extends: _base\nvars: {}\n", "envs/_base.yml": "regoin: us-east-1\n"},
        "envs/_base.yml:1: unknown key 'regoin' (did you mean 'region'?)",
    ),
    Case(
        "env: Latin-1 text",
        {DEV: "vars:\n  x: caf\xe9\n".encode("latin-1")},
        f"{DEV}: not UTF-8 text (invalid continuation byte at byte 14)",
    ),
    env(
        "env: billion laughs",
        "vars:\n" + "".join(f"  {line}\n" for line in LAUGHS.splitlines()),
        f"{DEV}:2: {TOO_MANY}",
    ),
    Case(
        "settings: unknown key in lambdacron.yml",
        {"lambdacron.yml": "templtes: t\n"},
        "lambdacron.yml:1: unknown key 'templtes' (did you mean 'templates'?)",
        summary="1 error in 1 file. Nothing was written.",
    ),
]

YAML = [
    rendered(
        "yaml: indentation",
        "name: a\nexpression: '@daily'\ntask:\n  type: batch\n   jobName: x\n",
        6,
        "invalid YAML: mapping values are not allowed in this context",
    ),
    rendered(
        "yaml: a tab",
        "name: a\ntask:\n\ttype: batch\n",
        4,
        "invalid YAML: found character that cannot start any token",
    ),
    rendered(
        "yaml: an unquoted */5",
        "name: a\nexpression: */5 * * * *\n",
        3,
        "invalid YAML: did not find expected alphabetic or numeric character (a value starting "
        "with '*' must be quoted: expression: \"*/5 * * * *\")",
    ),
    rendered(
        "yaml: a key twice",
        task() + "name: again\n",
        9,
        "duplicate key 'name' (first at line 1); keep one of them",
    ),
    rendered(
        "yaml: flow mapping never closed",
        "name: a\ntask: {type: batch\n",
        4,
        "invalid YAML: did not find expected ',' or '}'",
    ),
    rendered(
        "yaml: quote never closed",
        "name: 'a\nexpression: x\n",
        4,
        "invalid YAML: found unexpected end of stream",
    ),
    rendered(
        "yaml: the second document is broken",
        task() + "---\nname: b\nexpression: [\n",
        12,
        "invalid YAML: did not find expected node content",
    ),
    rendered(
        "yaml: nested ten thousand deep",
        "name: a\nx: " + "[" * 5000 + "]" * 5000 + "\n",
        3,
        "invalid YAML: exceeded maximum nesting depth",
    ),
    rendered("yaml: billion laughs", LAUGHS, 2, TOO_MANY),
    rendered(
        "yaml: a !!binary value",
        task(BATCH.replace("jobQueue: q", "jobQueue: !!binary aGVsbG8=")),
        7,
        "YAML tag '!!binary' is not supported (remove the tag, or quote the value)",
    ),
    rendered(
        "yaml: a list of tasks",
        "- name: a\n- name: b\n",
        2,
        "a task must be a mapping of keys to values, got a list (start the document with "
        "`name:`, `expression:` and `task:`)",
    ),
    rendered(
        "yaml: an empty list",
        "[]\n",
        2,
        "a task must be a mapping of keys to values, got a list (start the document with "
        "`name:`, `expression:` and `task:`)",
    ),
    rendered(
        "yaml: plain text",
        "just text\n",
        2,
        "a task must be a mapping of keys to values, got a string (start the document with "
        "`name:`, `expression:` and `task:`)",
    ),
    rendered(
        "yaml: .inf is a number",
        task(BATCH.replace("jobQueue: q", "jobQueue: .inf")),
        7,
        "jobQueue of task (batch) must be a string, got a number (inf)",
        name="t1",
    ),
]

NO_ENV = "--env {0}: no file envs/{0}.yml"
USAGE = [
    usage("usage: unknown env", ["--env", "prod"], NO_ENV.format("prod") + "; environments: dev"),
    usage(
        "usage: misspelt env",
        ["--env", "dve"],
        NO_ENV.format("dve") + " (did you mean 'dev'?); environments: dev",
    ),
    Case(
        "usage: an abstract env",
        {"envs/_base.yml": "vars: {}\n"},
        "--env _base: environments starting with '_' are abstract bases, used only through "
        "`extends`; choose one of: dev",
        args=("--env", "_base"),
        exit_code=2,
    ),
    usage(
        "usage: --set without a value",
        ["--env", "dev", "--set", "novalue"],
        "--set 'novalue': expected path.to.key=value, e.g. --set batch.queue=reports",
    ),
    usage(
        "usage: --set of the reserved env",
        ["--env", "dev", "--set", "env.name=prod"],
        "--set 'env.name=prod': 'env' is reserved; set vars, not the environment",
    ),
    usage(
        "usage: --set with an empty key part",
        ["--env", "dev", "--set", "a..b=1"],
        "--set 'a..b=1': empty part in the key path 'a..b'",
    ),
    usage(
        "usage: --out with --stdout",
        ["--env", "dev", "--out", "elsewhere", "--stdout"],
        "--out and --stdout exclude each other; choose one",
    ),
]

CASES = ENVS + YAML + USAGE


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_files(tmp_path: Path, case: Case) -> None:
    check(tmp_path, case)
