"""The compiled cron matcher: parsing tables, croniter agreement, DST tables, the timetable."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lambdacron.runtime.cron import (
    CronExpr,
    Schedule,
    Timetable,
    compile_expression,
    fires_ever,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def minute(text: str) -> int:
    """UTC epoch minute of "YYYY-MM-DD HH:MM" (UTC)."""
    return (datetime.fromisoformat(text).replace(tzinfo=UTC) - EPOCH) // timedelta(minutes=1)


def utc(minute_: int) -> str:
    return (EPOCH + timedelta(minutes=minute_)).strftime("%Y-%m-%d %H:%M")


def bits(mask: int) -> set[int]:
    return {n for n in range(mask.bit_length()) if (mask >> n) & 1}


ALL_MINUTES = set(range(60))
ALL_HOURS = set(range(24))
ALL_DAYS = set(range(1, 32))
ALL_MONTHS = set(range(1, 13))
ALL_WEEKDAYS = set(range(7))

# Parsing ------------------------------------------------------------------------------------

VALID = [
    # expression, minutes, hours, days, months, weekdays
    ("* * * * *", ALL_MINUTES, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("*/15 * * * *", {0, 15, 30, 45}, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("5/15 * * * *", {5, 20, 35, 50}, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("1-10/3 * * * *", {1, 4, 7, 10}, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("1,2,40-42 * * * *", {1, 2, 40, 41, 42}, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("05 07 * * *", {5}, {7}, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("15 */4 * * *", {15}, {0, 4, 8, 12, 16, 20}, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
    ("0 17 5 * *", {0}, {17}, {5}, ALL_MONTHS, ALL_WEEKDAYS),
    ("0 0 1,15 * *", {0}, {0}, {1, 15}, ALL_MONTHS, ALL_WEEKDAYS),
    ("30 2 * * 1-5", {30}, {2}, ALL_DAYS, ALL_MONTHS, {1, 2, 3, 4, 5}),
    ("0 9 * * MON-FRI", {0}, {9}, ALL_DAYS, ALL_MONTHS, {1, 2, 3, 4, 5}),
    ("0 9 * jan-Mar/2 sun", {0}, {9}, ALL_DAYS, {1, 3}, {0}),
    ("0 0 * * 7", {0}, {0}, ALL_DAYS, ALL_MONTHS, {0}),
    ("0 0 * * 5-7", {0}, {0}, ALL_DAYS, ALL_MONTHS, {5, 6, 0}),
    ("0 0 * * FRI-SUN", {0}, {0}, ALL_DAYS, ALL_MONTHS, {5, 6, 0}),
    ("0 0 * * SUN-TUE", {0}, {0}, ALL_DAYS, ALL_MONTHS, {0, 1, 2}),
    ("0 0 * * */2", {0}, {0}, ALL_DAYS, ALL_MONTHS, {0, 2, 4, 6}),
    # cronie reads "1/2" as "1-7/2": 1, 3, 5 and 7 (Sunday).
    ("0 0 * * 1/2", {0}, {0}, ALL_DAYS, ALL_MONTHS, {1, 3, 5, 0}),
    ("0 0 */10 */5 *", {0}, {0}, {1, 11, 21, 31}, {1, 6, 11}, ALL_WEEKDAYS),
    ("59 23 31 12 6", {59}, {23}, {31}, {12}, {6}),
    ("5-5 3-3/2 * * mon-mon", {5}, {3}, ALL_DAYS, ALL_MONTHS, {1}),
    ("  0\t0   * * *  ", {0}, {0}, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS),
]


@pytest.mark.parametrize(("expression", "minutes", "hours", "days", "months", "weekdays"), VALID)
def test_valid_expressions_compile_to_masks(
    expression: str,
    minutes: set[int],
    hours: set[int],
    days: set[int],
    months: set[int],
    weekdays: set[int],
) -> None:
    cron = compile_expression(expression)
    assert cron.expression == expression
    assert bits(cron.minutes) == minutes
    assert bits(cron.hours) == hours
    assert bits(cron.days) == days
    assert bits(cron.months) == months
    assert bits(cron.weekdays) == weekdays


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_macros_compile_like_their_expansion(macro: str, expansion: str) -> None:
    cron, expected = compile_expression(macro), compile_expression(expansion)
    assert cron.expression == macro
    assert (cron.minutes, cron.hours, cron.days, cron.months, cron.weekdays) == (
        expected.minutes,
        expected.hours,
        expected.days,
        expected.months,
        expected.weekdays,
    )
    assert (cron.day_or, cron.wildcard) == (expected.day_or, expected.wildcard)


@pytest.mark.parametrize(
    ("expression", "day_or", "wildcard"),
    [
        ("0 0 1 * 1", True, False),  # both day fields restricted: OR
        ("0 0 1-31 * 1", True, False),  # restricted even though it names every day
        ("0 0 */2 * 1", False, False),  # starts with "*": AND (cronie)
        ("0 0 1 * *", False, False),
        ("0 0 * * 1", False, False),
        ("0 0 1 * */2", False, False),
        ("30 2 * * *", False, False),
        ("0-59 0-23 * * *", False, False),  # fixed-time: neither field starts with "*"
        ("0 * * * *", False, True),
        ("15 */4 * * *", False, True),
        ("*/30 * * * *", False, True),
        ("* 2 * * *", False, True),
        ("@hourly", False, True),
        ("@daily", False, False),
    ],
)
def test_day_rule_and_dst_kind(expression: str, day_or: bool, wildcard: bool) -> None:
    cron = compile_expression(expression)
    assert (cron.day_or, cron.wildcard) == (day_or, wildcard)


FIELDS_HINT = "crontab takes 5 (minute hour day month weekday)"
INVALID = [
    ("61 * * * *", 'minute field "61": 61 is out of range 0-59'),
    ("* 24 * * *", 'hour field "24": 24 is out of range 0-23'),
    ("* * 0 * *", 'day-of-month field "0": 0 is out of range 1-31'),
    ("* * 32 * *", 'day-of-month field "32": 32 is out of range 1-31'),
    ("* * * 13 *", 'month field "13": 13 is out of range 1-12'),
    ("* * * 0 *", 'month field "0": 0 is out of range 1-12'),
    ("* * * * 8", 'day-of-week field "8": 8 is out of range 0-7'),
    ("1,99 * * * *", 'minute field "1,99": 99 is out of range 0-59'),
    ("0 0 1-32 * *", 'day-of-month field "1-32": 32 is out of range 1-31'),
    ("* * * JANUARY *", 'month field "JANUARY": "JANUARY" is not a month (1-12 or JAN-DEC)'),
    (
        "* * * * MONDAY",
        'day-of-week field "MONDAY": "MONDAY" is not a day of the week (0-7 or SUN-SAT)',
    ),
    ("MON * * * *", 'minute field "MON": "MON" is not a minute (0-59)'),
    ("0 JAN * * *", 'hour field "JAN": "JAN" is not an hour (0-23)'),
    ("+5 * * * *", 'minute field "+5": "+5" is not a minute (0-59)'),
    ("\u00b2 * * * *", 'minute field "\u00b2": "\u00b2" is not a minute (0-59)'),
    ("? * * * *", 'minute field "?": "?" is not a minute (0-59)'),
    ("0 0 ? * *", 'day-of-month field "?": "?" is not a day of the month (1-31)'),
    ("H * * * *", 'minute field "H": "H" is not a minute (0-59)'),
    ("0 0 L * *", 'day-of-month field "L": "L" is not a day of the month (1-31)'),
    (
        "0 0 * * 1#2",
        'day-of-week field "1#2": "1#2" is not a day of the week (0-7 or SUN-SAT)',
    ),
    ("*-5 * * * *", 'minute field "*-5": "*" is not a minute (0-59)'),
    ("1-2-3 * * * *", 'minute field "1-2-3": "2-3" is not a minute (0-59)'),
    ("1- * * * *", 'minute field "1-": "1-" is incomplete'),
    ("-1 * * * *", 'minute field "-1": "-1" is incomplete'),
    ("1,,2 * * * *", 'minute field "1,,2": empty item in the list'),
    ("1, * * * *", 'minute field "1,": empty item in the list'),
    ("*/0 * * * *", 'minute field "*/0": step 0 is out of range 1-59'),
    ("*/60 * * * *", 'minute field "*/60": step 60 is out of range 1-59'),
    ("0 */24 * * *", 'hour field "*/24": step 24 is out of range 1-23'),
    ("0 0 */31 * *", 'day-of-month field "*/31": step 31 is out of range 1-30'),
    ("0 0 * */12 *", 'month field "*/12": step 12 is out of range 1-11'),
    ("0 0 * * */8", 'day-of-week field "*/8": step 8 is out of range 1-7'),
    ("1-5/0 * * * *", 'minute field "1-5/0": step 0 is out of range 1-59'),
    ("*/x * * * *", 'minute field "*/x": step "x" is not a number'),
    ("*/1/2 * * * *", 'minute field "*/1/2": step "1/2" is not a number'),
    ("*/ * * * *", 'minute field "*/": "*/" has no step after "/"'),
    ("0 22-2 * * *", 'hour field "22-2": range 22-2 is reversed; write 22-23,0-2'),
    ("50-10 * * * *", 'minute field "50-10": range 50-10 is reversed; write 50-59,0-10'),
    (
        "0 0 * * SAT-MON",
        'day-of-week field "SAT-MON": range SAT-MON is reversed; write SAT-7,0-MON',
    ),
    ("0 0 * NOV-FEB *", 'month field "NOV-FEB": range NOV-FEB is reversed; write NOV-12,1-FEB'),
    (
        "",
        "empty expression; crontab takes 5 fields (minute hour day month weekday) or a macro such as @daily",
    ),
    (
        "   ",
        "empty expression; crontab takes 5 fields (minute hour day month weekday) or a macro such as @daily",
    ),
    ("*", f"1 field; {FIELDS_HINT}"),
    ("* * * *", f"4 fields; {FIELDS_HINT}"),
    ("0 17 5 * * *", f"6 fields; {FIELDS_HINT}"),
    ("0 17 5 * ? *", f"6 fields; {FIELDS_HINT}"),
    ("0 0 0 17 5 * 2026", f"7 fields; {FIELDS_HINT}"),
    (
        "@reboot",
        'unknown macro "@reboot"; use one of @hourly @daily @midnight @weekly @monthly @yearly '
        "@annually",
    ),
    (
        "@daily 0",
        'unknown macro "@daily 0"; use one of @hourly @daily @midnight @weekly @monthly @yearly '
        "@annually",
    ),
]


@pytest.mark.parametrize(("expression", "message"), INVALID)
def test_invalid_expressions_say_which_field_and_why(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_expression(expression)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        ("0 0 31 2 *", False),
        ("0 0 30 2 *", False),
        ("0 0 30,31 2 *", False),
        ("0 0 31 4,6,9,11 *", False),
        ("0 0 31 APR *", False),
        ("0 0 29 2 *", True),  # leap days
        ("0 0 31 2,3 *", True),
        ("0 0 31 2 MON", True),  # OR rule: every Monday in February
        ("0 0 31 2 */2", False),  # AND: weekday starts with "*"
        ("0 0 */30 2 1", True),  # AND: February 1st (or 31st) on a Monday
        ("0 0 31 * *", True),
        ("@yearly", True),
    ],
)
def test_fires_ever(expression: str, fires: bool) -> None:
    assert fires_ever(expression) is fires
    assert compile_expression(expression).fires_ever is fires
    after = datetime(2026, 12, 4, tzinfo=UTC)
    assert bool(Schedule(expression).next_fire_times(after, 1)) is fires


def test_compiled_expressions_are_cached_by_text() -> None:
    assert compile_expression("0 17 5 * *") is compile_expression("0 17 5 * *")
    assert isinstance(compile_expression("@daily"), CronExpr)


def test_the_module_imports_only_the_standard_library() -> None:
    code = (
        "import sys; import lambdacron.runtime.cron; "
        "print(sorted(m for m in ('croniter', 'dateutil', 'boto3', 'jinja2') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# Agreement with croniter (UTC: croniter is right where there is no DST) ------------------------


def _field(
    low: int, high: int, names: tuple[str, ...] = (), name_offset: int = 0
) -> st.SearchStrategy[str]:
    def show(value: int, use_name: bool) -> str:
        index = value - name_offset
        return names[index] if use_name and 0 <= index < len(names) else str(value)

    number = st.integers(low, high)
    step = st.integers(1, high - low)
    shown = st.tuples(number, st.booleans()).map(lambda pair: show(*pair))

    def span(pair: tuple[int, int], use_names: bool) -> str:
        first, last = sorted(pair)
        return f"{show(first, use_names)}-{show(last, use_names)}"

    # Distinct bounds: croniter 7 reads "5-5" as "*" (cronie: just 5; see VALID).
    bounds = st.tuples(number, number).filter(lambda pair: pair[0] != pair[1])
    ranges = st.builds(span, bounds, st.booleans())
    items = st.one_of(
        shown,
        ranges,
        st.builds(lambda r, s: f"{r}/{s}", ranges, step),
    )
    if name_offset == 0 and names:
        single = items  # day of week: "1/2" differs from croniter (cronie includes 7); see VALID
    else:
        single = st.one_of(items, st.builds(lambda n, s: f"{n}/{s}", number, step))
    listed = st.lists(single, min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), step.map(lambda s: f"*/{s}"), listed)


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

expressions = st.builds(
    " ".join,
    st.tuples(
        _field(0, 59),
        _field(0, 23),
        _field(1, 31),
        _field(1, 12, MONTHS, name_offset=1),
        _field(0, 7, WEEKDAYS),
    ),
)
# 2000-01-01 to 2040-01-01, in minutes
minutes_2000s = st.integers(minute("2000-01-01 00:00"), minute("2040-01-01 00:00"))


def _croniter_reads_it_alike(expression: str) -> bool:
    """croniter turns a day field naming every value into "*", so "1-31" loses cronie's OR rule."""
    cron = compile_expression(expression)
    day, weekday = expression.split()[2], expression.split()[4]
    full_day = bits(cron.days) == ALL_DAYS and not day.startswith("*")
    full_weekday = bits(cron.weekdays) == ALL_WEEKDAYS and not weekday.startswith("*")
    return cron.fires_ever and not full_day and not full_weekday


