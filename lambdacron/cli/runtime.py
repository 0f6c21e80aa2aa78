"""Commands of the scheduler runtime: tick, run, serve.

They drive the very code the Lambda runs (``lambdacron.runtime.handler``), against the rendered
project by default or the live manifest in the env's store with ``--published``: ``tick`` says
what is due at a minute (``--fire`` dispatches it), ``run`` fires one task now, ``serve`` is the
embedded scheduler: each minute a synthetic scheduled event goes through the handler's code, with
its claims and last processed minute in ``.lambdacron/state/<env>.sqlite3``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from lambdacron.cli.common import (
    EnvOption,
    Output,
    OutputOption,
    ProjectOption,
    SetOption,
    TaskArgument,
    app,
    load_project_env,
    message,
    parse_time,
    print_json,
    print_table,
)
from lambdacron.cli.compile import PublishedOption
from lambdacron.errors import LambdacronError, UsageError
from lambdacron.project import Environment, Project, load_env
from lambdacron.runtime.errors import ManifestError
from lambdacron.runtime.handler import Scheduler, build_scheduler, iso_minute, minute_of
from lambdacron.runtime.loader import ManifestSource, StoreSource, compile_manifest, due
from lambdacron.runtime.log import Sink, stdout_sink
from lambdacron.runtime.manifest import Manifest
from lambdacron.runtime.state import FileState, MemoryState, State, state_path

AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="The scheduled minute, ISO 8601: 2026-12-05T17:00 (UTC), 2026-12-05T17:00Z or "
        "2026-12-05T12:00-05:00. Default: now.",
        show_default=False,
    ),
]


class ProjectSource:
    """The rendered project as a manifest source. With ``refresh`` (``serve``) every fetch renders
    afresh, so that edited templates are picked up; the digest is the tag, so an unchanged render
    recompiles nothing. Without it (``tick``, ``run``) the project is rendered once."""

    def __init__(
        self, project: Project, env: str, sets: Sequence[str] = (), refresh: bool = False
    ) -> None:
        self.project = project
        self.env = env
        self.sets = tuple(sets)
        self.refresh = refresh

    def describe(self) -> str:
        return f"the rendered project {self.project.root} (env {self.env})"

    def fetch(self, tag: str | None) -> tuple[Manifest, str] | None:
        from lambdacron.build import compile_env

        if tag is not None and not self.refresh:
            return None
        manifest = compile_env(self.project, load_env(self.project, self.env, self.sets))
        return None if manifest.digest == tag else (manifest, manifest.digest)

    def version(self, number: int) -> Manifest:
        raise ManifestError(
            self.describe(), f"has no published version {number}; use --published to read the store"
        )


def manifest_source(
    project: Project,
    env: Environment,
    published: bool,
    sets: Sequence[str] | None,
    refresh: bool = False,
) -> ManifestSource:
    if not published:
        return ProjectSource(project, env.name, sets or (), refresh)
    from lambdacron.runtime.store import open_store

    return StoreSource(open_store(env.store, region=env.region), env.name)


def scheduler_for(
    project: Project,
    env: Environment,
    published: bool,
    sets: Sequence[str] | None,
    state: State,
    sink: Sink,
    refresh: bool = False,
) -> Scheduler:
    return build_scheduler(
        env.name,
        manifest_source(project, env, published, sets, refresh),
        state,
        region=env.region,
        max_catchup=int(env.deploy.get("max_catchup_minutes", 60)),
        sink=sink,
    )


def at_minute(at: str | None) -> int:
    return minute_of(parse_time(at, "--at")) if at else int(time.time()) // 60


def outcome_rows(outcomes: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            o["task"],
            o["scheduled"],
            o["status"],
            o["response_id"] or "-",
            o["attempts"],
            o["error"] or "",
        ]
        for o in outcomes
    ]


OUTCOME_COLUMNS = ["TASK", "SCHEDULED", "STATUS", "RESPONSE", "ATTEMPTS", "ERROR"]


@app.command()
def tick(
    env: EnvOption,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="The minute to evaluate, ISO 8601: 2026-12-05T17:00 (UTC), 2026-12-05T17:00Z or "
            "2026-12-05T12:00-05:00.",
        ),
    ],
    fire: Annotated[
        bool, typer.Option("--fire", help="Dispatch the due tasks to their targets.")
    ] = False,
    published: PublishedOption = False,
    set_: SetOption = None,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """Which tasks are due at a minute; with --fire, dispatch them (exit 1 if any fails)."""
    minute = minute_of(parse_time(at, "--at"))
    found, environment = load_project_env(project, env, set_)
    if fire:
        _tick_fire(found, environment, published, set_, minute, output)
        return
    source = manifest_source(found, environment, published, set_)
    fetched = source.fetch(None)
    if fetched is None:
        raise ManifestError(source.describe(), "no manifest")
    compiled = compile_manifest(fetched[0], fetched[1], source.describe())
    pairs = due(compiled, minute, minute)
    if output is Output.json:
        print_json(
            {
                "env": environment.name,
                "minute": iso_minute(minute),
                "manifest_version": compiled.version,
                "due": [
                    {
                        "task": t.name,
                        "type": t.type,
                        "expression": t.expression,
                        "timezone": t.timezone,
                    }
                    for t, _ in pairs
                ],
            }
        )
        return
    message(
        f"{len(pairs)} of {len(compiled.tasks)} enabled tasks due at {iso_minute(minute)} "
        f"(env {environment.name})"
    )
    if pairs:
        print_table(
            ["TASK", "TYPE", "EXPRESSION", "TIMEZONE"],
            [[t.name, t.type, t.expression, t.timezone] for t, _ in pairs],
        )


def _tick_fire(
    project: Project,
    env: Environment,
    published: bool,
    sets: Sequence[str] | None,
    minute: int,
    output: Output,
) -> None:
    # A fresh in-memory state: no catch-up and no claims shared with a running scheduler; what
    # the person asked for fires, once.
    scheduler = scheduler_for(project, env, published, sets, MemoryState(), quiet_sink())
    summary = scheduler.tick(minute)
    _report(summary, output)
    if summary["counts"]["failed"]:
        raise LambdacronError(
            f"{summary['counts']['failed']} of {summary['counts']['due']} tasks failed"
        )


@app.command()
def run(
    env: EnvOption,
    task: TaskArgument,
    at: AtOption = None,
    published: PublishedOption = False,
    remote: Annotated[
        bool,
        typer.Option("--remote", help="Fire it in the env's deployed scheduler function instead."),
    ] = False,
    set_: SetOption = None,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
) -> None:
    """Fire one task now through the real dispatcher (exit 1 if it fails)."""
    minute = at_minute(at)
    found, environment = load_project_env(project, env, set_)
    if remote:
        from lambdacron.deploy import invoke_remote_run

        summary = invoke_remote_run(environment, task)
        if summary.get("error"):
            raise UsageError(f"env {environment.name} (deployed): {summary['error']}")
        _report(summary, output)
        _check_fired(task, summary)
        return
    scheduler = scheduler_for(found, environment, published, set_, MemoryState(), quiet_sink())
    compiled = scheduler.manifests.current()
    if compiled.manifest.task(task) is None:
        from lambdacron.suggest import did_you_mean

        hint = did_you_mean(task, [t.name for t in compiled.manifest.tasks])
        raise UsageError(
            f"env {environment.name} has no task '{task}'"
            + (f" (did you mean '{hint}'?)" if hint else "")
        )
    summary = scheduler.run(task, minute)
    _report(summary, output)
    _check_fired(task, summary)


def _check_fired(task: str, summary: dict[str, Any]) -> None:
    outcome = summary["outcomes"][0]
    if outcome["status"] != "fired":
        raise LambdacronError(f"task {task}: {outcome['status']}: {outcome['error']}")


def _report(summary: dict[str, Any], output: Output) -> None:
    if output is Output.json:
        print_json(summary)
        return
    counts = summary["counts"]
    message(
        f"env {summary['env']}, manifest version {summary['manifest_version']}: "
        f"{counts['fired']} fired, {counts['failed']} failed of {counts['due']} due"
    )
    if summary["outcomes"]:
        print_table(OUTCOME_COLUMNS, outcome_rows(summary["outcomes"]))


@app.command()
def serve(
    env: EnvOption,
    once: Annotated[
        bool, typer.Option("--once", help="Evaluate the current minute, then stop.")
    ] = False,
    rendered: Annotated[
        bool,
        typer.Option(
            "--rendered",
            help="Follow the rendered project (re-rendered each minute) instead of the store.",
        ),
    ] = False,
    set_: SetOption = None,
    output: OutputOption = Output.text,
    project: ProjectOption = None,
    max_ticks: Annotated[int, typer.Option("--max-ticks", hidden=True, min=0)] = 0,
) -> None:
    """A local scheduler: each minute, fire what is due (Ctrl-C stops it).

    It runs the Lambda handler's code on a synthetic scheduled event per minute, keeping claims
    and the last processed minute in .lambdacron/state/ENV.sqlite3 (missed minutes are caught
    up). It follows the env's store (the local store by default) and picks up each newly
    published version; with --rendered it re-renders the project each minute instead, so
    template edits take effect without publishing.
    """
    published = not rendered
    found, environment = load_project_env(project, env, set_)
    state = FileState(state_path(found.root, environment.name))
    sink = stdout_sink if output is Output.json else TextSink()
    scheduler = scheduler_for(found, environment, published, set_, state, sink, refresh=True)
    where = "the live manifest in " + environment.store if published else "the rendered project"
    message(
        f"Serving env {environment.name} from {where}; state in {found.relative(state.path)}. "
        "Ctrl-C stops."
    )
    try:
        ticks = serve_loop(scheduler, max_ticks=1 if once else max_ticks)
    finally:
        state.close()
    message(f"Stopped after {ticks} tick{'s' if ticks != 1 else ''}.")


def serve_loop(
    scheduler: Scheduler,
    max_ticks: int = 0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send a scheduled event per minute through the handler's code until ``max_ticks`` (0: no
    limit) or Ctrl-C; returns the ticks done. A minute slept through (a suspended laptop) is
    caught up from the state's last processed minute, like the Lambda's."""
    ticks = 0
    minute = int(clock()) // 60
    try:
        while True:
            scheduler.handle(scheduled_event(minute))
            ticks += 1
            if max_ticks and ticks >= max_ticks:
                return ticks
            wait = (minute + 1) * 60 - clock()
            if wait > 0:
                sleep(wait)
            minute = max(minute + 1, int(clock()) // 60)
    except KeyboardInterrupt:
        return ticks


def scheduled_event(minute: int) -> dict[str, Any]:
    """What EventBridge sends for a ``rate(1 minute)`` schedule, as far as the handler reads it."""
    return {
        "version": "0",
        "id": f"lambdacron-serve-{minute}",
        "detail-type": "Scheduled Event",
        "source": "lambdacron.serve",
        "time": iso_minute(minute),
        "resources": [],
        "detail": {},
    }


class TextSink:
    """The runtime's JSON log lines, for a person: one line per task outcome on stdout, problems
    on stderr, bookkeeping (metrics) dropped. Lines arrive already redacted."""

    def __init__(self, write: Callable[[str], None] = print, warn: Sink = message) -> None:
        self._write = write
        self._warn = warn

    def __call__(self, line: str) -> None:
        record = json.loads(line)
        event = str(record.get("event", ""))
        if event.startswith("task_"):
            self._write(self._task_line(record))
        elif event == "manifest_loaded":
            self._write(
                f"{record.get('time')} manifest version {record.get('manifest_version')} loaded: "
                f"{record.get('enabled')} of {record.get('tasks')} tasks enabled"
            )
        elif record.get("level") in ("warning", "error"):
            details = ", ".join(
                f"{k}={v}" for k, v in record.items() if k not in ("level", "event", "time", "env")
            )
            self._warn(f"{record.get('level')}: {event}: {details}")

    @staticmethod
    def _task_line(record: dict[str, Any]) -> str:
        status = record.get("status")
        text = f"{record.get('scheduled')} {record.get('task')} {status}"
        if record.get("response_id"):
            text += f" ({record['response_id']})"
        if status == "fired":
            text += f" in {record.get('duration_ms')} ms"
        if record.get("error"):
            text += f": {record['error']}"
        return text


def quiet_sink() -> TextSink:
    """For one-shot commands, which print their own outcome table: only problems get through."""
    return TextSink(write=lambda _line: None)
