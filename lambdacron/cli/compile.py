"""Commands of the compiler: init, render, validate, list, next, schema."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from lambdacron.build import build_env, write_build
from lambdacron.cli.common import (
    EnvOption,
    OptionalEnvOption,
    OptionalTaskArgument,
    Output,
    OutputOption,
    ProjectOption,
    SetOption,
    app,
    load_manifest,
    load_project_env,
    message,
    parse_time,
    print_json,
    print_table,
)
from lambdacron.errors import Diagnostic, InvalidInputError, UsageError
from lambdacron.project import find_project, load_env
from lambdacron.runtime.manifest import Task

PublishedOption = Annotated[
    bool,
    typer.Option(
        "--published", help="Use the live manifest in the store, not the rendered project."
    ),
]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that already exist.")
    ] = False,
) -> None:
    """Scaffold a working project: templates (the FINP report), envs (dev, prod) and .gitignore."""
    from lambdacron.scaffold import scaffold

    written = scaffold(directory, force=force)
    for path in written:
        message(f"created {path}")
    message(
        f"Project ready in {directory}. Next: lambdacron validate --all-envs, lambdacron render --env dev"
    )


@app.command()
def render(
    env: EnvOption,
    set_: SetOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of build/<env>/.")
    ] = None,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="Print the rendered tasks; write nothing.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Render templates/ against envs/<ENV>.yml into build/<ENV>/tasks/*.yml and manifest.json."""
    if out is not None and stdout:
        raise UsageError("--out and --stdout exclude each other; choose one")
    found, environment = load_project_env(project, env, set_)
    build = build_env(found, environment)
    if stdout:
        sys.stdout.write("".join(f"---\n{file.text}" for file in build.files))
        return
    target = write_build(build, out if out is not None else found.build / environment.name)
    message(
        f"Rendered {len(build.files)} tasks for env {environment.name} into {found.relative(target)}/"
    )


@app.command()
def validate(
    env: OptionalEnvOption = None,
    all_envs: Annotated[
        bool, typer.Option("--all-envs", help="Validate every environment.")
    ] = False,
    set_: SetOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text, json or github.")] = "text",
    project: ProjectOption = None,
) -> None:
    """Report every template, YAML, schema, cron and duplicate-name error at once."""
    if output not in ("text", "json", "github"):
        raise UsageError(f"--output {output!r}: choose text, json or github")
    found = find_project(project)
    if env is None and not all_envs:
        raise UsageError("pass --env ENV or --all-envs")
    names = found.env_names() if all_envs else [env or ""]
    if not names:
        raise UsageError("envs/ holds no environment to validate; add envs/dev.yml")
    failures: list[InvalidInputError] = []
    report: list[dict[str, Any]] = []
    for name in names:
        try:
            manifest = build_env(found, load_env(found, name, set_ or ())).manifest
            report.append({"env": name, "valid": True, "tasks": len(manifest.tasks), "errors": []})
            if output == "text":
                message(f"env {name}: {len(manifest.tasks)} tasks valid")
        except InvalidInputError as exc:
            failures.append(exc)
            report.append(
                {
                    "env": name,
                    "valid": False,
                    "errors": [_diagnostic_json(d) for d in exc.diagnostics],
                }
            )
    if output == "json":
        print_json(report)
    elif output == "github":
        for failure in failures:
            for diagnostic in failure.diagnostics:
                sys.stdout.write(github_annotation(diagnostic) + "\n")
    if failures:
        if output == "text" or len(failures) > 1:
            raise InvalidInputError(
                [d for f in failures for d in f.diagnostics],
                env=failures[0].env if len(failures) == 1 else None,
            )
        raise failures[0]


def _diagnostic_json(diagnostic: Diagnostic) -> dict[str, Any]:
    return {
        "file": diagnostic.path,
        "line": diagnostic.line,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
        "trace": list(diagnostic.trace),
    }