def _croniter_next(expression: str, after: datetime, count: int) -> list[datetime]:
    it = croniter(expression, after, implement_cron_bug=True, max_years_between_matches=200)
    return [it.get_next(datetime) for _ in range(count)]


@settings(max_examples=300, deadline=None)
@given(expression=expressions, start=minutes_2000s)
def test_next_fire_times_agree_with_croniter(expression: str, start: int) -> None:
    assume(_croniter_reads_it_alike(expression))
    after = EPOCH + timedelta(minutes=start, seconds=17)
    expected = _croniter_next(expression, after, 3)
    assert Schedule(expression, "UTC").next_fire_times(after, 3) == expected


@settings(max_examples=300, deadline=None)
@given(expression=expressions, at=minutes_2000s, near=st.booleans())
def test_is_due_agrees_with_croniter(expression: str, at: int, near: bool) -> None:
    assume(_croniter_reads_it_alike(expression))
    if near:  # half of the minutes are fire times, so that "due" is exercised, not only "not due"
        at = (_croniter_next(expression, EPOCH + timedelta(minutes=at), 1)[0] - EPOCH) // (
            timedelta(minutes=1)
        )
    previous = EPOCH + timedelta(minutes=at - 1)
    expected = _croniter_next(expression, previous, 1)[0] == previous + timedelta(minutes=1)
    assert Schedule(expression, "UTC").is_due(at) is expected


