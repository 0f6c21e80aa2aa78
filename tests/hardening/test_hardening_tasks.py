"""Bad input, validation stage: every task type with each required key missing and with values
of the wrong type, empty lists, top-level keys, time zones that do not exist, and crontab lines
out of range, foreign or never firing. Each case: exit 1, the exact line, nothing written.

Errors point at the rendered file (``build/dev/tasks/<name>.yml``, line 1 being its ``# Source``
header) and name the template it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hardening.corpus import BATCH, Case, build_project, check, invoke, task

pytestmark = pytest.mark.hardening

SOURCE = "\n  rendered from templates/t.yml.j2"
OUT = "build/dev/tasks/t1.yml"

TYPES = {
    "queue": "type: queue\nQueueName: q\nMessageBody: hi",
    "lambda": "type: lambda\nFunctionName: f",
    "batch": BATCH,
    "athena": "type: athena\nQueryString: SELECT 1\nWorkGroup: wg",
    "http": "type: http\nurl: https://example.com\nmethod: POST",
    "sns": "type: sns\nTopicArn: arn:aws:sns:us-east-1:123456789012:t\nMessage: hi",
    "stepfunctions": "type: stepfunctions\n"
    "stateMachineArn: arn:aws:states:us-east-1:123456789012:stateMachine:m",
    "eventbridge": "type: eventbridge\nSource: s\nDetailType: d\nDetail: {a: 1}",
}


def without(kind: str, key: str) -> str:
    return "\n".join(line for line in TYPES[kind].split("\n") if not line.startswith(f"{key}:"))


def bad_task(id_: str, body: str, line: int, message: str) -> Case:
    return Case(id_, {"templates/t.yml.j2": task(body)}, f"{OUT}:{line}: {message}{SOURCE}")


def missing(kind: str, key: str, message: str) -> Case:
    """Required keys are reported at the ``task:`` line (4), the mapping that lacks them."""
    return bad_task(f"{kind} without {key}", without(kind, key), 4, message)


def wrong(kind: str, extra: str, line: int, message: str, drop: str | None = None) -> Case:
    body = (without(kind, drop) if drop else TYPES[kind]) + "\n" + extra
    return bad_task(f"{kind} {extra.splitlines()[0]}", body, line, message)


def top(id_: str, head: str, line: int, message: str, path: str = OUT) -> Case:
    return Case(id_, {"templates/t.yml.j2": task(BATCH, head)}, f"{path}:{line}: {message}{SOURCE}")


def cron(expression: str, message: str) -> Case:
    head = f'name: t1\nexpression: "{expression}"\n'
    return top(f"cron {expression!r}", head, 3, f'expression "{expression}"{message}')


def add(key: str, what: str) -> str:
    return f"is missing required key '{key}' (add {key}: {what})"


MISSING = [
    missing(
        "queue",
        "QueueName",
        "task (queue) is missing required key 'QueueName' or 'QueueUrl' "
        "(name the queue with QueueName or QueueUrl)",
    ),
    missing(
        "queue",
        "MessageBody",
        "task (queue) "
        + add("MessageBody", "the message: a string, or a mapping or list sent as JSON"),
    ),
    missing(
        "lambda",
        "FunctionName",
        "task (lambda) " + add("FunctionName", "the function's name, ARN or alias ARN"),
    ),
    missing("batch", "jobName", "task (batch) " + add("jobName", "the job's name")),
    missing("batch", "jobQueue", "task (batch) " + add("jobQueue", "the job queue's name or ARN")),
    missing(
        "batch",
        "jobDefinition",
        "task (batch) " + add("jobDefinition", "the job definition: name, name:revision or ARN"),
    ),
    missing("athena", "QueryString", "task (athena) " + add("QueryString", "the SQL to run")),
    missing(
        "athena",
        "WorkGroup",
        "task (athena) is missing required key 'ResultConfiguration.OutputLocation' or "
        "'WorkGroup' (Athena needs somewhere to write results: an s3:// OutputLocation, or a "
        "WorkGroup that sets one)",
    ),
    missing("http", "url", "task (http) " + add("url", "the URL")),
    missing("http", "method", "task (http) " + add("method", "the HTTP method, in capitals")),
    missing("sns", "TopicArn", "task (sns) " + add("TopicArn", "the topic's ARN")),
    missing(
        "sns",
        "Message",
        "task (sns) " + add("Message", "the message: a string, or a mapping or list sent as JSON"),
    ),
    missing(
        "stepfunctions",
        "stateMachineArn",
        "task (stepfunctions) " + add("stateMachineArn", "the state machine's ARN"),
    ),
    missing("eventbridge", "Source", "task (eventbridge) " + add("Source", "the event's source")),
    missing(
        "eventbridge",
        "DetailType",
        "task (eventbridge) " + add("DetailType", "the event's detail-type"),
    ),
    missing(
        "eventbridge",
        "Detail",
        "task (eventbridge) " + add("Detail", "the event's detail, sent as JSON"),
    ),
    bad_task(
        "task without type",
        "jobName: j",
        4,
        "'task' is missing required key 'type' (add type: one of queue, lambda, batch, athena, "
        "http, sns, stepfunctions, eventbridge)",
    ),
]

WRONG = [
    wrong(
        "queue",
        "DelaySeconds: soon",
        8,
        "DelaySeconds of task (queue) must be an integer, got a string ('soon')",
    ),
    wrong(
        "queue",
        "MessageBody: 5",
        7,
        "MessageBody of task (queue) must be a string, a mapping or a list, got an integer (5)",
        drop="MessageBody",
    ),
    wrong(
        "queue",
        "QueueUrl: https://sqs.us-east-1.amazonaws.com/123456789012/q",
        4,
        "task (queue) has both 'QueueName' and 'QueueUrl' (they are alternatives: keep one of them)",
    ),
    wrong(
        "queue",
        "MessageAttributes: {a: {StringValue: x}}",
        8,
        "MessageAttributes.a of task (queue) is missing required key 'DataType' (add DataType: "
        "the type: String, Number or Binary, optionally with a .suffix)",
    ),
    wrong(
        "lambda",
        "Payload: 5",
        7,
        "Payload of task (lambda) must be a string, a mapping or a list, got an integer (5)",
    ),
    wrong(
        "lambda",
        "InvocationType: Async",
        7,
        "InvocationType of task (lambda) must be one of Event, RequestResponse, DryRun, "
        "got 'Async'",
    ),
    wrong(
        "batch",
        "parameters: {a: {b: 1}}",
        9,
        "parameters.a of task (batch) must be a string, a number or a boolean, got a mapping",
    ),
    wrong(
        "batch",
        "arrayProperties: {size: 1}",
        9,
        "arrayProperties.size of task (batch) must be between 2 and 10000, got 1",
    ),
    wrong("batch", "dependsOn: []", 9, "dependsOn of task (batch) must not be empty"),
    wrong(
        "batch",
        "jobQeue: x",
        9,
        "unknown key 'jobQeue' in task (batch) (did you mean 'jobQueue'?)",
    ),
    wrong(
        "batch",
        "QueueName: x",
        9,
        "unknown key 'QueueName' in task (batch) ('QueueName' is a key of queue tasks, not of "
        "batch tasks)",
    ),
    wrong(
        "batch",
        "retries: 3",
        9,
        "unknown key 'retries' in task (batch) ('retries' belongs at the top level of the task, "
        "next to task:)",
    ),
    wrong(
        "athena",
        "ExecutionParameters: {a: 1}",
        8,
        "ExecutionParameters of task (athena) must be a list, got a mapping",
    ),
    wrong(
        "athena",
        "ExecutionParameters: []",
        8,
        "ExecutionParameters of task (athena) must not be empty",
    ),
    wrong(
        "athena",
        "ResultConfiguration: {OutputLocation: /tmp/x}",
        7,
        "ResultConfiguration.OutputLocation of task (athena) '/tmp/x' is not valid "
        "(an s3://bucket/prefix/ location)",
        drop="WorkGroup",
    ),
    wrong("http", "headers: [a, b]", 8, "headers of task (http) must be a mapping, got a list"),
    wrong("http", "timeout: 0", 8, "timeout of task (http) must be between 1 and 300, got 0"),
    wrong("http", "timeout: 301", 8, "timeout of task (http) must be between 1 and 300, got 301"),
    wrong(
        "http",
        "method: post",
        7,
        "method of task (http) must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, got "
        "'post' (did you mean 'POST'?)",
        drop="method",
    ),
    wrong(
        "http",
        "expect_status: 700",
        8,
        "expect_status of task (http) must be between 100 and 599, got 700",
    ),
    wrong("http", "expect_status: []", 8, "expect_status of task (http) must not be empty"),
    wrong(
        "http",
        "url: ftp://example.com/x",
        7,
        "url of task (http) 'ftp://example.com/x' is not valid (an http:// or https:// URL, or a "
        "secret(...) reference)",
        drop="url",
    ),
    wrong(
        "http",
        "json: {a: 1}\nbody: x",
        4,
        "task (http) has both 'json' and 'body' (they are alternatives: keep one of them)",
    ),
    wrong(
        "sns",
        "TopicArn: my-topic",
        7,
        "TopicArn of task (sns) 'my-topic' is not valid (arn:aws:sns:REGION:ACCOUNT:TOPIC)",
        drop="TopicArn",
    ),
    wrong(
        "sns",
        "Subject: " + "s" * 101,
        8,
        "Subject of task (sns) must be at most 100 characters, got 101",
    ),
    wrong(
        "stepfunctions",
        "input: hello",
        7,
        "input of task (stepfunctions) must be a mapping, got a string ('hello')",
    ),
    wrong(
        "stepfunctions",
        "name: " + "n" * 81,
        7,
        "name of task (stepfunctions) must be at most 80 characters, got 81",
    ),
    wrong(
        "eventbridge",
        "Detail: hello",
        8,
        "Detail of task (eventbridge) must be a mapping, got a string ('hello')",
        drop="Detail",
    ),
    wrong("eventbridge", "Resources: []", 9, "Resources of task (eventbridge) must not be empty"),
    bad_task(
        "unknown type with a near miss",
        "type: baatch\njobName: j",
        5,
        "unknown task type 'baatch' (did you mean 'batch'? the types are queue, lambda, batch, "
        "athena, http, sns, stepfunctions, eventbridge)",
    ),
    bad_task(
        "type is not a string",
        "type: 5",
        5,
        "task type must be one of queue, lambda, batch, athena, http, sns, stepfunctions, "
        "eventbridge, got an integer (5)",
    ),
]

DAILY = 'name: t1\nexpression: "@daily"\n'
TOP = [
    top(
        "no name",
        'expression: "@daily"\n',
        2,
        "task " + add("name", "the task's name, unique in its environment"),
        path="build/dev/tasks/t.yml",
    ),
    top(
        "no expression",
        "name: t1\n",
        2,
        "task "
        + add(
            "expression",
            "when the task fires: a crontab line (minute hour day month weekday), a macro "
            "(@hourly @daily @midnight @weekly @monthly @yearly @annually), or H forms such as "
            "H(0-29)",
        ),
    ),
    top(
        "a name with a space",
        'name: "bad name"\nexpression: "@daily"\n',
        2,
        "name 'bad name' is not valid (a task name is 1 to 128 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit)",
        path="build/dev/tasks/t.yml",
    ),
    top(
        "a name that climbs out of build/",
        'name: "../../x"\nexpression: "@daily"\n',
        2,
        "name '../../x' is not valid (a task name is 1 to 128 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit)",
        path="build/dev/tasks/t.yml",
    ),
    top(
        "a number as name",
        'name: 5\nexpression: "@daily"\n',
        2,
        "name must be a string, got an integer (5)",
        path="build/dev/tasks/t.yml",
    ),
    top("retries above 10", DAILY + "retries: 11\n", 4, "retries must be between 0 and 10, got 11"),
    top("retries: true", DAILY + "retries: true\n", 4, "retries must be an integer, got true"),
    top(
        "enabled: a string",
        DAILY + 'enabled: "yes"\n',
        4,
        "enabled must be true or false, got a string ('yes')",
    ),
    top(
        "description: a list",
        DAILY + "description: [a]\n",
        4,
        "description must be a string, got a list",
    ),
    Case(
        "task: a string",
        {"templates/t.yml.j2": DAILY + "task: batch\n"},
        f"{OUT}:4: task must be a mapping, got a string ('batch'){SOURCE}",
    ),
    top(
        "time zone that does not exist",
        DAILY + "timezone: Mars/Olympus\n",
        4,
        "timezone 'Mars/Olympus' is not an IANA time zone (e.g. 'Europe/Madrid' or 'UTC')",
    ),
    top(
        "time zone misspelt",
        DAILY + "timezone: Europe/Madird\n",
        4,
        "timezone 'Europe/Madird' is not an IANA time zone (did you mean 'Europe/Madrid'?)",
    ),
    top(
        "time zone in lower case",
        DAILY + "timezone: europe/madrid\n",
        4,
        "timezone 'europe/madrid' is not an IANA time zone (did you mean 'Europe/Madrid'?)",
    ),
    top(
        "time zone as an offset",
        DAILY + 'timezone: "+02:00"\n',
        4,
        "timezone '+02:00' is not an IANA time zone (e.g. 'Europe/Madrid' or 'UTC')",
    ),
    top(
        "time zone as a number",
        DAILY + "timezone: 5\n",
        4,
        "timezone must be a string, got an integer (5)",
    ),
]

FIELDS = " (minute hour day month weekday)"
CRONS = [
    cron("60 * * * *", ": minute 60 is out of range 0-59"),
    cron("0 24 * * *", ": hour 24 is out of range 0-23"),
    cron("0 0 0 * *", ": day 0 is out of range 1-31"),
    cron("0 0 32 * *", ": day 32 is out of range 1-31"),
    cron("0 0 * 13 *", ": month 13 is out of range 1-12"),
    cron("0 0 * * 8", ": weekday 8 is out of range 0-7"),
    cron("1,,2 * * * *", ': minute "1,,2" has an empty list item'),
    cron("0 2 31 2 *", ": never fires (February has no 31st)"),
    cron("0 0 30 2 *", ": never fires (February has no 30th)"),
    cron(
        "0 0 31 4,6,9,11 *",
        ": never fires (April, June, September and November have no 31st)",
    ),
    cron(
        "0 17 5 * ? *",
        ' is an AWS EventBridge expression; lambdacron takes crontab: use "0 17 5 * *"',
    ),
    cron(
        "cron(0 17 5 * ? *)",
        ' is an AWS EventBridge expression; lambdacron takes crontab: use "0 17 5 * *"',
    ),
    cron(
        "rate(5 minutes)",
        ' is an AWS EventBridge expression; lambdacron takes crontab: use "*/5 * * * *"',
    ),
    cron(
        "@reboot",
        ": @reboot runs when a machine starts, and a scheduler never starts; give a time "
        'instead, e.g. "@daily" or "0 9 * * *"',
    ),
    cron(
        "@dialy",
        ": unknown macro @dialy (did you mean @daily?); the macros are @hourly @daily "
        "@midnight @weekly @monthly @yearly @annually",
    ),
    cron("*/0 * * * *", ': minute step 0 in "*/0" is out of range 1-59'),
    cron("*/90 * * * *", ': minute step 90 in "*/90" is out of range 1-59'),
    cron("H/0 * * * *", ': minute step 0 in "H/0" is out of range 1-59'),
    cron("5-1 * * * *", ': minute range 5-1 runs backwards; write "5-59,0-1"'),
    cron("* * * *", f": 4 fields; crontab takes 5{FIELDS}"),
    cron("0 0 * JANX *", ': month "JANX" is not a number or a name (JAN-DEC) (did you mean JAN?)'),
    cron("0 0 * * MON-FOO", ': weekday "FOO" is not a number or a name (SUN-SAT)'),
    cron("0 0 L * *", ': day "L": "L" (last) is EventBridge/Quartz syntax, not crontab'),
    cron(
        "0 0 * * 1#2",
        ': weekday "1#2": "#" (nth weekday of the month) is EventBridge/Quartz syntax, not crontab',
    ),
    top(
        "cron: empty",
        'name: t1\nexpression: ""\n',
        3,
        f"expression is empty; crontab takes 5 fields{FIELDS}",
    ),
    top(
        "cron: a number",
        "name: t1\nexpression: 5\n",
        3,
        'expression must be a crontab string, e.g. "0 17 5 * *", got an integer (5)',
    ),
    top(
        "cron: an empty list",
        "name: t1\nexpression: []\n",
        3,
        'expression must be a crontab string, e.g. "0 17 5 * *", got a list',
    ),
    top(
        "cron: null",
        "name: t1\nexpression:\n",
        3,
        'expression must be a crontab string, e.g. "0 17 5 * *", got null',
    ),
]

CASES = MISSING + WRONG + TOP + CRONS


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_tasks(tmp_path: Path, case: Case) -> None:
    check(tmp_path, case)


@pytest.mark.parametrize("kind", TYPES)
def test_each_case_breaks_one_valid_task(tmp_path: Path, kind: str) -> None:
    """Without its one defect, a case's task is valid: the defect is what the error is about."""
    build_project(tmp_path, {"templates/t.yml.j2": task(TYPES[kind])})
    result = invoke(["validate", "--env", "dev", "--project", str(tmp_path)])
    assert (result.exit_code, result.stderr) == (0, "env dev: 1 tasks valid\n")