def github_annotation(diagnostic: Diagnostic) -> str:
    """A GitHub Actions ``::error`` workflow command for one diagnostic."""

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    props = []
    if diagnostic.path:
        props.append(f"file={escape(diagnostic.path).replace(',', '%2C').replace(':', '%3A')}")
    if diagnostic.line:
        props.append(f"line={diagnostic.line}")
    text = diagnostic.message + (f" ({diagnostic.hint})" if diagnostic.hint else "")
    return f"::error {','.join(props)}::{escape(text)}" if props else f"::error::{escape(text)}"


@app.command("list")
def list_(
    env: EnvOption,
    published: PublishedOption = False,
    set_: SetOption = None,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """Tasks: name, type, expression in plain words, time zone, enabled, next run."""
    found, environment = load_project_env(project, env, set_)
    manifest = load_manifest(found, environment, published)
    now = datetime.now(UTC)
    rows = [_task_row(task, now) for task in manifest.tasks]
    if output is Output.json:
        print_json(rows)
        return
    print_table(
        ["NAME", "TYPE", "EXPRESSION", "SCHEDULE", "TIMEZONE", "ENABLED", "NEXT RUN"],
        [
            [
                r["name"],
                r["type"],
                r["expression"]
                + (f" (from {r['expression_source']})" if r.get("expression_source") else ""),
                r["description"],
                r["timezone"],
                "yes" if r["enabled"] else "no",
                r["next_run"] or "-",
            ]
            for r in rows
        ],
    )


def _task_row(task: Task, now: datetime) -> dict[str, Any]:
    from lambdacron.describe import describe

    next_runs = _next_runs(task, now, 1) if task.enabled else []
    row: dict[str, Any] = {
        "name": task.name,
        "type": task.type,
        "expression": task.expression,
        "description": describe(task.expression),
        "timezone": task.timezone,
        "enabled": task.enabled,
        "next_run": next_runs[0].isoformat() if next_runs else None,
        "source": task.source,
    }
    if task.extra.get("expression_source"):
        row["expression_source"] = task.extra["expression_source"]
    return row


def _next_runs(task: Task, after: datetime, count: int) -> list[datetime]:
    from lambdacron.runtime.cron import Schedule

    return list(Schedule(task.expression, task.timezone).next_fire_times(after, count))


@app.command("next")
def next_(
    env: EnvOption,
    task: OptionalTaskArgument = None,
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, max=1000, help="How many fire times per task.")
    ] = 5,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start after this ISO time (default: now).")
    ] = None,
    published: PublishedOption = False,
    set_: SetOption = None,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """Upcoming fire times, in each task's time zone."""
    found, environment = load_project_env(project, env, set_)
    manifest = load_manifest(found, environment, published)
    start = parse_time(from_, "--from") if from_ else datetime.now(UTC)
    tasks = list(manifest.tasks)
    if task is not None:
        chosen = manifest.task(task)
        if chosen is None:
            from lambdacron.suggest import did_you_mean

            hint = did_you_mean(task, [t.name for t in tasks])
            raise UsageError(
                f"env {environment.name} has no task '{task}'"
                + (f" (did you mean '{hint}'?)" if hint else "")
            )
        tasks = [chosen]
    rows: list[dict[str, Any]] = []
    for item in tasks:
        runs = _next_runs(item, start, count) if item.enabled else []
        rows.append(
            {
                "task": item.name,
                "timezone": item.timezone,
                "enabled": item.enabled,
                "next": [r.isoformat() for r in runs],
            }
        )
    if output is Output.json:
        print_json(rows)
        return
    table = []
    for row in rows:
        if not row["enabled"]:
            table.append([row["task"], "(disabled)", ""])
        for when in row["next"] or ([] if not row["enabled"] else ["never"]):
            utc = (
                datetime.fromisoformat(when).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                if when != "never"
                else ""
            )
            table.append([row["task"], when, utc])
    print_table(["TASK", "LOCAL TIME", "UTC"], table)


@app.command()
def schema(
    output: Annotated[
        str, typer.Option("--output", "-o", help="json (the only format of a JSON Schema).")
    ] = "json",
) -> None:
    """JSON Schema (draft 2020-12) of the task format, for editors."""
    if output != "json":
        raise UsageError(f"--output {output!r}: a JSON Schema is JSON; use --output json")
    from lambdacron.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=False) + "\n")