# DST (cronie's rules), one zone's 2026 transitions written out -------------------------------

# Europe/Madrid: 2026-03-29 01:00 UTC clocks go 02:00 CET -> 03:00 CEST (02:00-02:59 skipped);
# 2026-10-25 01:00 UTC clocks go 03:00 CEST -> 02:00 CET (02:00-02:59 happens twice).
MADRID = [
    # spring forward
    (
        "30 2 * * *",
        "2026-03-28 00:00",
        "2026-03-30 03:00",
        ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"],
    ),
    ("0 2 * * *", "2026-03-29 00:00", "2026-03-29 03:00", ["2026-03-29 01:00"]),
    ("0,15,59 2 * * *", "2026-03-29 00:00", "2026-03-29 03:00", ["2026-03-29 01:00"]),
    ("0 3 * * *", "2026-03-29 00:00", "2026-03-29 03:00", ["2026-03-29 01:00"]),
    ("30 1 * * *", "2026-03-29 00:00", "2026-03-29 03:00", ["2026-03-29 00:30"]),
    (
        "*/30 * * * *",
        "2026-03-28 23:50",
        "2026-03-29 01:40",
        ["2026-03-29 00:00", "2026-03-29 00:30", "2026-03-29 01:00", "2026-03-29 01:30"],
    ),
    (
        "0 * * * *",
        "2026-03-28 23:00",
        "2026-03-29 02:00",
        ["2026-03-28 23:00", "2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00"],
    ),
    (
        "30 * * * *",
        "2026-03-29 00:00",
        "2026-03-29 02:00",
        ["2026-03-29 00:30", "2026-03-29 01:30"],
    ),
    (
        "* 2 * * *",
        "2026-03-28 00:00",
        "2026-03-29 23:59",
        [f"2026-03-28 01:{m:02}" for m in range(60)],
    ),
    # fall back
    (
        "30 2 * * *",
        "2026-10-24 00:00",
        "2026-10-26 03:00",
        ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"],
    ),
    ("0 2 * * *", "2026-10-24 23:00", "2026-10-25 03:00", ["2026-10-25 00:00"]),
    ("59 2 * * *", "2026-10-24 23:00", "2026-10-25 03:00", ["2026-10-25 00:59"]),
    ("0 3 * * *", "2026-10-24 23:00", "2026-10-25 03:00", ["2026-10-25 02:00"]),
    (
        "*/30 * * * *",
        "2026-10-24 23:40",
        "2026-10-25 02:10",
        [
            "2026-10-25 00:00",
            "2026-10-25 00:30",
            "2026-10-25 01:00",
            "2026-10-25 01:30",
            "2026-10-25 02:00",
        ],
    ),
    (
        "0 * * * *",
        "2026-10-24 23:00",
        "2026-10-25 02:00",
        ["2026-10-24 23:00", "2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00"],
    ),
    ("0 2 * * *", "2026-10-25 00:01", "2026-10-25 03:00", []),  # the second 02:00 is not a run
]


