"""What every command shares: the typer app, common options, consoles and table output.

Data goes to stdout, messages and errors to stderr; colour only on a terminal, never with NO_COLOR.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from lambdacron.cli.complete import complete_env, complete_task
from lambdacron.project import Environment, Project, find_project, load_env
from lambdacron.runtime.manifest import Manifest


class _Group(TyperGroup):
    """Maps every LambdacronError to its message on stderr and its exit code, in one place."""

    def invoke(self, ctx: Any) -> Any:
        from lambdacron.errors import LambdacronError

        try:
            return super().invoke(ctx)
        except LambdacronError as exc:
            err_console.print(str(exc), markup=False, highlight=False)
            ctx.exit(exc.exit_code)


app = typer.Typer(
    name="lambdacron",
    cls=_Group,
    help="Serverless cron for AWS: Jinja-templated YAML tasks, validated, published as one "
    "versioned manifest, fired by a scheduler Lambda.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


class Output(StrEnum):
    text = "text"
    json = "json"


ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project folder (default: the current directory or the nearest parent holding "
        "templates/ and envs/).",
        show_default=False,
    ),
]
EnvOption = Annotated[
    str,
    typer.Option("--env", "-e", help="Environment: envs/<ENV>.yml.", autocompletion=complete_env),
]
OptionalEnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Environment: envs/<ENV>.yml.", autocompletion=complete_env),
]
TaskArgument = Annotated[str, typer.Argument(help="Task name.", autocompletion=complete_task)]
OptionalTaskArgument = Annotated[
    str | None, typer.Argument(help="Only this task.", autocompletion=complete_task)
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a template variable for this run: path.to.key=value (value parsed as "
        "YAML). Repeatable.",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="Output format for data.", case_sensitive=False)
]


def message(text: str) -> None:
    """A message for the person at the terminal (stderr)."""
    err_console.print(text, markup=False, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
) -> None:
    """A rich table on a terminal; aligned plain text (stable for scripts and tests) otherwise."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if out_console.is_terminal:
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*row)
        out_console.print(table)
        return
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def confirm(question: str, yes: bool) -> None:
    """Ask on a TTY; without one, ``--yes`` is required (exit 2 otherwise)."""
    from lambdacron.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} No terminal to ask on: pass --yes to confirm.")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Abort()


def parse_time(text: str, option: str = "--at") -> datetime:
    """An ISO time from the command line, as an aware UTC datetime. Naive means UTC."""
    from lambdacron.errors import UsageError

    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not an ISO time; e.g. {option} 2026-12-05T17:00 (UTC), "
            f"2026-12-05T17:00Z or 2026-12-05T12:00-05:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def load_project_env(
    project: Path | None, env: str, sets: Sequence[str] | None = None
) -> tuple[Project, Environment]:
    """The project and the merged environment a command works on."""
    found = find_project(project)
    return found, load_env(found, env, sets or ())


def load_manifest(project: Project, env: Environment, published: bool) -> Manifest:
    """The rendered project's manifest, or with ``published`` the live one from the store."""
    if not published:
        from lambdacron.build import compile_env

        return compile_env(project, env)
    from lambdacron.errors import UsageError
    from lambdacron.runtime.manifest import loads
    from lambdacron.runtime.store import open_store

    store = open_store(env.store, region=env.region)
    live = store.read_live(env.name)
    if live is None:
        raise UsageError(
            f"env {env.name}: nothing published yet in {env.store}; run `lambdacron publish --env {env.name}`"
            " or drop --published to use the rendered project"
        )
    return loads(live.data, source=f"{env.store}/{env.name}/manifest.json")
