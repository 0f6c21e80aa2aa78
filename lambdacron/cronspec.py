"""Validation stage, expressions: check a task's crontab expression and make it concrete.

The compiler accepts Vixie/cronie crontab (5 fields; names, lists, ranges, steps; day-of-week
0-7), the macros, and Jenkins' ``H`` forms, which :func:`expand_hash` turns into concrete values
with a stable per-task hash. Anything else is refused with a message that says how to write it
in crontab; an AWS EventBridge ``cron(...)`` or ``rate(...)`` gets its crontab equivalent.

An accepted expression must also be accepted by the scheduler's own parser
(``lambdacron.runtime.cron``) and by croniter, the compiler's reference parser, so that every
tool that reads the manifest agrees on what it holds.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from croniter import croniter

from lambdacron.runtime.cron import compile_expression as scheduler_parse
from lambdacron.suggest import describe, did_you_mean, join_or

MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
FIELD_NAMES = "minute hour day month weekday"
EXPECTS = 'a crontab string, e.g. "0 17 5 * *"'
HASH_FORMS = "H, H(0-29), H/15 or H(0-29)/15"
FIVE_FIELDS = f" (5 fields: {FIELD_NAMES})"

# Quartz/EventBridge-only syntax and what it means there.
FOREIGN_MEANING = {
    "?": "no specific value",
    "L": "last",
    "W": "nearest weekday",
    "#": "nth weekday of the month",
}
LAST = re.compile(r"\d*LW?|L-\d+")
NEAREST = re.compile(r"\d+W")
# A year in the 6th field tells an EventBridge expression from a Quartz one (seconds first).
YEAR = re.compile(r"(?<!\d)(19|2\d)\d\d(?!\d)")
# Leap years count: "0 0 29 2 *" fires, once every four years.
DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class Field:
    """One crontab field: its name in messages, its range, its names and its ``H`` range."""

    name: str
    low: int
    high: int
    # ``H`` picks from hash_low..hash_high: day stops at 28 so that the task fires every month,
    # weekday at 6 because 7 is Sunday again.
    hash_low: int
    hash_high: int
    names: tuple[str, ...] = ()
    first_name_value: int = 0

    def value_of_name(self, word: str) -> int | None:
        lowered = word.lower()
        if lowered not in self.names:
            return None
        return self.names.index(lowered) + self.first_name_value

    @property
    def cycle_high(self) -> int:
        """The last value before the field starts again (weekday 7 is Sunday, i.e. 0 again)."""
        return 6 if self.name == "weekday" else self.high

    def names_range(self) -> str:
        return f"{self.names[0].upper()}-{self.names[-1].upper()}"


MINUTE = Field("minute", 0, 59, 0, 59)
HOUR = Field("hour", 0, 23, 0, 23)
DAY = Field("day", 1, 31, 1, 28)
MONTH = Field("month", 1, 12, 1, 12, tuple(m.lower() for m in calendar.month_abbr[1:]), 1)
WEEKDAY = Field("weekday", 0, 7, 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"), 0)
FIELDS = (MINUTE, HOUR, DAY, MONTH, WEEKDAY)
ALL_NAMES = {*MONTH.names, *WEEKDAY.names}


class InvalidExpression(ValueError):
    """An expression the compiler refuses; the message is ready for the user."""


def check_expression(expr: object, seed: str = "") -> str | None:
    """The user-facing error message for ``expr``, or None when it is a valid expression.

    ``seed`` picks the ``H`` values (see :func:`expand_hash`); the check is made on the result,
    so pass the seed the compiler will use.
    """
    if not isinstance(expr, str):
        return _check(expr, seed)
    # The same few expressions recur across thousands of tasks; the seed matters only for H.
    return _checked(expr, seed if has_hash(expr) else "")


@functools.lru_cache(maxsize=65536)
def _checked(expr: str, seed: str) -> str | None:
    return _check(expr, seed)


def _check(expr: object, seed: str) -> str | None:
    try:
        concrete_expression(expr, seed)
    except InvalidExpression as error:
        return str(error)
    return None


def expand_hash(expr: str, seed: str) -> str:
    """``expr`` with its ``H`` forms made concrete, stripped, and its fields single-spaced.

    Each value comes from sha256 of ``seed`` (e.g. ``"prod/monthly-report"``), the field and the
    list item, so one task always gets the same line and different tasks spread over the range:
    ``H`` -> one value (day: 1-28; weekday: 0-6), ``H(0-29)`` -> one value in 0-29,
    ``H/15`` -> e.g. ``7-59/15``, ``H(0-29)/10`` -> e.g. ``4-29/10``.
    An invalid ``expr`` is returned as it is: :func:`check_expression` says what is wrong with it.
    """
    return _expanded(expr, seed if has_hash(expr) else "")


@functools.lru_cache(maxsize=65536)
def _expanded(expr: str, seed: str) -> str:
    try:
        return concrete_expression(expr, seed)
    except InvalidExpression:
        return expr


def has_hash(expr: str) -> bool:
    """Whether ``expr`` has ``H`` forms, i.e. whether the compiler should keep it as the source.

    Only an item that starts with H is one: the H of THU is not.
    """
    return any(item.startswith("H") for part in expr.split() for item in part.split(","))


def concrete_expression(expr: object, seed: str) -> str:
    """Check ``expr`` and return its concrete form; raise InvalidExpression if it is invalid."""
    if not isinstance(expr, str):
        raise InvalidExpression(f"expression must be {EXPECTS}, got {describe(expr)}")
    text = expr.strip()
    if not text:
        raise InvalidExpression(f"expression is empty; crontab takes 5 fields ({FIELD_NAMES})")
    shown = expr if expr.isprintable() else repr(expr)[1:-1]
    where = f'expression "{shown}"'
    advice = eventbridge_advice(text)
    if advice is not None:
        raise InvalidExpression(
            f"{where} is an AWS EventBridge expression; lambdacron takes crontab{advice}"
        )
    try:
        concrete = macro(text) if text.startswith("@") else fields(text, seed)
    except InvalidExpression as error:
        raise InvalidExpression(f"{where}: {error}") from None
    cross_check(where, concrete)
    return concrete


def cross_check(where: str, concrete: str) -> None:
    """Refuse what the scheduler's own parser or croniter cannot read."""
    try:
        scheduler_parse(concrete)
    except ValueError as error:
        raise InvalidExpression(f"{where}: the scheduler cannot read it ({error})") from None
    if not croniter.is_valid(concrete):
        raise InvalidExpression(f'{where}: croniter cannot read "{concrete}"')


