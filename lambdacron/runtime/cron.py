"""Runtime stage, cron: compile each expression once, then answer "is it due at minute T" with a
few integer operations; list next fire times; find everything due between two minutes.

Minutes are UTC epoch minutes (epoch seconds // 60) throughout. Expressions follow Vixie/cronie:
five fields, ``*``, lists, ranges, steps (``5/15`` means ``5-59/15``), names JAN-DEC and SUN-SAT,
day-of-week 0-7 (7 is Sunday), the @-macros, and the day-of-month/day-of-week OR rule when both
fields are restricted (a field is unrestricted when it starts with ``*``).

Time zones follow cronie's DST rules. A *wildcard* task (its minute or hour field starts with
``*``: it runs every hour or more often) follows the wall clock: it runs in both passes through a
repeated hour, and minutes skipped by spring-forward simply do not happen. A *fixed-time* task runs
once at a repeated time (the first pass), and once at the first minute after a spring-forward jump
when the jump skipped its time.

Only the standard library: the handler imports this module at every cold start.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice, repeat, takewhile
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MACROS", "CronExpr", "Schedule", "Timetable", "compile_expression", "fires_ever"]

_DAY = 1440  # minutes
_MINUTE = timedelta(minutes=1)
_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
# The day walk of next fire times stays clear of the ends of the datetime range.
_FIRST_DATE = date(2, 1, 1)
_LAST_DATE = date(9999, 12, 1)
# No fire that comes from a local day D happens before UTC midnight of D minus this margin: UTC
# offsets stay well within a day, and a catch-up after a jump comes later, not earlier.
_MARGIN = 2 * _DAY
# The longest each month can be: February 29 fires in leap years.
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# The @-macros and the fields they stand for (also used by lambdacron.describe).
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    noun: str
    names: Mapping[str, int] = field(default_factory=dict)
    # Names that mean another value at the end of a range: FRI-SUN is Friday to Sunday (5-7).
    end_names: Mapping[str, int] = field(default_factory=dict)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (
    _Field("minute", 0, 59, "a minute (0-59)"),
    _Field("hour", 0, 23, "an hour (0-23)"),
    _Field("day-of-month", 1, 31, "a day of the month (1-31)"),
    _Field("month", 1, 12, "a month (1-12 or JAN-DEC)", {n: i for i, n in enumerate(_MONTHS, 1)}),
    _Field(
        "day-of-week",
        0,
        7,
        "a day of the week (0-7 or SUN-SAT)",
        {n: i for i, n in enumerate(_WEEKDAYS)},
        {"sun": 7},
    ),
)


@dataclass(frozen=True)
class CronExpr:
    """A compiled expression: bit ``n`` of a field's mask is set when the field allows ``n``."""

    expression: str
    minutes: int
    hours: int
    days: int
    months: int
    weekdays: int  # bit 0 is Sunday, bit 6 Saturday; a 7 in the expression sets bit 0
    day_or: bool  # both day fields restricted: a day matches either of them (cronie's OR rule)
    wildcard: bool  # minute or hour field starts with "*": follows the wall clock through DST

    def matches_day(self, day: int, month: int, weekday: int) -> bool:
        """Whether the day fields allow this date (``weekday`` 0 is Sunday)."""
        if not (self.months >> month) & 1:
            return False
        if self.day_or:
            return bool(((self.days >> day) | (self.weekdays >> weekday)) & 1)
        return bool((self.days >> day) & (self.weekdays >> weekday) & 1)

    def matches(self, wall: int) -> bool:
        """Whether the expression allows a local wall-clock minute (minutes since 1970-01-01)."""
        minute, hour, day, month, weekday = _fields(wall)
        return bool((self.minutes >> minute) & (self.hours >> hour) & 1) and self.matches_day(
            day, month, weekday
        )

    @property
    def fires_ever(self) -> bool:
        """False for expressions naming only dates that never exist, such as ``0 0 31 2 *``."""
        if self.day_or:
            return True  # every month has every weekday
        return any(self.days & ((2 << _MONTH_DAYS[month]) - 2) for month in _bits(self.months))

    @functools.cached_property
    def times_of_day(self) -> tuple[int, ...]:
        """The allowed minutes of a day (hour * 60 + minute), in order."""
        return tuple(h * 60 + m for h in _bits(self.hours) for m in _bits(self.minutes))


# minutes, hours, days, months, weekdays, day_or, wildcard: what a CronExpr holds but its text.
_Key = tuple[int, int, int, int, int, bool, bool]


@functools.cache
def compile_expression(expression: str) -> CronExpr:
    """Compile a crontab expression or @-macro; ValueError with a message for the user if invalid.

    Compiled expressions are cached by text: a manifest repeats the same few many times.
    """
    return CronExpr(expression, *_compile_key(expression))


