"""Shell completion: environment names from ``envs/`` and task names of the rendered environment.

The shell runs these on every <TAB>, so they stay quick and silent: whatever goes wrong (no
project, an env that does not load, a template that does not render) gives no completions rather
than an error printed into the user's command line. Attach them with typer's ``autocompletion=``.
The context is ``typer.Context``: typer vendors click and matches the callback's parameters by
that type.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import typer


def complete_env(ctx: typer.Context, incomplete: str) -> list[str]:
    """The concrete environments of the project (``--project`` when already on the line)."""
    from lambdacron.project import find_project

    try:
        names = find_project(_project(ctx)).env_names()
    except Exception:  # any failure means "nothing to offer", never a message in the shell
        return []
    return [name for name in names if name.startswith(incomplete)]


def complete_task(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The task names of the env given with ``--env`` (rendered, with ``--set``), each with its
    description or expression as the help the shell shows next to it."""
    from lambdacron.build import compile_env
    from lambdacron.cli.common import load_project_env

    env = ctx.params.get("env")
    if not isinstance(env, str) or not env:
        return []
    sets = ctx.params.get("set_") or ()
    # Completion output is read by the shell from stdout: nothing else may reach it.
    quiet = io.StringIO()
    try:
        with redirect_stdout(quiet), redirect_stderr(quiet):
            project, environment = load_project_env(_project(ctx), env, list(sets))
            manifest = compile_env(project, environment)
    except Exception:  # any failure means "nothing to offer", never a message in the shell
        return []
    return [
        (task.name, task.description or task.expression)
        for task in manifest.tasks
        if task.name.startswith(incomplete)
    ]


def _project(ctx: typer.Context) -> Path | None:
    value = ctx.params.get("project")
    return Path(value) if isinstance(value, str | Path) else None
