"""The compiled cron matcher agrees with croniter outside UTC.

tests/runtime/test_runtime_cron.py checks agreement with croniter in UTC, DST tables, and that
due-between equals the union of single minutes near DST transitions. What it leaves out, added
here: agreement with croniter in zones with odd offsets and no DST, and in DST zones away from
their transitions (where croniter is right), for single minutes, next fire times and the
timetable's due-between. The expression strategy and croniter's known differences from cronie
are the cron engineer's, imported so that both files test the same expressions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from lambdacron.runtime.cron import Schedule, Timetable
from tests.runtime.test_runtime_cron import EPOCH, _croniter_reads_it_alike, expressions

pytestmark = pytest.mark.hardening

PROPERTY = settings(max_examples=200, deadline=None)
# Expressions that fire often, so that short windows of the timetable hold fire times.
frequent = st.sampled_from(
    [
        "* * * * *",
        "*/5 * * * *",
        "*/7 * * * *",
        "0 * * * *",
        "15,45 * * * *",
        "* 9-17 * * 1-5",
        "0-59/20 1-3 * * *",
        "30 2 * * *",
    ]
)

# One offset all year, every year of 2000-2040 (checked below): croniter is exact there.
FIXED = [
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
    "America/Panama",
    "Etc/GMT+11",
]
# DST zones whose clocks do not change from 1 January to 28 February nor from 1 July to
# 31 August (northern and southern hemispheres, a 30-minute and a 45-minute offset among them).
SEASONAL = [
    "Europe/Madrid",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
]
QUIET = [(1, 1, 3, 1), (7, 1, 9, 1)]  # (month, day) to (month, day), end excluded


def minute_of(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(minutes=1)


def croniter_fires(expression: str, zone: str, first: int, last: int, limit: int) -> list[int]:
    """croniter's fire minutes in ``first..last`` (at most ``limit``), computed in ``zone``."""
    start = (EPOCH + timedelta(minutes=first - 1)).astimezone(ZoneInfo(zone))
    it = croniter(expression, start, implement_cron_bug=True, max_years_between_matches=200)
    found: list[int] = []
    while len(found) < limit:
        fire = minute_of(it.get_next(datetime))
        if fire > last:
            break
        found.append(fire)
    return found


@st.composite
def quiet_windows(draw: st.DrawFn, zones: list[str]) -> tuple[str, int, int]:
    """A zone and a window of minutes in which its UTC offset does not change."""
    zone = draw(st.sampled_from(zones))
    if zone in FIXED:
        first = draw(
            st.integers(
                minute_of(datetime(2000, 1, 2, tzinfo=ZoneInfo("UTC"))),
                minute_of(datetime(2039, 12, 1, tzinfo=ZoneInfo("UTC"))),
            )
        )
        return zone, first, first + 60 * 24 * 28
    year = draw(st.integers(2001, 2039))
    month, day, end_month, end_day = draw(st.sampled_from(QUIET))
    tz = ZoneInfo(zone)
    begin = minute_of(datetime(year, month, day, tzinfo=tz)) + 1
    end = minute_of(datetime(year, end_month, end_day, tzinfo=tz)) - 1
    return zone, draw(st.integers(begin, end - 1)), end


def test_the_zones_keep_their_offsets() -> None:
    """The premise of the properties below: no offset change inside the windows used."""
    for zone in FIXED:
        tz = ZoneInfo(zone)
        offsets = {
            datetime(y, m, 15, tzinfo=tz).utcoffset()
            for y in range(2000, 2041)
            for m in range(1, 13)
        }
        assert len(offsets) == 1, zone
    for zone in SEASONAL:
        tz = ZoneInfo(zone)
        for year in range(2001, 2040):
            for month, day, end_month, end_day in QUIET:
                moment = datetime(year, month, day, tzinfo=tz)
                end = datetime(year, end_month, end_day, tzinfo=tz)
                offsets = set()
                while moment < end:
                    offsets.add(moment.utcoffset())
                    moment += timedelta(hours=12)
                assert len(offsets) == 1, (zone, year, month)


@PROPERTY
@given(expression=expressions, window=quiet_windows(FIXED + SEASONAL))
def test_next_fire_times_agree_with_croniter_outside_utc(
    expression: str, window: tuple[str, int, int]
) -> None:
    assume(_croniter_reads_it_alike(expression))
    zone, first, last = window
    expected = croniter_fires(expression, zone, first, last, 4)
    after = EPOCH + timedelta(minutes=first - 1, seconds=30)
    ours = [minute_of(f) for f in Schedule(expression, zone).next_fire_times(after, 4)]
    assert [m for m in ours if m <= last] == expected


@PROPERTY
@given(expression=expressions, window=quiet_windows(FIXED + SEASONAL), near=st.booleans())
def test_is_due_agrees_with_croniter_outside_utc(
    expression: str, window: tuple[str, int, int], near: bool
) -> None:
    assume(_croniter_reads_it_alike(expression))
    zone, at, last = window
    if near:  # half of the minutes are fire times, so that "due" is exercised too
        fires = croniter_fires(expression, zone, at, last, 1)
        assume(fires)
        at = fires[0]
    assert Schedule(expression, zone).is_due(at) is (
        croniter_fires(expression, zone, at, at, 1) == [at]
    )


@PROPERTY
@given(
    entries=st.lists(
        st.tuples(frequent | expressions, st.sampled_from(FIXED + SEASONAL)), min_size=1, max_size=5
    ),
    window=quiet_windows(SEASONAL),
    length=st.integers(0, 120),
)
def test_due_between_agrees_with_croniter_outside_utc(
    entries: list[tuple[str, str]], window: tuple[str, int, int], length: int
) -> None:
    """The quiet windows of the seasonal zones are quiet for the fixed zones too."""
    assume(all(_croniter_reads_it_alike(expression) for expression, _ in entries))
    _, first, end = window
    last = min(first + length, end)
    expected = sorted(
        (fire, index)
        for index, (expression, zone) in enumerate(entries)
        for fire in croniter_fires(expression, zone, first, last, length + 1)
    )
    pairs = Timetable(entries).due_between(first, last)
    event(f"fires: {bool(pairs)}")
    assert sorted(pairs) == expected
    assert [m for m, _ in pairs] == [m for m, _ in expected]