def _check_window(expression: str, zone: str, first: str, last: str, expected: list[str]) -> None:
    schedule = Schedule(expression, zone)
    first_minute, last_minute = minute(first), minute(last)
    by_minute = [m for m in range(first_minute, last_minute + 1) if schedule.is_due(m)]
    assert [utc(m) for m in by_minute] == expected
    assert [utc(m) for m in schedule.fire_minutes(first_minute, last_minute)] == expected
    timetable = Timetable([("@yearly", "UTC"), (expression, zone)])
    pairs = timetable.due_between(first_minute, last_minute)
    assert [utc(m) for m, index in pairs if index == 1] == expected
    after = EPOCH + timedelta(minutes=first_minute - 1)
    fires = schedule.next_fire_times(after, len(expected))
    assert [f.astimezone(UTC).strftime("%Y-%m-%d %H:%M") for f in fires] == expected


@pytest.mark.parametrize(("expression", "first", "last", "expected"), MADRID)
def test_dst_madrid_2026(expression: str, first: str, last: str, expected: list[str]) -> None:
    _check_window(expression, "Europe/Madrid", first, last, expected)


def test_dst_madrid_repeated_hour_runs_wildcard_jobs_twice() -> None:
    every_minute_at_two = Schedule("* 2 * * *", "Europe/Madrid")
    fires = every_minute_at_two.fire_minutes(minute("2026-10-24 12:00"), minute("2026-10-25 12:00"))
    assert len(fires) == 120
    assert (utc(fires[0]), utc(fires[59]), utc(fires[60]), utc(fires[-1])) == (
        "2026-10-25 00:00",
        "2026-10-25 00:59",
        "2026-10-25 01:00",
        "2026-10-25 01:59",
    )
    local = every_minute_at_two.next_fire_times(datetime(2026, 10, 25, 0, 59, tzinfo=UTC), 1)[0]
    assert (local.hour, local.minute, local.fold, local.utcoffset()) == (
        2,
        0,
        1,
        timedelta(hours=1),
    )


