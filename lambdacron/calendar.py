"""Seeing the schedule: how many tasks fire in each hour of one week, and the busiest minutes.

This stage reads a manifest's tasks and returns data (no clock, no store, no terminal): the CLI
picks the week and the tasks, then hands the result to one of the renderers kept here, so the
terminal heat map, the HTML page and the JSON all show the same numbers.

The grid is 7 days x 24 hours of wall-clock time in one zone (UTC unless asked). Each task fires
in its own time zone; a fire lands in the grid hour that holds its instant. In a week with a
DST change the grid zone's repeated hour holds the fires of both passes and its skipped hour
stays empty.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lambdacron.describe import describe
from lambdacron.runtime.cron import Timetable
from lambdacron.runtime.manifest import Task

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = 24
# Heat levels 1-4, background and text colour; level 0 (no fire) stays blank.
PALETTE = (
    ("#fef3c7", "#000000"),
    ("#fcd34d", "#000000"),
    ("#f97316", "#000000"),
    ("#b91c1c", "#ffffff"),
)


@dataclass(frozen=True)
class Hour:
    """One cell of the grid: how many fires one hour of one day holds, and whose."""

    fires: int
    tasks: tuple[tuple[str, int], ...]  # (task name, fires in this hour), most fires first


@dataclass(frozen=True)
class BusyMinute:
    """A minute of the week and the tasks that fire in it."""

    at: datetime  # aware, in the grid's zone
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class WeekCalendar:
    """Fires per hour of one week (Monday 00:00 to Sunday 24:00 in ``timezone``)."""

    env: str
    timezone: str
    monday: date
    days: tuple[tuple[Hour, ...], ...]  # 7 days x 24 hours
    busiest: tuple[BusyMinute, ...]
    fires: tuple[tuple[Task, int], ...]  # each enabled task with its fires this week
    disabled: tuple[str, ...]
    source: str  # where the tasks came from, for the header

    @property
    def total(self) -> int:
        return sum(hour.fires for day in self.days for hour in day)

    @property
    def peak(self) -> int:
        return max((hour.fires for day in self.days for hour in day), default=0)

    @property
    def low(self) -> int:
        """Fires in the quietest hour that has any (0 in a week without fires)."""
        return min((hour.fires for day in self.days for hour in day if hour.fires), default=0)

    @property
    def busiest_hour(self) -> tuple[int, int] | None:
        """(day index, hour) of the first hour with the most fires; None in a week without any."""
        if self.peak == 0:
            return None
        for day, hours in enumerate(self.days):
            for hour, cell in enumerate(hours):
                if cell.fires == self.peak:
                    return day, hour
        return None


def week_calendar(
    env: str,
    tasks: Sequence[Task],
    day: date,
    timezone: str = "UTC",
    top: int = 5,
    source: str = "",
) -> WeekCalendar:
    """The calendar of the week holding ``day``; ``top`` busiest minutes are named."""
    zone = ZoneInfo(timezone)
    monday = day - timedelta(days=day.weekday())
    first = _epoch_minute(datetime.combine(monday, time(), zone))
    last = _epoch_minute(datetime.combine(monday + timedelta(days=7), time(), zone)) - 1
    active = [task for task in tasks if task.enabled]
    timetable = Timetable([(task.expression, task.timezone) for task in active])
    by_minute: dict[int, list[int]] = defaultdict(list)
    for minute, index in timetable.due_between(first, last):
        by_minute[minute].append(index)
    cells: list[list[Counter[str]]] = [[Counter() for _ in range(HOURS)] for _ in DAYS]
    per_task: Counter[int] = Counter()
    for minute, indices in by_minute.items():
        local = datetime.fromtimestamp(minute * 60, zone)
        cell = cells[(local.date() - monday).days][local.hour]
        for index in indices:
            cell[active[index].name] += 1
            per_task[index] += 1
    ranked = sorted(by_minute.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
    return WeekCalendar(
        env=env,
        timezone=timezone,
        monday=monday,
        days=tuple(tuple(_hour(counter) for counter in hours) for hours in cells),
        busiest=tuple(
            BusyMinute(
                datetime.fromtimestamp(minute * 60, zone),
                tuple(active[index].name for index in sorted(indices)),
            )
            for minute, indices in ranked
        ),
        fires=tuple((task, per_task[index]) for index, task in enumerate(active)),
        disabled=tuple(task.name for task in tasks if not task.enabled),
        source=source,
    )


def _epoch_minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def _hour(counter: Counter[str]) -> Hour:
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return Hour(sum(counter.values()), tuple(ranked))


def heat_level(fires: int, low: int, peak: int) -> int:
    """0 for an hour without fires; else 1 (the quietest hour that has fires) to 4 (the busiest).

    The scale starts at the quietest busy hour, not at zero, so that a steady background (a
    heartbeat every 15 minutes) stays pale and the hours where load piles up on it stand out.
    """
    if fires <= 0:
        return 0
    if peak <= low:
        return len(PALETTE)
    steps = len(PALETTE) - 1
    return 1 + min(steps, -(-steps * (fires - low) // (peak - low)))


def legend_levels(low: int, peak: int) -> list[tuple[int, str]]:
    """Each heat level some hour can reach, with its range of fires: ``(2, "5-7")``."""
    ranges: dict[int, list[int]] = {}
    for fires in range(max(low, 1), peak + 1):
        ranges.setdefault(heat_level(fires, low, peak), []).append(fires)
    return [
        (level, str(found[0]) if len(found) == 1 else f"{found[0]}-{found[-1]}")
        for level, found in sorted(ranges.items())
    ]


# Words shared by every renderer.


def day_label(calendar: WeekCalendar, index: int) -> str:
    return f"{DAYS[index]} {(calendar.monday + timedelta(days=index)).isoformat()}"


def minute_label(busy: BusyMinute) -> str:
    return f"{DAYS[busy.at.weekday()]} {busy.at:%Y-%m-%d %H:%M}"


def headline(calendar: WeekCalendar) -> str:
    sunday = calendar.monday + timedelta(days=6)
    source = f" · {calendar.source}" if calendar.source else ""
    return (
        f"env {calendar.env} · week of Mon {calendar.monday.isoformat()} to Sun "
        f"{sunday.isoformat()} · hours in {calendar.timezone}{source}"
    )


def summary(calendar: WeekCalendar) -> str:
    tasks = len(calendar.fires)
    parts = [f"{tasks} task{'s' if tasks != 1 else ''}"]
    if calendar.disabled:
        parts.append(f"{len(calendar.disabled)} disabled (not counted)")
    parts.append(f"{calendar.total} fire{'s' if calendar.total != 1 else ''}")
    where = calendar.busiest_hour
    if where is not None:
        day, hour = where
        plural = "s" if calendar.peak != 1 else ""
        parts.append(f"busiest hour {DAYS[day]} {hour:02d}:00 ({calendar.peak} fire{plural})")
    return " · ".join(parts)


def busy_line(busy: BusyMinute) -> str:
    count = len(busy.tasks)
    return f"{minute_label(busy)}  {count} task{'s' if count != 1 else ''}: {', '.join(busy.tasks)}"


# JSON.


def to_json(calendar: WeekCalendar) -> dict[str, Any]:
    return {
        "env": calendar.env,
        "timezone": calendar.timezone,
        "week_start": calendar.monday.isoformat(),
        "source": calendar.source,
        "total": calendar.total,
        "days": [
            {
                "day": DAYS[index],
                "date": (calendar.monday + timedelta(days=index)).isoformat(),
                "hours": [hour.fires for hour in hours],
            }
            for index, hours in enumerate(calendar.days)
        ],
        "busiest": [
            {
                "at": busy.at.isoformat(),
                "utc": busy.at.astimezone(UTC).isoformat(),
                "tasks": list(busy.tasks),
            }
            for busy in calendar.busiest
        ],
        "tasks": [
            {
                "name": task.name,
                "expression": task.expression,
                "timezone": task.timezone,
                "fires": fires,
            }
            for task, fires in calendar.fires
        ],
        "disabled": list(calendar.disabled),
    }


# Plain text: stable for scripts, pipes and tests.


def render_text(calendar: WeekCalendar) -> str:
    width = max(2, len(str(calendar.peak)))
    total_width = max(5, len(str(calendar.total)))
    header = "    " + " ".join(f"{hour:0{width}d}" for hour in range(HOURS))
    lines = [headline(calendar), summary(calendar), "", f"{header}  {'total':>{total_width}}"]
    for index, hours in enumerate(calendar.days):
        cells = " ".join(f"{hour.fires or '.':>{width}}" for hour in hours)
        day_total = sum(hour.fires for hour in hours)
        lines.append(f"{DAYS[index]} {cells}  {day_total:>{total_width}}")
    lines += ["", *_busiest_lines(calendar)]
    return "\n".join(lines) + "\n"


def _busiest_lines(calendar: WeekCalendar) -> list[str]:
    if not calendar.busiest:
        return ["No task fires this week."]
    return [f"Busiest minutes ({calendar.timezone}):"] + [
        f"  {busy_line(busy)}" for busy in calendar.busiest
    ]


# Terminal: a rich heat map.


def render_terminal(calendar: WeekCalendar) -> RenderableType:
    width = max(2, len(str(calendar.peak)))
    table = Table(box=None, padding=(0, 0, 0, 1), show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    for hour in range(HOURS):
        table.add_column(f"{hour:0{width}d}", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True, style="bold")
    for index, hours in enumerate(calendar.days):
        cells = [_terminal_cell(hour.fires, calendar.low, calendar.peak, width) for hour in hours]
        table.add_row(DAYS[index], *cells, str(sum(hour.fires for hour in hours)))
    legend = Text("fires per hour: ")
    legend.append(" . none ", style="dim")
    for level, label in legend_levels(calendar.low, calendar.peak):
        background, foreground = PALETTE[level - 1]
        legend.append(f" {label} ", style=f"{foreground} on {background}")
    busiest = Text("\n".join(_busiest_lines(calendar)))
    return Group(
        Text(headline(calendar), style="bold"),
        Text(summary(calendar)),
        Text(""),
        table,
        Text(""),
        legend,
        Text(""),
        busiest,
    )


def _terminal_cell(fires: int, low: int, peak: int, width: int) -> Text:
    level = heat_level(fires, low, peak)
    if level == 0:
        return Text(f"{'.':>{width}}", style="dim")
    background, foreground = PALETTE[level - 1]
    return Text(f"{fires:>{width}}", style=f"{foreground} on {background}")


# HTML: one self-contained page, inline CSS, no scripts, no network assets.

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2937}
h1{font-size:20px;margin:0 0 4px}
p.meta{margin:0 0 16px;color:#4b5563}
table.heat{border-collapse:separate;border-spacing:2px;margin:8px 0 12px}
table.heat th{font-weight:600;font-size:12px;color:#4b5563;padding:2px 4px}
table.heat th.day{text-align:left;white-space:nowrap;padding-right:8px}
table.heat td{width:30px;height:26px;text-align:center;font-size:12px;border-radius:3px;
  background:#f3f4f6;font-variant-numeric:tabular-nums}
table.heat td.total{background:none;font-weight:600;width:44px;text-align:right}
table.heat td.l1{background:#fef3c7}table.heat td.l2{background:#fcd34d}
table.heat td.l3{background:#f97316}table.heat td.l4{background:#b91c1c;color:#fff}
table.heat td.peak{outline:2px solid #111827;outline-offset:-1px;font-weight:700}
.legend span{display:inline-block;padding:2px 8px;margin-right:4px;border-radius:3px;
  font-size:12px;background:#f3f4f6}
.legend .l1{background:#fef3c7}.legend .l2{background:#fcd34d}.legend .l3{background:#f97316}
.legend .l4{background:#b91c1c;color:#fff}
.callout{border-left:4px solid #b91c1c;background:#fef2f2;padding:8px 12px;margin:16px 0;
  max-width:900px}
table.list{border-collapse:collapse;margin-top:8px}
table.list th,table.list td{text-align:left;padding:4px 12px 4px 0;border-bottom:1px solid #e5e7eb;
  vertical-align:top}
table.list td.num{text-align:right}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
h2{font-size:16px;margin:24px 0 4px}
"""