def macro(text: str) -> str:
    word, *rest = text.split()
    if word == "@reboot":
        raise InvalidExpression(
            "@reboot runs when a machine starts, and a scheduler never starts; "
            'give a time instead, e.g. "@daily" or "0 9 * * *"'
        )
    if word not in MACROS:
        guess = did_you_mean(word, MACROS)
        hint = f" (did you mean {guess}?)" if guess else ""
        raise InvalidExpression(f"unknown macro {word}{hint}; the macros are {' '.join(MACROS)}")
    if rest:
        raise InvalidExpression(f"{word} stands alone; write a macro or 5 fields, not both")
    return word


def fields(text: str, seed: str) -> str:
    parts = text.split()
    if len(parts) != len(FIELDS):
        count = f"{len(parts)} field{'' if len(parts) == 1 else 's'}"
        raise InvalidExpression(f"{count}; crontab takes 5 ({FIELD_NAMES})")
    concrete: list[str] = []
    values: list[set[int]] = []
    for field, part in zip(FIELDS, parts, strict=True):
        resolved, found = field_values(field, part, seed)
        concrete.append(resolved)
        values.append(found)
    # cronie's rule: when day or weekday starts with "*", both must match (AND); otherwise
    # either may (OR), and a weekday always comes round, so only the AND case can never fire.
    if concrete[4].startswith("*") and not concrete[2].startswith("*"):
        reason = never_fires(values[2], values[3])
        if reason:
            raise InvalidExpression(f"never fires ({reason})")
    return " ".join(concrete)


def never_fires(days: set[int], months: set[int]) -> str | None:
    """Why no ``day`` of ``days`` exists in any month of ``months``, or None when one does."""
    if any(day <= DAYS_IN_MONTH[month] for day in days for month in months):
        return None
    month_names = [calendar.month_name[m] for m in sorted(months)]
    verb = "has" if len(month_names) == 1 else "have"
    ordinals = [ordinal(day) for day in sorted(days)]
    return f"{join_or(month_names, 'and')} {verb} no {join_or(ordinals)}"


def ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def field_values(field: Field, text: str, seed: str) -> tuple[str, set[int]]:
    """The field with its ``H`` items made concrete, and the values it matches."""
    items = text.split(",")
    if "" in items:
        raise InvalidExpression(f'{field.name} "{text}" has an empty list item')
    concrete: list[str] = []
    values: set[int] = set()
    for index, item in enumerate(items):
        resolved = (
            hash_item(field, item, f"{seed}\n{field.name}\n{index}") if item[0] == "H" else item
        )
        values |= item_values(field, resolved)
        concrete.append(resolved)
    return ",".join(concrete), values


def item_values(field: Field, item: str) -> set[int]:
    refuse_foreign(field, item)
    base, slash, step_text = item.partition("/")
    step = parse_step(field, item, step_text) if slash else 1
    if base == "*":
        low, high = field.low, field.high
    elif "-" in base:
        low, high = parse_range(field, item, base, has_step=bool(slash))
    elif slash:
        fix = f"{base}-{field.high}/{step_text}"
        raise InvalidExpression(
            f'{field.name} "{item}": a step needs a range or "*"; write "{fix}"'
        )
    else:
        low = high = parse_value(field, item, base)
    # 7 is Sunday too.
    return {0 if field is WEEKDAY and v == 7 else v for v in range(low, high + 1, step)}


def foreign_symbol(item: str) -> str | None:
    """The EventBridge/Quartz symbol that ``item`` uses, if any (names like JUL are not)."""
    for symbol in ("?", "#"):
        if symbol in item:
            return symbol
    if LAST.fullmatch(item):
        return "L"
    return "W" if NEAREST.fullmatch(item) else None


def refuse_foreign(field: Field, item: str) -> None:
    symbol = foreign_symbol(item)
    if symbol is None:
        return
    fix = '; crontab uses "*"' if symbol == "?" else ""
    raise InvalidExpression(
        f'{field.name} "{item}": "{symbol}" ({FOREIGN_MEANING[symbol]}) is EventBridge/Quartz '
        f"syntax, not crontab{fix}"
    )


def parse_range(field: Field, item: str, text: str, *, has_step: bool) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if "-" in last or text.startswith("*"):
        raise InvalidExpression(f'{field.name} "{item}" is not valid crontab syntax')
    low, high = parse_value(field, item, first), parse_value(field, item, last)
    if field is WEEKDAY and high == 0 and last.isalpha():
        high = 7  # FRI-SUN is Friday to Sunday, as the scheduler reads it
    if low > high:
        fix = "" if has_step else f'; write "{wrapped(field, first, last, low, high)}"'
        raise InvalidExpression(f"{field.name} range {first}-{last} runs backwards{fix}")
    return low, high


def wrapped(field: Field, first: str, last: str, low: int, high: int) -> str:
    """A range that wraps past the field's end, written as crontab has it: two ranges."""
    top, bottom = (7, 1) if field is WEEKDAY else (field.high, field.low)
    if field is WEEKDAY and high == 0:
        return f"{first}-7"
    head = first if low == top else f"{first}-{top}"
    tail = last if high == bottom else f"{bottom}-{last}"
    return f"{head},{tail}"


def parse_value(field: Field, item: str, token: str) -> int:
    if token.isascii() and token.isdigit():
        value = int(token)
        if not field.low <= value <= field.high:
            raise InvalidExpression(
                f"{field.name} {value} is out of range {field.low}-{field.high}"
            )
        return value
    if not (token.isascii() and token.isalpha()):
        raise InvalidExpression(f'{field.name} "{item}" is not valid crontab syntax')
    if not field.names:
        elsewhere = (
            "; names are allowed only in the month and weekday fields"
            if token.lower() in ALL_NAMES
            else ""
        )
        raise InvalidExpression(f'{field.name} "{token}" is not a number{elsewhere}')
    named = field.value_of_name(token)
    if named is None:
        guess = did_you_mean(token[:3], field.names) or did_you_mean(token, field.names)
        hint = f" (did you mean {guess.upper()}?)" if guess else ""
        raise InvalidExpression(
            f'{field.name} "{token}" is not a number or a name ({field.names_range()}){hint}'
        )
    return named


