"""Validation stage, tasks: the task format as cerberus schemas, and every problem of a task.

One definition serves two readers: :func:`validate_task` runs the cerberus schemas and turns
their errors into messages a user can act on (where, what, how to fix it, "did you mean"), and
:func:`json_schema` translates the very same definitions into a JSON Schema for editors.

A task is checked in two passes: the top level (name, expression, timezone, ...) and then the
``task:`` mapping against the schema of its ``type``. Every problem of both passes is returned.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cerberus import TypeDefinition, Validator, errors

from lambdacron.cronspec import EXPECTS as EXPRESSION_EXPECTS
from lambdacron.cronspec import MACROS, check_expression
from lambdacron.suggest import describe, did_you_mean, join_or, quote

Rules = dict[str, Any]
Path = tuple[str | int, ...]

# Patterns end in \Z: cerberus appends "$", which would also accept a trailing newline.
END = r"\Z"
NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
NAME_PATTERN = re.compile(NAME + END)
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Problem:
    """One problem of a task: where (a path of keys and list indices), what, and how to fix it."""

    path: Path
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class OneOf:
    """At least one of ``keys`` is required (a dotted key names a key of a nested mapping)."""

    keys: tuple[str, ...]
    hint: str


@dataclass(frozen=True)
class TaskType:
    """A target type: the schema of its ``task:`` mapping, in the AWS API's own key names."""

    name: str
    description: str
    schema: Mapping[str, Rules]
    required: tuple[OneOf, ...] = ()


# --- Building blocks of the schemas ------------------------------------------------------------


def rules(
    description: str, required: bool = False, expects: str | None = None, **more: Any
) -> Rules:
    """Cerberus rules, with the words for users under ``meta`` (which cerberus ignores):
    ``description`` for editors and hints, ``expects`` for a type error's "must be ..."."""
    meta = {"description": description}
    if expects is not None:
        meta["expects"] = expects
    return {**more, "required": required, "meta": meta}


def text(
    description: str,
    required: bool = False,
    pattern: str | None = None,
    pattern_help: str | None = None,
    max_length: int | None = None,
    **more: Any,
) -> Rules:
    """A non-empty string; ``pattern_help`` is the hint when it does not match ``pattern``."""
    found = rules(description, required, type="string", empty=False, **more)
    if pattern is not None:
        found["regex"] = pattern + END
        found["meta"]["pattern_help"] = pattern_help
    if max_length is not None:
        found["maxlength"] = max_length
    return found


def integer(description: str, low: int, high: int | None = None, required: bool = False) -> Rules:
    found = rules(description, required, type="integer", min=low)
    if high is not None:
        found["max"] = high
    return found


def mapping(
    description: str,
    fields: Mapping[str, Rules] | None = None,
    values: Rules | None = None,
    required: bool = False,
) -> Rules:
    found = rules(description, required, type="dict")
    if fields is not None:
        found["schema"] = dict(fields)
    if values is not None:
        found["valuesrules"] = values
    return found


def items(description: str, item: Rules) -> Rules:
    return rules(description, type="list", empty=False, schema=item)


# "number" takes integers too (see TaskValidator.types_mapping), as in JSON Schema.
SCALAR = ["string", "number", "boolean"]
JSON_BODY = ["string", "dict", "list"]


def message_attributes(service: str) -> Rules:
    return mapping(
        f"{service} message attributes: name -> {{DataType, StringValue or BinaryValue}}",
        values=mapping(
            "One message attribute.",
            {
                "DataType": text(
                    "The type: String, Number or Binary, optionally with a .suffix.",
                    required=True,
                    pattern=r"(String|Number|Binary)(\..+)?",
                    pattern_help="String, Number or Binary, optionally followed by .custom",
                ),
                "StringValue": rules("The value of a String or Number attribute.", type="string"),
                "BinaryValue": rules("The base64 value of a Binary attribute.", type="string"),
            },
        ),
    )


URL = r"(https?://|\$\{lambdacron:secret:)\S+"
URL_HELP = "an http:// or https:// URL, or a secret(...) reference"


# --- The task ------------------------------------------------------------------------------------

