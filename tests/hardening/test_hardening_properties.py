"""Properties of the compiler over random valid projects: tasks of all eight types survive
render → manifest → load unchanged, and the digest depends on content only, not on key order,
document order or YAML style.

Projects are written as templates (block or flow YAML, some tasks coming through ``vars`` and
``| tojson``) into a temporary folder per example, and rendered by the real CLI.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdacron.build import TASK_DEFAULTS, build_env
from lambdacron.cronspec import expand_hash, has_hash
from lambdacron.project import find_project, load_env
from lambdacron.runtime.manifest import Manifest, Task, dumps, loads
from lambdacron.yamlio import load_documents
from tests.hardening.corpus import invoke

pytestmark = pytest.mark.hardening

Data = dict[str, Any]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- Writing YAML by hand: two styles, scalars always double-quoted JSON ----------------------

# Characters a YAML double-quoted scalar cannot hold literally (line breaks would be folded,
# the rest refused) and the ones Jinja would read as the start of a tag: written as \u escapes.
LINE_BREAKS = {0x85, 0x2028, 0x2029, 0xFEFF}
JINJA = set("{}%#")


def literal(char: str) -> bool:
    code = ord(char)
    if char in JINJA or code in LINE_BREAKS:
        return False
    return (
        0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code > 0xFFFF
    )


def scalar(value: Any) -> str:
    if isinstance(value, str):
        body = json.dumps(value, ensure_ascii=False)[1:-1]
        return '"' + "".join(c if literal(c) else f"\\u{ord(c):04x}" for c in body) + '"'
    return json.dumps(value)


def flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def block(value: Any, indent: int = 0) -> list[str]:
    """Block style for non-empty collections, flow for scalars and empty ones."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines += [f"{pad}{scalar(key)}:", *block(item, indent + 2)]
            else:
                lines.append(f"{pad}{scalar(key)}: {flow(item)}")
    else:
        for item in value:
            if isinstance(item, dict | list) and item:
                lines += [f"{pad}-", *block(item, indent + 2)]
            else:
                lines.append(f"{pad}- {flow(item)}")
    return lines


