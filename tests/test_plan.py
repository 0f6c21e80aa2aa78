"""The plan: a pure diff of two manifests, its text and its JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lambdacron.plan import ABSENT, FieldChange, diff, field_changes, render_text
from lambdacron.runtime.manifest import Manifest, Task, digest_tasks


def task(name: str, **changes: Any) -> Task:
    base = Task(
        name=name,
        expression="0 17 5 * *",
        timezone="UTC",
        target={
            "type": "batch",
            "jobName": name,
            "jobQueue": "reports",
            "jobDefinition": "reports:1",
            "parameters": {
                "period": "monthly",
                "run_date": "${lambdacron:scheduled_time:%Y-%m-%d}",
            },
        },
        source=f"templates/{name}.yml.j2",
    )
    return replace(base, **changes)


def manifest(*tasks: Task, version: int = 0) -> Manifest:
    return Manifest(env="prod", tasks=tasks, version=version).with_digest()


def test_first_plan_adds_everything() -> None:
    plan = diff(None, manifest(task("b"), task("a")))
    assert [t.name for t in plan.added] == ["a", "b"]
    assert plan.live_version is None
    assert render_text(plan) == "+ a\n+ b\n\nPlan: 2 to add, 0 to change, 0 to remove."


def test_no_changes() -> None:
    live = manifest(task("a"), task("b"), version=3)
    plan = diff(live, manifest(task("b"), task("a")))
    assert not plan.has_changes
    assert plan.unchanged == 2
    assert render_text(plan) == "Plan: 0 to add, 0 to change, 0 to remove."


def test_added_changed_removed_with_nested_field_paths() -> None:
    secret = "${lambdacron:secret:ssm:/finp/token}"
    live = manifest(task("keep"), task("monthly-report"), task("gone"), version=4)
    changed = task(
        "monthly-report",
        expression="0 18 5 * *",
        target={
            **task("x").target,
            "jobName": "monthly-report",
            "parameters": {
                "period": "quarterly",
                "run_date": "${lambdacron:scheduled_time:%Y-%m-%d}",
                "token": secret,
            },
        },
        description="Monthly",
    )
    plan = diff(live, manifest(task("keep"), changed, task("new")))
    assert render_text(plan) == "\n".join(
        [
            "+ new",
            "~ monthly-report",
            '    description: (absent) → "Monthly"',
            '    expression: "0 17 5 * *" → "0 18 5 * *"',
            '    task.parameters.period: "monthly" → "quarterly"',
            f'    task.parameters.token: (absent) → "{secret}"',
            "- gone",
            "",
            "Plan: 1 to add, 1 to change, 1 to remove.",
        ]
    )
    data = plan.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["summary"] == {"add": 1, "change": 1, "remove": 1}
    assert data["live_version"] == 4
    assert data["changed"][0]["changes"][0] == {"path": "description", "new": "Monthly"}
    assert data["added"][0]["name"] == "new" and data["removed"][0]["name"] == "gone"
    assert data["unchanged"] == 1


def test_lists_by_position_and_unusual_keys_quoted() -> None:
    old = {"task": {"headers": {"X-Api.Key": "a"}, "dependsOn": [{"jobId": "1"}, {"jobId": "2"}]}}
    new = {"task": {"headers": {"X-Api.Key": "b"}, "dependsOn": [{"jobId": "1"}]}}
    assert list(field_changes(old, new)) == [
        FieldChange("task.dependsOn[1]", {"jobId": "2"}, ABSENT),
        FieldChange('task.headers["X-Api.Key"]', "a", "b"),
    ]


def test_values_that_python_calls_equal_but_the_digest_does_not() -> None:
    live = manifest(task("a", retries=1), version=1)
    new = manifest(task("a", retries=True))  # type: ignore[arg-type]
    assert live.digest != new.digest
    plan = diff(live, new)
    assert [c.path for c in plan.changed[0].changes] == ["retries"]


def test_long_values_are_shortened_in_text_only() -> None:
    body = "x" * 500
    plan = diff(manifest(task("a"), version=1), manifest(task("a", description=body)))
    line = render_text(plan).splitlines()[1]
    assert line.endswith("… (502 characters)") and len(line) < 200
    assert plan.to_dict()["changed"][0]["changes"][0]["new"] == body


names = st.sampled_from(["a", "b", "c", "d"])
values = st.one_of(st.integers(-3, 3), st.booleans(), st.text(max_size=3), st.none())
targets = st.dictionaries(
    st.sampled_from(["k", "l", "m.n"]), st.one_of(values, st.lists(values, max_size=3))
)


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    chosen = draw(st.sets(names))
    tasks = [
        task(n, retries=draw(st.integers(0, 2)), target={"type": "http", **draw(targets)})
        for n in sorted(chosen)
    ]
    return manifest(*tasks)


@settings(max_examples=300, deadline=None)
@given(manifests(), manifests())
def test_a_plan_has_changes_exactly_when_the_digests_differ(old: Manifest, new: Manifest) -> None:
    plan = diff(old, new)
    assert plan.has_changes == (digest_tasks(old.tasks) != digest_tasks(new.tasks))
    assert len(plan.added) + len(plan.changed) + plan.unchanged == len(new.tasks)
    assert len(plan.removed) + len(plan.changed) + plan.unchanged == len(old.tasks)