TASK_SCHEMA: dict[str, Rules] = {
    "name": text(
        "The task's name, unique in its environment.",
        required=True,
        pattern=NAME,
        pattern_help="a task name is 1 to 128 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
    ),
    "expression": rules(
        "When the task fires: a crontab line (minute hour day month weekday), "
        f"a macro ({' '.join(MACROS)}), or H forms such as H(0-29).",
        required=True,
        check_with="expression",
        expects=EXPRESSION_EXPECTS,
    ),
    "timezone": rules(
        "IANA time zone of the expression, e.g. Europe/Madrid (default: the env's, else UTC).",
        type="string",
        check_with="timezone",
    ),
    "enabled": rules("A disabled task is published but never fires.", type="boolean"),
    "description": rules("Free text.", type="string"),
    "retries": integer("Attempts after a transient failure (default 2).", 0, 10),
    "task": mapping("What to do: a type and the keys of that type.", required=True),
}


def task_type(
    name: str, description: str, fields: Mapping[str, Rules], required: tuple[OneOf, ...] = ()
) -> TaskType:
    kind = rules("The task type.", required=True, type="string", allowed=[name])
    return TaskType(name, description, {"type": kind, **fields}, required)


TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        task_type(
            "queue",
            "SQS SendMessage.",
            {
                "QueueName": text(
                    "The queue's name (or give QueueUrl).",
                    pattern=r"[A-Za-z0-9_-]{1,80}(\.fifo)?",
                    pattern_help="1 to 80 letters, digits, '-' or '_' (and .fifo for FIFO)",
                    excludes="QueueUrl",
                ),
                "QueueUrl": text(
                    "The queue's URL (or give QueueName).",
                    pattern=URL,
                    pattern_help=URL_HELP,
                    excludes="QueueName",
                ),
                "MessageBody": rules(
                    "The message: a string, or a mapping or list sent as JSON.",
                    required=True,
                    type=JSON_BODY,
                ),
                "MessageAttributes": message_attributes("SQS"),
                "DelaySeconds": integer("Seconds before the message becomes visible.", 0, 900),
                "MessageGroupId": text(
                    "FIFO message group (default: the task name).", max_length=128
                ),
                "MessageDeduplicationId": text(
                    "FIFO deduplication id (default: the execution id).", max_length=128
                ),
            },
            (OneOf(("QueueName", "QueueUrl"), "name the queue with QueueName or QueueUrl"),),
        ),
        task_type(
            "lambda",
            "Lambda Invoke.",
            {
                "FunctionName": text(
                    "The function's name, ARN or alias ARN.",
                    required=True,
                    pattern=r"(arn:aws[a-zA-Z-]*:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d:)?(\d{12}:)?"
                    r"(function:)?[A-Za-z0-9_.-]+(:(\$LATEST|[A-Za-z0-9_-]+))?",
                    pattern_help="a function name, ARN, partial ARN or alias ARN",
                ),
                "Payload": rules(
                    "The event: a mapping or list sent as JSON, or a string.",
                    type=JSON_BODY,
                    excludes="InvokeArgs",
                ),
                "InvokeArgs": rules(
                    "The 2017 LambdaCron name of Payload.", type=JSON_BODY, excludes="Payload"
                ),
                "InvocationType": rules(
                    "Event (asynchronous, the default), RequestResponse or DryRun.",
                    type="string",
                    allowed=["Event", "RequestResponse", "DryRun"],
                ),
                "Qualifier": text(
                    "A version or alias.",
                    pattern=r"\$LATEST|[A-Za-z0-9_-]{1,128}",
                    pattern_help="$LATEST, a version number or an alias name",
                ),
            },
        ),
        task_type(
            "batch",
            "AWS Batch SubmitJob.",
            {
                "jobName": text(
                    "The job's name.",
                    required=True,
                    pattern=r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}",
                    pattern_help="1 to 128 letters, digits, '-' or '_', from a letter or digit",
                ),
                "jobQueue": text("The job queue's name or ARN.", required=True),
                "jobDefinition": text(
                    "The job definition: name, name:revision or ARN.", required=True
                ),
                "parameters": mapping(
                    "Parameter substitutions of the job definition.",
                    values=rules("A parameter value.", type=SCALAR),
                ),
                "containerOverrides": mapping("Overrides of the job definition's container."),
                "arrayProperties": mapping(
                    "Run an array job.",
                    {"size": integer("The number of child jobs.", 2, 10000, required=True)},
                ),
                "dependsOn": items("Jobs this job waits for.", mapping("One dependency.")),
                "retryStrategy": mapping(
                    "Batch's own retries of the job.",
                    {
                        "attempts": integer("Attempts, 1 to 10.", 1, 10),
                        "evaluateOnExit": items(
                            "Conditions to retry or exit on.", mapping("One condition.")
                        ),
                    },
                ),
                "timeout": mapping(
                    "How long an attempt may run.",
                    {"attemptDurationSeconds": integer("Seconds, at least 60.", 60)},
                ),
                "tags": mapping("Tags of the job.", values=rules("A tag value.", type=SCALAR)),
                "propagateTags": rules("Copy the job's tags to its ECS task.", type="boolean"),
            },
        ),
        task_type(
            "athena",
            "Athena StartQueryExecution.",
            {
                "QueryString": text("The SQL to run.", required=True),
                "ResultConfiguration": mapping(
                    "Where results go.",
                    {
                        "OutputLocation": text(
                            "The S3 location of the results.",
                            pattern=r"s3://[^/\s]+(/\S*)?",
                            pattern_help="an s3://bucket/prefix/ location",
                        ),
                        "EncryptionConfiguration": mapping("Encryption of the results."),
                        "ExpectedBucketOwner": text("The account that owns the bucket."),
                        "AclConfiguration": mapping("The ACL of the results."),
                    },
                ),
                "WorkGroup": text("The workgroup to run in."),
                "QueryExecutionContext": mapping(
                    "The default database and catalog.",
                    {
                        "Database": text("The default database."),
                        "Catalog": text("The data catalog."),
                    },
                ),
                "ExecutionParameters": items(
                    "Values of the query's ? parameters, in order.",
                    rules("A parameter value.", type=SCALAR),
                ),
            },
            (
                OneOf(
                    ("ResultConfiguration.OutputLocation", "WorkGroup"),
                    "Athena needs somewhere to write results: an s3:// OutputLocation, "
                    "or a WorkGroup that sets one",
                ),
            ),
        ),
        task_type(
            "http",
            "One HTTP request.",
            {
                "url": text("The URL.", required=True, pattern=URL, pattern_help=URL_HELP),
                "method": rules(
                    "The HTTP method, in capitals.",
                    required=True,
                    type="string",
                    allowed=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                ),
                "headers": mapping(
                    "Request headers.", values=rules("A header value.", type=SCALAR)
                ),
                "params": mapping(
                    "Query string parameters.",
                    values=rules("A parameter value, or a list of them.", type=[*SCALAR, "list"]),
                ),
                "json": rules(
                    "A body sent as JSON (or give body).",
                    excludes="body",
                    expects="a JSON value (mapping, list, string, number or boolean)",
                ),
                "body": rules(
                    "A body sent as it is (or give json).", type="string", excludes="json"
                ),
                "timeout": rules(
                    "Seconds to wait for the answer (default 10).", type="number", min=1, max=300
                ),
                "expect_status": rules(
                    "The status (or statuses) that mean success (default: any 2xx).",
                    anyof=[
                        {"type": "integer", "min": 100, "max": 599},
                        {
                            "type": "list",
                            "empty": False,
                            "schema": {"type": "integer", "min": 100, "max": 599},
                        },
                    ],
                    expects="an HTTP status (100-599) or a list of them",
                ),
            },
        ),
        task_type(
            "sns",
            "SNS Publish.",
            {
                "TopicArn": text(
                    "The topic's ARN.",
                    required=True,
                    pattern=r"arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}"
                    r"(\.fifo)?",
                    pattern_help="arn:aws:sns:REGION:ACCOUNT:TOPIC",
                ),
                "Message": rules(
                    "The message: a string, or a mapping or list sent as JSON.",
                    required=True,
                    type=JSON_BODY,
                ),
                "Subject": text("The e-mail subject.", max_length=100),
                "MessageAttributes": message_attributes("SNS"),
                "MessageGroupId": text(
                    "FIFO message group (default: the task name).", max_length=128
                ),
                "MessageDeduplicationId": text(
                    "FIFO deduplication id (default: the execution id).", max_length=128
                ),
            },
        ),
        task_type(
            "stepfunctions",
            "Step Functions StartExecution.",
            {
                "stateMachineArn": text(
                    "The state machine's ARN.",
                    required=True,
                    pattern=r"arn:aws[a-zA-Z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:\S+",
                    pattern_help="arn:aws:states:REGION:ACCOUNT:stateMachine:NAME",
                ),
                "input": mapping("The execution's input, sent as JSON."),
                "name": text(
                    "The execution's name (default: the execution id; a fixed name fails "
                    "from the second run on).",
                    max_length=80,
                ),
            },
        ),
        task_type(
            "eventbridge",
            "EventBridge PutEvents, one event.",
            {
                "Source": text("The event's source.", required=True),
                "DetailType": text("The event's detail-type.", required=True),
                "Detail": mapping("The event's detail, sent as JSON.", required=True),
                "EventBusName": text("The bus's name or ARN (default: the default bus)."),
                "Resources": items("ARNs the event is about.", text("An ARN.")),
            },
        ),
    )
}


