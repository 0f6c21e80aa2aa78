"""Commands that show when things run: ``explain`` (one expression) and ``calendar`` (a week of
an environment's fires, as a heat map in the terminal, JSON, or one self-contained HTML page)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import typer

from lambdacron.cli.common import (
    EnvOption,
    Output,
    OutputOption,
    ProjectOption,
    SetOption,
    app,
    load_manifest,
    load_project_env,
    message,
    out_console,
    parse_time,
    print_json,
    print_table,
)
from lambdacron.cli.compile import PublishedOption
from lambdacron.errors import LambdacronError, UsageError
from lambdacron.suggest import did_you_mean

TzOption = Annotated[str, typer.Option("--tz", help="IANA time zone, e.g. Europe/Madrid.")]


class ExpressionError(LambdacronError):
    """``explain`` was given an expression the compiler refuses (exit 1, like invalid input)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


@app.command()
def explain(
    expression: Annotated[
        str,
        typer.Argument(
            help='A crontab expression ("0 17 5 * *"), a macro (@daily) or an H form (H H * * *).',
            show_default=False,
        ),
    ],
    tz: TzOption = "UTC",
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, max=1000, help="How many next runs to show.")
    ] = 5,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start after this ISO time (default: now).")
    ] = None,
    seed: Annotated[
        str | None,
        typer.Option(
            "--seed",
            help="ENV/TASK whose hash picks the H values, as the compiler does "
            "(e.g. prod/nightly-load).",
        ),
    ] = None,
    output: OutputOption = Output.text,
) -> None:
    """An expression in plain words, with its next runs (in --tz and in UTC)."""
    from lambdacron.cronspec import check_expression, expand_hash, has_hash
    from lambdacron.describe import describe
    from lambdacron.runtime.cron import Schedule

    zone = check_zone(tz, "--tz")
    problem = check_expression(expression, seed or "")
    if problem:
        raise ExpressionError(problem)
    hashed = has_hash(expression)
    concrete = expand_hash(expression, seed or "") if hashed else expression.strip()
    start = parse_time(from_, "--from") if from_ else datetime.now(UTC)
    runs = Schedule(concrete, zone).next_fire_times(start, count)
    result: dict[str, Any] = {
        "expression": expression,
        "concrete": concrete,
        "seed": seed if hashed else None,
        "description": describe(concrete),
        "timezone": zone,
        "next": [
            {"local": run.isoformat(), "utc": run.astimezone(UTC).isoformat()} for run in runs
        ],
    }
    if output is Output.json:
        print_json(result)
        return
    _print_explanation(result, hashed, runs)


def _print_explanation(result: dict[str, Any], hashed: bool, runs: list[datetime]) -> None:
    lines = [f"expression:  {result['expression']}"]
    if hashed:
        seed = result["seed"]
        why = (
            f'H picked with seed "{seed}"'
            if seed
            else "H picked with an empty seed; each task gets its own values: "
            "pass --seed ENV/TASK to see a task's"
        )
        lines.append(f"concrete:    {result['concrete']} ({why})")
    lines += [f"meaning:     {result['description']}", f"time zone:   {result['timezone']}", ""]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    zone = result["timezone"]
    if zone == "UTC":
        print_table(["NEXT RUNS (UTC)"], [[_shown(run)] for run in runs] or [["never"]])
        return
    rows = [[_shown(run), _shown(run.astimezone(UTC))] for run in runs]
    print_table([f"NEXT RUNS ({zone})", "UTC"], rows or [["never", ""]])


def _shown(moment: datetime) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M} {moment.tzname()}"


@app.command("calendar")
def calendar_(
    env: EnvOption,
    week: Annotated[
        str | None,
        typer.Option(
            "--week",
            help="Any day of the week to show, ISO (2026-12-09 or 2026-W50); default: this week.",
        ),
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", help="Time zone of the grid's days and hours (IANA name).")
    ] = "UTC",
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the calendar as one self-contained HTML page."),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, max=100, help="How many busiest minutes to name.")
    ] = 5,
    published: PublishedOption = False,
    set_: SetOption = None,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """Fires in each hour of a week (Monday to Sunday), and the busiest minutes with their tasks."""
    from lambdacron.calendar import (
        render_html,
        render_terminal,
        render_text,
        to_json,
        week_calendar,
    )

    zone = check_zone(tz, "--tz")
    day = parse_week(week) if week else datetime.now(ZoneInfo(zone)).date()
    found, environment = load_project_env(project, env, set_)
    manifest = load_manifest(found, environment, published)
    source = f"live manifest version {manifest.version}" if published else "rendered project"
    calendar = week_calendar(environment.name, manifest.tasks, day, zone, top, source)
    if html is not None:
        write_page(html, render_html(calendar))
        message(f"Wrote the calendar of env {environment.name} to {html}")
    if output is Output.json:
        print_json(to_json(calendar))
    elif out_console.is_terminal:
        out_console.print(render_terminal(calendar))
    else:
        sys.stdout.write(render_text(calendar))


def check_zone(text: str, option: str) -> str:
    """``text`` when it names an IANA time zone; a usage error with a suggestion otherwise."""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(text, available_timezones())
        raise UsageError(
            f"{option} {text!r}: not an IANA time zone"
            + (f" (did you mean '{hint}'?)" if hint else "")
            + "; e.g. UTC, Europe/Madrid or America/New_York"
        ) from None
    return text


def parse_week(text: str) -> date:
    """A day of the wanted week: an ISO date, week (2026-W50) or time (its date part)."""
    raw = text.strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw).date()
    except ValueError:
        raise UsageError(
            f"--week {text!r}: not an ISO date; give any day of the week, e.g. --week 2026-12-09 "
            "or --week 2026-W50"
        ) from None


def write_page(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"--html {path}: cannot write ({exc.strerror}); choose a file in a folder that exists"
        ) from None