def render_html(calendar: WeekCalendar) -> str:
    title = f"lambdacron calendar: env {calendar.env}, week of {calendar.monday.isoformat()}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(headline(calendar))}</h1>",
        f'<p class="meta">{_e(summary(calendar))}</p>',
        *_html_grid(calendar),
        *_html_legend(calendar),
        *_html_busiest(calendar),
        *_html_tasks(calendar),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_grid(calendar: WeekCalendar) -> list[str]:
    head = "".join(f'<th scope="col">{hour:02d}</th>' for hour in range(HOURS))
    rows = [
        f'<table class="heat" aria-label="fires per hour, {_e(calendar.timezone)}">',
        f'<thead><tr><th></th>{head}<th scope="col">total</th></tr></thead>',
        "<tbody>",
    ]
    peak_at = calendar.busiest_hour
    for index, hours in enumerate(calendar.days):
        cells = "".join(
            _html_cell(calendar, index, hour, cell, (index, hour) == peak_at)
            for hour, cell in enumerate(hours)
        )
        total = sum(cell.fires for cell in hours)
        rows.append(
            f'<tr><th scope="row" class="day">{_e(day_label(calendar, index))}</th>{cells}'
            f'<td class="total">{total}</td></tr>'
        )
    rows += ["</tbody>", "</table>"]
    return rows