# --- Validation ----------------------------------------------------------------------------------


@functools.cache
def time_zones() -> frozenset[str]:
    """IANA names the scheduler's zoneinfo knows; "UTC" always, even without tzdata."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


class TaskValidator(Validator):  # type: ignore[misc]  # cerberus has no type hints
    """Cerberus with integers that are not booleans (YAML ``true`` is not a retry count),
    and the two checks that need lambdacron's knowledge: expressions and time zones."""

    types_mapping: ClassVar[dict[str, TypeDefinition]] = {
        **Validator.types_mapping,
        "integer": TypeDefinition("integer", (int,), (bool,)),
        "number": TypeDefinition("number", (int, float), (bool,)),
    }

    def _check_with_expression(self, field: str, value: object) -> None:
        # Keyword arguments of the constructor land in cerberus's _config.
        message = check_expression(value, self._config.get("hash_seed", ""))
        if message is not None:
            self._error(field, errors.CUSTOM, message, None)

    def _check_with_timezone(self, field: str, value: str) -> None:
        if value in time_zones():
            return
        guess = did_you_mean(value, time_zones())
        hint = f"did you mean {quote(guess)}?" if guess else "e.g. 'Europe/Madrid' or 'UTC'"
        self._error(field, errors.CUSTOM, f"timezone {quote(value)} is not an IANA time zone", hint)


