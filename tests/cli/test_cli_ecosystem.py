"""``explain`` and ``calendar`` through the CLI, on projects built in tmp_path and on the
repository's example project."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from lambdacron.build import compile_env
from lambdacron.cli import app
from lambdacron.cronspec import check_expression, expand_hash
from lambdacron.project import find_project, load_env
from lambdacron.runtime.cron import Schedule
from lambdacron.runtime.manifest import dumps
from lambdacron.runtime.store import open_store
from tests.helpers import REPO, write_project

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


HTTP_TASK = """\
name: {name}
expression: "{expression}"
timezone: {timezone}
task:
  type: http
  url: http://127.0.0.1:9/{name}
  method: GET
"""


def small_project(root: Path) -> Path:
    """The hand-countable project: every 15 minutes, and 17:00 on the 5th (both UTC)."""
    return write_project(
        root,
        {
            "envs/dev.yml": "vars: {}\n",
            "templates/heartbeat.yml.j2": HTTP_TASK.format(
                name="heartbeat", expression="*/15 * * * *", timezone="UTC"
            ),
            "templates/monthly.yml.j2": HTTP_TASK.format(
                name="monthly", expression="0 17 5 * *", timezone="UTC"
            ),
        },
    )


# explain


def test_explain_text_in_a_zone_and_in_utc() -> None:
    result = run(
        "explain", "0 17 5 * *", "--tz", "Europe/Madrid", "-n", "5", "--from", "2026-12-04T00:00Z"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "expression:  0 17 5 * *",
        "meaning:     At 17:00, on day 5 of the month",
        "time zone:   Europe/Madrid",
        "",
        "NEXT RUNS (Europe/Madrid)  UTC",
        "Sat 2026-12-05 17:00 CET   Sat 2026-12-05 16:00 UTC",
        "Tue 2027-01-05 17:00 CET   Tue 2027-01-05 16:00 UTC",
        "Fri 2027-02-05 17:00 CET   Fri 2027-02-05 16:00 UTC",
        "Fri 2027-03-05 17:00 CET   Fri 2027-03-05 16:00 UTC",
        "Mon 2027-04-05 17:00 CEST  Mon 2027-04-05 15:00 UTC",
    ]


def test_explain_json_follows_dst_like_the_matcher() -> None:
    result = run(
        "explain",
        "30 2 * * *",
        "--tz",
        "America/New_York",
        "-n",
        "3",
        "--from",
        "2026-03-07T00:00Z",
        "--output",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["description"] == "At 02:30"
    assert data["next"] == [
        {"local": "2026-03-07T02:30:00-05:00", "utc": "2026-03-07T07:30:00+00:00"},
        # 02:30 does not exist on the 8th: cronie runs it right after the jump
        {"local": "2026-03-08T03:00:00-04:00", "utc": "2026-03-08T07:00:00+00:00"},
        {"local": "2026-03-09T02:30:00-04:00", "utc": "2026-03-09T06:30:00+00:00"},
    ]


def test_explain_defaults_to_utc_and_now() -> None:
    before = datetime.now(UTC)
    result = run("explain", "@hourly", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    runs = [datetime.fromisoformat(r["utc"]) for r in data["next"]]
    assert len(runs) == 5 and data["timezone"] == "UTC"
    assert before < runs[0] <= before + timedelta(hours=1)
    assert all(
        r.minute == 0 and b - a == timedelta(hours=1)
        for r, a, b in zip(runs, runs, runs[1:], strict=False)
    )


def test_explain_utc_shows_one_column() -> None:
    result = run("explain", "0 9 * * MON", "-n", "2", "--from", "2026-12-04T00:00Z")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-3:] == [
        "NEXT RUNS (UTC)",
        "Mon 2026-12-07 09:00 UTC",
        "Mon 2026-12-14 09:00 UTC",
    ]


def test_explain_hash_with_a_seed_shows_the_concrete_line() -> None:
    result = run(
        "explain",
        "H(0-29) 2 * * *",
        "--seed",
        "prod/nightly-load",
        "--output",
        "json",
        "--from",
        "2026-12-04T00:00Z",
        "-n",
        "2",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    concrete = expand_hash("H(0-29) 2 * * *", "prod/nightly-load")
    assert data["concrete"] == concrete and data["seed"] == "prod/nightly-load"
    minute = int(concrete.split()[0])
    assert 0 <= minute <= 29
    start = datetime(2026, 12, 4, tzinfo=UTC)
    expected = Schedule(concrete, "UTC").next_fire_times(start, 2)
    assert [r["utc"] for r in data["next"]] == [e.isoformat() for e in expected]


def test_explain_hash_without_a_seed_says_how_to_get_a_tasks_values() -> None:
    result = run("explain", "H H * * *")
    assert result.exit_code == 0, result.output
    assert "pass --seed ENV/TASK to see a task's" in result.stdout


@pytest.mark.parametrize(
    "expression",
    ["0 17 5 * * *", "cron(0 17 5 * ? *)", "61 * * * *", "0 0 30 2 *", "@reboot", ""],
)
def test_explain_invalid_expression_gets_the_compilers_message(expression: str) -> None:
    result = run("explain", expression)
    assert result.exit_code == 1
    assert result.stderr.strip() == check_expression(expression)
    assert result.stdout == ""


def test_explain_eventbridge_message_shows_the_crontab_line() -> None:
    result = run("explain", "cron(0 17 5 * ? *)")
    assert result.exit_code == 1
    assert 'use "0 17 5 * *"' in result.stderr


def test_explain_unknown_zone_is_a_usage_error_with_a_suggestion() -> None:
    result = run("explain", "@daily", "--tz", "Europe/Madird")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "--tz 'Europe/Madird': not an IANA time zone (did you mean 'Europe/Madrid'?); "
        "e.g. UTC, Europe/Madrid or America/New_York"
    )


# calendar


def test_calendar_json_counts_a_small_project_by_hand(tmp_path: Path) -> None:
    small_project(tmp_path)
    result = run(
        "calendar",
        "--env",
        "dev",
        "--week",
        "2026-11-05",
        "--output",
        "json",
        "--project",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["week_start"] == "2026-11-02" and data["timezone"] == "UTC"
    for day in data["days"]:
        expected = [4] * 24
        if day["date"] == "2026-11-05":
            expected[17] = 5  # the 5th at 17:00: the monthly task joins the heartbeat
        assert day["hours"] == expected, day["date"]
    assert data["total"] == 7 * 24 * 4 + 1
    assert data["busiest"][0] == {
        "at": "2026-11-05T17:00:00+00:00",
        "utc": "2026-11-05T17:00:00+00:00",
        "tasks": ["heartbeat", "monthly"],
    }
    assert {t["name"]: t["fires"] for t in data["tasks"]} == {"heartbeat": 672, "monthly": 1}


def test_calendar_text_without_a_terminal_is_plain(tmp_path: Path) -> None:
    small_project(tmp_path)
    result = run(
        "calendar", "--env", "dev", "--week", "2026-W45", "--top", "1", "--project", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "env dev · week of Mon 2026-11-02 to Sun 2026-11-08 · hours in UTC · rendered project"
    )
    assert lines[1] == "2 tasks · 673 fires · busiest hour Thu 17:00 (5 fires)"
    assert lines[-2:] == [
        "Busiest minutes (UTC):",
        "  Thu 2026-11-05 17:00  2 tasks: heartbeat, monthly",
    ]
    assert "\x1b[" not in result.stdout


def test_calendar_grid_zone(tmp_path: Path) -> None:
    small_project(tmp_path)
    result = run(
        "calendar",
        "--env",
        "dev",
        "--week",
        "2026-11-05",
        "--tz",
        "Asia/Kolkata",
        "--output",
        "json",
        "--project",
        str(tmp_path),
    )
    data = json.loads(result.stdout)
    assert data["timezone"] == "Asia/Kolkata"
    thursday = data["days"][3]
    assert thursday["hours"][22] == 5  # 17:00 UTC is 22:30 in Kolkata
    assert data["busiest"][0]["at"] == "2026-11-05T22:30:00+05:30"


def test_calendar_counts_agree_with_the_matcher_on_the_example_project() -> None:
    project = find_project(REPO)
    manifest = compile_env(project, load_env(project, "prod"))
    result = run(
        "calendar",
        "--env",
        "prod",
        "--week",
        "2026-12-01",
        "--output",
        "json",
        "--project",
        str(REPO),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    first = int(datetime(2026, 11, 30, tzinfo=UTC).timestamp()) // 60
    expected = [[0] * 24 for _ in range(7)]
    for task in manifest.tasks:
        if not task.enabled:
            continue
        schedule = Schedule(task.expression, task.timezone)
        for minute in range(first, first + 7 * 24 * 60):
            if schedule.is_due(minute):
                expected[(minute - first) // 1440][(minute - first) % 1440 // 60] += 1
    assert [day["hours"] for day in data["days"]] == expected
    assert data["total"] == sum(map(sum, expected))


def test_calendar_html_file_is_written(tmp_path: Path) -> None:
    small_project(tmp_path)
    page = tmp_path / "week.html"
    result = run(
        "calendar",
        "--env",
        "dev",
        "--week",
        "2026-11-05",
        "--html",
        str(page),
        "--output",
        "json",
        "--project",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote the calendar of env dev to {page}" in result.stderr
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "Busiest minute: Thu 2026-11-05 17:00 UTC" in text
    assert json.loads(result.stdout)["total"] == 673  # the data still goes to stdout


def test_calendar_html_into_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    small_project(tmp_path)
    result = run(
        "calendar",
        "--env",
        "dev",
        "--html",
        str(tmp_path / "nope/week.html"),
        "--project",
        str(tmp_path),
    )
    assert result.exit_code == 2
    assert "--html" in result.stderr and "cannot write" in result.stderr


def test_calendar_published_reads_the_live_manifest(tmp_path: Path) -> None:
    small_project(tmp_path)
    project = find_project(tmp_path)
    env = load_env(project, "dev")
    manifest = compile_env(project, env)
    only_monthly = replace(
        manifest, version=3, tasks=tuple(t for t in manifest.tasks if t.name == "monthly")
    )
    open_store(env.store).replace_live("dev", dumps(only_monthly.with_digest()), None)
    result = run(
        "calendar",
        "--env",
        "dev",
        "--week",
        "2026-11-05",
        "--published",
        "--output",
        "json",
        "--project",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == 1 and data["source"] == "live manifest version 3"


def test_calendar_published_with_nothing_published_is_a_usage_error(tmp_path: Path) -> None:
    small_project(tmp_path)
    result = run("calendar", "--env", "dev", "--published", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert "nothing published yet" in result.stderr


def test_calendar_default_week_is_this_week(tmp_path: Path) -> None:
    small_project(tmp_path)
    result = run("calendar", "--env", "dev", "--output", "json", "--project", str(tmp_path))
    today = datetime.now(ZoneInfo("UTC")).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), time()).date()
    assert json.loads(result.stdout)["week_start"] == monday.isoformat()


@pytest.mark.parametrize("week", ["next week", "2026-13-01", "W50"])
def test_calendar_bad_week_is_a_usage_error(tmp_path: Path, week: str) -> None:
    small_project(tmp_path)
    result = run("calendar", "--env", "dev", "--week", week, "--project", str(tmp_path))
    assert result.exit_code == 2
    assert f"--week {week!r}: not an ISO date" in result.stderr


def test_calendar_invalid_project_exits_1(tmp_path: Path) -> None:
    small_project(tmp_path)
    (tmp_path / "templates/bad.yml.j2").write_text("{{ nope }}\n", encoding="utf-8")
    result = run("calendar", "--env", "dev", "--project", str(tmp_path))
    assert result.exit_code == 1
    assert "'nope' is undefined" in result.stderr
