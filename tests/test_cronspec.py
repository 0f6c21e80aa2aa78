"""Expressions as the compiler sees them: what is accepted, the exact refusal messages,
EventBridge advice, and Jenkins H forms made concrete."""

from __future__ import annotations

import itertools
import re

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdacron import cronspec
from lambdacron.cronspec import (
    FIELDS,
    InvalidExpression,
    check_expression,
    expand_hash,
    has_hash,
)
from lambdacron.runtime.cron import compile_expression, fires_ever

GOOD = [
    "0 17 5 * *",
    "*/5 * * * *",
    "0 9-17 * * mon-fri",
    "0 9-17 * * MON-FRI",
    "30 2 1,15 * *",
    "0 0 * jan-mar,oct sun",
    "0 0 * * 0",
    "0 0 * * 7",
    "0 0 * * 0-7",
    "0 0 * * 5-7",
    "0 0 * * fri-sun",  # Sunday at the end of a range is 7, as the scheduler reads it
    "0 0 * * 1-5/2",
    "0-30/10 * * * *",
    "*/59 * * * *",
    "00 09 * * *",
    "0 0 29 2 *",  # leap years only, but it fires
    "0 0 31 2 1",  # the OR rule: every Monday in February
    "0 0 31 * *",
    "0 0 1 1,jan *",
    "  0   17 5 * *  ",
    "0\t17 5 * *",
    *cronspec.MACROS,
    "H H * * *",
    "H(0-29) 2 * * *",
    "H/15 * * * *",
    "H(0-29)/10 * * * *",
    "H H H H H",
    "0 0 * * H(mon-fri)",
    "H,30 * * * *",
]


@pytest.mark.parametrize("expression", GOOD)
def test_good_expressions_are_accepted(expression: str) -> None:
    assert check_expression(expression, "prod/task") is None


BAD = [
    ("0 17 5 * * *", "6 fields; crontab takes 5 (minute hour day month weekday)"),
    ("0 17 5 *", "4 fields; crontab takes 5 (minute hour day month weekday)"),
    ("daily", "1 field; crontab takes 5 (minute hour day month weekday)"),
    ("0 0 0 0 0 0 0", "7 fields; crontab takes 5 (minute hour day month weekday)"),
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("0 24 * * *", "hour 24 is out of range 0-23"),
    ("0 0 0 * *", "day 0 is out of range 1-31"),
    ("0 0 32 * *", "day 32 is out of range 1-31"),
    ("0 0 * 13 *", "month 13 is out of range 1-12"),
    ("0 0 * 0 *", "month 0 is out of range 1-12"),
    ("0 0 * * 8", "weekday 8 is out of range 0-7"),
    ("0-60 * * * *", "minute 60 is out of range 0-59"),
    ("*/0 * * * *", 'minute step 0 in "*/0" is out of range 1-59'),
    ("*/90 * * * *", 'minute step 90 in "*/90" is out of range 1-59'),
    ("0 0 * * */8", 'weekday step 8 in "*/8" is out of range 1-7'),
    ("*/x * * * *", 'minute step "x" in "*/x" is not a number'),
    ("*/ * * * *", 'minute step "" in "*/" is not a number'),
    ("5/15 * * * *", 'minute "5/15": a step needs a range or "*"; write "5-59/15"'),
    ("0 22-2 * * *", 'hour range 22-2 runs backwards; write "22-23,0-2"'),
    ("0 0 * nov-feb *", 'month range nov-feb runs backwards; write "nov-12,1-feb"'),
    ("0 0 * * fri-mon", 'weekday range fri-mon runs backwards; write "fri-7,mon"'),
    ("0 0 * * fri-0", 'weekday range fri-0 runs backwards; write "fri-7"'),
    ("0 0 * * 5-1/2", "weekday range 5-1 runs backwards"),
    ("0 0 * * MONDAY", 'weekday "MONDAY" is not a number or a name (SUN-SAT) (did you mean MON?)'),
    ("0 0 1 JANUARY *", 'month "JANUARY" is not a number or a name (JAN-DEC) (did you mean JAN?)'),
    ("0 0 1 xyz *", 'month "xyz" is not a number or a name (JAN-DEC)'),
    (
        "0 0 MON * *",
        'day "MON" is not a number; names are allowed only in the month and weekday fields',
    ),
    ("a * * * *", 'minute "a" is not a number'),
    ("1,,2 * * * *", 'minute "1,,2" has an empty list item'),
    ("1, * * * *", 'minute "1," has an empty list item'),
    ("*-5 * * * *", 'minute "*-5" is not valid crontab syntax'),
    ("-5 * * * *", 'minute "-5" is not valid crontab syntax'),
    ("1-2-3 * * * *", 'minute "1-2-3" is not valid crontab syntax'),
    ("½ * * * *", 'minute "½" is not valid crontab syntax'),
    (
        "0 0 ? * *",
        'day "?": "?" (no specific value) is EventBridge/Quartz syntax, not crontab; crontab uses "*"',
    ),
    ("0 0 L * *", 'day "L": "L" (last) is EventBridge/Quartz syntax, not crontab'),
    ("0 0 15W * *", 'day "15W": "W" (nearest weekday) is EventBridge/Quartz syntax, not crontab'),
    (
        "0 0 * * 1#2",
        'weekday "1#2": "#" (nth weekday of the month) is EventBridge/Quartz syntax, not crontab',
    ),
    ("0 0 * * 5L", 'weekday "5L": "L" (last) is EventBridge/Quartz syntax, not crontab'),
    (
        "@reboot",
        '@reboot runs when a machine starts, and a scheduler never starts; give a time instead, e.g. "@daily" or "0 9 * * *"',
    ),
    (
        "@dayly",
        "unknown macro @dayly (did you mean @daily?); the macros are @hourly @daily @midnight @weekly @monthly @yearly @annually",
    ),
    (
        "@Daily",
        "unknown macro @Daily (did you mean @daily?); the macros are @hourly @daily @midnight @weekly @monthly @yearly @annually",
    ),
    (
        "@often",
        "unknown macro @often; the macros are @hourly @daily @midnight @weekly @monthly @yearly @annually",
    ),
    ("@daily 5", "@daily stands alone; write a macro or 5 fields, not both"),
]