def validator(kind: str | None, hash_seed: str = "") -> TaskValidator:
    """The validator of the top level or of one type. One per kind, reused: building one checks
    and hashes its whole schema, which costs more than validating a task. Each ``validate``
    starts afresh; read its ``_errors`` before the next."""
    found = _validator(kind)
    found._config["hash_seed"] = hash_seed
    return found


@functools.cache
def _validator(kind: str | None) -> TaskValidator:
    schema = TASK_SCHEMA if kind is None else TASK_TYPES[kind].schema
    return TaskValidator(dict(schema))


def validate_task(data: object, *, hash_seed: str = "") -> list[Problem]:
    """Every problem of one task (a rendered YAML document), in document order; [] if valid.

    ``hash_seed`` picks the values of ``H`` forms when checking the expression (pass the seed
    the compiler uses with :func:`lambdacron.cronspec.expand_hash`).
    """
    if not isinstance(data, dict):
        return [
            Problem(
                (),
                f"a task must be a mapping of keys to values, got {describe(data)}",
                "start the document with name:, expression: and task:",
            )
        ]
    top = validator(None, hash_seed)
    top.validate(data, normalize=False)  # no defaults or coercion rules: nothing to normalize
    problems = list(Translator(TASK_SCHEMA, (), None).problems(top._errors))
    target = data.get("task")
    if isinstance(target, dict):
        problems.extend(validate_target(target))
    # dict.fromkeys: a null expression is reported by its check and by cerberus, in equal words.
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (position(data, p.path), p.message))


def validate_target(target: Mapping[Any, Any]) -> list[Problem]:
    kinds = list(TASK_TYPES)
    if "type" not in target:
        return [
            Problem(
                ("task",),
                "'task' is missing required key 'type'",
                f"add type: one of {', '.join(kinds)}",
            )
        ]
    kind = target["type"]
    if not isinstance(kind, str):
        message = f"task type must be one of {', '.join(kinds)}, got {describe(kind)}"
        return [Problem(("task", "type"), message)]
    if kind not in TASK_TYPES:
        guess = did_you_mean(kind, kinds)
        maybe = f"did you mean {quote(guess)}? " if guess else ""
        hint = f"{maybe}the types are {', '.join(kinds)}"
        return [Problem(("task", "type"), f"unknown task type {quote(kind)}", hint)]
    check = validator(kind)
    check.validate(dict(target), normalize=False)
    task_type = TASK_TYPES[kind]
    found = list(Translator(task_type.schema, ("task",), kind).problems(check._errors))
    for group in task_type.required:
        if not any(has_key(target, key) for key in group.keys):
            keys = join_or(quote(k) for k in group.keys)
            found.append(
                Problem(("task",), f"task ({kind}) is missing required key {keys}", group.hint)
            )
    return found


