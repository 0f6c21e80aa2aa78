"""Benchmarks, the input: synthetic but realistic tasks, manifests and projects of any size.

Every task comes from a *job*: a small record (name, expression, time zone, team, subject,
action, retries, enabled) of the kind a team keeps in an env file's ``vars``. ``task_dicts`` turns
jobs into validated tasks directly (fast, for 100,000-task manifests); ``write_project`` writes the
same jobs as an env file plus one looping template per task type, which the compiler renders to
the very same tasks. The smoke test checks that both routes give the same digest.

Everything is drawn from a seeded ``random.Random``: the same size gives the same tasks.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdacron.runtime.manifest import Manifest, Task
from lambdacron.runtime.placeholders import placeholder

ENV = "bench"
SEED = 2026
ACCOUNT = "123456789012"
REGION = "us-east-1"

# A dozen zones: whole, half and three-quarter hour offsets, both hemispheres' DST rules.
ZONES = (
    "UTC",
    "Europe/Madrid",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Pacific/Auckland",
)
# Most tasks inherit the env's default zone (None: no `timezone:` key in the job).
ZONE_WEIGHTS = (None, *ZONES), (30, 10, 8, 8, 12, 6, 6, 4, 5, 4, 1, 4, 2)

# Expressions seen over and over in real crontabs, the examples among them.
COMMON_EXPRESSIONS = (
    "*/5 * * * *",
    "0 17 5 * *",
    "30 2 * * 1-5",
    "0 0 1,15 * *",
    "15 */4 * * *",
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "0 9 * * MON-FRI",
    "0 6 1-7 * MON",
    "*/15 * * * *",
    "0 8-18/2 * * *",
    "5,35 * * * *",
    "20 4 1 */3 *",
    "0 12 * JAN,APR,JUL,OCT *",
    "0 3 15 * FRI",
    "*/10 9-17 * * 1-5",
    "0 22 * * SUN",
    "30 7 10-20 * *",
)
WEEKDAYS = ("1-5", "MON-FRI", "SAT,SUN", "MON", "TUE,THU", "0", "6", "1,3,5", "SUN-THU")


def _daily(rng: random.Random) -> str:
    return f"{rng.randrange(60)} {rng.randrange(24)} * * *"


def _weekdays(rng: random.Random) -> str:
    return f"{rng.randrange(60)} {rng.randrange(24)} * * {rng.choice(WEEKDAYS)}"


def _every_hours(rng: random.Random) -> str:
    return f"{rng.randrange(60)} */{rng.choice((2, 3, 4, 6, 8, 12))} * * *"


def _monthly(rng: random.Random) -> str:
    return f"{rng.randrange(60)} {rng.randrange(24)} {rng.randint(1, 28)} * *"


def _both_days(rng: random.Random) -> str:
    # Both day fields restricted: cronie's OR rule (the 1st-7th, or any Monday).
    days = rng.choice(("1-7", "1", "15", "1,15", "8-14"))
    return f"{rng.randrange(60)} {rng.randrange(24)} {days} * {rng.choice(WEEKDAYS)}"


def _business_hours(rng: random.Random) -> str:
    first = rng.randint(6, 10)
    return f"{rng.randrange(60)} {first}-{first + rng.randint(6, 10)} * * 1-5"


def _every_minutes(rng: random.Random) -> str:
    step = rng.choice((2, 5, 10, 15, 20, 30))
    return f"{rng.randrange(step)}-59/{step} * * * *"


def _common(rng: random.Random) -> str:
    return rng.choice(COMMON_EXPRESSIONS)


EXPRESSION_FAMILIES: tuple[tuple[Callable[[random.Random], str], int], ...] = (
    (_common, 40),
    (_daily, 20),
    (_weekdays, 12),
    (_every_hours, 8),
    (_monthly, 8),
    (_both_days, 4),
    (_business_hours, 5),
    (_every_minutes, 3),
)

TYPE_WEIGHTS = {
    "queue": 25,
    "lambda": 20,
    "http": 15,
    "batch": 10,
    "stepfunctions": 10,
    "sns": 8,
    "eventbridge": 7,
    "athena": 5,
}
TEAMS = ("finp", "ops", "growth", "billing", "data", "sec", "infra", "crm")
SUBJECTS = (
    "ledger",
    "invoices",
    "payouts",
    "customers",
    "orders",
    "inventory",
    "clickstream",
    "audit",
    "backups",
    "reports",
    "sessions",
    "tickets",
)
ACTIONS = ("export", "reconcile", "refresh", "rollup", "cleanup", "sync", "notify", "snapshot")

DATE = placeholder("scheduled_time", "%Y-%m-%d")
STAMP = placeholder("scheduled_time", "%Y-%m-%dT%H:%M:%S%z")
EXECUTION = placeholder("execution_id")
TASK_NAME = placeholder("task_name")


@dataclass(frozen=True)
class Job:
    """One entry of the env's job lists: what a team writes once per scheduled job."""

    type: str
    name: str
    expression: str
    team: str
    subject: str
    action: str
    ref: str  # an id of the thing the job is about: real payloads carry such ids
    timezone: str | None = None
    retries: int | None = None
    enabled: bool = True

    def as_var(self) -> dict[str, Any]:
        """The job as it appears in the env file's ``vars``."""
        data: dict[str, Any] = {
            "name": self.name,
            "cron": self.expression,
            "team": self.team,
            "subject": self.subject,
            "action": self.action,
            "ref": self.ref,
        }
        if self.timezone is not None:
            data["tz"] = self.timezone
        if self.retries is not None:
            data["retries"] = self.retries
        if not self.enabled:
            data["enabled"] = False
        return data