@pytest.mark.parametrize(("expression", "problem"), BAD)
def test_bad_expressions_have_exact_messages(expression: str, problem: str) -> None:
    assert check_expression(expression) == f'expression "{expression}": {problem}'


NEVER = [
    ("0 0 31 2 *", "February has no 31st"),
    ("0 0 30 2 *", "February has no 30th"),
    ("0 0 30,31 feb *", "February has no 30th or 31st"),
    ("0 0 31 4,6,9,11 *", "April, June, September and November have no 31st"),
    ("0 0 31 apr-jun/2 *", "April and June have no 31st"),
    ("0 0 31 2 */2", "February has no 31st"),  # weekday starts with "*": both fields must match
    ("0 0 31 2 *,1", "February has no 31st"),
]


@pytest.mark.parametrize(("expression", "reason"), NEVER)
def test_expressions_that_never_fire_are_refused(expression: str, reason: str) -> None:
    assert check_expression(expression) == f'expression "{expression}": never fires ({reason})'
    assert not fires_ever(expression)


NOT_STRINGS = [
    (5, "an integer (5)"),
    (5.5, "a number (5.5)"),
    (None, "null"),
    (True, "true"),
    (["*/5", "*"], "a list"),
    ({"minute": 5}, "a mapping"),
]


@pytest.mark.parametrize(("value", "described"), NOT_STRINGS)
def test_values_that_are_not_strings(value: object, described: str) -> None:
    assert check_expression(value) == (
        f'expression must be a crontab string, e.g. "0 17 5 * *", got {described}'
    )


@pytest.mark.parametrize("expression", ["", "   ", "\t\n"])
def test_empty_expressions(expression: str) -> None:
    assert check_expression(expression) == (
        "expression is empty; crontab takes 5 fields (minute hour day month weekday)"
    )


def test_control_characters_are_escaped_in_messages() -> None:
    assert check_expression("61 * * *\x00 *") == (
        'expression "61 * * *\\x00 *": minute 61 is out of range 0-59'
    )