def has_key(data: Mapping[Any, Any], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if head not in data:
        return False
    value = data[head]
    return not rest or (isinstance(value, Mapping) and has_key(value, rest))


def position(data: object, path: Path) -> list[int]:
    """Where ``path`` is in ``data``, as indices: sorts problems in the order of the document.
    A missing key sorts after its siblings."""
    found: list[int] = []
    node = data
    for step in path:
        keys = list(node) if isinstance(node, dict) else []
        if isinstance(node, dict) and step in node:
            found.append(keys.index(step))
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            found.append(step)
            node = node[step]
        else:
            found.append(len(keys) if isinstance(node, dict) else 0)
            break
    return found


# --- Cerberus errors in words ------------------------------------------------------------------

TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "dict": "a mapping",
    "list": "a list",
}


class Translator:
    """Turns the cerberus errors of one mapping (the task, or its ``task:``) into Problems.

    The rules behind an error are found by the error's ``schema_path``, which also leads
    into ``anyof`` alternatives, ``valuesrules`` and list item rules.
    """

    def __init__(self, schema: Mapping[str, Rules], prefix: Path, kind: str | None) -> None:
        self.schema = schema
        self.prefix = prefix
        self.kind = kind
        self.excluded: set[frozenset[str]] = set()

    def problems(self, found: Iterable[Any]) -> Iterator[Problem]:
        for error in found:
            if error.code == errors.ANYOF.code:
                yield from self.any_of(error)
            elif error.is_group_error:
                yield from self.problems(error.child_errors)
            else:
                problem = self.leaf(error)
                if problem is not None:
                    yield problem

    def any_of(self, error: Any) -> Iterator[Problem]:
        """Report the alternative whose type fits the value; else say what would fit."""
        depth = len(error.schema_path)
        for index in range(len(error.constraint)):
            own = [e for e in error.child_errors if e.schema_path[depth] == index]
            if not any(e.rule == "type" and e.document_path == error.document_path for e in own):
                yield from self.problems(own)
                return
        yield self.wrong_type(error)

    def rules(self, schema_path: Sequence[str | int]) -> Any:
        found: Any = self.schema
        for step in schema_path:
            found = found[step]
        return found

    def leaf(self, error: Any) -> Problem | None:
        code = error.code
        if code == errors.CUSTOM.code:
            return Problem(self.prefix + tuple(error.document_path), *error.info)
        if code == errors.UNKNOWN_FIELD.code:
            return self.unknown(error)
        if code == errors.REQUIRED_FIELD.code:
            return self.missing(error)
        if code == errors.EXCLUDES_FIELD.code:
            return self.both(error)
        if code in (errors.BAD_TYPE.code, errors.NOT_NULLABLE.code):
            return self.wrong_type(error)
        path: Path = tuple(error.document_path)
        message, hint = self.value_message(error, self.label(path))
        return Problem(self.prefix + path, message, hint)

    def value_message(self, error: Any, label: str) -> tuple[str, str | None]:
        code, value = error.code, error.value
        found = self.rules(error.schema_path[:-1])
        if code in (errors.MIN_VALUE.code, errors.MAX_VALUE.code):
            return f"{label} must be {bounds(found)}, got {value}", None
        if code == errors.EMPTY_NOT_ALLOWED.code:
            return f"{label} must not be empty", None
        if code == errors.MAX_LENGTH.code:
            return (
                f"{label} must be at most {found['maxlength']} characters, got {len(value)}",
                None,
            )
        if code == errors.REGEX_MISMATCH.code:
            return f"{label} {quote(value)} is not valid", found["meta"]["pattern_help"]
        if code == errors.UNALLOWED_VALUE.code:
            allowed = [str(a) for a in found["allowed"]]
            guess = did_you_mean(value, allowed)
            hint = f"did you mean {quote(guess)}?" if guess else None
            return f"{label} must be one of {', '.join(allowed)}, got {quote(value)}", hint
        raise ValueError(f"no words for cerberus error {code:#x} at {error.schema_path}")

    def unknown(self, error: Any) -> Problem:
        path: Path = tuple(error.document_path)
        key = path[-1]
        keys = list(self.rules(error.schema_path))
        message = f"unknown key {quote(key)} in {self.container(path[:-1])}"
        return Problem(self.prefix + path, message, self.key_hint(key, keys, len(path) == 1))

    def key_hint(self, key: object, keys: Sequence[str], top: bool) -> str:
        # A key that is right somewhere else says more than a near miss here.
        elsewhere = self.elsewhere(key, top)
        if elsewhere:
            return elsewhere
        guess = did_you_mean(key, keys)
        if guess:
            return f"did you mean {quote(guess)}?"
        return f"the keys are {', '.join(keys)}"

    def elsewhere(self, key: object, top: bool) -> str | None:
        """Where ``key`` would be right: a key written at the wrong level or for another type."""
        if self.prefix and top and key in TASK_SCHEMA:
            return f"{quote(key)} belongs at the top level of the task, next to task:"
        owners = [t.name for t in TASK_TYPES.values() if key in t.schema and key != "type"]
        if not owners or (self.kind in owners):
            return None
        if not self.prefix:
            return f"{quote(key)} belongs inside task: (type {' or '.join(owners)})"
        return f"{quote(key)} is a key of {' and '.join(owners)} tasks, not of {self.kind} tasks"

    def missing(self, error: Any) -> Problem:
        path: Path = tuple(error.document_path)
        key = path[-1]
        description = str(self.rules(error.schema_path[:-1])["meta"]["description"])
        hint = f"add {key}: {description[:1].lower()}{description[1:].rstrip('.')}"
        message = f"{self.container(path[:-1])} is missing required key {quote(key)}"
        return Problem(self.prefix + path[:-1], message, hint)

    def both(self, error: Any) -> Problem | None:
        path: Path = tuple(error.document_path)
        pair = frozenset((str(path[-1]), str(error.constraint)))
        if pair in self.excluded:
            return None
        self.excluded.add(pair)
        first, second = sorted(pair, key=list(self.rules(error.schema_path[:-2])).index)
        message = f"{self.container(path[:-1])} has both {quote(first)} and {quote(second)}"
        return Problem(self.prefix + path[:-1], message, "they are alternatives: keep one of them")

    def wrong_type(self, error: Any) -> Problem:
        path: Path = tuple(error.document_path)
        found = self.rules(error.schema_path[:-1])
        message = f"{self.label(path)} must be {expects(found)}, got {describe(error.value)}"
        return Problem(self.prefix + path, message)

    def container(self, path: Path) -> str:
        """The mapping at ``path``, named for a message: ``task``, ``task (batch)``, ..."""
        if not self.prefix:
            return "task"
        if not path:
            return f"task ({self.kind})"
        return f"{dotted(path)} of task ({self.kind})"

    def label(self, path: Path) -> str:
        """The value at ``path`` in a message: ``retries``, ``DelaySeconds of task (queue)``."""
        return dotted(path) if not self.prefix else f"{dotted(path)} of task ({self.kind})"