def parse_step(field: Field, item: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise InvalidExpression(f'{field.name} step "{text}" in "{item}" is not a number')
    step = int(text)
    # The scheduler refuses steps beyond the span: "*/90" would silently mean minute 0 only.
    span = field.high - field.low
    if not 1 <= step <= span:
        raise InvalidExpression(f'{field.name} step {step} in "{item}" is out of range 1-{span}')
    return step


HASH_ITEM = re.compile(r"H(?:\((?P<range>[^()]*)\))?(?:/(?P<step>.*))?")


def hash_item(field: Field, item: str, seed: str) -> str:
    """One ``H`` item of a field made concrete with the hash of ``seed``."""
    match = HASH_ITEM.fullmatch(item)
    inner = match["range"] if match else None
    if match is None or (inner is not None and "-" not in inner):
        raise InvalidExpression(f'{field.name} "{item}" is not an H form ({HASH_FORMS})')
    step_text = match["step"]
    if inner is not None:
        # has_step: a "write a-b,c-d" fix cannot go inside H( ).
        low, high = parse_range(field, item, inner, has_step=True)
    elif step_text is None:
        low, high = field.hash_low, field.hash_high
    else:
        low, high = field.low, field.cycle_high
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    if step_text is None:
        return str(low + digest % (high - low + 1))
    step = parse_step(field, item, step_text)
    start = low + digest % min(step, high - low + 1)
    return str(start) if start + step > high else f"{start}-{high}/{step}"


RATE = re.compile(r"\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*", re.IGNORECASE)
UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


def eventbridge_advice(text: str) -> str | None:
    """How to write the EventBridge expression ``text`` in crontab, or None if it is not one.

    The advice ends the sentence "lambdacron takes crontab…".
    """
    lowered = text.lower()
    if lowered.startswith("cron(") and text.endswith(")"):
        return cron_advice(text[5:-1].split())
    if lowered.startswith("rate(") and text.endswith(")"):
        return rate_advice(text[5:-1])
    if lowered.startswith("at(") and text.endswith(")"):
        return ", which has no one-time schedules"
    parts = text.split()
    if len(parts) == 6 and ("?" in (parts[2], parts[4]) or YEAR.search(parts[5])):
        return cron_advice(parts)
    return None


def cron_advice(parts: Sequence[str]) -> str:
    if len(parts) != 6:
        return FIVE_FIELDS
    *fields_, year = parts
    symbols = {foreign_symbol(item) for text in fields_ for item in text.split(",")}
    symbol = next((s for s in ("L", "W", "#") if s in symbols), None)
    if symbol is not None:
        return f', which has no "{symbol}" ({FOREIGN_MEANING[symbol]})'
    line = " ".join(
        eventbridge_field(field, text) for field, text in zip(FIELDS, fields_, strict=True)
    )
    if check_expression(line) is not None:
        return FIVE_FIELDS
    every_year = year in ("*", "?")
    note = (
        "" if every_year else f" (crontab has no year field: it fires every year, not only {year})"
    )
    return f': use "{line}"{note}'


def eventbridge_field(field: Field, text: str) -> str:
    """One EventBridge field in crontab: ``?`` is ``*``, ``N/S`` is ``N-last/S``, SUN is 1."""
    return ",".join(eventbridge_item(field, item) for item in text.split(","))


def eventbridge_item(field: Field, item: str) -> str:
    if item == "?":
        return "*"
    base, slash, step = item.partition("/")
    tokens = [shift_weekday(t) if field is WEEKDAY else t for t in base.split("-")]
    if slash and len(tokens) == 1 and base != "*":
        last = str(field.cycle_high)
        start = tokens[0]
        return f"*/{step}" if start == str(field.low) else f"{start}-{last}/{step}"
    return "-".join(tokens) + (f"/{step}" if slash else "")


def shift_weekday(token: str) -> str:
    """EventBridge numbers weekdays 1-7 from Sunday; crontab 0-6."""
    return str(int(token) - 1) if token.isascii() and token.isdigit() else token


def rate_advice(inner: str) -> str:
    match = RATE.fullmatch(inner)
    if match is None:
        return FIVE_FIELDS
    count, unit = int(match[1]), match[2].lower().removesuffix("s")
    line = rate_line(count * UNIT_MINUTES[unit])
    if line is None:
        plural = "" if count == 1 else "s"
        return f", which has no exact equivalent of every {count} {unit}{plural}"
    return f': use "{line}"'


def rate_line(minutes: int) -> str | None:
    """The crontab line that fires every ``minutes``, when one fires at even intervals."""
    if minutes == 1:
        return "* * * * *"
    if 1 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    hours, rest = divmod(minutes, 60)
    if rest or not hours or 24 % hours:
        return None
    return {1: "0 * * * *", 24: "0 0 * * *"}.get(hours, f"0 */{hours} * * *")
