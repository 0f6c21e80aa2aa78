"""Stage 2: render templates against an environment into YAML task documents.

The Jinja environment is sandboxed and immutable, undefined names are errors, loading is confined
to ``templates/`` (symlinks leading out included), every loaded file is checked (size, text,
UTF-8), output is bounded, and the helpers of the brief are globals. Runtime values (the
scheduled time, secrets) render to placeholders that the scheduler expands at fire time.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import TemplateNotFound, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lambdacron.errors import Diagnostic
from lambdacron.project import HELPERS, Environment, Project
from lambdacron.runtime.placeholders import placeholder
from lambdacron.suggest import did_you_mean

TEMPLATE_SUFFIXES = (".yml.j2", ".yaml.j2")
MAX_TEMPLATE_BYTES = 1024 * 1024
# One value built in a template (a string or list multiplied) and all output of one template.
MAX_VALUE_BYTES = 1024 * 1024
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_EXPONENT = 1000
MAX_TRACE = 8
CONFINED = "templates are confined to the templates folder: copy it in instead"
SECRET_REF = re.compile(
    r"^(ssm:/[A-Za-z0-9_.\-/]+|secretsmanager:[A-Za-z0-9/_+=.@\-]+(#[^#\s]+)?)$"
)
# Characters YAML cannot hold literally in a double-quoted scalar; everything else stays as is.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")


class TemplateFailure(Exception):
    """Raised by ``fail()``, ``required()`` and the sandbox's limits: a message for the author."""


class TemplateFileError(Exception):
    """A file that cannot be a template (binary, not UTF-8, too large, leading outside)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class RenderedTemplate:
    """One template's output: its project-relative path and the rendered text."""

    source: str
    text: str


class StrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined that suggests the key meant: ``batch.quue`` → did you mean 'queue'?"""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        message = str(super()._undefined_message)
        obj, name = self._undefined_obj, self._undefined_name
        if isinstance(obj, Mapping) and isinstance(name, str):
            suggestion = did_you_mean(name, [str(key) for key in obj])
            if suggestion:
                message += f" (did you mean '{suggestion}'?)"
        return message


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus limits on values that would exhaust memory or time."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for value, times in ((left, right), (right, left)):
                if (
                    isinstance(value, str | list | tuple)
                    and isinstance(times, int)
                    and len(value) * times > MAX_VALUE_BYTES
                ):
                    raise TemplateFailure(
                        f"template output too large: more than {MAX_VALUE_BYTES // 1024} KiB "
                        "(a string or list multiplied too far?)"
                    )
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise TemplateFailure(f"exponent {right} is too large (at most {MAX_EXPONENT})")
        return super().call_binop(context, operator, left, right)


class _ConfinedLoader(jinja2.BaseLoader):
    """Loads templates from ``templates/`` only, checking each file before Jinja reads it."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.templates.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.root.joinpath(*split_template_path(template))
        if not path.exists() and not path.is_symlink():
            raise TemplateNotFound(template)
        problem = check_file(self.project, path, included=True)
        if problem is not None:
            raise TemplateFileError(problem)
        mtime = path.stat().st_mtime
        return path.read_text(encoding="utf-8"), str(path), lambda: path.stat().st_mtime == mtime


def check_file(project: Project, path: Path, included: bool = False) -> Diagnostic | None:
    """Why ``path`` cannot be a template, or None."""
    source = _unresolved(project, path)
    try:
        size = path.stat().st_size  # first: a dangling symlink cannot be read, wherever it leads
        if not path.resolve().is_relative_to(project.templates.resolve()):
            return Diagnostic(source, None, "symlink leading outside templates/", CONFINED)
        if size > MAX_TEMPLATE_BYTES:
            return Diagnostic(
                source,
                None,
                f"template is {size / 1e6:.1f} MB; templates are limited to "
                f"{MAX_TEMPLATE_BYTES // 1024} KiB",
                "split it into several templates",
            )
        raw = path.read_bytes()
    except OSError as exc:
        return Diagnostic(source, None, f"cannot read: {exc.strerror or exc}")
    if b"\x00" in raw:
        hint = (
            "only text files can be included"
            if included
            else "remove it, or prefix its name with '_' if it is not a template"
        )
        return Diagnostic(source, None, "binary file in templates/ (it holds a NUL byte)", hint)
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


def _unresolved(project: Project, path: Path) -> str:
    """A symlink's own project-relative path (not where it leads)."""
    try:
        return path.absolute().relative_to(project.root).as_posix()
    except ValueError:
        return str(path)


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