def jobs(count: int, seed: int = SEED) -> list[Job]:
    """``count`` jobs, the same ones for the same count and seed."""
    rng = random.Random(seed)
    families, family_weights = zip(*EXPRESSION_FAMILIES, strict=True)
    types, type_weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
    zones, zone_weights = ZONE_WEIGHTS
    result = []
    for index in range(count):
        team, subject, action = rng.choice(TEAMS), rng.choice(SUBJECTS), rng.choice(ACTIONS)
        family = rng.choices(families, family_weights)[0]
        result.append(
            Job(
                type=rng.choices(types, type_weights)[0],
                name=f"{team}-{subject}-{action}-{index:06d}",
                expression=family(rng),
                team=team,
                subject=subject,
                action=action,
                ref=f"{rng.getrandbits(40):010x}",
                timezone=rng.choices(zones, zone_weights)[0],
                retries=rng.choice((0, 1, 3, 5)) if rng.random() < 0.2 else None,
                enabled=rng.random() >= 0.02,
            )
        )
    return result


# One function per type: the ``task:`` mapping of a job. The templates of ``TEMPLATES`` render
# exactly these; keep the two in step (the smoke test compares their digests).


def _queue(job: Job) -> dict[str, Any]:
    return {
        "type": "queue",
        "QueueName": f"{job.team}-{job.subject}",
        "MessageBody": {
            "action": job.action,
            "subject": job.subject,
            "ref": job.ref,
            "run_date": DATE,
            "execution": EXECUTION,
        },
    }


def _lambda(job: Job) -> dict[str, Any]:
    return {
        "type": "lambda",
        "FunctionName": f"{job.team}-{job.subject}-{job.action}",
        "Payload": {"action": job.action, "ref": job.ref, "scheduled": STAMP, "task": TASK_NAME},
    }


def _batch(job: Job) -> dict[str, Any]:
    return {
        "type": "batch",
        "jobName": job.name,
        "jobQueue": f"{job.team}-batch",
        "jobDefinition": f"{job.subject}-{job.action}:3",
        "parameters": {"period": job.action, "ref": job.ref, "run_date": DATE},
    }


def _athena(job: Job) -> dict[str, Any]:
    return {
        "type": "athena",
        "QueryString": (
            f"SELECT count(*) FROM {job.subject}_events WHERE day = date '{DATE}' "
            f"AND action = '{job.action}'"
        ),
        "WorkGroup": job.team,
        "QueryExecutionContext": {"Database": f"{job.team}_lake"},
    }