@functools.cache
def _compile_key(expression: str) -> _Key:
    # The timetable needs only this tuple: building it alone keeps a 100,000-task cold start short.
    text = expression.strip()
    if text.startswith("@"):
        expansion = MACROS.get(text.lower())
        if expansion is None:
            raise ValueError(f'unknown macro "{text}"; use one of {" ".join(MACROS)}')
        text = expansion
    fields = text.split()
    if len(fields) != len(_FIELDS):
        raise ValueError(_count_problem(len(fields)))
    minutes, hours, days, months, weekdays = [
        _parse_field(position, item) for position, item in enumerate(fields)
    ]
    return (
        minutes,
        hours,
        days,
        months,
        (weekdays | (weekdays >> 7)) & 0x7F,  # 7 is Sunday too
        not (fields[2].startswith("*") or fields[4].startswith("*")),
        fields[0].startswith("*") or fields[1].startswith("*"),
    )


def fires_ever(expression: str) -> bool:
    """Whether a valid expression fires at all (``0 0 30 2 *`` never does; ``0 0 29 2 *`` does)."""
    return compile_expression(expression).fires_ever


def _count_problem(count: int) -> str:
    if count == 0:
        return (
            "empty expression; crontab takes 5 fields (minute hour day month weekday) "
            "or a macro such as @daily"
        )
    noun = "field" if count == 1 else "fields"
    return f"{count} {noun}; crontab takes 5 (minute hour day month weekday)"


@functools.cache
def _parse_field(position: int, text: str) -> int:
    """The mask of one field; cached, since a manifest repeats the same few field texts."""
    spec = _FIELDS[position]
    mask = 0
    for item in text.split(","):
        mask |= _parse_item(spec, text, item)
    return mask


def _parse_item(spec: _Field, text: str, item: str) -> int:
    if not item:
        raise _field_error(spec, text, "empty item in the list")
    base, slash, step_text = item.partition("/")
    step = _parse_step(spec, text, item, step_text) if slash else 1
    if base == "*":
        first, last = spec.low, spec.high
    elif "-" in base:
        start, _, end = base.partition("-")
        first = _parse_value(spec, text, item, start)
        last = _parse_value(spec, text, item, end, range_end=True)
        if first > last:
            raise _field_error(
                spec, text, f"range {base} is reversed; write {start}-{spec.high},{spec.low}-{end}"
            )
    else:
        first = _parse_value(spec, text, item, base)
        last = spec.high if slash else first  # cronie reads "5/15" as "5-59/15"
    mask = 0
    for value in range(first, last + 1, step):
        mask |= 1 << value
    return mask


def _parse_step(spec: _Field, text: str, item: str, token: str) -> int:
    if not token:
        raise _field_error(spec, text, f'"{item}" has no step after "/"')
    if not (token.isascii() and token.isdigit()):
        raise _field_error(spec, text, f'step "{token}" is not a number')
    step = int(token)
    # A step beyond the field's span would silently mean one value (cron reads */90 as 0).
    span = spec.high - spec.low
    if not 1 <= step <= span:
        raise _field_error(spec, text, f"step {step} is out of range 1-{span}")
    return step


def _parse_value(spec: _Field, text: str, item: str, token: str, range_end: bool = False) -> int:
    name = token.lower()
    if range_end and name in spec.end_names:
        return spec.end_names[name]
    if name in spec.names:
        return spec.names[name]
    if not token:
        raise _field_error(spec, text, f'"{item}" is incomplete')
    if not (token.isascii() and token.isdigit()):
        raise _field_error(spec, text, f'"{token}" is not {spec.noun}')
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise _field_error(spec, text, f"{value} is out of range {spec.low}-{spec.high}")
    return value


def _field_error(spec: _Field, text: str, problem: str) -> ValueError:
    return ValueError(f'{spec.name} field "{text}": {problem}')


@functools.cache
def _bits(mask: int) -> tuple[int, ...]:
    """The set bits of a mask, lowest first."""
    return tuple(n for n in range(mask.bit_length()) if (mask >> n) & 1)


def _fields(wall: int) -> tuple[int, int, int, int, int]:
    """minute, hour, day, month, weekday (0 = Sunday) of a wall-clock minute since 1970-01-01."""
    day, minute_of_day = divmod(wall, _DAY)
    hour, minute = divmod(minute_of_day, 60)
    calendar = date.fromordinal(_EPOCH_ORDINAL + day)
    return minute, hour, calendar.day, calendar.month, (day + 4) % 7  # 1970-01-01 was a Thursday


# Time zones


