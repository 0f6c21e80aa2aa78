"""Stage 3: rendered documents → validated tasks → a manifest (and the ``build/`` folder).

Every problem of every template and document is collected before anything is reported; nothing is
written unless the whole environment is valid.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdacron import __version__
from lambdacron.cronspec import expand_hash, has_hash
from lambdacron.errors import Diagnostic, InvalidInputError
from lambdacron.project import Environment, Project
from lambdacron.render import RenderedTemplate, render_all
from lambdacron.runtime.manifest import Manifest, Task, dumps, paused_gc
from lambdacron.schema import NAME_PATTERN, validate_task
from lambdacron.yamlio import Document, YamlError, load_documents

SCHEMA_FILE = ".lambdacron/task.schema.json"
TASK_DEFAULTS: dict[str, Any] = {"timezone": "UTC", "enabled": True, "retries": 2}


@dataclass(frozen=True)
class TaskFile:
    """One rendered task as written to ``build/<env>/tasks/<name>.yml``."""

    path: str
    text: str
    task: Task
    name_line: int


@dataclass(frozen=True)
class Build:
    """A valid environment: its manifest (version 0, unpublished) and its rendered files."""

    env: Environment
    manifest: Manifest
    files: tuple[TaskFile, ...]


@dataclass
class _Candidate:
    source: str
    path: str
    text: str
    document: Document
    header_lines: int

    def line(self, path: tuple[str | int, ...]) -> int:
        return self.header_lines + self.document.line_of(path) - self.document.first_line + 1

    def problem(
        self, path: tuple[str | int, ...], message: str, hint: str | None = None
    ) -> Diagnostic:
        return Diagnostic(
            self.path, self.line(path), message, hint, (f"rendered from {self.source}",)
        )


def compile_env(project: Project, env: Environment) -> Manifest:
    """Render and validate ``env``; the manifest to publish (raises InvalidInputError)."""
    return build_env(project, env).manifest


def build_env(project: Project, env: Environment) -> Build:
    # Rendering and validating 10,000 tasks allocates millions of objects; the collector's
    # passes over them cost as much as the work itself.
    with paused_gc(freeze=False):
        return _build(project, env)


def _build(project: Project, env: Environment) -> Build:
    rendered, problems = render_all(project, env)
    candidates = _split(project, env, rendered, problems)
    files: list[TaskFile] = []
    for candidate in candidates:
        task, task_problems = _task(candidate, env)
        problems.extend(task_problems)
        if task is not None:
            files.append(TaskFile(candidate.path, candidate.text, task, candidate.line(("name",))))
    problems.extend(_duplicates(files))
    if problems:
        raise InvalidInputError(problems, env=env.name)
    manifest = Manifest(
        env=env.name,
        tasks=tuple(sorted((f.task for f in files), key=lambda t: t.name)),
        generator=f"lambdacron {__version__}",
    ).with_digest()
    return Build(env, manifest, tuple(sorted(files, key=lambda f: f.task.name)))


def _split(
    project: Project,
    env: Environment,
    rendered: Sequence[RenderedTemplate],
    problems: list[Diagnostic],
) -> list[_Candidate]:
    """Each rendered template's YAML documents, with the build path each one is written to."""
    tasks_dir = f"{project.relative(project.build)}/{env.name}/tasks"
    candidates = []
    for item in rendered:
        stem = Path(item.source).name.rsplit(".", 2)[0]
        try:
            documents = load_documents(item.text)
        except YamlError as exc:
            problems.append(
                Diagnostic(
                    f"{tasks_dir}/{stem}.yml",
                    exc.line and exc.line + 1,
                    exc.message,
                    None,
                    (f"rendered from {item.source}",),
                )
            )
            continue
        lines = item.text.splitlines()
        header = f"# Source: {item.source}" + _schema_hint(project, env)
        for index, document in enumerate(documents):
            name = document.data.get("name") if isinstance(document.data, dict) else None
            if isinstance(name, str) and NAME_PATTERN.match(name):
                path = f"{tasks_dir}/{name}.yml"
            else:
                path = f"{tasks_dir}/{stem}{'' if len(documents) == 1 else f'.{index + 1}'}.yml"
            body = "\n".join(lines[document.first_line - 1 : document.last_line])
            candidates.append(
                _Candidate(
                    item.source, path, f"{header}\n{body}\n", document, header.count("\n") + 1
                )
            )
    return candidates


def _schema_hint(project: Project, env: Environment) -> str:
    """The editor's schema line for rendered files, once ``init`` has written the schema."""
    schema = project.root / SCHEMA_FILE
    if not schema.is_file():
        return ""
    relative = os.path.relpath(schema, project.build / env.name / "tasks")
    return f"\n# yaml-language-server: $schema={Path(relative).as_posix()}"


def _task(candidate: _Candidate, env: Environment) -> tuple[Task | None, list[Diagnostic]]:
    data = candidate.document.data
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("str", "string").replace("list", "list")
        return None, [
            candidate.problem(
                (),
                f"a task must be a mapping of keys to values, got a {kind}",
                "start the document with `name:`, `expression:` and `task:`",
            )
        ]
    merged = {**TASK_DEFAULTS, **dict(env.defaults), **data}
    seed = f"{env.name}/{merged.get('name')}"
    problems = [
        candidate.problem(p.path, p.message, p.hint) for p in validate_task(merged, hash_seed=seed)
    ]
    if problems:
        return None, problems
    # The concrete line (H made concrete, white space folded) is what runs and what is hashed.
    source_expression = merged["expression"]
    expression = expand_hash(source_expression, seed)
    extra = {"expression_source": source_expression} if has_hash(source_expression) else {}
    return Task(
        name=merged["name"],
        expression=expression,
        timezone=merged["timezone"],
        target=merged["task"],
        enabled=merged["enabled"],
        retries=merged["retries"],
        description=merged.get("description"),
        source=candidate.source,
        extra=extra,
    ), []


def _duplicates(files: Sequence[TaskFile]) -> list[Diagnostic]:
    """Names must be unique per env, also after case folding (build files would collide)."""
    seen: dict[str, TaskFile] = {}
    problems = []
    for file in files:
        key = file.task.name.casefold()
        first = seen.get(key)
        if first is None:
            seen[key] = file
            continue
        same = first.task.name == file.task.name
        what = (
            f"duplicate task name '{file.task.name}'"
            if same
            else (
                f"task name '{file.task.name}' collides with '{first.task.name}' (names must differ by more than case)"
            )
        )
        problems.append(
            Diagnostic(
                file.path,
                file.name_line,
                what,
                f"first defined in {first.task.source}; rename one of them",
                (f"rendered from {file.task.source}",),
            )
        )
    return problems


def write_build(build: Build, out: Path) -> Path:
    """Write ``<out>/tasks/*.yml`` and ``<out>/manifest.json`` atomically (all or nothing)."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (staging / "tasks").mkdir()
        for file in build.files:
            (staging / "tasks" / f"{file.task.name}.yml").write_text(file.text, encoding="utf-8")
        (staging / "manifest.json").write_bytes(dumps(build.manifest) + b"\n")
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out
