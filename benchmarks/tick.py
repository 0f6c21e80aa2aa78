"""Benchmarks, the tick: which tasks are due at a minute, and over a 60-minute catch-up window.

lambdacron's ``Timetable`` against croniter, one call per task (what the 2017 LambdaCron did).
croniter costs a few hundred microseconds per task, so it runs on an evenly spread sample of the
tasks and its time is scaled linearly to all of them; its answers on the sample are compared
with the timetable's, a check that both measure the same work.

The window is the hour after 2026-12-01T00:00Z: the first of a month at UTC midnight, when the
monthly, daily and hourly tasks of the UTC zone all fall due at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter, croniter_range

from benchmarks.report import Row, median
from lambdacron.runtime.cron import Timetable
from lambdacron.runtime.manifest import Task

WINDOW_START = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW_MINUTES = 60
TICK_LIMIT_MS = 1.0
WINDOW_LIMIT_MS = 50.0


def first_minute() -> int:
    return int(WINDOW_START.timestamp()) // 60


def spread_sample(tasks: Sequence[Task], size: int) -> list[Task]:
    """``size`` tasks taken evenly across the list (all of them if there are fewer)."""
    if len(tasks) <= size:
        return list(tasks)
    step = len(tasks) / size
    return [tasks[int(i * step)] for i in range(size)]


def _local(minute: int, zone: str) -> datetime:
    return datetime.fromtimestamp(minute * 60, ZoneInfo(zone))


def _entries(tasks: Sequence[Task]) -> list[tuple[str, str]]:
    return [(task.expression, task.timezone) for task in tasks]


def tick_rows(tasks: Sequence[Task], repeat: int, sample: int) -> list[Row]:
    """The two tick figures for the enabled ``tasks`` of one manifest."""
    enabled = [task for task in tasks if task.enabled]
    timetable = Timetable(_entries(enabled))
    picked = spread_sample(enabled, sample)
    return [
        _one_tick(enabled, timetable, picked, repeat),
        _window(enabled, timetable, picked, repeat),
    ]


def _one_tick(
    enabled: Sequence[Task], timetable: Timetable, picked: Sequence[Task], repeat: int
) -> Row:
    minutes = range(first_minute(), first_minute() + WINDOW_MINUTES)
    per_minute: dict[int, list[float]] = {minute: [] for minute in minutes}
    means = []
    for _ in range(repeat):
        total = 0.0
        for minute in minutes:
            started = time.perf_counter()
            timetable.due_at(minute)
            elapsed = time.perf_counter() - started
            per_minute[minute].append(elapsed)
            total += elapsed
        means.append(total / WINDOW_MINUTES)
    worst_minute = max(minutes, key=lambda m: median(per_minute[m]))
    busiest = max(minutes, key=lambda m: len(timetable.due_at(m)))
    sample_table = Timetable(_entries(picked))
    per_task, disagreements = [], 0
    for run in range(repeat):
        minute = minutes[run % WINDOW_MINUTES]
        started = time.perf_counter()
        matched = {
            index
            for index, task in enumerate(picked)
            if croniter.match(task.expression, _local(minute, task.timezone))
        }
        per_task.append((time.perf_counter() - started) / len(picked))
        disagreements += len(matched ^ set(sample_table.due_at(minute)))
    return Row(
        figure="one tick: tasks due at a minute",
        size=len(enabled),
        value=median(means) * 1000,
        unit="ms",
        baseline=median(per_task) * len(enabled) * 1000,
        baseline_name=_baseline_name(
            "croniter.match(expression, minute) per task", picked, enabled
        ),
        limit=TICK_LIMIT_MS,
        note=(
            "lambdacron: Timetable.due_at, mean over the 60 minutes from 2026-12-01T00:00Z; "
            f"busiest minute {_iso(busiest)} ({len(timetable.due_at(busiest)):,} due); slowest "
            f"{_iso(worst_minute)}: {median(per_minute[worst_minute]) * 1000:.3f} ms. "
            f"croniter and lambdacron disagreed on {disagreements} sampled (task, minute) pairs."
        ),
    )


def _window(
    enabled: Sequence[Task], timetable: Timetable, picked: Sequence[Task], repeat: int
) -> Row:
    first, last = first_minute(), first_minute() + WINDOW_MINUTES - 1
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        pairs = timetable.due_between(first, last)
        times.append(time.perf_counter() - started)
    expected = len(Timetable(_entries(picked)).due_between(first, last))
    per_task, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        found = sum(_croniter_fires(task, first, last) for task in picked)
        per_task.append((time.perf_counter() - started) / len(picked))
    return Row(
        figure="due-between, 60-minute catch-up",
        size=len(enabled),
        value=median(times) * 1000,
        unit="ms",
        baseline=median(per_task) * len(enabled) * 1000,
        baseline_name=_baseline_name(
            "croniter_range(first, last, expression) per task", picked, enabled
        ),
        limit=WINDOW_LIMIT_MS,
        note=(
            f"lambdacron: Timetable.due_between over 2026-12-01T00:00Z-00:59Z, {len(pairs):,} "
            f"(minute, task) pairs; on the croniter sample, croniter found {found:,} fires and "
            f"lambdacron {expected:,}."
        ),
    )


def _croniter_fires(task: Task, first: int, last: int) -> int:
    start, stop = _local(first, task.timezone), _local(last, task.timezone)
    return sum(1 for _ in croniter_range(start, stop, task.expression))


def _baseline_name(what: str, picked: Sequence[Task], enabled: Sequence[Task]) -> str:
    if len(picked) == len(enabled):
        return f"baseline: {what}, every task."
    return (
        f"baseline: {what}, timed on {len(picked):,} tasks spread over the manifest and scaled "
        f"linearly to {len(enabled):,}."
    )


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")
