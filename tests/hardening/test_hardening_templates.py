"""Bad input, rendering stage: broken Jinja, undefined names along include and macro chains,
recursion, sandbox escapes, the process environment, files outside ``templates/``, and files
that are not templates at all. Each case: exit 1, the exact lines, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hardening.corpus import Case, check, outside, outside_folder

pytestmark = pytest.mark.hardening

T = "templates/t.yml.j2"
UNDEFINED_HINT = "(define it under `vars:` in the env file, or pass --set NAME=value)"
CONFINED = "(includes and imports are confined to the templates folder)"
RECURSION = "template recursion too deep (a macro or include that calls itself?)"


def line2(expression: str) -> dict[str, str]:
    """A template whose second line is ``q: <expression>``."""
    return {T: f"name: a\nq: {expression}\n"}


def unsafe(expression: str, what: str) -> Case:
    return Case(
        f"sandbox {expression}",
        line2(expression),
        f"{T}:2: unsafe template code refused: access to attribute {what} is unsafe.",
    )


def not_found(template: str, line: int = 2) -> str:
    return f"{T}:{line}: template '{template}' not found in templates/ {CONFINED}"


MACRO = "{% macro m() %}\nname: x\nq: {{ quue }}\n{% endmacro %}\n"
IMPORT_M = '{% from "_m.yml.j2" import m with context %}\n'

JINJA = [
    Case(
        "syntax: empty if",
        {T: "name: a\n{% if %}\n"},
        f"{T}:2: template syntax error: Expected an expression, got 'end of statement block'",
    ),
    Case(
        "syntax: for never closed",
        {T: "name: a\n{% for i in [1] %}\nx: 1\n"},
        f"{T}:3: template syntax error: Unexpected end of template. Jinja was looking for the "
        "following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.",
    ),
    Case(
        "syntax: expression never closed",
        {T: "name: a\nx: {{ x }\n"},
        f"{T}:2: template syntax error: unexpected '}}'",
    ),
    Case(
        "syntax: unknown tag",
        {T: "name: a\n{% frobnicate %}\n"},
        f"{T}:2: template syntax error: Encountered unknown tag 'frobnicate'.",
    ),
    Case(
        "syntax: {% debug %} is not enabled",
        {T: "name: a\n{% debug %}\n"},
        f"{T}:2: template syntax error: Encountered unknown tag 'debug'.",
    ),
    Case(
        "syntax: error inside an imported partial names the partial",
        {
            T: '{% from "_m.yml.j2" import m %}\n{{ m() }}\n',
            "templates/_m.yml.j2": "{% macro m() %}\n{{ 1 + }}\n{% endmacro %}\n",
        },
        "templates/_m.yml.j2:2: template syntax error: unexpected 'end of print statement'",
    ),
    Case(
        "syntax: unknown filter",
        {T: "name: a\nq: {{ x | frob }}\n"},
        f"{T}:2: template syntax error: No filter named 'frob'.",
    ),
    Case(
        "undefined: a near miss is suggested",
        {T: "name: a\nq: {{ bach }}\n"},
        f"{T}:2: 'bach' is undefined (did you mean 'batch'?)",
    ),
    Case(
        "undefined: no near miss, the fix is named",
        {T: "name: a\nq: {{ reports_queue }}\n"},
        f"{T}:2: 'reports_queue' is undefined {UNDEFINED_HINT}",
    ),
    Case(
        "undefined: called as a function",
        {T: "name: a\nq: {{ nofunc() }}\n"},
        f"{T}:2: 'nofunc' is undefined {UNDEFINED_HINT}",
    ),
    Case(
        "undefined: inside a macro, with the call site",
        {T: IMPORT_M + "\n{{ m() }}\n", "templates/_m.yml.j2": MACRO},
        f"templates/_m.yml.j2:3: 'quue' is undefined {UNDEFINED_HINT}\n  {T}:3",
    ),
    Case(
        "undefined: inside an include, with the include site",
        {T: 'name: a\n{% include "_i.yml.j2" %}\n', "templates/_i.yml.j2": "x: 1\ny: {{ nope }}\n"},
        f"templates/_i.yml.j2:2: 'nope' is undefined {UNDEFINED_HINT}\n  {T}:2",
    ),
    Case(
        "undefined: include then macro, the whole chain",
        {
            T: 'name: a\n{% include "_i.yml.j2" %}\n',
            "templates/_i.yml.j2": '{% from "_m.yml.j2" import m with context %}\nx: {{ m() }}\n',
            "templates/_m.yml.j2": "{% macro m() %}\n\n{{ zzz }}{% endmacro %}\n",
        },
        f"templates/_m.yml.j2:3: 'zzz' is undefined {UNDEFINED_HINT}\n"
        f"  templates/_i.yml.j2:2\n  {T}:2",
    ),
    Case(
        "missing partial: include",
        {T: 'name: a\n{% include "_nope.yml.j2" %}\n'},
        not_found("_nope.yml.j2"),
    ),
    Case(
        "missing partial: import",
        {T: 'name: a\n{% import "_nope.yml.j2" as n %}\n'},
        not_found("_nope.yml.j2"),
    ),
    Case(
        "recursion: a template that includes itself",
        {T: 'name: a\n{% include "t.yml.j2" %}\n'},
        f"{T}:2: {RECURSION}",
    ),
    Case(
        "recursion: a macro that calls itself",
        {T: "{% macro m() %}{{ m() }}{% endmacro %}\nname: {{ m() }}\n"},
        f"{T}:1: {RECURSION}\n  {T}:2",
    ),
    Case(
        "author's message: required()",
        {T: "name: a\nq: {{ required(none, 'set vars.queue for this env') }}\n"},
        f"{T}:2: set vars.queue for this env",
    ),
    Case(
        "author's message: fail() in a macro, with the call site",
        {
            T: '{% from "_m.yml.j2" import m %}\nname: a\n{{ m() }}\n',
            "templates/_m.yml.j2": "{% macro m() %}\n{{ fail('not in dev') }}\n{% endmacro %}\n",
        },
        f"templates/_m.yml.j2:2: not in dev\n  {T}:3",
    ),
    Case(
        "helper misuse: secret() with an unknown store",
        line2("{{ secret('vault:x') }}"),
        f'{T}:2: secret(\'vault:x\'): expected "ssm:/path/name", "secretsmanager:name" or '
        '"secretsmanager:name#json_key"',
    ),
    Case(
        "helper misuse: scheduled_time() without a format",
        line2("{{ scheduled_time(5) }}"),
        f'{T}:2: scheduled_time() takes a strftime format string, e.g. "%Y-%m-%d"',
    ),
    Case(
        "arithmetic: division by zero",
        line2("{{ 1 // 0 }}"),
        f"{T}:2: ZeroDivisionError: integer division or modulo by zero",
    ),
    Case(
        "size: a range too big to build",
        line2("{{ range(10**9) | list }}"),
        f"{T}:2: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).",
    ),
]

SANDBOX = [
    unsafe("{{ ''.__class__.__mro__ }}", "'__class__' of 'str' object"),
    unsafe("{{ ''.__class__.__mro__[1].__subclasses__() }}", "'__class__' of 'str' object"),
    unsafe("{{ cycler.__init__.__globals__ }}", "'__init__' of 'type' object"),
    unsafe("{{ cycler.__init__.__globals__.os.environ }}", "'__init__' of 'type' object"),
    unsafe("{{ joiner.__init__.__globals__ }}", "'__init__' of 'type' object"),
    unsafe("{{ namespace.__init__.__globals__ }}", "'__init__' of 'type' object"),
    unsafe("{{ lipsum.__globals__ }}", "'__globals__' of 'function' object"),
    unsafe(
        "{{ lipsum.__globals__['os'].popen('id').read() }}", "'__globals__' of 'function' object"
    ),
    unsafe(
        "{{ self._TemplateReference__context }}",
        "'_TemplateReference__context' of 'TemplateReference' object",
    ),
    unsafe("{{ self.__dict__ }}", "'__dict__' of 'TemplateReference' object"),
    unsafe("{{ range.__globals__ }}", "'__globals__' of 'function' object"),
    unsafe("{{ range.__closure__ }}", "'__closure__' of 'function' object"),
    unsafe("{{ range.__name__ }}", "'__name__' of 'function' object"),
    unsafe("{{ '{0.__class__}'.format(x) }}", "'__class__' of 'int' object"),
    unsafe("{{ '{a.__class__}'.format_map({'a': x}) }}", "'__class__' of 'int' object"),
    unsafe("{{ '{0.__class__.__base__}'.format('') }}", "'__class__' of 'str' object"),
    unsafe("{{ '%s' | format(x.__class__) }}", "'__class__' of 'int' object"),
    unsafe("{{ '' | attr('__class__') }}", "'__class__' of 'str' object"),
    unsafe("{{ x['__class__'] }}", "'__class__' of 'int' object"),
    unsafe("{{ [x] | selectattr('__class__') | list }}", "'__class__' of 'int' object"),
    unsafe("{{ secret.__globals__ }}", "'__globals__' of 'function' object"),
    unsafe("{{ required.__code__ }}", "'__code__' of 'function' object"),
    unsafe(
        "{% for i in [1] %}{{ loop.__class__ }}{% endfor %}", "'__class__' of 'LoopContext' object"
    ),
    unsafe("{{ nope.__class__ }}", "'__class__' of 'StrictUndefined' object"),
    # the sandbox is immutable: vars cannot be changed under the next template's feet
    unsafe("{{ batch.update({'queue': 'other'}) }}", "'update' of 'dict' object"),
    unsafe("{% set l = [1] %}{{ l.append(2) }}", "'append' of 'list' object"),
    # `env` is the lambdacron environment, a plain mapping: no way from it to Python or os
    unsafe("{{ env.__class__ }}", "'__class__' of 'dict' object"),
]

ENVIRONMENT = [
    Case(
        "process environment: os is not a name",
        line2("{{ os.environ }}"),
        f"{T}:2: 'os' is undefined {UNDEFINED_HINT}",
    ),
    Case(
        "process environment: environ is not a name either",
        line2("{{ environ['HOME'] }}"),
        f"{T}:2: 'environ' is undefined (did you mean 'env'?)",
    ),
    Case(
        "process environment: no Flask-style config",
        line2("{{ config.items() }}"),
        f"{T}:2: 'config' is undefined {UNDEFINED_HINT}",
    ),
    Case(
        "process environment: env holds no AWS credentials",
        line2("{{ env.AWS_SECRET_ACCESS_KEY }}"),
        f"{T}:2: 'dict object' has no attribute 'AWS_SECRET_ACCESS_KEY'",
    ),
    Case(
        "process environment: nor PATH",
        line2("{{ env['PATH'] }}"),
        f"{T}:2: 'dict object' has no attribute 'PATH'",
    ),
]

OUTSIDE = [
    Case(
        "outside: include of another env file",
        {T: 'name: a\n{% include "../envs/prod.yml" %}\n', "envs/prod.yml": "vars: {t: s3cr3t}\n"},
        not_found("../envs/prod.yml"),
    ),
    Case(
        "outside: include of an absolute path",
        {T: 'name: a\n{% include "/etc/passwd" %}\n'},
        not_found("/etc/passwd"),
    ),
    Case(
        "outside: '..' in the middle of the path",
        {T: 'name: a\n{% include "sub/../../envs/dev.yml" %}\n', "templates/sub/_x.yml.j2": ""},
        not_found("sub/../../envs/dev.yml"),
    ),
    Case(
        "outside: import of the project settings",
        {T: '{% import "../lambdacron.yml" as s %}\nname: a\n', "lambdacron.yml": ""},
        not_found("../lambdacron.yml", line=1),
    ),
    Case(
        "outside: import of a Python module name",
        {T: '{% import "os" as os %}\nname: a\n'},
        not_found("os", line=1),
    ),
    Case(
        "outside: a partial that is a symlink to a file outside",
        {T: 'name: a\n{% include "_leak.yml.j2" %}\n', "templates/_leak.yml.j2": outside("x.yml")},
        "templates/_leak.yml.j2: symlink leading outside templates/ (templates are confined to "
        "the templates folder: copy it in instead)\n  templates/t.yml.j2:2",
    ),
    Case(
        "outside: a partial in a symlinked folder leading outside",
        {T: 'name: a\n{% include "_ext/leak.yml.j2" %}\n', "templates/_ext": outside_folder()},
        "templates/_ext/leak.yml.j2: symlink leading outside templates/ (templates are confined "
        "to the templates folder: copy it in instead)\n  templates/t.yml.j2:2",
    ),
]


def big(path: Path, root: Path) -> None:
    """A 10 MB template, written in one go rather than kept in the table."""
    path.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")


FILES = [
    Case(
        "file: a 10 MB template",
        {T: big},
        f"{T}: template is 10.5 MB; templates are limited to 1024 KiB "
        "(split it into several templates)",
    ),
    Case(
        "file: a PNG in templates/",
        {"templates/logo.yml.j2": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"},
        "templates/logo.yml.j2: binary file in templates/ (it holds a NUL byte) "
        "(remove it, or prefix its name with '_' if it is not a template)",
    ),
    Case(
        "file: UTF-16 text reads as binary",
        {T: "name: a\n".encode("utf-16")},
        f"{T}: binary file in templates/ (it holds a NUL byte) "
        "(remove it, or prefix its name with '_' if it is not a template)",
    ),
    Case(
        "file: Latin-1 text",
        {T: "name: a\ndescription: caf\xe9\n".encode("latin-1")},
        f"{T}:2: not UTF-8 text (byte 0xe9 at offset 24) (save the file as UTF-8)",
    ),
]

CASES = JINJA + SANDBOX + ENVIRONMENT + OUTSIDE + FILES


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_templates(tmp_path: Path, case: Case) -> None:
    check(tmp_path, case)