def _html_cell(calendar: WeekCalendar, day: int, hour: int, cell: Hour, peak: bool) -> str:
    level = heat_level(cell.fires, calendar.low, calendar.peak)
    classes = " ".join(c for c in (f"l{level}" if level else "", "peak" if peak else "") if c)
    when = f"{day_label(calendar, day)} {hour:02d}:00-{hour:02d}:59 {calendar.timezone}"
    who = "; ".join(f"{name} x{count}" for name, count in cell.tasks)
    tip = f"{when}: {cell.fires} fire{'s' if cell.fires != 1 else ''}" + (
        f" ({who})" if who else ""
    )
    attribute = f' class="{classes}"' if classes else ""
    return f'<td{attribute} title="{_e(tip)}">{cell.fires or ""}</td>'


def _html_legend(calendar: WeekCalendar) -> list[str]:
    spans = ['<span class="l0">none</span>'] + [
        f'<span class="l{level}">{label}</span>'
        for level, label in legend_levels(calendar.low, calendar.peak)
    ]
    return [f'<p class="legend">Fires per hour: {"".join(spans)}</p>']


def _html_busiest(calendar: WeekCalendar) -> list[str]:
    if not calendar.busiest:
        return ['<div class="callout">No task fires this week.</div>']
    top = calendar.busiest[0]
    names = ", ".join(f"<code>{_e(name)}</code>" for name in top.tasks)
    rows = "".join(
        f'<tr><td>{_e(minute_label(busy))}</td><td class="num">{len(busy.tasks)}</td>'
        f"<td>{', '.join(_e(name) for name in busy.tasks)}</td></tr>"
        for busy in calendar.busiest
    )
    return [
        f'<div class="callout"><strong>Busiest minute: {_e(minute_label(top))} '
        f"{_e(calendar.timezone)}</strong>, {len(top.tasks)} task"
        f"{'s' if len(top.tasks) != 1 else ''} at once: {names}</div>",
        f"<h2>Busiest minutes ({_e(calendar.timezone)})</h2>",
        '<table class="list"><thead><tr><th>Minute</th><th>Tasks</th><th>Names</th></tr></thead>',
        f"<tbody>{rows}</tbody></table>",
    ]


def _html_tasks(calendar: WeekCalendar) -> list[str]:
    rows = "".join(
        f"<tr><td><code>{_e(task.name)}</code></td><td><code>{_e(task.expression)}</code></td>"
        f"<td>{_e(describe(task.expression))}</td><td>{_e(task.timezone)}</td>"
        f'<td class="num">{fires}</td></tr>'
        for task, fires in calendar.fires
    )
    disabled = (
        f"<p>Disabled, not counted: {', '.join(f'<code>{_e(n)}</code>' for n in calendar.disabled)}"
        "</p>"
        if calendar.disabled
        else ""
    )
    return [
        "<h2>Tasks</h2>",
        '<table class="list"><thead><tr><th>Task</th><th>Expression</th><th>Schedule</th>'
        "<th>Time zone</th><th>Fires this week</th></tr></thead>",
        f"<tbody>{rows}</tbody></table>",
        disabled,
    ]