# America/New_York: 2026-03-08 07:00 UTC 02:00 EST -> 03:00 EDT; 2026-11-01 06:00 UTC 02:00 EDT
# -> 01:00 EST (01:00-01:59 twice). Australia/Lord_Howe shifts by 30 minutes: 2026-04-04 15:00
# UTC 02:00 -> 01:30 (01:30-01:59 twice); 2026-10-03 15:30 UTC 02:00 -> 02:30 (02:00-02:29
# skipped). Asia/Kathmandu is UTC+05:45 all year.
OTHER_ZONES = [
    (
        "America/New_York",
        "30 2 * * *",
        "2026-03-08 00:00",
        "2026-03-09 12:00",
        ["2026-03-08 07:00", "2026-03-09 06:30"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        "2026-11-01 00:00",
        "2026-11-01 12:00",
        ["2026-11-01 05:30"],
    ),
    (
        "America/New_York",
        "0 * * * *",
        "2026-11-01 04:30",
        "2026-11-01 07:30",
        ["2026-11-01 05:00", "2026-11-01 06:00", "2026-11-01 07:00"],
    ),
    (
        "America/New_York",
        "*/30 * * * *",
        "2026-03-08 06:00",
        "2026-03-08 07:40",
        ["2026-03-08 06:00", "2026-03-08 06:30", "2026-03-08 07:00", "2026-03-08 07:30"],
    ),
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2026-10-03 12:00",
        "2026-10-03 18:00",
        ["2026-10-03 15:30"],
    ),
    (
        "Australia/Lord_Howe",
        "0,15,29 2 * * *",
        "2026-10-03 12:00",
        "2026-10-03 18:00",
        ["2026-10-03 15:30"],
    ),
    (
        "Australia/Lord_Howe",
        "30 2 * * *",
        "2026-10-03 12:00",
        "2026-10-03 18:00",
        ["2026-10-03 15:30"],
    ),
    (
        "Australia/Lord_Howe",
        "*/15 * * * *",
        "2026-10-03 15:10",
        "2026-10-03 15:50",
        ["2026-10-03 15:15", "2026-10-03 15:30", "2026-10-03 15:45"],
    ),
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        "2026-04-04 12:00",
        "2026-04-04 18:00",
        ["2026-04-04 14:45"],
    ),
    (
        "Australia/Lord_Howe",
        "*/15 * * * *",
        "2026-04-04 14:20",
        "2026-04-04 15:40",
        [
            "2026-04-04 14:30",
            "2026-04-04 14:45",
            "2026-04-04 15:00",
            "2026-04-04 15:15",
            "2026-04-04 15:30",
        ],
    ),
    (
        "Asia/Kathmandu",
        "0 0 * * *",
        "2026-12-04 00:00",
        "2026-12-06 00:00",
        ["2026-12-04 18:15", "2026-12-05 18:15"],
    ),
    (
        "Asia/Kathmandu",
        "*/30 * * * *",
        "2026-12-04 10:00",
        "2026-12-04 11:00",
        ["2026-12-04 10:15", "2026-12-04 10:45"],
    ),
]