EVENTBRIDGE = [
    ("cron(0 17 5 * ? *)", ': use "0 17 5 * *"'),
    ("0 17 5 * ? *", ': use "0 17 5 * *"'),
    ("CRON(0 17 5 * ? *)", ': use "0 17 5 * *"'),
    ("cron(0 10 * * ? *)", ': use "0 10 * * *"'),
    ("cron(0/15 9-17 ? * MON-FRI *)", ': use "*/15 9-17 * * MON-FRI"'),
    ("cron(5/10 * * * ? *)", ': use "5-59/10 * * * *"'),
    ("cron(0 0/6 * * ? *)", ': use "0 */6 * * *"'),
    ("cron(0 12 ? * 2-6 *)", ': use "0 12 * * 1-5"'),  # EventBridge 1-7 is SUN-SAT
    ("cron(0 12 ? * 1,7 *)", ': use "0 12 * * 0,6"'),
    ("cron(0 12 ? * 2/2 *)", ': use "0 12 * * 1-6/2"'),
    ("cron(15 10 ? * 1/2 *)", ': use "15 10 * * */2"'),
    ("cron(0 8 1 JAN,JUL ? *)", ': use "0 8 1 JAN,JUL *"'),
    ("cron(0 8 1 1/3 ? *)", ': use "0 8 1 */3 *"'),
    ("cron(0 8 1 2/3 ? *)", ': use "0 8 1 2-12/3 *"'),
    ("cron(0 8 5/7 * ? *)", ': use "0 8 5-31/7 * *"'),
    (
        "cron(0 12 ? * 2-6 2027)",
        ': use "0 12 * * 1-5" (crontab has no year field: it fires every year, not only 2027)',
    ),
    (
        "0 12 1 * ? 2026-2028",
        ': use "0 12 1 * *" (crontab has no year field: it fires every year, not only 2026-2028)',
    ),
    (
        "0 17 5 * * 2027",
        ': use "0 17 5 * *" (crontab has no year field: it fires every year, not only 2027)',
    ),
    ("cron(0 10 L * ? *)", ', which has no "L" (last)'),
    ("cron(0 10 LW * ? *)", ', which has no "L" (last)'),
    ("cron(0 10 15W * ? *)", ', which has no "W" (nearest weekday)'),
    ("cron(0 10 ? * 6L *)", ', which has no "L" (last)'),
    ("cron(0 10 ? * 2#1 *)", ', which has no "#" (nth weekday of the month)'),
    ("cron(0 17 5 *)", " (5 fields: minute hour day month weekday)"),
    ("cron(99 17 5 * ? *)", " (5 fields: minute hour day month weekday)"),
    ("rate(1 minute)", ': use "* * * * *"'),
    ("rate(5 minutes)", ': use "*/5 * * * *"'),
    ("rate(30 minutes)", ': use "*/30 * * * *"'),
    ("rate(60 minutes)", ': use "0 * * * *"'),
    ("rate(1 hour)", ': use "0 * * * *"'),
    ("rate(2 hours)", ': use "0 */2 * * *"'),
    ("rate(120 minutes)", ': use "0 */2 * * *"'),
    ("rate(24 hours)", ': use "0 0 * * *"'),
    ("rate(1 day)", ': use "0 0 * * *"'),
    ("RATE(5 Minutes)", ': use "*/5 * * * *"'),
    ("rate(7 minutes)", ", which has no exact equivalent of every 7 minutes"),
    ("rate(90 minutes)", ", which has no exact equivalent of every 90 minutes"),
    ("rate(5 hours)", ", which has no exact equivalent of every 5 hours"),
    ("rate(3 days)", ", which has no exact equivalent of every 3 days"),
    ("rate(1 week)", " (5 fields: minute hour day month weekday)"),
    ("at(2026-12-05T10:00:00)", ", which has no one-time schedules"),
]


@pytest.mark.parametrize(("expression", "advice"), EVENTBRIDGE)
def test_eventbridge_expressions_get_their_crontab_equivalent(expression: str, advice: str) -> None:
    assert check_expression(expression) == (
        f'expression "{expression}" is an AWS EventBridge expression; '
        f"lambdacron takes crontab{advice}"
    )


@pytest.mark.parametrize(("expression", "advice"), EVENTBRIDGE)
def test_suggested_crontab_lines_are_valid(expression: str, advice: str) -> None:
    suggested = re.search(r'use "([^"]+)"', advice)
    if suggested is not None:
        assert check_expression(suggested[1]) is None


def test_eventbridge_weekday_conversion_matches_the_same_days() -> None:
    """cron(0 12 ? * MON-FRI *) and its numeric form name the same crontab days."""
    named = check_expression("cron(0 12 ? * MON-FRI *)") or ""
    numeric = check_expression("cron(0 12 ? * 2-6 *)") or ""
    line = re.compile(r'use "([^"]+)"')
    named_days = compile_expression(line.search(named)[1]).weekdays  # type: ignore[index]
    numeric_days = compile_expression(line.search(numeric)[1]).weekdays  # type: ignore[index]
    assert named_days == numeric_days == 0b0111110


# --- Jenkins H ----------------------------------------------------------------------------------

