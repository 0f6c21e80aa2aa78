"""Fire contexts, execution ids, outcomes and placeholder expansion (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdacron.runtime.context import FireContext, Outcome, execution_id
from lambdacron.runtime.expand import expand, expand_text
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.placeholders import placeholder
from lambdacron.runtime.targets import TargetError

TASK_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", fullmatch=True)
MINUTES = st.integers(min_value=0, max_value=(2**31) // 60)
STEP_FUNCTIONS_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


@settings(max_examples=300, deadline=None)
@given(env=st.text(min_size=1, max_size=40), name=TASK_NAMES, minute=MINUTES)
def test_execution_id_is_a_valid_idempotency_key_everywhere(
    env: str, name: str, minute: int
) -> None:
    value = execution_id(env, name, minute)

    assert STEP_FUNCTIONS_NAME.fullmatch(value)  # Step Functions execution name
    assert 32 <= len(value) <= 128  # Athena ClientRequestToken, SQS deduplication id
    assert value == execution_id(env, name, minute)
    assert value != execution_id(env, name, minute + 1)
    assert value != execution_id(env + "x", name, minute)


def test_execution_id_is_readable() -> None:
    minute = int(datetime(2026, 12, 5, 17, 0, tzinfo=UTC).timestamp()) // 60

    value = execution_id("prod", "monthly.report", minute)

    assert re.fullmatch(r"monthly_report-20261205T1700Z-[0-9a-f]{24}", value)


def test_fire_context_at_a_minute() -> None:
    task = Task("t", "* * * * *", "UTC", {"type": "http"})
    minute = int(datetime(2026, 12, 5, 17, 3, tzinfo=UTC).timestamp()) // 60

    ctx = FireContext.at("dev", task, minute)

    assert ctx.scheduled == datetime(2026, 12, 5, 17, 3, tzinfo=UTC)
    assert (ctx.minute, ctx.scheduled_iso) == (minute, "2026-12-05T17:03:00Z")
    assert ctx.execution_id == execution_id("dev", "t", minute)


def test_outcome_log_line() -> None:
    outcome = Outcome("t", "2026-12-05T17:00:00Z", "fired", "m-1", 2, 35)

    assert outcome.to_log() == {
        "task": "t",
        "scheduled": "2026-12-05T17:00:00Z",
        "status": "fired",
        "response_id": "m-1",
        "attempts": 2,
        "duration_ms": 35,
        "error": None,
        "dlq": False,
    }


def at(hour: int, minute: int, zone: str = "Europe/Madrid", name: str = "report") -> FireContext:
    task = Task(name, "* * * * *", zone, {"type": "http"})
    when = int(datetime(2026, 12, 5, hour, minute, tzinfo=UTC).timestamp()) // 60
    return FireContext.at("prod", task, when)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2026-12-05 23:30 UTC"),
        ("Europe/Madrid", "2026-12-06 00:30 CET"),
        ("America/New_York", "2026-12-05 18:30 EST"),
        ("Asia/Kolkata", "2026-12-06 05:00 IST"),
    ],
)
def test_scheduled_time_is_formatted_in_the_task_time_zone(zone: str, expected: str) -> None:
    text = placeholder("scheduled_time", "%Y-%m-%d %H:%M %Z")

    assert expand_text(text, at(23, 30, zone)) == expected


def test_placeholders_embedded_in_longer_strings() -> None:
    ctx = at(17, 0)
    text = (
        "s3://reports/"
        + placeholder("task_name")
        + "/"
        + placeholder("scheduled_time", "%Y/%m")
        + "/run-"
        + placeholder("execution_id")
        + ".csv"
    )

    assert expand_text(text, ctx) == f"s3://reports/report/2026/12/run-{ctx.execution_id}.csv"


def test_scheduled_time_without_a_format_is_iso_and_braces_can_be_escaped() -> None:
    ctx = at(17, 0)

    assert expand_text(placeholder("scheduled_time"), ctx) == "2026-12-05T18:00:00+01:00"
    assert expand_text(placeholder("scheduled_time", "{%d}"), ctx) == "{05}"


def test_expand_walks_nested_values_and_leaves_other_scalars() -> None:
    date = placeholder("scheduled_time", "%Y-%m-%d")
    value: dict[str, Any] = {
        "a": [date, {"b": date, "n": 3, "f": 1.5, "t": True, "z": None}],
        placeholder("task_name"): "key",
    }

    assert expand(value, at(17, 0)) == {
        "a": ["2026-12-05", {"b": "2026-12-05", "n": 3, "f": 1.5, "t": True, "z": None}],
        "report": "key",
    }


def test_strings_without_placeholders_are_returned_as_they_are() -> None:
    text = "plain ${HOME} and $lambdacron text"

    assert expand_text(text, at(17, 0)) is text


def test_secrets_resolve_through_the_resolver_or_stay_as_written() -> None:
    text = "Bearer " + placeholder("secret", "secretsmanager:api#token")
    seen: list[str] = []

    def resolver(reference: str) -> str:
        seen.append(reference)
        return "v${lambdacron:task_name}"

    assert expand_text(text, at(17, 0), resolver) == "Bearer v${lambdacron:task_name}"
    assert seen == ["secretsmanager:api#token"]
    assert expand_text(text, at(17, 0)) == text


@pytest.mark.parametrize("kind", ["unknown_kind", "secret"])
def test_unknown_placeholder_is_a_permanent_error(kind: str) -> None:
    with pytest.raises(TargetError) as caught:
        expand_text("x ${lambdacron:" + kind + "} y", at(17, 0))

    assert str(caught.value) == (
        "task report: unknown placeholder ${lambdacron:" + kind + "}; lambdacron knows "
        "scheduled_time, task_name, execution_id, secret (secret needs a reference); re-render "
        "the task with this version"
    )
    assert caught.value.transient is False