@pytest.mark.parametrize(("zone", "expression", "first", "last", "expected"), OTHER_ZONES)
def test_dst_other_zones(
    zone: str, expression: str, first: str, last: str, expected: list[str]
) -> None:
    _check_window(expression, zone, first, last, expected)


# next_fire_times ---------------------------------------------------------------------------

NEXT = [
    (
        "0 17 5 * *",
        "UTC",
        "2026-12-04T10:00:00+00:00",
        ["2026-12-05T17:00:00+00:00", "2027-01-05T17:00:00+00:00", "2027-02-05T17:00:00+00:00"],
    ),
    (
        "0 17 5 * *",
        "Europe/Madrid",
        "2026-12-04T10:00:00+00:00",
        ["2026-12-05T17:00:00+01:00", "2027-01-05T17:00:00+01:00", "2027-02-05T17:00:00+01:00"],
    ),
    (
        "*/5 * * * *",
        "UTC",
        "2026-12-04T10:00:00+00:00",
        ["2026-12-04T10:05:00+00:00", "2026-12-04T10:10:00+00:00", "2026-12-04T10:15:00+00:00"],
    ),
    (
        "*/5 * * * *",
        "UTC",
        "2026-12-04T10:04:59.999999+00:00",
        ["2026-12-04T10:05:00+00:00", "2026-12-04T10:10:00+00:00", "2026-12-04T10:15:00+00:00"],
    ),
    (
        "*/5 * * * *",
        "UTC",
        "2026-12-04T10:05:00.000001+00:00",
        ["2026-12-04T10:10:00+00:00", "2026-12-04T10:15:00+00:00", "2026-12-04T10:20:00+00:00"],
    ),
    (
        "30 2 * * 1-5",
        "America/New_York",
        "2026-12-04T12:00:00-05:00",
        ["2026-12-07T02:30:00-05:00", "2026-12-08T02:30:00-05:00", "2026-12-09T02:30:00-05:00"],
    ),
    (
        "@daily",
        "Asia/Tokyo",
        "2026-12-04T15:00:00+00:00",
        ["2026-12-06T00:00:00+09:00", "2026-12-07T00:00:00+09:00", "2026-12-08T00:00:00+09:00"],
    ),
    (
        "0 0 29 2 *",
        "UTC",
        "2026-12-04T00:00:00+00:00",
        ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"],
    ),
    ("0 0 29 2 *", "UTC", "2096-03-01T00:00:00+00:00", ["2104-02-29T00:00:00+00:00"]),
    (
        "0 12 29 2 MON",
        "UTC",
        "2027-02-16T00:00:00+00:00",
        ["2027-02-22T12:00:00+00:00", "2028-02-07T12:00:00+00:00", "2028-02-14T12:00:00+00:00"],
    ),
    # AND rule (day-of-month starts with "*"): odd days that are Mondays
    (
        "0 0 */2 * MON",
        "UTC",
        "2026-12-04T00:00:00+00:00",
        ["2026-12-07T00:00:00+00:00", "2026-12-21T00:00:00+00:00", "2027-01-11T00:00:00+00:00"],
    ),
    (
        "0 9 1-7 * MON",
        "UTC",
        "2026-12-06T10:00:00+00:00",
        [
            "2026-12-07T09:00:00+00:00",
            "2026-12-14T09:00:00+00:00",
            "2026-12-21T09:00:00+00:00",
            "2026-12-28T09:00:00+00:00",
            "2027-01-01T09:00:00+00:00",
        ],
    ),
    ("0 0 31 2 *", "UTC", "2026-12-04T00:00:00+00:00", []),
    ("0 0 1 1 *", "Pacific/Kiritimati", "2026-12-31T00:00:00+00:00", ["2027-01-01T00:00:00+14:00"]),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), NEXT)