def _tojson(value: Any, indent: int | None = None) -> str:
    """JSON that YAML reads back as the same value: non-ASCII text is written as is (Jinja's
    own filter writes astral characters as surrogate pairs, which YAML refuses)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=indent)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def make_environment(project: Project) -> ImmutableSandboxedEnvironment:
    """The Jinja environment every template of a project renders in."""
    env = _Sandbox(
        loader=_ConfinedLoader(project),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
    )
    env.filters["tojson"] = _tojson
    env.globals.update(
        required=_required,
        fail=_fail,
        scheduled_time=_scheduled_time,
        task_name=lambda: placeholder("task_name"),
        execution_id=lambda: placeholder("execution_id"),
        secret=_secret,
    )
    return env


def template_names(project: Project) -> tuple[list[str], list[Diagnostic]]:
    """Templates that render tasks (``*.yml.j2`` not under a ``_`` file or folder), and the
    folders that cannot be read as templates (symlinks leading outside, loops)."""
    names: list[str] = []
    problems: list[Diagnostic] = []
    root = project.templates.resolve()
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(project.templates, followlinks=True):
        here = Path(dirpath)
        seen.add(here.resolve())
        keep = []
        for name in sorted(dirnames):
            folder = here / name
            if name.startswith(("_", ".")):
                continue
            target = folder.resolve()
            if not target.is_relative_to(root):
                problems.append(
                    Diagnostic(
                        _unresolved(project, folder),
                        None,
                        "symlink leading outside templates/",
                        CONFINED,
                    )
                )
            elif target not in seen:
                keep.append(name)
        dirnames[:] = keep
        for filename in sorted(filenames):
            if filename.startswith(("_", ".")) or not filename.endswith(TEMPLATE_SUFFIXES):
                continue
            names.append((here / filename).relative_to(project.templates).as_posix())
    return names, problems


def render_all(
    project: Project, env: Environment
) -> tuple[list[RenderedTemplate], list[Diagnostic]]:
    """Render every task template; returns the outputs and every problem found."""
    jinja = make_environment(project)
    context = env.template_context()
    rendered: list[RenderedTemplate] = []
    names, problems = template_names(project)
    prefix = project.relative(project.templates)
    for name in names:
        result = _render_one(jinja, project, name, f"{prefix}/{name}", context)
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
    problem = check_file(project, project.templates / name)
    if problem is not None:
        return problem
    cycle = _extends_cycle(jinja, project, name)
    if cycle is not None:
        return cycle
    try:
        return RenderedTemplate(source, _bounded(jinja.get_template(name), context))
    except jinja2.TemplateSyntaxError as exc:
        return Diagnostic(
            _template_path(project, exc.filename or None, source),
            exc.lineno,
            f"template syntax error: {exc.message}",
        )
    except TemplateFileError as exc:
        _, trace = _template_frames(project, exc, source)
        found = exc.diagnostic
        return Diagnostic(found.path, found.line, found.message, found.hint, _places(trace))
    except TemplateNotFound as exc:
        line, trace = _template_frames(project, exc, source)
        return Diagnostic(
            trace[0][0] if trace else source,
            line,
            f"template '{exc.name}' not found in {project.relative(project.templates)}/",
            "includes and imports are confined to the templates folder",
            _places(trace[1:]),
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


def _bounded(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render, refusing output past MAX_OUTPUT_BYTES (a loop that never ends in practice)."""
    parts: list[str] = []
    size = 0
    for part in template.generate(context):
        size += len(part)
        if size > MAX_OUTPUT_BYTES:
            raise TemplateFailure(
                f"template output too large: more than {MAX_OUTPUT_BYTES // 1024} KiB "
                "(a loop that runs too often?)"
            )
        parts.append(part)
    return "".join(parts)


def _extends_cycle(
    jinja: ImmutableSandboxedEnvironment, project: Project, name: str
) -> Diagnostic | None:
    """A chain of ``{% extends %}`` that comes back on itself, found before rendering."""
    chain = [name]
    current = name
    while True:
        try:
            source, filename, _ = jinja.loader.get_source(jinja, current)  # type: ignore[union-attr]
            tree = jinja.parse(source)
        except (jinja2.TemplateError, TemplateFileError, OSError):
            return None  # rendering reports it, with its own message
        extends = next(iter(tree.find_all(nodes.Extends)), None)
        if extends is None or not isinstance(extends.template, nodes.Const):
            return None
        parent = str(extends.template.value)
        if parent in chain:
            return Diagnostic(
                project.relative(Path(filename or name)),
                extends.lineno,
                "extends cycle: " + " → ".join([*chain, parent]),
                "remove one of the {% extends %} tags",
            )
        chain.append(parent)
        current = parent


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
        trace = _one_cycle(trace)
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
    return Diagnostic(where, line, message, hint, _places(trace[1:]))


_GLOBAL_NAMES = (*HELPERS, "range", "dict", "lipsum", "cycler", "joiner", "namespace")


def _one_cycle(trace: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """A recursion's frames up to the first repeat: the cycle, not a thousand lines."""
    seen: set[tuple[str, int]] = set()
    cycle = []
    for frame in trace:
        if frame in seen:
            break
        seen.add(frame)
        cycle.append(frame)
    return cycle


def _places(trace: list[tuple[str, int]]) -> tuple[str, ...]:
    places = tuple(f"{path}:{line}" for path, line in trace[:MAX_TRACE])
    if len(trace) > MAX_TRACE:
        places += (f"(… {len(trace) - MAX_TRACE} more)",)
    return places


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
