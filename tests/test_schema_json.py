"""The JSON Schema for editors is the cerberus schema in another language: both accept and
refuse the same tasks (apart from the documented checks only lambdacron can make)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev set
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdacron.schema import TASK_SCHEMA, TASK_TYPES, json_schema, validate_task
from tests.test_schema import FULL, MINIMAL, bad, task

SCHEMA = json_schema()
JSON_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def json_accepts(data: object) -> bool:
    return bool(JSON_VALIDATOR.is_valid(data))


def cerberus_accepts(data: object) -> bool:
    return not validate_task(data)


def test_it_is_a_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA == json_schema()


def test_every_key_is_described_and_closed() -> None:
    top = SCHEMA["properties"]
    assert SCHEMA["additionalProperties"] is False
    assert list(top) == list(TASK_SCHEMA)
    assert all(top[key].get("description") for key in top)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in top["task"]["allOf"]}
    assert list(branches) == list(TASK_TYPES)
    for kind, then in branches.items():
        assert then["additionalProperties"] is False
        assert then["description"] == TASK_TYPES[kind].description
        assert list(then["properties"]) == list(TASK_TYPES[kind].schema)
        assert all(p.get("description") for p in then["properties"].values())


GOOD = [
    *(task(target) for target in MINIMAL.values()),
    *(task(target) for target in FULL),
    task(timezone="Europe/Madrid", enabled=False, retries=0, description="d"),
    task(expression="@monthly"),
    task(expression=" H(0-29) H/2 * * * "),
    task(expression="0 9 * * mon-fri"),
]

BAD = [
    {},
    "a task",
    task(name="monthly report"),
    task(name="a" * 129),
    task(name=5),
    task(expression="0 17 5 * * *"),
    task(expression="cron(0 17 5 * ? *)"),
    task(expression="rate(5 minutes)"),
    task(expression="@reboot"),
    task(expression=""),
    task(expression=5),
    task(expression=None),
    task(timezone="Europe/Madird"),
    task(timezone="utc"),
    task(retries=11),
    task(retries=-1),
    task(retries="2"),
    task(retries=True),
    task(enabled="yes"),
    task(description=None),
    task(expresion="0 17 5 * *"),
    task(jobQueue="x"),
    task({}),
    task({"type": "bach"}),
    task({"type": 5}),
    task({"type": "queue", "MessageBody": "x"}),
    bad("queue", QueueUrl="https://sqs.example/1/q"),
    bad("queue", DelaySeconds=901),
    bad("queue", MessageBody=None),
    bad("queue", MessageAttributes={"k": {"StringValue": "v"}}),
    bad("queue", MessageAttributes={"k": {"DataType": "Text"}}),
    bad("lambda", Payload={}, InvokeArgs={}),
    bad("lambda", InvocationType="event"),
    bad("lambda", FunctionName=""),
    bad("batch", jobQeue="x"),
    bad("batch", timeout=600),
    bad("batch", parameters={"a": {"b": 1}}),
    bad("batch", dependsOn=[]),
    bad("batch", arrayProperties={"size": 1}),
    bad("athena", WorkGroup=None),
    task({"type": "athena", "QueryString": "x", "ResultConfiguration": {}}),
    bad("athena", ResultConfiguration={"OutputLocation": "bucket"}),
    bad("athena", ExecutionParameters=[[1]]),
    bad("http", method="get"),
    bad("http", url="ftp://x"),
    bad("http", json={}, body="x"),
    bad("http", json=None),
    bad("http", timeout=0),
    bad("http", timeout=True),
    bad("http", expect_status=[200, 700]),
    bad("http", expect_status="200"),
    bad("http", expect_status=[]),
    bad("sns", TopicArn="alerts"),
    bad("sns", Subject="s" * 101),
    bad("stepfunctions", input="{}"),
    bad("stepfunctions", name="n" * 81),
    bad("eventbridge", Detail=None),
    bad("eventbridge", Resources=[5]),
    bad("eventbridge", QueueUrl="x"),
]


@pytest.mark.parametrize("data", GOOD, ids=lambda d: json.dumps(d)[:60])
def test_both_accept_the_good(data: dict[str, Any]) -> None:
    assert cerberus_accepts(data)
    assert json_accepts(data)


@pytest.mark.parametrize("data", BAD, ids=lambda d: json.dumps(d)[:60])
def test_both_refuse_the_bad(data: object) -> None:
    assert not cerberus_accepts(data)
    assert not json_accepts(data)


def test_the_tables_are_large_enough() -> None:
    assert len(GOOD) >= 20 and len(BAD) >= 20


# What JSON Schema cannot say: crontab ranges and dates, and JSON's integers with ".0".
ONLY_VALIDATE_REFUSES = [
    task(expression="61 * * * *"),
    task(expression="0 0 31 2 *"),
    task(expression="0 22-2 * * *"),
    task(expression="H(0-70) * * * *"),
    task(retries=2.0),
]


@pytest.mark.parametrize("data", ONLY_VALIDATE_REFUSES, ids=lambda d: json.dumps(d)[:60])
def test_the_documented_gaps(data: dict[str, Any]) -> None:
    assert not cerberus_accepts(data)
    assert json_accepts(data)


# Replacement values of every shape; none of them an integral float (a documented gap).
VALUES = st.sampled_from(
    [5, 0, -1, 1000, 2.5, "x", "", "GET", "s3://b/p", True, None, [], [1], ["a"], {}, {"a": 1}]
)
KEYS = st.sampled_from(["extra", "jobQueue", "QueueUrl", "type", "retries", "Detail", "size"])


@st.composite
def mutated_tasks(draw: st.DrawFn) -> dict[str, Any]:
    """A good task with a few random changes: keys dropped, added, or given other values."""
    data: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(GOOD)))
    for _ in range(draw(st.integers(1, 3))):
        target = data.get("task")
        where = target if isinstance(target, dict) and draw(st.booleans()) else data
        action = draw(st.sampled_from(["drop", "add", "change"]))
        keys = sorted(map(str, where))
        if action == "add" or not keys:
            where[draw(KEYS)] = draw(VALUES)
        elif action == "drop":
            del where[draw(st.sampled_from(keys))]
        else:
            where[draw(st.sampled_from(keys))] = draw(VALUES)
    return data


@settings(max_examples=400, deadline=None)
@given(mutated_tasks())
def test_both_judge_random_variations_alike(data: dict[str, Any]) -> None:
    assert cerberus_accepts(data) == json_accepts(data), validate_task(data)