def dotted(path: Path) -> str:
    shown = ""
    for step in path:
        shown += f"[{step}]" if isinstance(step, int) else f"{'.' if shown else ''}{step}"
    return shown


def as_list(kinds: object) -> list[str]:
    """A cerberus ``type`` (one name or a list of names) as a list."""
    if isinstance(kinds, str):
        return [kinds]
    return [str(kind) for kind in kinds] if isinstance(kinds, list) else []


def expects(found: Rules) -> str:
    meta = found.get("meta", {})
    if "expects" in meta:
        return str(meta["expects"])
    kinds = as_list(found.get("type"))
    if kinds == ["boolean"]:
        return "true or false"
    return join_or(TYPE_WORDS[kind] for kind in kinds)


def bounds(found: Rules) -> str:
    low, high = found.get("min"), found.get("max")
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


# --- The same definitions as JSON Schema ---------------------------------------------------------

JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "dict": "object",
    "list": "array",
}
# What the two lambdacron checks accept, as far as JSON Schema can say it: a time zone from the
# list, and an expression shaped like a macro or 5 fields (ranges and dates need `validate`).
EXPRESSION_PATTERN = (
    r"^\s*(?:@(?:"
    + "|".join(m[1:] for m in MACROS)
    + r")|[0-9A-Za-z*/,()-]+(?:\s+[0-9A-Za-z*/,()-]+){4})\s*$"
)