def _http(job: Job) -> dict[str, Any]:
    return {
        "type": "http",
        "url": f"https://{job.subject}.internal.example.com/hooks/{job.action}",
        "method": "POST",
        "headers": {"X-Execution-Id": EXECUTION},
        "json": {"task": TASK_NAME, "ref": job.ref, "at": STAMP},
        "timeout": 30,
    }


def _sns(job: Job) -> dict[str, Any]:
    return {
        "type": "sns",
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{job.team}-{job.subject}",
        "Subject": f"{job.subject} {job.action}",
        "Message": {"action": job.action, "ref": job.ref, "date": DATE},
    }


def _stepfunctions(job: Job) -> dict[str, Any]:
    return {
        "type": "stepfunctions",
        "stateMachineArn": (
            f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{job.team}-{job.subject}-{job.action}"
        ),
        "input": {"date": DATE, "subject": job.subject, "ref": job.ref},
    }


def _eventbridge(job: Job) -> dict[str, Any]:
    return {
        "type": "eventbridge",
        "Source": f"lambdacron.{job.team}",
        "DetailType": f"{job.subject}.{job.action}",
        "Detail": {
            "subject": job.subject,
            "action": job.action,
            "ref": job.ref,
            "scheduled": STAMP,
        },
    }


TARGETS: Mapping[str, Callable[[Job], dict[str, Any]]] = {
    "queue": _queue,
    "lambda": _lambda,
    "batch": _batch,
    "athena": _athena,
    "http": _http,
    "sns": _sns,
    "stepfunctions": _stepfunctions,
    "eventbridge": _eventbridge,
}


def template_source(type_name: str) -> str:
    return f"templates/{type_name}-jobs.yml.j2"


def description(job: Job) -> str:
    return f"{job.action.capitalize()} {job.subject} for {job.team}"


def task(job: Job) -> Task:
    """The validated task the compiler makes of ``job`` (env defaults: UTC, 2 retries)."""
    return Task(
        name=job.name,
        expression=job.expression,
        timezone=job.timezone or "UTC",
        target=TARGETS[job.type](job),
        enabled=job.enabled,
        retries=2 if job.retries is None else job.retries,
        description=description(job),
        source=template_source(job.type),
    )


def tasks(count: int, seed: int = SEED) -> list[Task]:
    return [task(job) for job in jobs(count, seed)]


def manifest(count: int, seed: int = SEED, version: int = 1) -> Manifest:
    """A published-looking manifest of ``count`` tasks, digest set."""
    return Manifest(
        env=ENV,
        tasks=tuple(sorted(tasks(count, seed), key=lambda t: t.name)),
        version=version,
        published_at="2026-12-04T12:00:00Z",
        published_by="arn:aws:iam::123456789012:user/bench",
        message=f"synthetic manifest of {count} tasks",
        git={"commit": "0" * 40, "dirty": False},
        generator="lambdacron benchmarks",
    ).with_digest()


# The project: an env file holding the job lists, a shared macro, one template per type.

_HEADER = """\
{# The fields every task shares; imported by each type's template. #}
{% macro header(job) -%}
name: {{ job.name }}
expression: {{ job.cron | tojson }}
{% if job.tz is defined %}
timezone: {{ job.tz }}
{% endif %}
{% if job.retries is defined %}
retries: {{ job.retries }}
{% endif %}
{% if job.enabled is defined %}
enabled: {{ job.enabled | tojson }}
{% endif %}
description: {{ job.action | capitalize }} {{ job.subject }} for {{ job.team }}
{%- endmacro %}
"""