GOLDEN = [
    ("prod/monthly-report", "H H * * *", "20 18 * * *"),
    ("dev/monthly-report", "H H * * *", "10 21 * * *"),
    ("prod/weekly-report", "H H * * *", "8 14 * * *"),
    ("prod/monthly-report", "H(0-29)/10 H(9-17) H * H", "0-29/10 9 22 * 2"),
    ("prod/weekly-report", "H(0-29)/10 H(9-17) H * H", "8-29/10 11 20 * 3"),
    ("prod/monthly-report", "H/15 * * * *", "5-59/15 * * * *"),
    ("dev/monthly-report", "H/15 * * * *", "10-59/15 * * * *"),
]


@pytest.mark.parametrize(("seed", "expression", "concrete"), GOLDEN)
def test_hash_values_are_stable_across_releases(seed: str, expression: str, concrete: str) -> None:
    """sha256 of the seed, not Python's hash(): the same line on every machine and version."""
    assert expand_hash(expression, seed) == concrete


def field_values(expression: str, index: int) -> set[int]:
    text = expression.split()[index]
    values: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        low, _, high = base.partition("-")
        values |= set(range(int(low), int(high or low) + 1, int(step or 1)))
    return values


SEEDS = [f"env{n % 3}/task-{n}" for n in range(1000)]


@pytest.mark.parametrize(
    ("expression", "index", "allowed"),
    [
        ("H * * * *", 0, range(60)),
        ("0 H * * *", 1, range(24)),
        ("0 0 H * *", 2, range(1, 29)),  # every month has it
        ("0 0 1 H *", 3, range(1, 13)),
        ("0 0 * * H", 4, range(7)),  # 7 would repeat Sunday
        ("H(0-29) * * * *", 0, range(30)),
        ("0 H(9-17) * * *", 1, range(9, 18)),
        ("0 0 * * H(mon-fri)", 4, range(1, 6)),
        ("0 0 H(29-31) 1 *", 2, range(29, 32)),
    ],
)
def test_hash_values_stay_in_range_and_spread(expression: str, index: int, allowed: range) -> None:
    seen: set[int] = set()
    for seed in SEEDS:
        concrete = expand_hash(expression, seed)
        (value,) = field_values(concrete, index)
        assert value in allowed
        seen.add(value)
    # 1000 seeds over at most 60 values: every value turns up.
    assert seen == set(allowed)


@pytest.mark.parametrize(
    ("expression", "step", "low", "high"),
    [
        ("H/15 * * * *", 15, 0, 59),
        ("H(0-29)/10 * * * *", 10, 0, 29),
        ("0 H/6 * * *", 6, 0, 23),
        ("0 0 * * H/2", 2, 0, 6),
        ("H(50-55)/10 * * * *", 10, 50, 55),
    ],
)
def test_hash_steps_keep_the_interval(expression: str, step: int, low: int, high: int) -> None:
    index = 4 if expression.startswith("0 0") else 1 if expression.startswith("0 ") else 0
    starts = set()
    for seed in SEEDS:
        concrete = expand_hash(expression, seed)
        assert check_expression(concrete) is None
        values = sorted(field_values(concrete, index))
        assert values[0] < low + step and low <= values[0] and values[-1] <= high
        assert all(b - a == step for a, b in itertools.pairwise(values))
        assert values[-1] + step > high
        starts.add(values[0])
    assert len(starts) == min(step, high - low + 1)


def test_each_item_and_field_gets_its_own_value() -> None:
    lines = [expand_hash("H,H H H * *", seed) for seed in SEEDS[:50]]
    assert any(line.split()[0].split(",")[0] != line.split()[0].split(",")[1] for line in lines)
    assert any(line.split()[1] != line.split()[2] for line in lines)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("H(30-10) * * * *", "minute range 30-10 runs backwards"),
        ("H(0-70) * * * *", "minute 70 is out of range 0-59"),
        ("H(5) * * * *", 'minute "H(5)" is not an H form (H, H(0-29), H/15 or H(0-29)/15)'),
        ("Hx * * * *", 'minute "Hx" is not an H form (H, H(0-29), H/15 or H(0-29)/15)'),
        ("H/0 * * * *", 'minute step 0 in "H/0" is out of range 1-59'),
        ("H/60 * * * *", 'minute step 60 in "H/60" is out of range 1-59'),
        ("0 0 H(30-31) 2 *", "never fires (February has no 31st)"),
    ],
)
def test_bad_hash_forms(expression: str, problem: str) -> None:
    assert check_expression(expression) == f'expression "{expression}": {problem}'


