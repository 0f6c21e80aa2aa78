"""Commands of publishing: plan, publish, history, rollback.

The plan and the history are data (stdout, ``--output json``); progress, questions and outcomes are
messages (stderr).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from lambdacron.build import compile_env
from lambdacron.cli.common import (
    EnvOption,
    Output,
    OutputOption,
    ProjectOption,
    app,
    confirm,
    load_project_env,
    message,
    print_json,
    print_table,
)
from lambdacron.cli.compile import github_annotation
from lambdacron.errors import InvalidInputError, UsageError
from lambdacron.plan import Plan, render_text
from lambdacron.project import Environment
from lambdacron.publish import (
    Draft,
    Identity,
    commit,
    git_info,
    open_env_store,
    prepare,
    prepare_rollback,
    publisher,
)
from lambdacron.publish import history as read_history
from lambdacron.runtime.manifest import Manifest
from lambdacron.runtime.store import Store

PLAN_CHANGES_EXIT = 10

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required without a TTY).")
]
MessageOption = Annotated[
    str | None, typer.Option("--message", "-m", help="Why: recorded in the version.")
]


@app.command()
def plan(
    env: EnvOption,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help=f"Exit {PLAN_CHANGES_EXIT} when there are changes.")
    ] = False,
    output: Annotated[
        str, typer.Option("--output", "-o", help="text, json or github (workflow annotations).")
    ] = "text",
    project: ProjectOption = None,
) -> None:
    """Show what publishing would change: tasks added (+), changed (~, field: old → new) and
    removed (-)."""
    if output not in ("text", "json", "github"):
        raise UsageError(f"--output {output!r}: choose text, json or github")
    found, environment = load_project_env(project, env)
    try:
        manifest = compile_env(found, environment)
    except InvalidInputError as exc:
        if output == "github":
            for diagnostic in exc.diagnostics:
                typer.echo(github_annotation(diagnostic))
        raise
    store, _ = open_env_store(environment)
    draft = prepare(store, environment.name, manifest)
    if output == "github":
        _show_plan(draft, store, Output.text)
        for line in plan_annotations(draft.plan, manifest):
            typer.echo(line)
    else:
        _show_plan(draft, store, Output(output))
    if exit_code and draft.plan.has_changes:
        raise typer.Exit(PLAN_CHANGES_EXIT)


@app.command()
def publish(
    env: EnvOption,
    yes: YesOption = False,
    message_: MessageOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan and stop; write nothing.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Validate, show the plan, write the env's next version and make it live."""
    found, environment = load_project_env(project, env)
    manifest = compile_env(found, environment)
    store, checked = open_env_store(environment)
    draft = prepare(store, environment.name, replace(manifest, git=git_info(found)))
    _show_plan(draft, store, Output.text)
    if _nothing_to_do(draft, dry_run):
        return
    confirm(f"Publish version {draft.number} of env {environment.name} to {store.url}?", yes)
    _commit(store, draft, environment, checked, message_)


@app.command()
def history(
    env: EnvOption,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show the last N versions (0: all).", min=0)
    ] = 20,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """The published versions, newest first: number, time, who, message, digest, tasks, git."""
    _, environment = load_project_env(project, env)
    store, _ = open_env_store(environment)
    entries = read_history(store, environment.name, limit or None)
    if output is Output.json:
        print_json([entry.to_dict() for entry in entries])
        return
    if not entries:
        message(f"Nothing published yet for env {environment.name} in {store.url}.")
        return
    rows = [
        [
            entry.version,
            entry.state,
            entry.published_at,
            entry.published_by,
            entry.message,
            entry.digest.removeprefix("sha256:")[:12],
            entry.tasks,
            _git_text(entry.git_commit, entry.git_dirty),
        ]
        for entry in entries
    ]
    print_table(["VERSION", "STATE", "PUBLISHED", "BY", "MESSAGE", "DIGEST", "TASKS", "GIT"], rows)


@app.command()
def rollback(
    env: EnvOption,
    to: Annotated[
        int, typer.Option("--to", help="The version whose tasks to publish again.", min=1)
    ],
    yes: YesOption = False,
    message_: MessageOption = None,
    project: ProjectOption = None,
) -> None:
    """Publish version N's tasks again, as a new version recorded as a rollback of N."""
    _, environment = load_project_env(project, env)
    store, checked = open_env_store(environment)
    draft = prepare_rollback(store, environment.name, to)
    _show_plan(draft, store, Output.text)
    if _nothing_to_do(draft, dry_run=False):
        return
    confirm(
        f"Publish version {draft.number} of env {environment.name} (a rollback of {to}) to "
        f"{store.url}?",
        yes,
    )
    _commit(store, draft, environment, checked, message_)


def plan_annotations(plan: Plan, manifest: Manifest) -> list[str]:
    """GitHub workflow ``::notice`` lines: one per task that would change, then the summary."""
    sources = {task.name: task.source for task in (*plan.removed, *manifest.tasks)}
    entries = [
        *((t.name, "+", "added") for t in plan.added),
        *((c.name, "~", "changed: " + ", ".join(f.path for f in c.changes)) for c in plan.changed),
        *((t.name, "-", "removed") for t in plan.removed),
    ]
    title = f"title=lambdacron plan (env {manifest.env})"
    lines = []
    for name, sign, what in entries:
        where = f"file={sources[name]}," if sources.get(name) else ""
        lines.append(f"::notice {where}{title}::{sign} {name} {what}")
    lines.append(f"::notice {title}::{plan.summary}")
    return lines


def _show_plan(draft: Draft, store: Store, output: Output) -> None:
    if draft.live_problem:
        message(
            f"warning: the live manifest cannot be used ({draft.live_problem}); "
            "planning against nothing, and publishing replaces it"
        )
    if output is Output.json:
        print_json({**draft.plan.to_dict(), "store": store.url, "next_version": draft.number})
        return
    live = draft.plan.live_version
    against = "nothing published yet" if live is None else f"live version {live}"
    message(f"env {draft.env} in {store.url}: {against}")
    typer.echo(render_text(draft.plan))


def _nothing_to_do(draft: Draft, dry_run: bool) -> bool:
    if not draft.plan.has_changes and not draft.live_problem:
        live = "nothing published" if draft.live is None else f"version {draft.live.version}"
        message(f"No changes: env {draft.env} is up to date ({live}). Nothing was written.")
        return True
    if dry_run:
        message("Dry run: nothing was written.")
        return True
    return False


def _commit(
    store: Store, draft: Draft, environment: Environment, checked: Identity | None, text: str | None
) -> None:
    final = commit(store, draft, published_by=publisher(store, environment, checked), message=text)
    message(
        f"Published version {final.version} of env {final.env}: {len(final.tasks)} tasks, "
        f"{final.digest}, {store.location(final.env)}"
    )


def _git_text(commit_id: str | None, dirty: bool | None) -> str:
    if commit_id is None:
        return ""
    return commit_id[:12] + ("+dirty" if dirty else "")