_BODIES = {
    "queue": """\
  type: queue
  QueueName: {{ job.team }}-{{ job.subject }}
  MessageBody:
    action: {{ job.action }}
    subject: {{ job.subject }}
    ref: {{ job.ref | tojson }}
    run_date: {{ scheduled_time("%Y-%m-%d") | tojson }}
    execution: {{ execution_id() | tojson }}
""",
    "lambda": """\
  type: lambda
  FunctionName: {{ job.team }}-{{ job.subject }}-{{ job.action }}
  Payload:
    action: {{ job.action }}
    ref: {{ job.ref | tojson }}
    scheduled: {{ scheduled_time() | tojson }}
    task: {{ task_name() | tojson }}
""",
    "batch": """\
  type: batch
  jobName: {{ job.name }}
  jobQueue: {{ job.team }}-batch
  jobDefinition: "{{ job.subject }}-{{ job.action }}:3"
  parameters:
    period: {{ job.action }}
    ref: {{ job.ref | tojson }}
    run_date: {{ scheduled_time("%Y-%m-%d") | tojson }}
""",
    "athena": """\
  type: athena
  QueryString: >-
    SELECT count(*) FROM {{ job.subject }}_events
    WHERE day = date '{{ scheduled_time("%Y-%m-%d") }}' AND action = '{{ job.action }}'
  WorkGroup: {{ job.team }}
  QueryExecutionContext:
    Database: {{ job.team }}_lake
""",
    "http": """\
  type: http
  url: https://{{ job.subject }}.internal.example.com/hooks/{{ job.action }}
  method: POST
  headers:
    X-Execution-Id: {{ execution_id() | tojson }}
  json:
    task: {{ task_name() | tojson }}
    ref: {{ job.ref | tojson }}
    at: {{ scheduled_time() | tojson }}
  timeout: 30
""",
    "sns": """\
  type: sns
  TopicArn: arn:aws:sns:{{ env.region }}:{{ env.account }}:{{ job.team }}-{{ job.subject }}
  Subject: {{ job.subject }} {{ job.action }}
  Message:
    action: {{ job.action }}
    ref: {{ job.ref | tojson }}
    date: {{ scheduled_time("%Y-%m-%d") | tojson }}
""",
    "stepfunctions": """\
  type: stepfunctions
  stateMachineArn: "arn:aws:states:{{ env.region }}:{{ env.account }}:stateMachine:\
{{ job.team }}-{{ job.subject }}-{{ job.action }}"
  input:
    date: {{ scheduled_time("%Y-%m-%d") | tojson }}
    subject: {{ job.subject }}
    ref: {{ job.ref | tojson }}
""",
    "eventbridge": """\
  type: eventbridge
  Source: lambdacron.{{ job.team }}
  DetailType: {{ job.subject }}.{{ job.action }}
  Detail:
    subject: {{ job.subject }}
    action: {{ job.action }}
    ref: {{ job.ref | tojson }}
    scheduled: {{ scheduled_time() | tojson }}
""",
}


def template_text(type_name: str) -> str:
    """The template that renders every job of ``type_name``, one YAML document each."""
    return (
        '{% from "_header.yml.j2" import header with context %}\n'
        f"{{% for job in {type_name}_jobs %}}\n"
        "---\n"
        "{{ header(job) }}\n"
        "task:\n"
        f"{_BODIES[type_name]}"
        "{% endfor %}\n"
    )


def write_project(root: Path, count: int, seed: int = SEED) -> Path:
    """A project whose env ``bench`` renders to ``tasks(count, seed)``; returns ``root``."""
    by_type: dict[str, list[Job]] = {name: [] for name in TARGETS}
    for job in jobs(count, seed):
        by_type[job.type].append(job)
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "envs").mkdir(parents=True, exist_ok=True)
    (root / "templates" / "_header.yml.j2").write_text(_HEADER, encoding="utf-8")
    for type_name in TARGETS:
        path = root / template_source(type_name)
        path.write_text(template_text(type_name), encoding="utf-8")
    (root / "envs" / "_base.yml").write_text(
        "defaults:\n  timezone: UTC\n  retries: 2\n", encoding="utf-8"
    )
    lines = [
        "extends: _base",
        f"region: {REGION}",
        f'account: "{ACCOUNT}"',
        "vars:",
    ]
    for type_name, group in by_type.items():
        lines.append(f"  {type_name}_jobs:")
        # One flow mapping per line, as a person keeps a long list; JSON is valid YAML.
        lines.extend(f"    - {json.dumps(job.as_var())}" for job in group)
    (root / "envs" / f"{ENV}.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
