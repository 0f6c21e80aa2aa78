"""`lambdacron tick`, `run` and `serve` on projects built in tmp_path, firing HTTP tasks at a
local server; the serve loop driven by a fake clock."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lambdacron.cli import app
from lambdacron.cli.runtime import TextSink, scheduled_event, scheduler_for, serve_loop
from lambdacron.project import find_project, load_env
from lambdacron.runtime.manifest import Manifest, Task, dumps
from lambdacron.runtime.state import FileState, state_path
from lambdacron.runtime.store import FileStore
from tests.helpers import write_project

runner = CliRunner()
T1700 = 29_941_500  # 2026-12-05T17:00Z as an epoch minute

HTTP_TEMPLATE = """\
name: {name}
expression: "{expression}"
retries: 0
task:
  type: http
  method: POST
  url: "{{{{ hook }}}}/{name}"
  json:
    task: {{{{ task_name() | tojson }}}}
    at: {{{{ scheduled_time("%Y-%m-%dT%H:%M") | tojson }}}}
"""


def project(root: Path, hook: str, **templates: str) -> Path:
    """A project whose env ``dev`` points HTTP tasks at ``hook``; templates name -> expression."""
    files = {"envs/dev.yml": f"vars:\n  hook: {hook}\n"}
    for name, expression in templates.items():
        files[f"templates/{name}.yml.j2"] = HTTP_TEMPLATE.format(name=name, expression=expression)
    return write_project(root, files)


def cli(root: Path, *args: str) -> Any:
    return runner.invoke(app, [*args, "--project", str(root)])


def fired(server: Any) -> list[tuple[str, str]]:
    return sorted((r.json()["task"], r.json()["at"]) for r in server.requests)


def publish(root: Path, *tasks: Task, version: int = 1) -> None:
    """Publish straight into the project's local store, as `lambdacron publish` leaves it."""
    store = FileStore(root / ".lambdacron" / "store")
    data = dumps(Manifest(env="dev", tasks=tasks, version=version).with_digest())
    store.write_version("dev", version, data)
    live = store.read_live("dev")
    store.replace_live("dev", data, None if live is None else live.etag)


def http_task(name: str, expression: str, hook: str) -> Task:
    target = {
        "type": "http",
        "method": "POST",
        "url": f"{hook}/{name}",
        "json": {"task": name, "at": "${lambdacron:scheduled_time:%Y-%m-%dT%H:%M}"},
    }
    return Task(name=name, expression=expression, timezone="UTC", target=target, retries=0)


# ---------------------------------------------------------------------------------------------
# tick


@pytest.mark.parametrize("at", ["2026-12-05T17:00", "2026-12-05T17:00Z", "2026-12-05T12:00-05:00"])
def test_tick_lists_what_is_due_at_a_minute(tmp_path: Path, http_server: Any, at: str) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *", nightly="30 2 * * *")
    result = cli(tmp_path, "tick", "--env", "dev", "--at", at)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "TASK   TYPE  EXPRESSION  TIMEZONE",
        "daily  http  0 17 * * *  UTC",
    ]
    assert "1 of 2 enabled tasks due at 2026-12-05T17:00:00Z (env dev)" in result.stderr
    assert http_server.requests == []  # listing fires nothing


