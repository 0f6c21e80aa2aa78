"""Deploy stage, settings: the env file's ``deploy:`` mapping checked and completed with defaults,
and the names of the stack's resources derived from it.

Everything the template needs beyond the manifest comes from here, so that ``template``, ``deploy``
and ``status`` (which compares the live function with what the env file would generate) agree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdacron.errors import Diagnostic, InvalidInputError
from lambdacron.project import Environment

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MANAGED_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$")
TAG_KEY = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")
FUNCTION_NAME_LIMIT = 64

# What a key accepts: a type check and an optional range/shape check with its message.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class DeploySettings:
    """The ``deploy:`` keys of an env file, with defaults applied."""

    stack_name: str
    alarm_email: str | None = None
    memory_size: int = 256
    timeout: int = 300
    log_retention_days: int = 30
    max_catchup_minutes: int = 60
    tags: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = 1
    tick_alarm_minutes: int = 5
    managed_policy_arns: tuple[str, ...] = ()
    artifacts_bucket: str | None = None

    @property
    def function_name(self) -> str:
        """The scheduler function's name: the stack name, shortened with a hash when too long."""
        return bounded_name(self.stack_name, FUNCTION_NAME_LIMIT)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def alarm_name(self, what: str) -> str:
        return f"{self.stack_name}-{what}"


def bounded_name(name: str, limit: int) -> str:
    """``name`` if it fits in ``limit`` characters, else its head plus a stable 8-digit hash, so
    that two long names that share a head still differ."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


def default_stack_name(env: str) -> str:
    """``lambdacron-<env>``; characters a stack name cannot hold become ``-``, and then a hash of
    the env name keeps ``a_b`` and ``a-b`` apart."""
    clean = re.sub(r"[^A-Za-z0-9-]", "-", env)
    name = f"lambdacron-{clean}"
    if clean != env:
        name += "-" + hashlib.sha256(env.encode()).hexdigest()[:6]
    return name


def _whole(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be a whole number"
        if not low <= value <= high:
            return f"must be between {low} and {high}, not {value}"
        return None

    return check


def _text(pattern: re.Pattern[str], shape: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if not pattern.match(value):
            return f"{value!r} is not {shape}"
        return None

    return check


def _retention(value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or value not in LOG_RETENTION_DAYS:
        return "must be one of CloudWatch Logs' retention periods: " + ", ".join(
            map(str, LOG_RETENTION_DAYS)
        )
    return None


def _tags(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a mapping of tag names to values"
    for key, item in value.items():
        if not isinstance(key, str) or not TAG_KEY.match(key) or key.startswith("aws:"):
            return (
                f"tag name {key!r} is not allowed (1-128 letters, digits, spaces and _.:/=+-@; "
                "not starting with aws:)"
            )
        if (
            not isinstance(item, str | int | float)
            or isinstance(item, bool)
            or len(str(item)) > 256
        ):
            return f"tag {key!r}: the value must be a string of at most 256 characters"
    return None


def _reserved(value: Any) -> str | None:
    if value is None:
        return None
    return _whole(1, 1000)(value)


def _policy_arns(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a list of IAM managed policy ARNs"
    for item in value:
        if not isinstance(item, str) or not MANAGED_POLICY_ARN.match(item):
            return (
                f"{item!r} is not an IAM managed policy ARN (arn:aws:iam::123456789012:policy/name)"
            )
    return None


CHECKS: Mapping[str, Check] = {
    "stack_name": _text(STACK_NAME, "a stack name (a letter, then letters, digits and '-')"),
    "alarm_email": _text(EMAIL, "an email address"),
    "memory_size": _whole(128, 10240),
    "timeout": _whole(10, 900),
    "log_retention_days": _retention,
    "max_catchup_minutes": _whole(0, 1440),
    "tags": _tags,
    "reserved_concurrency": _reserved,
    "tick_alarm_minutes": _whole(2, 1440),
    "managed_policy_arns": _policy_arns,
    "artifacts_bucket": _text(BUCKET_NAME, "an S3 bucket name"),
}


def load_settings(env: Environment) -> DeploySettings:
    """The env's deploy settings; InvalidInputError naming every bad key at once."""
    data = dict(env.deploy)
    where = f"envs/{env.name}.yml"
    problems = [
        Diagnostic(where, None, f"unknown key 'deploy.{key}'", "allowed keys: " + ", ".join(CHECKS))
        for key in data
        if key not in CHECKS
    ]
    for key, check in CHECKS.items():
        if key in data:
            problem = check(data[key])
            if problem:
                problems.append(Diagnostic(where, None, f"deploy.{key} {problem}"))
    if problems:
        raise InvalidInputError(problems, env=env.name)
    values: dict[str, Any] = {k: v for k, v in data.items() if k in CHECKS}
    values.setdefault("stack_name", default_stack_name(env.name))
    if "tags" in values:
        values["tags"] = {str(k): str(v) for k, v in values["tags"].items()}
    if "managed_policy_arns" in values:
        values["managed_policy_arns"] = tuple(values["managed_policy_arns"])
    return DeploySettings(**values)
