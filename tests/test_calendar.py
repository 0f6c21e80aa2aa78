"""The week calendar: counts per hour checked against the matcher minute by minute and against
hand-computed weeks, DST weeks of the grid's zone, heat levels, and the three renderers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from lambdacron.calendar import (
    DAYS,
    heat_level,
    legend_levels,
    render_terminal,
    render_text,
    to_json,
    week_calendar,
)
from lambdacron.runtime.cron import Schedule
from lambdacron.runtime.manifest import Task


def task(name: str, expression: str, timezone: str = "UTC", enabled: bool = True) -> Task:
    return Task(
        name,
        expression,
        timezone,
        {"type": "http", "url": "http://x", "method": "GET"},
        enabled=enabled,
    )


def expected_counts(tasks: list[Task], day: date, zone_name: str) -> list[list[int]]:
    """Counts per (day, hour) the slow, obvious way: every minute of the week, every task,
    Schedule.is_due, then the minute's wall-clock day and hour in the grid's zone."""
    zone = ZoneInfo(zone_name)
    monday = day - timedelta(days=day.weekday())
    first = int(datetime.combine(monday, time(), zone).timestamp()) // 60
    last = int(datetime.combine(monday + timedelta(days=7), time(), zone).timestamp()) // 60
    schedules = [Schedule(t.expression, t.timezone) for t in tasks if t.enabled]
    grid = [[0] * 24 for _ in range(7)]
    for minute in range(first, last):
        due = sum(1 for schedule in schedules if schedule.is_due(minute))
        if due:
            local = datetime.fromtimestamp(minute * 60, zone)
            grid[(local.date() - monday).days][local.hour] += due
    return grid


def grid_of(calendar_days: tuple[tuple[object, ...], ...]) -> list[list[int]]:
    return [[hour.fires for hour in day] for day in calendar_days]  # type: ignore[attr-defined]


MIXED = [
    task("heartbeat", "*/15 * * * *"),
    task("monthly-report", "0 17 5 * *", "America/New_York"),
    task("weekly-report", "0 9 * * MON", "America/New_York"),
    task("nightly-load", "30 2 * * *", "Europe/Madrid"),
    task("weekday-close", "0 18 * * 1-5", "Asia/Kolkata"),
    task("or-rule", "0 12 1,15 * FRI", "Australia/Lord_Howe"),
    task("every-minute-morning", "* 6 * * SAT", "UTC"),
    task("twice-hourly", "5,35 */2 * * *", "America/Sao_Paulo"),
    task("off", "* * * * *", enabled=False),
]


@pytest.mark.parametrize(
    ("day", "zone"),
    [
        (date(2026, 12, 9), "UTC"),
        (date(2026, 11, 5), "America/New_York"),
        (date(2026, 11, 1), "America/New_York"),  # Sunday of the autumn change, grid in NY
        (date(2026, 3, 8), "America/New_York"),  # Sunday of the spring change
        (date(2026, 10, 25), "Europe/Madrid"),
        (date(2026, 3, 29), "UTC"),  # Madrid's tasks jump in a UTC grid
        (date(2026, 4, 5), "Australia/Lord_Howe"),  # a half-hour DST change
        (date(2028, 2, 29), "Asia/Kolkata"),  # a leap day, a half-hour offset
    ],
)
def test_counts_agree_with_the_matcher_minute_by_minute(day: date, zone: str) -> None:
    calendar = week_calendar("dev", MIXED, day, zone)
    assert grid_of(calendar.days) == expected_counts(MIXED, day, zone)
    per_task = {t.name: fires for t, fires in calendar.fires}
    assert sum(per_task.values()) == calendar.total
    assert "off" not in per_task and calendar.disabled == ("off",)


def test_a_small_known_project_by_hand() -> None:
    tasks = [task("heartbeat", "*/15 * * * *"), task("monthly", "0 17 5 * *")]
    calendar = week_calendar("dev", tasks, date(2026, 11, 8), "UTC")  # a Sunday: week of Nov 2
    assert calendar.monday == date(2026, 11, 2)
    grid = grid_of(calendar.days)
    thursday = DAYS.index("Thu")  # 2026-11-05
    for day in range(7):
        for hour in range(24):
            assert grid[day][hour] == (5 if (day, hour) == (thursday, 17) else 4)
    assert calendar.total == 7 * 24 * 4 + 1
    assert dict((t.name, n) for t, n in calendar.fires) == {"heartbeat": 672, "monthly": 1}
    assert calendar.days[thursday][17].tasks == (("heartbeat", 4), ("monthly", 1))
    assert calendar.busiest_hour == (thursday, 17)
    top = calendar.busiest[0]
    assert top.at == datetime(2026, 11, 5, 17, 0, tzinfo=ZoneInfo("UTC"))
    assert top.tasks == ("heartbeat", "monthly")
    assert len(calendar.busiest) == 5


def test_a_week_without_the_5th_has_no_monthly_fire() -> None:
    calendar = week_calendar("dev", [task("monthly", "0 17 5 * *")], date(2026, 11, 12), "UTC")
    assert calendar.total == 0
    assert calendar.busiest == () and calendar.busiest_hour is None
    assert "No task fires this week." in render_text(calendar)


def test_grid_zone_moves_the_fires() -> None:
    tasks = [task("weekly", "0 9 * * MON", "America/New_York")]
    in_utc = week_calendar("dev", tasks, date(2026, 12, 9), "UTC")
    in_new_york = week_calendar("dev", tasks, date(2026, 12, 9), "America/New_York")
    assert in_utc.days[0][14].fires == 1  # 09:00 EST is 14:00 UTC
    assert in_new_york.days[0][9].fires == 1
    assert in_new_york.busiest[0].at.isoformat() == "2026-12-07T09:00:00-05:00"


@pytest.mark.parametrize(
    ("day", "sunday_2am", "total"),
    [
        (date(2026, 10, 25), 8, 169 * 4),  # 02:00-02:59 happens twice in Madrid
        (date(2026, 3, 29), 0, 167 * 4),  # and not at all in spring
    ],
)
def test_dst_week_of_the_grid_zone(day: date, sunday_2am: int, total: int) -> None:
    calendar = week_calendar("dev", [task("heartbeat", "*/15 * * * *")], day, "Europe/Madrid")
    assert calendar.days[6][2].fires == sunday_2am
    assert calendar.total == total


def test_busiest_minutes_rank_by_tasks_then_time() -> None:
    tasks = [
        task("a", "0 9 * * *"),
        task("b", "0 9 * * TUE"),
        task("c", "0 9 * * TUE,WED"),
        task("d", "30 9 * * WED"),
    ]
    calendar = week_calendar("dev", tasks, date(2026, 12, 7), "UTC", top=3)
    assert [(b.at.strftime("%a %H:%M"), b.tasks) for b in calendar.busiest] == [
        ("Tue 09:00", ("a", "b", "c")),
        ("Wed 09:00", ("a", "c")),
        ("Mon 09:00", ("a",)),
    ]


@pytest.mark.parametrize(
    ("fires", "low", "peak", "level"),
    [
        (0, 4, 9, 0),
        (4, 4, 9, 1),
        (5, 4, 9, 2),
        (6, 4, 9, 3),
        (7, 4, 9, 3),
        (8, 4, 9, 4),
        (9, 4, 9, 4),
        (4, 4, 5, 1),
        (5, 4, 5, 4),
        (3, 3, 3, 4),
        (1, 1, 60, 1),
        (60, 1, 60, 4),
    ],
)
def test_heat_levels(fires: int, low: int, peak: int, level: int) -> None:
    assert heat_level(fires, low, peak) == level


def test_legend_levels_name_the_ranges() -> None:
    assert legend_levels(4, 9) == [(1, "4"), (2, "5"), (3, "6-7"), (4, "8-9")]
    assert legend_levels(4, 5) == [(1, "4"), (4, "5")]
    assert legend_levels(0, 0) == []


def test_plain_text_lists_the_grid_and_the_busiest_minutes() -> None:
    tasks = [task("heartbeat", "*/15 * * * *"), task("monthly", "0 17 5 * *")]
    calendar = week_calendar(
        "dev", tasks, date(2026, 11, 2), "UTC", top=2, source="rendered project"
    )
    lines = render_text(calendar).splitlines()
    assert lines[0] == (
        "env dev · week of Mon 2026-11-02 to Sun 2026-11-08 · hours in UTC · rendered project"
    )
    assert lines[1] == "2 tasks · 673 fires · busiest hour Thu 17:00 (5 fires)"
    assert lines[3].split() == [*(f"{h:02d}" for h in range(24)), "total"]
    assert lines[7].split() == ["Thu", *(["4"] * 17), "5", *(["4"] * 6), "97"]
    assert lines[-3:] == [
        "Busiest minutes (UTC):",
        "  Thu 2026-11-05 17:00  2 tasks: heartbeat, monthly",
        "  Mon 2026-11-02 00:00  1 task: heartbeat",
    ]


def test_terminal_heat_map_shows_counts_and_colour() -> None:
    tasks = [task("heartbeat", "*/15 * * * *"), task("monthly", "0 17 5 * *")]
    calendar = week_calendar("dev", tasks, date(2026, 11, 2), "UTC")
    console = Console(record=True, force_terminal=True, color_system="truecolor", width=140)
    console.print(render_terminal(calendar))
    styled = console.export_text(styles=True, clear=False)
    text = console.export_text()
    thursday = next(line for line in text.splitlines() if line.startswith("Thu"))
    assert thursday.split() == ["Thu", *(["4"] * 17), "5", *(["4"] * 6), "97"]
    assert "Busiest minutes (UTC):" in text
    assert "48;2;185;28;28m 5" in styled  # the busiest hour in the hottest colour
    assert "48;2;254;243;199m 4" in styled  # the steady background in the palest


def test_json_shape() -> None:
    tasks = [
        task("monthly", "0 17 5 * *", "America/New_York"),
        task("off", "@daily", enabled=False),
    ]
    data = to_json(
        week_calendar("prod", tasks, date(2026, 11, 5), "UTC", source="rendered project")
    )
    assert (
        data["env"] == "prod" and data["timezone"] == "UTC" and data["week_start"] == "2026-11-02"
    )
    assert data["total"] == 1
    assert [d["date"] for d in data["days"]] == [f"2026-11-0{n}" for n in range(2, 9)]
    assert data["days"][3]["hours"][22] == 1  # 17:00 EST = 22:00 UTC, Thursday the 5th
    assert data["busiest"] == [
        {
            "at": "2026-11-05T22:00:00+00:00",
            "utc": "2026-11-05T22:00:00+00:00",
            "tasks": ["monthly"],
        }
    ]
    assert data["tasks"] == [
        {"name": "monthly", "expression": "0 17 5 * *", "timezone": "America/New_York", "fires": 1}
    ]
    assert data["disabled"] == ["off"]


def test_example_project_shape_every_minute_task_counts_sixty() -> None:
    calendar = week_calendar("dev", [task("busy", "* * * * *")], date(2026, 12, 9), "UTC")
    assert Counter(h.fires for day in calendar.days for h in day) == Counter({60: 168})
    assert calendar.busiest[0].at == datetime(2026, 12, 7, tzinfo=UTC)