def test_tick_json(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *", nightly="30 2 * * *")
    result = cli(tmp_path, "tick", "--env", "dev", "--at", "2026-12-05T02:30Z", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "env": "dev",
        "minute": "2026-12-05T02:30:00Z",
        "manifest_version": 0,
        "due": [{"task": "nightly", "type": "http", "expression": "30 2 * * *", "timezone": "UTC"}],
    }


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-05T17:00", ""])
def test_tick_bad_time_is_a_usage_error_with_an_example(
    tmp_path: Path, http_server: Any, at: str
) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *")
    result = cli(tmp_path, "tick", "--env", "dev", "--at", at)
    assert result.exit_code == 2
    assert f"--at {at!r}: not an ISO time; e.g. --at 2026-12-05T17:00 (UTC)" in result.stderr


def test_tick_fire_dispatches_the_due_tasks(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *", nightly="30 2 * * *")
    result = cli(tmp_path, "tick", "--env", "dev", "--at", "2026-12-05T17:00", "--fire")
    assert result.exit_code == 0, result.output
    assert fired(http_server) == [("daily", "2026-12-05T17:00")]
    assert "daily  2026-12-05T17:00:00Z  fired   200" in result.stdout
    assert "1 fired, 0 failed of 1 due" in result.stderr


def test_tick_fire_exits_1_when_a_task_fails(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *")
    http_server.status = 404
    result = cli(
        tmp_path, "tick", "--env", "dev", "--at", "2026-12-05T17:00", "--fire", "-o", "json"
    )
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["outcomes"][0]["status"] == "failed"
    assert "answered HTTP 404" in summary["outcomes"][0]["error"]
    assert "1 of 1 tasks failed" in result.stderr


def test_tick_published_reads_the_live_manifest(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, rendered="0 17 * * *")
    publish(tmp_path, http_task("published", "0 17 * * *", http_server.url), version=3)
    result = cli(
        tmp_path, "tick", "--env", "dev", "--at", "2026-12-05T17:00", "--published", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["manifest_version"] == 3
    assert [d["task"] for d in data["due"]] == ["published"]


def test_tick_published_with_nothing_published_exits_3(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *")
    result = cli(tmp_path, "tick", "--env", "dev", "--at", "2026-12-05T17:00", "--published")
    assert result.exit_code == 3
    assert (
        "nothing has been published for env dev; run `lambdacron publish --env dev`"
        in result.stderr
    )


def test_tick_on_an_invalid_project_exits_1(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, daily="0 17 * * *")
    (tmp_path / "templates" / "broken.yml.j2").write_text(
        "name: broken\nexpression: '61 * * * *'\n"
    )
    result = cli(tmp_path, "tick", "--env", "dev", "--at", "2026-12-05T17:00")
    assert result.exit_code == 1
    assert "Nothing was written." in result.stderr


# ---------------------------------------------------------------------------------------------
# run


def test_run_fires_one_task_now(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, monthly="0 17 5 * *", other="0 17 5 * *")
    result = cli(tmp_path, "run", "--env", "dev", "monthly", "--at", "2026-12-05T17:00Z")
    assert result.exit_code == 0, result.output
    assert fired(http_server) == [("monthly", "2026-12-05T17:00")]
    assert "monthly  2026-12-05T17:00:00Z  fired   200" in result.stdout


def test_run_without_at_uses_the_current_minute(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, monthly="0 17 5 * *")
    result = cli(tmp_path, "run", "--env", "dev", "monthly", "-o", "json")
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)["outcomes"]
    assert fired(http_server) == [("monthly", outcome["scheduled"][:16])]


def test_run_a_failing_task_exits_1_and_prints_the_outcome(
    tmp_path: Path, http_server: Any
) -> None:
    project(tmp_path, http_server.url, monthly="0 17 5 * *")
    http_server.status = 500
    result = cli(tmp_path, "run", "--env", "dev", "monthly")
    assert result.exit_code == 1
    assert "monthly" in result.stdout and "failed" in result.stdout
    assert "task monthly: failed: sending it: POST" in result.stderr
    assert "answered HTTP 500" in result.stderr


def test_run_unknown_task_is_a_usage_error_with_a_suggestion(
    tmp_path: Path, http_server: Any
) -> None:
    project(tmp_path, http_server.url, monthly="0 17 5 * *")
    result = cli(tmp_path, "run", "--env", "dev", "montly")
    assert result.exit_code == 2
    assert "env dev has no task 'montly' (did you mean 'monthly'?)" in result.stderr
    assert http_server.requests == []


def test_run_published(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url)
    publish(tmp_path, http_task("live", "0 17 5 * *", http_server.url))
    result = cli(tmp_path, "run", "--env", "dev", "live", "--published", "--at", "2026-12-05T17:00")
    assert result.exit_code == 0, result.output
    assert fired(http_server) == [("live", "2026-12-05T17:00")]


# ---------------------------------------------------------------------------------------------
# serve


def test_serve_once_fires_the_current_minute_and_keeps_state(
    tmp_path: Path, http_server: Any
) -> None:
    project(tmp_path, http_server.url, every="* * * * *", leap_day="0 0 29 2 *")
    result = cli(tmp_path, "serve", "--env", "dev", "--once", "--rendered")
    assert result.exit_code == 0, result.output
    assert [task for task, _ in fired(http_server)] == ["every"]
    (line,) = result.stdout.splitlines()[1:]  # after the "manifest version 0 loaded" line
    assert " every fired (200) in " in line
    assert "Serving env dev from the rendered project" in result.stderr
    assert "Stopped after 1 tick." in result.stderr
    with sqlite3.connect(tmp_path / ".lambdacron" / "state" / "dev.sqlite3") as db:
        assert db.execute("SELECT task FROM claims").fetchall() == [("every",)]


def test_serve_follows_the_published_store_by_default(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, rendered_only="* * * * *")
    publish(tmp_path, http_task("published", "* * * * *", http_server.url))
    result = cli(tmp_path, "serve", "--env", "dev", "--once")
    assert result.exit_code == 0, result.output
    assert [task for task, _ in fired(http_server)] == ["published"]
    assert "Serving env dev from the live manifest in file://" in result.stderr


def test_serve_json_writes_the_runtime_log_lines(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, every="* * * * *")
    result = cli(tmp_path, "serve", "--env", "dev", "--once", "--rendered", "--output", "json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line)["event"] for line in result.stdout.splitlines()]
    assert events == ["manifest_loaded", "task_fired", "metrics"]


class FakeTime:
    """A clock that only moves when the loop sleeps; ``on_sleep`` runs between ticks."""

    def __init__(self, minute: int, on_sleep: Any = None, stop_after: int | None = None) -> None:
        self.now = minute * 60 + 0.5
        self.sleeps = 0
        self.on_sleep = on_sleep
        self.stop_after = stop_after

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.stop_after is not None and self.sleeps > self.stop_after:
            raise KeyboardInterrupt
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.sleeps)


def serve_scheduler(root: Path, published: bool, lines: list[str]) -> Any:
    found = find_project(root)
    state = FileState(state_path(root, "dev"))
    return scheduler_for(found, load_env(found, "dev"), published, None, state, lines.append, True)


def test_serve_loop_ticks_each_minute_and_stops_on_ctrl_c(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, every="* * * * *")
    fake = FakeTime(T1700, stop_after=2)
    scheduler = serve_scheduler(tmp_path, False, [])
    ticks = serve_loop(scheduler, clock=fake.clock, sleep=fake.sleep)
    assert ticks == 3
    assert fired(http_server) == [
        ("every", "2026-12-05T17:00"),
        ("every", "2026-12-05T17:01"),
        ("every", "2026-12-05T17:02"),
    ]


def test_serve_restarted_in_the_same_minute_fires_nothing_twice(
    tmp_path: Path, http_server: Any
) -> None:
    project(tmp_path, http_server.url, every="* * * * *")
    for _ in range(2):
        fake = FakeTime(T1700)
        serve_loop(
            serve_scheduler(tmp_path, False, []), max_ticks=1, clock=fake.clock, sleep=fake.sleep
        )
    assert fired(http_server) == [("every", "2026-12-05T17:00")]


def test_serve_catches_up_minutes_it_slept_through(tmp_path: Path, http_server: Any) -> None:
    project(tmp_path, http_server.url, every="* * * * *")
    fake = FakeTime(T1700)
    serve_loop(
        serve_scheduler(tmp_path, False, []), max_ticks=1, clock=fake.clock, sleep=fake.sleep
    )
    fake = FakeTime(T1700 + 3)  # the laptop was asleep for three minutes
    serve_loop(
        serve_scheduler(tmp_path, False, []), max_ticks=1, clock=fake.clock, sleep=fake.sleep
    )
    assert [at for _, at in fired(http_server)] == [
        "2026-12-05T17:00",
        "2026-12-05T17:01",
        "2026-12-05T17:02",
        "2026-12-05T17:03",
    ]


def test_serve_published_picks_up_a_newly_published_version(
    tmp_path: Path, http_server: Any
) -> None:
    project(tmp_path, http_server.url)
    publish(tmp_path, http_task("old", "* * * * *", http_server.url))

    def publish_v2(sleeps: int) -> None:
        if sleeps == 1:
            publish(tmp_path, http_task("new", "* * * * *", http_server.url), version=2)

    fake = FakeTime(T1700, on_sleep=publish_v2)
    lines: list[str] = []
    serve_loop(
        serve_scheduler(tmp_path, True, lines), max_ticks=2, clock=fake.clock, sleep=fake.sleep
    )
    assert fired(http_server) == [("new", "2026-12-05T17:01"), ("old", "2026-12-05T17:00")]
    loaded = [json.loads(line) for line in lines if '"manifest_loaded"' in line]
    assert [line["manifest_version"] for line in loaded] == [1, 2]


def test_serve_picks_up_template_edits_and_keeps_the_last_good_render(
    tmp_path: Path, http_server: Any
) -> None:
    project(tmp_path, http_server.url, every="* * * * *")
    template = tmp_path / "templates" / "every.yml.j2"

    def edit(sleeps: int) -> None:
        if sleeps == 1:  # a typo: the render fails, the last good tasks keep firing
            template.write_text(template.read_text().replace("{{ hook }}", "{{ hok }}"))
        if sleeps == 2:  # fixed, and renamed
            (tmp_path / "templates" / "renamed.yml.j2").write_text(
                HTTP_TEMPLATE.format(name="renamed", expression="* * * * *")
            )
            template.unlink()

    fake = FakeTime(T1700, on_sleep=edit)
    lines: list[str] = []
    serve_loop(
        serve_scheduler(tmp_path, False, lines), max_ticks=3, clock=fake.clock, sleep=fake.sleep
    )
    assert fired(http_server) == [
        ("every", "2026-12-05T17:00"),
        ("every", "2026-12-05T17:01"),
        ("renamed", "2026-12-05T17:02"),
    ]
    (rejected,) = [json.loads(line) for line in lines if '"manifest_rejected"' in line]
    assert "'hok' is undefined" in rejected["error"]


def test_scheduled_event_is_what_the_handler_reads() -> None:
    assert scheduled_event(T1700)["time"] == "2026-12-05T17:00:00Z"
    assert scheduled_event(T1700)["detail-type"] == "Scheduled Event"


def test_text_sink_shows_outcomes_and_problems() -> None:
    out: list[str] = []
    err: list[str] = []
    sink = TextSink(write=out.append, warn=err.append)
    sink(json.dumps({"level": "info", "event": "metrics", "due": 1}))
    sink(
        json.dumps(
            {
                "level": "info",
                "event": "task_fired",
                "task": "a",
                "scheduled": "2026-12-05T17:00:00Z",
                "status": "fired",
                "response_id": "200",
                "duration_ms": 12,
            }
        )
    )
    sink(json.dumps({"level": "error", "event": "manifest_rejected", "time": "t", "error": "bad"}))
    assert out == ["2026-12-05T17:00:00Z a fired (200) in 12 ms"]
    assert err == ["error: manifest_rejected: error=bad"]