def test_next_fire_times(expression: str, zone: str, after: str, expected: list[str]) -> None:
    fires = Schedule(expression, zone).next_fire_times(
        datetime.fromisoformat(after), len(expected) or 3
    )
    assert [fire.isoformat() for fire in fires] == expected
    assert all(fire.tzinfo == ZoneInfo(zone) for fire in fires)


def test_next_fire_times_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError) as caught:
        Schedule("@daily").next_fire_times(datetime(2026, 12, 4), 1)
    assert str(caught.value) == "after=2026-12-04T00:00:00 needs a time zone, e.g. tzinfo=UTC"


def test_next_fire_times_count_zero_and_far_future() -> None:
    schedule = Schedule("0 0 1 1 *")
    assert schedule.next_fire_times(datetime(2026, 1, 1, tzinfo=UTC), 0) == []
    assert schedule.next_fire_times(datetime(9998, 6, 1, tzinfo=UTC), 3) == [
        datetime(9999, 1, 1, tzinfo=ZoneInfo("UTC"))
    ]


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "/etc/localtime", "Europe", "utc"]
)
def test_unknown_time_zone(zone: str) -> None:
    message = (
        f'time zone "{zone}" is not an IANA time zone name '
        "(e.g. UTC, Europe/Madrid, America/New_York)"
    )
    with pytest.raises(ValueError) as caught:
        Schedule("@daily", zone)
    assert str(caught.value) == message
    with pytest.raises(ValueError) as caught:
        Timetable([("@daily", "UTC"), ("@daily", zone)])
    assert str(caught.value) == message


# The timetable -----------------------------------------------------------------------------