@dataclass(frozen=True, slots=True)
class _Now:
    """What a UTC minute looks like on a zone's wall clock."""

    wall: int  # local wall-clock minutes since 1970-01-01 00:00
    repeated: bool  # the second pass through a fall-back hour: this wall minute already happened
    skipped: range  # the wall minutes a spring-forward jump skipped just before this minute

    @property
    def fixed_walls(self) -> Sequence[int]:
        """The wall minutes a fixed-time task may fire for now: not a repeated one, and after a
        jump every skipped one too (cronie runs them once, right after the jump)."""
        if not self.skipped:
            return () if self.repeated else (self.wall,)
        return (self.wall, *self.skipped)


class _Clock:
    """One time zone's wall clock."""

    __slots__ = ("zone",)

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def offset(self, minute: int) -> int:
        """The UTC offset, in minutes, at the start of a UTC minute."""
        return _offset(datetime.fromtimestamp(minute * 60, self.zone))

    def now(self, minute: int) -> _Now:
        local = datetime.fromtimestamp(minute * 60, self.zone)
        wall = minute + _offset(local)
        previous = minute - 1 + self.offset(minute - 1)
        return _Now(wall, bool(local.fold), range(previous + 1, wall))


def _offset(local: datetime) -> int:
    # An aware datetime from a ZoneInfo always has an offset; "or" only satisfies the type.
    return (local.utcoffset() or timedelta()) // _MINUTE


@functools.cache
def _clock(timezone: str) -> _Clock:
    try:
        return _Clock(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f'time zone "{timezone}" is not an IANA time zone name '
            "(e.g. UTC, Europe/Madrid, America/New_York)"
        ) from None


def _due(cron: CronExpr, now: _Now) -> bool:
    if cron.wildcard:
        return cron.matches(now.wall)
    return any(cron.matches(wall) for wall in now.fixed_walls)