def test_expand_hash_single_spaces_and_keeps_plain_expressions() -> None:
    assert expand_hash("  0   17 5 * *  ", "x") == "0 17 5 * *"
    assert expand_hash("@daily", "x") == "@daily"


def test_expand_hash_returns_invalid_expressions_unchanged() -> None:
    """The compiler expands before it reports: an invalid line must reach check_expression."""
    assert expand_hash("H(0-70) * * * *", "x") == "H(0-70) * * * *"


@pytest.mark.parametrize(
    ("expression", "hashed"),
    [
        ("H H * * *", True),
        ("0 H(0-5) * * *", True),
        ("0 0 * * 1,H", True),
        ("0 0 * * *", False),
        ("@hourly", False),
        ("0 0 * * THU", False),
        ("0 0 * * Thu-SUN", False),
    ],
)
def test_has_hash(expression: str, hashed: bool) -> None:
    assert has_hash(expression) is hashed


def test_the_check_uses_the_given_seed() -> None:
    """H(29-31) in February fires only when the hash picks the 29th."""
    results = {check_expression("0 0 H(29-31) 2 *", seed) is None for seed in SEEDS[:30]}
    assert results == {True, False}


# --- Agreement with the scheduler and croniter --------------------------------------------------


def test_an_expression_the_scheduler_refuses_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def scheduler_parse(expression: str) -> None:
        raise ValueError(f'minute field "{expression.split()[0]}": not today')

    monkeypatch.setattr(cronspec, "scheduler_parse", scheduler_parse)
    assert check_expression("5 * * * *") == (
        'expression "5 * * * *": the scheduler cannot read it (minute field "5": not today)'
    )


def test_an_expression_croniter_refuses_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        @staticmethod
        def is_valid(expression: str) -> bool:
            return False

    concrete = expand_hash("H 1 * * *", "s")
    monkeypatch.setattr(cronspec, "croniter", Refusing)
    assert check_expression("H 1 * * *", "s") == (
        f'expression "H 1 * * *": croniter cannot read "{concrete}"'
    )


def test_invalid_expression_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="minute 61 is out of range 0-59"):
        cronspec.concrete_expression("61 * * * *", "")
    assert issubclass(InvalidExpression, ValueError)


def values_of(field: cronspec.Field) -> st.SearchStrategy[str]:
    numbers = st.integers(field.low, field.high).map(str)
    names = st.sampled_from(field.names) if field.names else numbers
    return st.one_of(numbers, names)


@st.composite
def items(draw: st.DrawFn, field: cronspec.Field) -> str:
    kind = draw(st.sampled_from(["value", "range", "star", "hash"]))
    step = draw(
        st.one_of(st.just(""), st.integers(1, field.high - field.low).map(lambda n: f"/{n}"))
    )
    if kind == "star":
        return "*" + step
    if kind == "hash":
        return "H" + step
    if kind == "value":
        return draw(values_of(field))
    first, last = draw(values_of(field)), draw(values_of(field))
    return f"{first}-{last}{step}"


@st.composite
def expressions(draw: st.DrawFn) -> str:
    fields = [",".join(draw(st.lists(items(f), min_size=1, max_size=3))) for f in FIELDS]
    if draw(st.booleans()):
        fields[2] = draw(st.sampled_from(["29", "30", "31", "30,31", "31,L"]))
        fields[3] = draw(st.sampled_from(["2", "feb", "4,6", "2,4"]))
    return " ".join(fields)


@settings(max_examples=400, deadline=None)
@given(expressions(), st.text(max_size=12))
def test_accepted_expressions_are_read_alike_by_all_parsers(expression: str, seed: str) -> None:
    """What the compiler accepts, the scheduler and croniter accept, and "never fires" is
    exactly the scheduler's fires_ever being false."""
    problem = check_expression(expression, seed)
    concrete = expand_hash(expression, seed)
    if problem is not None and "never fires" in problem:
        parts = zip(FIELDS, expression.split(), strict=True)
        concrete = " ".join(cronspec.field_values(f, part, seed)[0] for f, part in parts)
    if problem is None:
        assert not has_hash(concrete)
        compile_expression(concrete)
        assert croniter.is_valid(concrete)
        assert fires_ever(concrete)
    elif "never fires" in problem:
        assert not fires_ever(concrete)
    else:
        assert problem.startswith(f'expression "{expression}": ')