def test_timetable_due_at_and_between() -> None:
    entries = [
        ("*/5 * * * *", "UTC"),
        ("0 17 5 * *", "Europe/Madrid"),
        ("*/5 * * * *", "UTC"),  # identical to entry 0
        ("@hourly", "UTC"),
        ("0 * * * *", "UTC"),  # compiles like entry 3
        ("0 * * * *", "Asia/Kathmandu"),  # on the hour there is :15 UTC
        ("0 0 31 2 *", "UTC"),  # never
    ]
    timetable = Timetable(entries)
    top = minute("2026-12-05 16:00")  # 17:00 in Madrid
    assert sorted(timetable.due_at(top)) == [0, 1, 2, 3, 4]
    assert sorted(timetable.due_at(top + 15)) == [0, 2, 5]
    assert timetable.due_at(top + 1) == []
    pairs = timetable.due_between(top - 5, top + 15)
    assert [m - top for m, _ in pairs] == sorted(m - top for m, _ in pairs)
    assert sorted(pairs) == sorted(
        [(top - 5, 0), (top - 5, 2)]
        + [(top, i) for i in (0, 1, 2, 3, 4)]
        + [(top + 5, 0), (top + 5, 2), (top + 10, 0), (top + 10, 2)]
        + [(top + 15, i) for i in (0, 2, 5)]
    )
    assert timetable.due_between(top, top - 1) == []
    assert Timetable([]).due_at(top) == []


def test_timetable_names_a_bad_expression() -> None:
    with pytest.raises(ValueError) as caught:
        Timetable([("@daily", "UTC"), ("0 0 32 * *", "Europe/Madrid")])
    assert str(caught.value) == (
        'expression "0 0 32 * *": day-of-month field "32": 32 is out of range 1-31'
    )


# Two zones with 2026 transitions, and a non-DST zone with an odd offset.
DST_ZONES = ["Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]
TRANSITIONS = [
    minute(text)
    for text in [
        "2026-03-29 01:00",
        "2026-10-25 01:00",
        "2026-03-08 07:00",
        "2026-11-01 06:00",
        "2026-04-04 15:00",
        "2026-10-03 15:30",
    ]
]
# Mostly the short schedules of a timetable, plus every field shape from the croniter strategy.
common_expressions = st.sampled_from(
    [
        "*/5 * * * *",
        "*/30 * * * *",
        "0 * * * *",
        "* 2 * * *",
        "30 2 * * *",
        "0 2 * * *",
        "0,15,45 2 * * *",
        "45 1 * * *",
        "0 3 * * *",
        "15 */4 * * *",
        "0-59/20 1-3 * * *",
        "@daily",
        "30 2 * * 1-5",
        "0 0 1,15 * *",
        "0 2 25 10 SUN",
    ]
)
any_expressions = st.one_of(common_expressions, expressions.filter(lambda e: fires_ever(e)))
near_transition = st.builds(
    lambda base, shift: base + shift, st.sampled_from(TRANSITIONS), st.integers(-180, 180)
)


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(
        st.tuples(any_expressions, st.sampled_from(DST_ZONES)), min_size=1, max_size=8
    ),
    first=near_transition,
    length=st.integers(0, 90),
)
def test_due_between_is_the_union_of_due_at_and_of_is_due(
    entries: list[tuple[str, str]], first: int, length: int
) -> None:
    timetable = Timetable(entries)
    schedules = [Schedule(expression, zone) for expression, zone in entries]
    last = first + length
    by_minute = [(m, i) for m in range(first, last + 1) for i in sorted(timetable.due_at(m))]
    by_schedule = [
        (m, i) for m in range(first, last + 1) for i, s in enumerate(schedules) if s.is_due(m)
    ]
    pairs = timetable.due_between(first, last)
    assert sorted(pairs) == by_minute == by_schedule
    assert [m for m, _ in pairs] == [m for m, _ in by_minute]


@settings(max_examples=300, deadline=None)
@given(
    expression=any_expressions,
    zone=st.sampled_from(DST_ZONES),
    first=near_transition,
    length=st.integers(0, 600),
)
def test_fire_minutes_and_next_fire_times_agree_with_is_due(
    expression: str, zone: str, first: int, length: int
) -> None:
    schedule = Schedule(expression, zone)
    last = first - 300 + length
    expected = [m for m in range(first - 300, last + 1) if schedule.is_due(m)]
    assert schedule.fire_minutes(first - 300, last) == expected
    after = EPOCH + timedelta(minutes=first - 301)
    fires = schedule.next_fire_times(after, len(expected))
    assert [(f - EPOCH) // timedelta(minutes=1) for f in fires] == expected