def check_json(name: str) -> dict[str, Any]:
    if name == "expression":
        return {"type": "string", "pattern": EXPRESSION_PATTERN}
    return {"type": "string", "enum": sorted(time_zones())}


def json_schema() -> dict[str, Any]:
    """The task format as a JSON Schema (draft 2020-12), built from the cerberus schemas.

    It checks everything but what needs lambdacron itself: crontab ranges and dates that never
    come (an expression only has to look like one here). Integers are JSON Schema's, so it
    also takes ``2.0`` where ``validate`` asks for ``2``.
    """
    top = to_json({"type": "dict", "schema": TASK_SCHEMA})
    top["properties"]["task"] = target_json()
    return {
        "$schema": DRAFT,
        "title": "lambdacron task",
        "description": "One task of a lambdacron project, as a template renders it.",
        **top,
    }


def target_json() -> dict[str, Any]:
    task = TASK_SCHEMA["task"]["meta"]["description"]
    kinds = list(TASK_TYPES)
    return {
        "description": task,
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"description": "The task type.", "enum": kinds}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                "then": type_json(task_type),
            }
            for kind, task_type in TASK_TYPES.items()
        ],
    }


def type_json(task_type: TaskType) -> dict[str, Any]:
    found = to_json({"type": "dict", "schema": task_type.schema})
    found["description"] = task_type.description
    for group in task_type.required:
        found.setdefault("allOf", []).append({"anyOf": [requirement(k) for k in group.keys]})
    return found


def requirement(dotted_key: str) -> dict[str, Any]:
    head, _, rest = dotted_key.partition(".")
    found: dict[str, Any] = {"required": [head]}
    if rest:
        found["properties"] = {head: requirement(rest)}
    return found


def to_json(found: Rules) -> dict[str, Any]:
    """One field's cerberus rules as JSON Schema."""
    out: dict[str, Any] = {}
    meta = found.get("meta", {})
    if "description" in meta:
        out["description"] = meta["description"]
    kinds = as_list(found.get("type"))
    if kinds:
        json_kinds = [JSON_TYPES[k] for k in kinds]
        out["type"] = json_kinds[0] if len(json_kinds) == 1 else json_kinds
    if "check_with" in found:
        out.update(check_json(found["check_with"]))
    if "anyof" in found:
        out["anyOf"] = [to_json(option) for option in found["anyof"]]
    if "type" not in out and "anyOf" not in out:
        out["not"] = {"type": "null"}  # cerberus refuses null unless a field is nullable
    out.update(value_json(found))
    schema = found.get("schema")
    if "list" in kinds and schema is not None:
        out["items"] = to_json(schema)
    if "dict" in kinds and schema is not None:
        out.update(object_json(schema))
    elif "dict" in kinds and "valuesrules" in found:
        out["additionalProperties"] = to_json(found["valuesrules"])
    return out


def value_json(found: Rules) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "allowed" in found:
        out["enum"] = list(found["allowed"])
    if "regex" in found:
        out["pattern"] = f"^(?:{found['regex'].removesuffix(END)})$"
    if "min" in found:
        out["minimum"] = found["min"]
    if "max" in found:
        out["maximum"] = found["max"]
    if "maxlength" in found:
        out["maxLength"] = found["maxlength"]
    if found.get("empty") is False:
        kinds = as_list(found.get("type"))
        out.update({"minLength": 1} if "string" in kinds else {})
        out.update({"minItems": 1} if "list" in kinds else {})
    return out


def object_json(schema: Mapping[str, Rules]) -> dict[str, Any]:
    order = list(schema)
    out: dict[str, Any] = {
        "properties": {key: to_json(value) for key, value in schema.items()},
        "additionalProperties": False,
    }
    required = [key for key, value in schema.items() if value.get("required")]
    if required:
        out["required"] = required
    pairs = {frozenset((k, v["excludes"])) for k, v in schema.items() if "excludes" in v}
    for pair in sorted(pairs, key=lambda p: sorted(map(order.index, p))):
        out.setdefault("allOf", []).append({"not": {"required": sorted(pair, key=order.index)}})
    return out