class Schedule:
    """One expression in one time zone: is it due at a minute, and when does it fire next."""

    __slots__ = ("_clock", "cron", "expression", "timezone", "zone")

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.expression = expression
        self.timezone = timezone
        self.cron = compile_expression(expression)
        self._clock = _clock(timezone)
        self.zone = self._clock.zone

    def __repr__(self) -> str:
        return f"Schedule({self.expression!r}, {self.timezone!r})"

    def is_due(self, minute: int) -> bool:
        """Whether the task fires at a UTC epoch minute."""
        return _due(self.cron, self._clock.now(minute))

    def next_fire_times(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire times strictly after ``after`` (aware), in the task's zone."""
        if after.tzinfo is None:
            raise ValueError(f"after={after.isoformat()} needs a time zone, e.g. tzinfo=UTC")
        start = (after - _EPOCH) // _MINUTE + 1
        return [self._datetime(minute) for minute in islice(self._fires(start), count)]

    def fire_minutes(self, first_minute: int, last_minute: int) -> list[int]:
        """The UTC epoch minutes the task fires at, from first to last inclusive, in order."""
        return list(takewhile(lambda minute: minute <= last_minute, self._fires(first_minute)))

    def _datetime(self, minute: int) -> datetime:
        return datetime.fromtimestamp(minute * 60, self.zone)

    def _fires(self, start: int) -> Iterator[int]:
        """Every fire minute from ``start`` on, in order: matching local days, each turned into
        the UTC minutes of its fires, released once no later day can fire earlier."""
        if not self.cron.fires_ever:
            return
        pending: list[int] = []
        first_day = (start + self._clock.offset(start)) // _DAY - 2
        for day in self._days(first_day):
            yield from _release(pending, day * _DAY - _MARGIN)
            for minute in self._day_fires(day):
                if minute >= start:
                    heapq.heappush(pending, minute)
        yield from _release(pending, math.inf)

    def _days(self, first_day: int) -> Iterator[int]:
        """The local days (since 1970-01-01) from ``first_day`` on that the day fields allow."""
        cron = self.cron
        ordinal = min(
            max(_EPOCH_ORDINAL + first_day, _FIRST_DATE.toordinal()), _LAST_DATE.toordinal()
        )
        current = date.fromordinal(ordinal)
        while current < _LAST_DATE:
            if (cron.months >> current.month) & 1:
                if cron.matches_day(current.day, current.month, current.isoweekday() % 7):
                    yield current.toordinal() - _EPOCH_ORDINAL
                current += _ONE_DAY
            else:
                year, month = divmod(current.year * 12 + current.month, 12)
                current = date(year, month + 1, 1)

    def _day_fires(self, day: int) -> Iterable[int]:
        """The UTC minutes at which the fires of one allowed local day happen."""
        midnight = day * _DAY
        before = self._clock.offset(midnight - _DAY)
        after = self._clock.offset(midnight + 2 * _DAY)
        if before == after:
            return [midnight - before + time for time in self.cron.times_of_day]
        # An offset change is near: ask every minute that can show this day's wall clock, or be
        # the catch-up right after a jump, so that the rules live in one place (is_due).
        first = midnight - max(before, after) - 1
        last = midnight + _DAY - min(before, after) + abs(after - before) + 1
        return [minute for minute in range(first, last + 1) if self.is_due(minute)]


def _release(pending: list[int], horizon: float) -> Iterator[int]:
    """Pop the queued minutes before ``horizon``, in order, each once."""
    while pending and pending[0] < horizon:
        minute = heapq.heappop(pending)
        while pending and pending[0] == minute:
            heapq.heappop(pending)
        yield minute


# Many tasks

# One bucket entry: (hours mask, day groups); a day group is (days, months, weekdays, day_or,
# entry indices). Tuples, not objects: the tick loop unpacks them with no attribute lookups.
_DayGroup = tuple[int, int, int, bool, list[int]]
_TimeGroup = tuple[int, tuple[_DayGroup, ...]]
_Buckets = tuple[tuple[_TimeGroup, ...], ...]


class Timetable:
    """The schedules of many tasks, indexed so that a tick looks only at what can be due.

    Entry ``i`` is ``(expression, timezone)`` of task ``i``. Identical schedules are evaluated
    once; local time is computed once per zone per minute; tasks are bucketed by minute of the
    hour, so a tick checks the hour and day masks only of tasks due at that minute of the hour.
    """

    def __init__(self, entries: Sequence[tuple[str, str]]) -> None:
        groups: dict[tuple[str, str], list[int]] = {}
        for index, entry in enumerate(entries):
            group = groups.get(entry)
            if group is None:
                groups[entry] = [index]
            else:
                group.append(index)
        zones: dict[str, list[tuple[str, list[int]]]] = {}
        for (expression, timezone), group in groups.items():
            zones.setdefault(timezone, []).append((expression, group))
        self._zones = tuple(
            _ZoneTable(_clock(timezone), schedules) for timezone, schedules in zones.items()
        )

    def due_at(self, minute: int) -> list[int]:
        """The indices of the entries due at a UTC epoch minute.

        The order is fixed for a timetable but is not index order: sorting would cost more than
        the lookup when thousands of tasks are due at once.
        """
        due: list[int] = []
        for table in self._zones:
            for group in table.due(minute):
                due.extend(group)
        return due

    def due_between(self, first_minute: int, last_minute: int) -> list[tuple[int, int]]:
        """(minute, index) of every entry due from first to last minute inclusive, by minute."""
        pairs: list[tuple[int, int]] = []
        for minute in range(first_minute, last_minute + 1):
            pairs.extend(zip(repeat(minute), self.due_at(minute)))
        return pairs


class _ZoneTable:
    """The schedules of one time zone, bucketed by minute of the hour; wildcard and fixed-time
    schedules apart, because DST treats them differently."""

    __slots__ = ("_fixed", "_wild", "clock")

    def __init__(self, clock: _Clock, schedules: Iterable[tuple[str, list[int]]]) -> None:
        self.clock = clock
        by_time: dict[tuple[int, int, bool], list[_DayGroup]] = {}
        for expression, group in schedules:
            minutes, hours, days, months, weekdays, day_or, wildcard = _compile_entry(expression)
            by_time.setdefault((minutes, hours, wildcard), []).append(
                (days, months, weekdays, day_or, group)
            )
        wild: list[list[_TimeGroup]] = [[] for _ in range(60)]
        fixed: list[list[_TimeGroup]] = [[] for _ in range(60)]
        for (minutes, hours, wildcard), day_groups in by_time.items():
            buckets = wild if wildcard else fixed
            entry = (hours, tuple(day_groups))
            for minute in _bits(minutes):
                buckets[minute].append(entry)
        self._wild: _Buckets = tuple(tuple(bucket) for bucket in wild)
        self._fixed: _Buckets = tuple(tuple(bucket) for bucket in fixed)

    def due(self, minute: int) -> Iterator[list[int]]:
        """The index groups due at a UTC minute, each once."""
        now = self.clock.now(minute)
        yield from _matching(self._wild, now.wall)
        walls = now.fixed_walls
        if len(walls) == 1:
            yield from _matching(self._fixed, walls[0])
        elif walls:
            # After a jump several skipped walls may match one group: it still runs once.
            found = {id(group): group for wall in walls for group in _matching(self._fixed, wall)}
            yield from found.values()


def _compile_entry(expression: str) -> _Key:
    try:
        return _compile_key(expression)
    except ValueError as exc:
        raise ValueError(f'expression "{expression}": {exc}') from None


def _matching(buckets: _Buckets, wall: int) -> Iterator[list[int]]:
    minute, hour, day, month, weekday = _fields(wall)
    for hours, day_groups in buckets[minute]:
        if (hours >> hour) & 1:
            for days, months, weekdays, day_or, group in day_groups:
                if not (months >> month) & 1:
                    continue
                if day_or:
                    if ((days >> day) | (weekdays >> weekday)) & 1:
                        yield group
                elif (days >> day) & (weekdays >> weekday) & 1:
                    yield group
