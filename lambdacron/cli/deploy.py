"""Commands of the deploy stage: package, template, deploy, destroy, status, logs.

Each parses its options, calls one function of ``lambdacron.deploy`` and prints: data (the
template, outputs, status, log records) on stdout, progress and questions on stderr.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lambdacron.cli.common import (
    EnvOption,
    Output,
    OutputOption,
    ProjectOption,
    SetOption,
    app,
    confirm,
    load_project_env,
    message,
    print_json,
    print_table,
)
from lambdacron.deploy.observe import LOG_COLUMNS, Status, parse_since, read_logs
from lambdacron.deploy.observe import status as read_status
from lambdacron.deploy.package import build_package
from lambdacron.deploy.settings import load_settings
from lambdacron.deploy.stack import deploy as deploy_stack
from lambdacron.deploy.stack import destroy as destroy_stack
from lambdacron.deploy.stack import stack_outputs
from lambdacron.deploy.template import (
    render_template,
    sizing_warnings,
    template_json,
    template_yaml,
)

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required without a TTY).")
]


class TemplateFormat(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command()
def package(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the zip.", dir_okay=False)
    ] = Path("lambdacron.zip"),
    output: Annotated[
        Output, typer.Option("--output", help="Output format for data.", case_sensitive=False)
    ] = Output.text,
) -> None:
    """Build the scheduler's Lambda deployment zip (reproducible: same code, same bytes)."""
    info = build_package(out)
    data = {
        "path": str(info.path),
        "size": info.size,
        "sha256": info.sha256,
        "files": len(info.files),
        "distributions": list(info.distributions),
    }
    if output is Output.json:
        print_json(data)
        return
    print_table(
        ("zip", "size", "sha256", "files", "bundled"),
        [
            (
                info.path,
                f"{info.size:,} bytes",
                info.sha256,
                len(info.files),
                ", ".join(info.distributions),
            )
        ],
    )


@app.command()
def template(
    env: EnvOption,
    format_: Annotated[
        TemplateFormat,
        typer.Option(
            "--format", "-f", "--output", "-o", help="Template format.", case_sensitive=False
        ),
    ] = TemplateFormat.yaml,
    sets: SetOption = None,
    project: ProjectOption = None,
) -> None:
    """Print the CloudFormation template of the env's stack (IAM derived from its tasks)."""
    from lambdacron.build import compile_env

    found, environment = load_project_env(project, env, sets)
    manifest = compile_env(found, environment)
    settings = load_settings(environment)
    for warning in sizing_warnings(environment, settings, manifest):
        message(f"warning: {warning}")
    rendered = render_template(environment, manifest, settings)
    text = template_json(rendered) if format_ is TemplateFormat.json else template_yaml(rendered)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def deploy(
    env: EnvOption,
    yes: YesOption = False,
    output: OutputOption = Output.text,
    sets: SetOption = None,
    project: ProjectOption = None,
) -> None:
    """Create or update the env's stack: package, upload, change set (shown), confirm, wait."""
    from lambdacron.build import compile_env

    found, environment = load_project_env(project, env, sets)
    manifest = compile_env(found, environment)
    result = deploy_stack(
        environment, manifest, confirm=lambda question: confirm(question, yes), say=message
    )
    outputs = stack_outputs(environment, result.stack) if result.stack else {}
    if output is Output.json:
        print_json(
            {
                "stack": result.stack.name if result.stack else None,
                "status": result.stack.status if result.stack else None,
                "changes": [vars(change) for change in result.changes],
                "package": result.package_location,
                "outputs": outputs,
            }
        )
    else:
        print_table(("output", "value"), sorted(outputs.items()))
    store = outputs.get("Store")
    if store and not environment.store.startswith("s3://"):
        message(
            f"The scheduler reads manifests from {store}, but env {environment.name} publishes to "
            f"{environment.store}: set `store: {store}` in envs/{environment.name}.yml, then "
            f"`lambdacron publish --env {environment.name}`."
        )


@app.command()
def destroy(
    env: EnvOption,
    yes: YesOption = False,
    project: ProjectOption = None,
) -> None:
    """Delete the env's stack (the scheduler stops; manifests are kept)."""
    _, environment = load_project_env(project, env)
    if destroy_stack(environment, confirm=lambda question: confirm(question, yes), say=message):
        message(f"Stack {load_settings(environment).stack_name} deleted.")


@app.command()
def status(
    env: EnvOption,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """The stack's state and outputs, the live manifest, settings drift, missing permissions,
    the last processed minute and alarms in ALARM."""
    _, environment = load_project_env(project, env)
    report = read_status(environment)
    if output is Output.json:
        print_json(report.to_dict())
        return
    _print_status(report)


def _print_status(report: Status) -> None:
    data = report.to_dict()
    stack = report.stack
    lines = [
        f"stack      {report.stack_name} ({report.account}, {report.region}): {data['status']}"
    ]
    if stack is None:
        lines.append(f"           not deployed: run `lambdacron deploy --env {report.env}`")
        sys.stdout.write("\n".join(lines) + "\n")
        return
    if stack.reason:
        lines.append(f"           {stack.reason}")
    live = report.live
    lines.append(
        "manifest   "
        + (
            f"version {live.version}, {live.tasks} tasks, {live.digest}, published "
            f"{live.published_at or '?'} by {live.published_by or '?'}"
            if live
            else "nothing published"
        )
    )
    lines.append(f"processed  {report.last_processed or 'no minute yet'}")
    lines.append("settings   " + ("as the env file says" if not report.drift else "DRIFT:"))
    lines += [
        f"           {d.setting}: deployed {d.deployed!r}, env file {d.expected!r}"
        for d in report.drift
    ]
    if report.drift:
        lines.append(f"           run `lambdacron deploy --env {report.env}`")
    lines.append(
        "permissions "
        + ("cover the live manifest" if not report.missing_grants else "MISSING for live tasks:")
    )
    lines += [f"           {g.action} on {g.resource}" for g in report.missing_grants]
    if report.missing_grants:
        lines.append(f"           run `lambdacron deploy --env {report.env}`")
    lines.append("alarms     " + ("none in ALARM" if not report.alarms else "IN ALARM:"))
    lines += [f"           {name}: {reason}" for name, reason in report.alarms]
    lines += [f"problem    {problem}" for problem in report.problems]
    sys.stdout.write("\n".join(lines) + "\n")
    print_table(("output", "value"), sorted(report.outputs.items()))


@app.command()
def logs(
    env: EnvOption,
    task: Annotated[str | None, typer.Argument(help="Only this task's lines.")] = None,
    since: Annotated[
        str, typer.Option("--since", help="How far back: 30m, 1h, 2d, or an ISO time.")
    ] = "1h",
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep polling for new lines (Ctrl-C stops).")
    ] = False,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """The scheduler's log lines: one per fired task (and warnings and errors), as a table."""
    _, environment = load_project_env(project, env)
    start = parse_since(since, datetime.now(UTC))
    records = read_logs(environment, task, start, follow)
    if follow:
        # Rows as they come: a table would wait for the end.
        for record in records:
            if output is Output.json:
                sys.stdout.write(json.dumps(vars(record)) + "\n")
            else:
                sys.stdout.write("  ".join(cell for cell in record.row() if cell) + "\n")
            sys.stdout.flush()
        return
    found = list(records)
    if output is Output.json:
        print_json([vars(record) for record in found])
    elif found:
        print_table(LOG_COLUMNS, [record.row() for record in found])
    else:
        message(f"No scheduler lines since {start:%Y-%m-%d %H:%M} UTC.")