def shuffled(value: Any, rng: random.Random) -> Any:
    """``value`` with the keys of every mapping in another order (lists keep theirs)."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


# --- Valid tasks -------------------------------------------------------------------------------

free = st.text(max_size=12)
some = st.text(min_size=1, max_size=12)
ident = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}", fullmatch=True)
numbers = st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
scalars = free | numbers | st.booleans()
json_values = st.recursive(
    st.none() | scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(free, inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(free, json_values, max_size=3)
bodies = free | json_objects | st.lists(json_values, max_size=3)
ACCOUNT = "123456789012"


def optional(required: Mapping[str, Any], **more: Any) -> st.SearchStrategy[Data]:
    return st.fixed_dictionaries(dict(required), optional=more)


def one_or_both(first: Data, second: Data) -> st.SearchStrategy[Data]:
    return st.sampled_from([first, second, {**first, **second}])


attributes = st.dictionaries(
    ident,
    st.fixed_dictionaries(
        {"DataType": st.sampled_from(["String", "Number", "Binary", "String.custom"])},
        optional={"StringValue": free},
    ),
    max_size=2,
)


def queue() -> st.SearchStrategy[Data]:
    where = st.one_of(
        st.builds(
            lambda n: {"QueueName": n},
            st.from_regex(r"[A-Za-z0-9_-]{1,20}(\.fifo)?", fullmatch=True),
        ),
        st.builds(
            lambda n: {"QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{n}"}, ident
        ),
    )
    rest = optional(
        {"type": st.just("queue"), "MessageBody": bodies},
        DelaySeconds=st.integers(0, 900),
        MessageGroupId=some,
        MessageDeduplicationId=some,
        MessageAttributes=attributes,
    )
    return st.builds(lambda a, b: {**b, **a}, where, rest)


def lambda_() -> st.SearchStrategy[Data]:
    name = ident | ident.map(lambda n: f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{n}:live")
    payload = st.sampled_from(["Payload", "InvokeArgs"])
    base = optional(
        {"type": st.just("lambda"), "FunctionName": name},
        InvocationType=st.sampled_from(["Event", "RequestResponse", "DryRun"]),
        Qualifier=st.from_regex(r"\$LATEST|[A-Za-z0-9_-]{1,10}", fullmatch=True),
    )
    with_payload = st.builds(lambda b, k, p: {**b, k: p}, base, payload, bodies)
    return base | with_payload


def batch() -> st.SearchStrategy[Data]:
    return optional(
        {
            "type": st.just("batch"),
            "jobName": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,30}", fullmatch=True),
            "jobQueue": some,
            "jobDefinition": some,
        },
        parameters=st.dictionaries(free, scalars, max_size=3),
        containerOverrides=json_objects,
        arrayProperties=st.fixed_dictionaries({"size": st.integers(2, 10000)}),
        dependsOn=st.lists(json_objects, min_size=1, max_size=2),
        retryStrategy=st.fixed_dictionaries({}, optional={"attempts": st.integers(1, 10)}),
        timeout=st.fixed_dictionaries({"attemptDurationSeconds": st.integers(60, 10**6)}),
        tags=st.dictionaries(free, scalars, max_size=3),
        propagateTags=st.booleans(),
    )


def athena() -> st.SearchStrategy[Data]:
    location = st.builds(
        lambda b, p: {"ResultConfiguration": {"OutputLocation": f"s3://{b}/{p}"}},
        st.from_regex(r"[a-z0-9][a-z0-9.-]{2,20}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9/_.-]{0,20}", fullmatch=True),
    )
    where = st.builds(
        lambda loc, group, pick: [loc, {"WorkGroup": group}, {**loc, "WorkGroup": group}][pick],
        location,
        some,
        st.integers(0, 2),
    )
    rest = optional(
        {"type": st.just("athena"), "QueryString": some},
        QueryExecutionContext=st.fixed_dictionaries(
            {}, optional={"Database": some, "Catalog": some}
        ),
        ExecutionParameters=st.lists(scalars, min_size=1, max_size=3),
    )
    return st.builds(lambda a, b: {**b, **a}, where, rest)


def http() -> st.SearchStrategy[Data]:
    content = st.one_of(
        st.just({}),
        st.builds(lambda v: {"json": v}, json_values.filter(lambda v: v is not None)),
        st.builds(lambda v: {"body": v}, free),
    )
    rest = optional(
        {
            "type": st.just("http"),
            "url": st.from_regex(r"https?://\S{1,30}", fullmatch=True),
            "method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
        },
        headers=st.dictionaries(free, scalars, max_size=3),
        params=st.dictionaries(free, scalars | st.lists(scalars, max_size=2), max_size=3),
        timeout=st.integers(1, 300) | st.floats(1, 300),
        expect_status=st.integers(100, 599)
        | st.lists(st.integers(100, 599), min_size=1, max_size=3),
    )
    return st.builds(lambda c, r: {**r, **c}, content, rest)


def sns() -> st.SearchStrategy[Data]:
    return optional(
        {
            "type": st.just("sns"),
            "TopicArn": st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True).map(
                lambda t: f"arn:aws:sns:eu-west-1:{ACCOUNT}:{t}"
            ),
            "Message": bodies,
        },
        Subject=st.text(min_size=1, max_size=100),
        MessageAttributes=attributes,
        MessageGroupId=some,
    )


def stepfunctions() -> st.SearchStrategy[Data]:
    return optional(
        {
            "type": st.just("stepfunctions"),
            "stateMachineArn": ident.map(
                lambda m: f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{m}"
            ),
        },
        input=json_objects,
        name=st.text(min_size=1, max_size=80),
    )


def eventbridge() -> st.SearchStrategy[Data]:
    return optional(
        {
            "type": st.just("eventbridge"),
            "Source": some,
            "DetailType": some,
            "Detail": json_objects,
        },
        EventBusName=some,
        Resources=st.lists(some, min_size=1, max_size=3),
    )


TARGETS: dict[str, Callable[[], st.SearchStrategy[Data]]] = {
    "queue": queue,
    "lambda": lambda_,
    "batch": batch,
    "athena": athena,
    "http": http,
    "sns": sns,
    "stepfunctions": stepfunctions,
    "eventbridge": eventbridge,
}
targets = st.one_of(*(make() for make in TARGETS.values()))

EXPRESSIONS = [
    "0 17 5 * *",
    "*/5 * * * *",
    "@daily",
    "@annually",
    "H H * * *",
    "H(0-29)/10 9-17 * * 1-5",
    "0 9 * jan-Mar/2 SUN",
    "15 */4 1,15 * *",
    "0 0 29 2 *",
    " 0\t0  * * FRI-SUN ",
]
expressions = st.sampled_from(EXPRESSIONS) | st.builds(
    "{} {} {} * *".format, st.integers(0, 59), st.integers(0, 23), st.integers(1, 28)
)
ZONES = ["UTC", "Europe/Madrid", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]
settings_ = {
    "timezone": st.sampled_from(ZONES),
    "enabled": st.booleans(),
    "retries": st.integers(0, 10),
}


def task_documents() -> st.SearchStrategy[list[Data]]:
    """1 to 4 tasks with names unique in the env, also after case folding."""
    one = st.fixed_dictionaries(
        {
            "name": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
            "expression": expressions,
            "task": targets,
        },
        optional={**settings_, "description": free},
    )
    return st.lists(one, min_size=1, max_size=4, unique_by=lambda t: str(t["name"]).casefold())


defaults = st.fixed_dictionaries({}, optional=settings_)


# --- Projects ------------------------------------------------------------------------------------


def env_file(defaults_: Data, variables: Data) -> str:
    return "\n".join(block({"defaults": defaults_, "vars": variables})) + "\n"


def write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def expected_task(document: Data, defaults_: Data, source: str) -> Task:
    merged = {**TASK_DEFAULTS, **defaults_, **document}
    # what runs: H made concrete and white space folded; the line as written is kept for H only
    expression = expand_hash(merged["expression"], f"dev/{merged['name']}")
    extra = {"expression_source": merged["expression"]} if has_hash(merged["expression"]) else {}
    return Task(
        name=merged["name"],
        expression=expression,
        timezone=merged["timezone"],
        target=merged["task"],
        enabled=merged["enabled"],
        retries=merged["retries"],
        description=merged.get("description"),
        source=source,
        extra=extra,
    )


def bmp(value: Any) -> bool:
    """Whether every character of ``value`` is in the Basic Multilingual Plane."""
    return all(ord(c) <= 0xFFFF for c in json.dumps(value, ensure_ascii=False))


@PROPERTY
@given(
    documents=task_documents(),
    defaults_=defaults,
    styles=st.lists(st.sampled_from(["block", "flow", "vars"]), min_size=4, max_size=4),
)
def test_valid_tasks_survive_render_manifest_and_load(
    documents: list[Data], defaults_: Data, styles: list[str]
) -> None:
    """Each task in its own template, written in one of three ways: block YAML, flow YAML, or
    its ``task:`` mapping handed over in ``vars`` and written back with ``| tojson``."""
    files: dict[str, str] = {}
    variables: Data = {}
    for index, (document, style) in enumerate(zip(documents, styles, strict=False)):
        # Jinja's tojson writes characters beyond the BMP as surrogate pairs, which YAML
        # refuses (reported to the lead): such a task is written literally instead.
        if style == "vars" and bmp(document["task"]):
            variables[f"target{index}"] = document["task"]
            top = {k: v for k, v in document.items() if k != "task"}
            text = "\n".join(block(top)) + f"\ntask: {{{{ target{index} | tojson }}}}\n"
        elif style == "flow":
            text = flow(document) + "\n"
        else:
            text = "\n".join(block(document)) + "\n"
        files[f"templates/t{index}.yml.j2"] = text
    files["envs/dev.yml"] = env_file(defaults_, variables)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write(root, files)
        result = invoke(["render", "--env", "dev", "--project", folder])
        assert result.exit_code == 0, result.output
        raw = (root / "build/dev/manifest.json").read_bytes()
        rendered = {
            path.stem: load_documents(path.read_text(encoding="utf-8"))[0].data
            for path in (root / "build/dev/tasks").iterdir()
        }
    manifest = loads(raw)
    expected = sorted(
        (
            expected_task(document, defaults_, f"templates/t{index}.yml.j2")
            for index, document in enumerate(documents)
        ),
        key=lambda task: task.name,
    )
    assert list(manifest.tasks) == expected
    assert loads(dumps(manifest)) == manifest
    # the rendered files hold what the templates wrote, before defaults are merged
    assert rendered == {document["name"]: document for document in documents}


def digest_of(root: Path) -> Manifest:
    project = find_project(root)
    return build_env(project, load_env(project, "dev")).manifest


@PROPERTY
@given(documents=task_documents(), seed=st.integers(0, 2**32 - 1))
def test_the_digest_ignores_key_order_document_order_and_style(
    documents: list[Data], seed: int
) -> None:
    """One template holding every task: block style in one project; in the other, flow style
    with every mapping's keys shuffled, the documents in another order, an empty document,
    comments and blank lines. Same tasks, same digest; one retry more, another digest."""
    rng = random.Random(seed)
    plain = "".join("---\n" + "\n".join(block(d)) + "\n" for d in documents)
    others = [shuffled(d, rng) for d in documents]
    rng.shuffle(others)
    noisy = "# every task\n---\n\n" + "".join(
        f"---\n{{# task {i} #}}\n\n{flow(d)}\n# end\n" for i, d in enumerate(others)
    )
    changed = [dict(documents[0], retries=(documents[0].get("retries", 2) + 1) % 11)]
    changed += documents[1:]
    bumped = "".join("---\n" + "\n".join(block(d)) + "\n" for d in changed)
    found: list[Manifest] = []
    with tempfile.TemporaryDirectory() as folder:
        for index, text in enumerate([plain, noisy, bumped]):
            root = Path(folder) / str(index)
            write(root, {"envs/dev.yml": "", "templates/all.yml.j2": text})
            found.append(digest_of(root))
    first, second, third = found
    assert first.digest == second.digest
    assert first.tasks == second.tasks
    assert third.digest != first.digest
    assert replace(first, digest="").with_digest().digest == first.digest


def test_the_yaml_writer_round_trips_through_the_compiler_loader() -> None:
    value = {"a": ["{{ x }}", "100%", "#", "\u2028", "\x00", "\N{GRINNING FACE}", {}], "b": {}}
    assert load_documents("\n".join(block(value)))[0].data == value
    assert load_documents(flow(value))[0].data == value
