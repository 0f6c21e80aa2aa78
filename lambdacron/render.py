"""Stage 2: render templates against an environment into YAML task documents.

The Jinja environment is sandboxed and immutable, undefined names are errors, loading is confined
to ``templates/``, and the helpers of the brief are globals. Runtime values (the scheduled time,
secrets) render to placeholders that the scheduler expands at fire time.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import StrictUndefined, TemplateNotFound, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lambdacron.errors import Diagnostic
from lambdacron.project import Environment, Project
from lambdacron.runtime.placeholders import placeholder
from lambdacron.suggest import did_you_mean

TEMPLATE_SUFFIXES = (".yml.j2", ".yaml.j2")
MAX_TEMPLATE_BYTES = 1024 * 1024
SECRET_REF = re.compile(
    r"^(ssm:/[A-Za-z0-9_.\-/]+|secretsmanager:[A-Za-z0-9/_+=.@\-]+(#[^#\s]+)?)$"
)


class TemplateFailure(Exception):
    """Raised by ``fail()`` and ``required()``: the template author's own message."""


@dataclass(frozen=True)
class RenderedTemplate:
    """One template's output: its project-relative path and the rendered text."""

    source: str
    text: str


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that also refuses symlinks leading outside ``templates/``."""

    def __init__(self, root: Path) -> None:
        super().__init__(str(root), followlinks=False)
        self.root = root.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.root):
            raise TemplateNotFound(template)
        return source, filename, uptodate


def _required(value: Any, message: str = "a required value is missing") -> Any:
    if isinstance(value, Undefined) or value is None or value == "":
        raise TemplateFailure(message)
    return value


def _fail(message: str = "fail() was called") -> None:
    raise TemplateFailure(message)


def _scheduled_time(fmt: str = "%Y-%m-%dT%H:%M:%S%z") -> str:
    if not isinstance(fmt, str) or not fmt:
        raise TemplateFailure('scheduled_time() takes a strftime format string, e.g. "%Y-%m-%d"')
    return placeholder("scheduled_time", fmt)


def _secret(reference: str) -> str:
    if not isinstance(reference, str) or not SECRET_REF.match(reference):
        raise TemplateFailure(
            f'secret({reference!r}): expected "ssm:/path/name", "secretsmanager:name" or '
            '"secretsmanager:name#json_key"'
        )
    return placeholder("secret", reference)


def make_environment(templates: Path) -> ImmutableSandboxedEnvironment:
    """The Jinja environment every template of a project renders in."""
    env = ImmutableSandboxedEnvironment(
        loader=_ConfinedLoader(templates),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
    )
    env.globals.update(
        required=_required,
        fail=_fail,
        scheduled_time=_scheduled_time,
        task_name=lambda: placeholder("task_name"),
        execution_id=lambda: placeholder("execution_id"),
        secret=_secret,
    )
    return env


def template_names(project: Project) -> list[str]:
    """Templates that render tasks: ``*.yml.j2`` files not under a ``_`` file or folder."""
    names = []
    for dirpath, dirnames, filenames in os.walk(project.templates):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        for filename in sorted(filenames):
            if filename.startswith(("_", ".")) or not filename.endswith(TEMPLATE_SUFFIXES):
                continue
            path = Path(dirpath, filename)
            names.append(path.relative_to(project.templates).as_posix())
    return names


def render_all(
    project: Project, env: Environment
) -> tuple[list[RenderedTemplate], list[Diagnostic]]:
    """Render every task template; returns the outputs and every problem found."""
    jinja = make_environment(project.templates)
    context = env.template_context()
    rendered: list[RenderedTemplate] = []
    problems: list[Diagnostic] = []
    prefix = project.relative(project.templates)
    for name in template_names(project):
        source = f"{prefix}/{name}"
        result = _render_one(jinja, project, name, source, context)
        if isinstance(result, RenderedTemplate):
            rendered.append(result)
        else:
            problems.append(result)
    return rendered, problems


def _render_one(
    jinja: ImmutableSandboxedEnvironment,
    project: Project,
    name: str,
    source: str,
    context: dict[str, Any],
) -> RenderedTemplate | Diagnostic:
    path = project.templates / name
    problem = _check_file(path, source)
    if problem is not None:
        return problem
    try:
        template = jinja.get_template(name)
        return RenderedTemplate(source, template.render(context))
    except jinja2.TemplateSyntaxError as exc:
        return Diagnostic(
            _template_path(project, exc.filename, source),
            exc.lineno,
            f"template syntax error: {exc.message}",
        )
    except TemplateNotFound as exc:
        line, trace = _template_frames(project, exc, source)
        return Diagnostic(
            source if line is None else trace[0][0],
            line if line else None,
            f"template '{exc.name}' not found in {project.relative(project.templates)}/",
            "includes and imports are confined to the templates folder",
            tuple(f"{p}:{n}" for p, n in trace[1:]),
        )
    except (
        jinja2.UndefinedError,
        TemplateFailure,
        SecurityError,
        jinja2.TemplateError,
        TypeError,
        ValueError,
        ArithmeticError,
        LookupError,
        RecursionError,
    ) as exc:
        return _runtime_problem(project, exc, source, context)


def _check_file(path: Path, source: str) -> Diagnostic | None:
    size = path.stat().st_size
    if size > MAX_TEMPLATE_BYTES:
        return Diagnostic(
            source,
            None,
            f"template is {size / 1e6:.1f} MB; templates are limited to "
            f"{MAX_TEMPLATE_BYTES // 1024} KiB",
            "split it into several templates",
        )
    raw = path.read_bytes()
    if b"\x00" in raw:
        return Diagnostic(
            source,
            None,
            "binary file in templates/ (it holds a NUL byte)",
            "remove it, or prefix its name with '_' if it is not a template",
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Diagnostic(
            source,
            line,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8",
        )
    return None


def _runtime_problem(
    project: Project, exc: BaseException, source: str, context: dict[str, Any]
) -> Diagnostic:
    line, trace = _template_frames(project, exc, source)
    where = trace[0][0] if trace else source
    hint = None
    if isinstance(exc, TemplateFailure):
        message = str(exc)
    elif isinstance(exc, SecurityError):
        message = f"unsafe template code refused: {exc}"
    elif isinstance(exc, RecursionError):
        message = "template recursion too deep (a macro or include that calls itself?)"
    elif isinstance(exc, jinja2.UndefinedError):
        message = str(exc.message or exc)
        match = re.match(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$", message)
        if match:
            suggestion = did_you_mean(match.group(1), [*context, *_GLOBAL_NAMES])
            if suggestion:
                message += f" (did you mean '{suggestion}'?)"
            else:
                hint = "define it under `vars:` in the env file, or pass --set NAME=value"
    elif isinstance(exc, OverflowError):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}"
    return Diagnostic(where, line, message, hint, tuple(f"{p}:{n}" for p, n in trace[1:]))


_GLOBAL_NAMES = (
    "required",
    "fail",
    "scheduled_time",
    "task_name",
    "execution_id",
    "secret",
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
)


def _template_frames(
    project: Project, exc: BaseException, source: str
) -> tuple[int | None, list[tuple[str, int]]]:
    """Template frames of the traceback, innermost first: ``(line, [(path, line), ...])``."""
    frames: list[tuple[str, int]] = []
    templates = str(project.templates)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(templates + os.sep) and frame.lineno:
            entry = (_template_path(project, frame.filename, source), frame.lineno)
            if not frames or frames[-1] != entry:
                frames.append(entry)
    frames.reverse()
    if not frames:
        return None, []
    return frames[0][1], frames


def _template_path(project: Project, filename: str | None, fallback: str) -> str:
    if not filename:
        return fallback
    return project.relative(Path(filename))


def iter_documents(text: str) -> Iterator[str]:
    """Split rendered text on YAML document markers (for ``--stdout`` and tests)."""
    yield from (part for part in re.split(r"(?m)^---\s*$", text) if part.strip())
