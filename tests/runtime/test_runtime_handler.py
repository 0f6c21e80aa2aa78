"""The scheduler handler, end to end: manifests in a file store, HTTP targets on a local server,
the state table and the DLQ in moto. Each test invokes ``handler.handler`` as Lambda would."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdacron.runtime import handler
from lambdacron.runtime.errors import ManifestError, StoreError
from lambdacron.runtime.handler import Config, EventError, batches, window
from lambdacron.runtime.manifest import Manifest, Task, dumps
from lambdacron.runtime.placeholders import placeholder
from lambdacron.runtime.state import TABLE_KEY, TABLE_KEY_TYPE, State
from lambdacron.runtime.store import FileStore, S3Store
from tests.conftest import REPO
from tests.runtime.faults import Tally, event, http_task, publish, runs_at, tally

DEAD_URL = "http://127.0.0.1:9"  # nothing listens: connection refused, a transient failure
SECRET = "s3cr3t-Value-42"


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(autouse=True)
def cold_start() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileStore:
    root = tmp_path / "store"
    monkeypatch.setenv("LAMBDACRON_STORE", root.as_uri())
    monkeypatch.setenv("LAMBDACRON_ENV", "prod")
    return FileStore(root)


@pytest.fixture
def table(aws: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    boto3.client("dynamodb").create_table(
        TableName="state",
        AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": TABLE_KEY_TYPE}],
        KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("LAMBDACRON_STATE_TABLE", "state")
    return "state"


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def events_named(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == name]


# ---------------------------------------------------------------------------------------------
# Pure parts


@pytest.mark.parametrize(
    ("last", "tick", "bound", "expected"),
    [
        (None, 100, 60, (100, 100, 0)),  # no state: the tick alone
        (99, 100, 60, (100, 100, 0)),  # on time
        (96, 100, 60, (97, 100, 0)),  # three missed minutes caught up
        (100, 100, 60, (101, 100, 0)),  # duplicate: nothing left
        (105, 100, 60, (101, 100, 0)),  # a late event whose minute a later tick already covered
        (10, 100, 60, (40, 100, 29)),  # beyond the bound: 29 minutes dropped
        (10, 100, 0, (100, 100, 89)),  # no catch-up at all
    ],
)
def test_window(last: int | None, tick: int, bound: int, expected: tuple[int, int, int]) -> None:
    assert window(last, tick, bound) == expected


def test_batches_split_by_size_and_never_span_minutes() -> None:
    a, b, c = (Task(n, "* * * * *", "UTC", {"type": "http"}) for n in "abc")
    pairs = [(a, 1), (b, 1), (c, 1), (a, 2), (b, 2)]
    assert batches(pairs, 2) == [[(a, 1), (b, 1)], [(c, 1)], [(a, 2), (b, 2)]]
    assert batches([], 2) == []


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAMBDACRON_ENV": "prod"}, "LAMBDACRON_STORE not set"),
        ({"LAMBDACRON_STORE": "s3://b"}, "LAMBDACRON_ENV not set"),
        (
            {
                "LAMBDACRON_STORE": "s3://b",
                "LAMBDACRON_ENV": "p",
                "LAMBDACRON_MAX_CATCHUP_MINUTES": "1h",
            },
            "LAMBDACRON_MAX_CATCHUP_MINUTES='1h' is not a whole number >= 0 "
            "(e.g. LAMBDACRON_MAX_CATCHUP_MINUTES=60)",
        ),
    ],
)
def test_config_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(EventError) as caught:
        Config.from_environ(environ)
    assert message in str(caught.value)


def test_config_defaults_and_values() -> None:
    assert Config.from_environ(
        {"LAMBDACRON_STORE": "s3://b/p", "LAMBDACRON_ENV": "prod"}
    ) == Config(store="s3://b/p", env="prod", max_catchup=60, fanout_threshold=500)
    config = Config.from_environ(
        {
            "LAMBDACRON_STORE": "s3://b/p",
            "LAMBDACRON_ENV": "prod",
            "LAMBDACRON_STATE_TABLE": "t",
            "LAMBDACRON_DLQ_URL": "https://sqs/dlq",
            "LAMBDACRON_MAX_CATCHUP_MINUTES": "5",
            "LAMBDACRON_FANOUT_THRESHOLD": "0",
            "AWS_LAMBDA_FUNCTION_NAME": "lambdacron-prod",
        }
    )
    assert (config.state_table, config.dlq_url, config.max_catchup) == ("t", "https://sqs/dlq", 5)
    assert (config.fanout_threshold, config.function_name) == (0, "lambdacron-prod")


# ---------------------------------------------------------------------------------------------
# Ticks


def test_late_event_fires_what_was_due_at_its_own_time(store: FileStore, http_server: Any) -> None:
    publish(
        store,
        http_task("at-1700", "0 17 * * *", http_server.url),
        http_task("at-1701", "1 17 * * *", http_server.url),
        Task(
            "disabled", "* * * * *", "UTC", {"type": "http", "url": http_server.url}, enabled=False
        ),
    )
    # Delivered 42 s late (and handled whenever the test runs): the event's minute counts.
    summary = handler.handler(event("2026-12-05T17:00:42Z"), None)

    assert runs_at(http_server) == [("at-1700", "2026-12-05T17:00")]
    assert summary["manifest_version"] == 1
    assert summary["tick"] == "2026-12-05T17:00:00Z"
    assert summary["minutes"] == ["2026-12-05T17:00:00Z"]
    assert [(o["task"], o["status"], o["response_id"]) for o in summary["outcomes"]] == [
        ("at-1700", "fired", "200")
    ]
    assert summary["counts"] == {
        "due": 1,
        "fired": 1,
        "failed": 0,
        "duplicates": 0,
        "skipped": 0,
        "delegated": 0,
    }


def test_log_lines_per_task_and_metrics(
    store: FileStore, http_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(store, http_task("report", "0 17 * * *", http_server.url))
    handler.handler(event("2026-12-05T17:00:00Z"), None)
    lines = log_lines(capsys)

    (line,) = events_named(lines, "task_fired")
    assert line["level"] == "info"
    assert line["env"] == "prod" and line["manifest_version"] == 1
    assert (line["task"], line["scheduled"], line["status"]) == (
        "report",
        "2026-12-05T17:00:00Z",
        "fired",
    )
    assert line["response_id"] == "200" and line["attempts"] == 1
    assert isinstance(line["duration_ms"], int)
    (metrics,) = events_named(lines, "metrics")
    assert (metrics["due"], metrics["fired"], metrics["failed"], metrics["duplicates"]) == (
        1,
        1,
        0,
        0,
    )
    assert metrics["lag_seconds"] >= 0
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "lambdacron"
    (loaded,) = events_named(lines, "manifest_loaded")
    assert loaded["manifest_version"] == 1 and loaded["tasks"] == 1


def test_duplicated_event_fires_nothing_twice_in_a_warm_container(
    store: FileStore, http_server: Any
) -> None:
    publish(store, http_task("report", "0 17 * * *", http_server.url))
    first = handler.handler(event("2026-12-05T17:00:00Z"), None)
    again = handler.handler(event("2026-12-05T17:00:00Z"), None)
    assert runs_at(http_server) == [("report", "2026-12-05T17:00")]
    assert first["counts"]["fired"] == 1
    assert again["counts"] == {**first["counts"], "fired": 0, "duplicates": 1}


def test_duplicated_event_fires_nothing_twice_across_containers(
    store: FileStore, table: str, http_server: Any
) -> None:
    publish(store, http_task("report", "0 17 * * *", http_server.url))
    handler.handler(event("2026-12-05T17:00:00Z"), None)
    handler.reset()  # the duplicate lands on another container
    again = handler.handler(event("2026-12-05T17:00:00Z"), None)
    assert runs_at(http_server) == [("report", "2026-12-05T17:00")]
    assert again["minutes"] == []  # the marker says 17:00 is done
    assert again["counts"]["fired"] == 0


class Together:
    """A state whose invocations wait for each other once they have read the last processed
    minute: containers that all evaluate the same minute at the same time."""

    def __init__(self, state: State, barrier: threading.Barrier) -> None:
        self.state = state
        self.barrier = barrier

    def claim(self, task_name: str, minute: int, execution_id: str) -> bool:
        return self.state.claim(task_name, minute, execution_id)

    def last_processed(self) -> int | None:
        minute = self.state.last_processed()
        self.barrier.wait()
        return minute

    def set_processed(self, minute: int) -> None:
        self.state.set_processed(minute)


@pytest.mark.hardening
def test_concurrent_duplicates_across_containers_fire_once(
    store: FileStore, table: str, http_server: Any
) -> None:
    publish(store, *(http_task(f"t{i}", "0 17 * * *", http_server.url) for i in range(6)))
    containers = [handler.from_config(Config.from_environ(os.environ)) for _ in range(3)]
    barrier = threading.Barrier(3)
    for container in containers:
        container.state = Together(container.state, barrier)
    results: list[dict[str, Any]] = []

    def invoke(scheduler: handler.Scheduler) -> None:
        results.append(scheduler.handle(event("2026-12-05T17:00:00Z")))

    threads = [threading.Thread(target=invoke, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 3 containers x 6 runs: each run's claim is granted once, and DynamoDB's conditional check
    # refuses the other two, which count as duplicates, not failures.
    expected = [(f"t{i}", "2026-12-05T17:00") for i in range(6)]
    assert tally(results, expected, runs_at(http_server)) == Tally(
        due=18, fired=6, failed=0, duplicates=12, lost=0
    )
    assert sorted(runs_at(http_server)) == expected


def test_missed_minutes_are_caught_up_with_a_state_table(
    store: FileStore, table: str, http_server: Any
) -> None:
    publish(store, http_task("every", "* * * * *", http_server.url))
    handler.handler(event("2026-12-05T17:00:00Z"), None)
    # 17:01 and 17:02 never came (an EventBridge hiccup); 17:03 evaluates them too.
    summary = handler.handler(event("2026-12-05T17:03:00Z"), None)
    assert sorted(runs_at(http_server)) == [
        ("every", "2026-12-05T17:00"),
        ("every", "2026-12-05T17:01"),
        ("every", "2026-12-05T17:02"),
        ("every", "2026-12-05T17:03"),
    ]
    assert summary["minutes"] == [
        "2026-12-05T17:01:00Z",
        "2026-12-05T17:02:00Z",
        "2026-12-05T17:03:00Z",
    ]
    assert summary["counts"]["fired"] == 3
    # the late 17:01 event arrives at last: its minute is done, nothing fires
    assert handler.handler(event("2026-12-05T17:01:00Z"), None)["minutes"] == []
    assert len(http_server.requests) == 4


def test_without_a_state_table_only_the_tick_is_evaluated(
    store: FileStore, http_server: Any
) -> None:
    publish(store, http_task("every", "* * * * *", http_server.url))
    handler.handler(event("2026-12-05T17:00:00Z"), None)
    summary = handler.handler(event("2026-12-05T17:03:00Z"), None)
    assert summary["minutes"] == ["2026-12-05T17:03:00Z"]
    assert runs_at(http_server) == [("every", "2026-12-05T17:00"), ("every", "2026-12-05T17:03")]


def test_catch_up_is_bounded_and_the_drop_is_logged(
    store: FileStore,
    table: str,
    http_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LAMBDACRON_MAX_CATCHUP_MINUTES", "2")
    publish(store, http_task("every", "* * * * *", http_server.url))
    handler.handler(event("2026-12-05T17:00:00Z"), None)
    summary = handler.handler(event("2026-12-05T17:10:00Z"), None)
    assert summary["minutes"] == [
        "2026-12-05T17:08:00Z",
        "2026-12-05T17:09:00Z",
        "2026-12-05T17:10:00Z",
    ]
    assert summary["dropped_minutes"] == 7
    assert sorted(at for _, at in runs_at(http_server)) == [
        "2026-12-05T17:00",
        "2026-12-05T17:08",
        "2026-12-05T17:09",
        "2026-12-05T17:10",
    ]
    (dropped,) = events_named(log_lines(capsys), "catchup_dropped")
    assert dropped["level"] == "warning"
    assert (dropped["first_dropped"], dropped["last_dropped"]) == (
        "2026-12-05T17:01:00Z",
        "2026-12-05T17:07:00Z",
    )


def test_failing_target_is_retried_then_dead_lettered_while_others_fire(
    store: FileStore, aws: Any, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="lambdacron-dlq")["QueueUrl"]
    monkeypatch.setenv("LAMBDACRON_DLQ_URL", dlq)
    broken = http_task("broken", "0 17 * * *", DEAD_URL, retries=1)
    publish(
        store,
        http_task("first", "0 17 * * *", http_server.url),
        broken,
        http_task("last", "0 17 * * *", http_server.url),
    )
    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)

    assert sorted(runs_at(http_server)) == [
        ("first", "2026-12-05T17:00"),
        ("last", "2026-12-05T17:00"),
    ]
    outcome = {o["task"]: o for o in summary["outcomes"]}["broken"]
    assert (outcome["status"], outcome["attempts"], outcome["dlq"]) == ("failed", 2, True)
    assert "ConnectionError" in outcome["error"]
    assert summary["counts"]["fired"] == 2 and summary["counts"]["failed"] == 1
    (message,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert (body["env"], body["task"], body["scheduled"], body["attempts"]) == (
        "prod",
        "broken",
        "2026-12-05T17:00:00Z",
        2,
    )
    assert body["execution_id"].startswith("broken-20261205T1700Z-")
    assert body["request"]["url"] == f"{DEAD_URL}/broken"
    assert body["request"]["json"] == {"task": "broken", "at": "2026-12-05T17:00"}


def test_secrets_never_appear_in_logs_or_summaries(
    store: FileStore, aws: Any, http_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ssm").put_parameter(Name="/app/token", Value=SECRET, Type="SecureString")
    secret = placeholder("secret", "ssm:/app/token")
    publish(
        store,
        http_task(
            "uses", "0 17 * * *", http_server.url, headers={"Authorization": f"Bearer {secret}"}
        ),
        # fails, with the secret in the URL its error message quotes
        http_task("leaks", "0 17 * * *", f"{DEAD_URL}/{secret}", retries=0),
    )
    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)
    output = capsys.readouterr()

    assert http_server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    failed = {o["task"]: o for o in summary["outcomes"]}["leaks"]
    assert failed["status"] == "failed" and "***" in failed["error"]
    assert SECRET not in output.out + output.err
    assert SECRET not in json.dumps(summary)
    assert any(json.loads(line).get("event") == "task_failed" for line in output.out.splitlines())


# ---------------------------------------------------------------------------------------------
# Manifests


def tampered(manifest: Manifest) -> bytes:
    data = json.loads(dumps(manifest))
    data["tasks"][0]["retries"] = 9  # an edit by hand: the digest no longer matches
    return json.dumps(data).encode()


def test_wrong_digest_is_refused_at_cold_start_and_a_retry_succeeds(
    store: FileStore, http_server: Any
) -> None:
    good = publish(store, http_task("report", "0 17 * * *", http_server.url))
    live = store.root / "prod" / "manifest.json"
    live.write_bytes(tampered(good))

    with pytest.raises(ManifestError) as caught:
        handler.handler(event("2026-12-05T17:00:00Z"), None)
    assert str(caught.value).startswith(
        f"{live}: digest mismatch: the manifest says {good.digest!r} but its tasks hash to "
    )
    assert http_server.requests == []

    live.write_bytes(dumps(good))  # repaired: the platform's retry of the same event succeeds
    assert handler.handler(event("2026-12-05T17:00:00Z"), None)["counts"]["fired"] == 1


def test_nothing_published_fails_loudly(
    store: FileStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ManifestError, match="nothing has been published for env prod"):
        handler.handler(event("2026-12-05T17:00:00Z"), None)
    (failed,) = events_named(log_lines(capsys), "invocation_failed")
    assert failed["level"] == "error" and failed["error_type"] == "ManifestError"
    assert "lambdacron publish --env prod" in failed["error"]


def test_missing_configuration_fails_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(EventError, match="LAMBDACRON_STORE and LAMBDACRON_ENV not set"):
        handler.handler(event("2026-12-05T17:00:00Z"), None)
    (failed,) = events_named(log_lines(capsys), "invocation_failed")
    assert failed["error_type"] == "EventError"


def test_unreachable_store_at_cold_start_raises(
    monkeypatch: pytest.MonkeyPatch, store: FileStore
) -> None:
    monkeypatch.setenv("LAMBDACRON_STORE", "s3://lambdacron-manifests/prod")
    with pytest.raises(StoreError, match="cannot reach S3"):
        handler.handler(event("2026-12-05T17:00:00Z"), None)


def deleted(path: Path, manifest: Manifest) -> None:
    path.unlink()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p, m: p.write_bytes(tampered(m)), id="wrong-digest"),
        pytest.param(lambda p, m: p.write_bytes(dumps(m)[:100]), id="truncated"),
        pytest.param(lambda p, m: p.write_bytes(b"\x00garbage"), id="garbage"),
        pytest.param(deleted, id="deleted"),
    ],
)
def test_warm_container_keeps_the_last_good_manifest(
    store: FileStore, http_server: Any, capsys: pytest.CaptureFixture[str], damage: Any
) -> None:
    good = publish(store, http_task("report", "* * * * *", http_server.url))
    handler.handler(event("2026-12-05T17:00:00Z"), None)
    damage(store.root / "prod" / "manifest.json", good)

    summary = handler.handler(event("2026-12-05T17:01:00Z"), None)

    assert summary["manifest_version"] == 1
    assert runs_at(http_server) == [("report", "2026-12-05T17:00"), ("report", "2026-12-05T17:01")]
    (rejected,) = events_named(log_lines(capsys), "manifest_rejected")
    assert rejected["level"] == "error"
    assert rejected["kept_version"] == 1
    assert rejected["source"] == str(store.root / "prod" / "manifest.json")


def test_s3_store_cold_start_failure_then_retry_then_new_version(
    aws: Any, http_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAMBDACRON_STORE", "s3://manifests/lambdacron")
    monkeypatch.setenv("LAMBDACRON_ENV", "prod")
    with pytest.raises(StoreError, match="bucket 'manifests' does not exist"):
        handler.handler(event("2026-12-05T17:00:00Z"), None)

    boto3.client("s3").create_bucket(Bucket="manifests")
    s3 = S3Store("manifests", "lambdacron")
    v1 = dumps(Manifest("prod", (http_task("old", "* * * * *", http_server.url),), 1).with_digest())
    tag = s3.replace_live("prod", v1, None)
    assert handler.handler(event("2026-12-05T17:00:00Z"), None)["manifest_version"] == 1
    assert handler.handler(event("2026-12-05T17:01:00Z"), None)["manifest_version"] == 1

    v2 = dumps(Manifest("prod", (http_task("new", "* * * * *", http_server.url),), 2).with_digest())
    s3.replace_live("prod", v2, tag)
    assert handler.handler(event("2026-12-05T17:02:00Z"), None)["manifest_version"] == 2
    assert runs_at(http_server) == [
        ("old", "2026-12-05T17:00"),
        ("old", "2026-12-05T17:01"),
        ("new", "2026-12-05T17:02"),
    ]
    loaded = events_named(log_lines(capsys), "manifest_loaded")
    assert [line["manifest_version"] for line in loaded] == [1, 2]  # unchanged: not re-parsed


def test_manifest_for_another_env_is_refused(store: FileStore, http_server: Any) -> None:
    manifest = Manifest(env="dev", tasks=(http_task("r", "* * * * *", http_server.url),), version=1)
    (store.root / "prod").mkdir(parents=True)
    (store.root / "prod" / "manifest.json").write_bytes(dumps(manifest.with_digest()))
    with pytest.raises(ManifestError, match="the manifest is for env 'dev', not 'prod'"):
        handler.handler(event("2026-12-05T17:00:00Z"), None)


def test_a_newer_version_is_picked_up_without_a_cold_start(
    store: FileStore, http_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(store, http_task("old", "* * * * *", http_server.url))
    assert handler.handler(event("2026-12-05T17:00:00Z"), None)["manifest_version"] == 1
    scheduler = handler._scheduler
    publish(store, http_task("new", "* * * * *", http_server.url), version=2)

    summary = handler.handler(event("2026-12-05T17:01:00Z"), None)

    assert handler._scheduler is scheduler  # same container, no cold start
    assert summary["manifest_version"] == 2
    assert runs_at(http_server) == [("old", "2026-12-05T17:00"), ("new", "2026-12-05T17:01")]
    loaded = events_named(log_lines(capsys), "manifest_loaded")
    assert [(line["manifest_version"], line["previous_version"]) for line in loaded] == [
        (1, None),
        (2, 1),
    ]


# ---------------------------------------------------------------------------------------------
# Run events and odd events


def test_run_event_fires_the_task_now(store: FileStore, http_server: Any) -> None:
    publish(store, http_task("monthly", "0 17 5 * *", http_server.url))
    summary = handler.handler({"lambdacron": {"run": "monthly"}}, None)
    (outcome,) = summary["outcomes"]
    assert outcome["status"] == "fired"
    ((task, at),) = runs_at(http_server)
    assert task == "monthly" and at == outcome["scheduled"][:16]
    # a second run by hand is meant to fire again: runs are not claimed
    handler.handler({"lambdacron": {"run": "monthly"}}, None)
    assert len(http_server.requests) == 2


def test_run_event_at_a_given_time(store: FileStore, http_server: Any) -> None:
    publish(store, http_task("monthly", "0 17 5 * *", http_server.url))
    summary = handler.handler(
        {"lambdacron": {"run": "monthly", "at": "2026-12-05T12:00-05:00"}}, None
    )
    assert summary["minutes"] == ["2026-12-05T17:00:00Z"]
    assert runs_at(http_server) == [("monthly", "2026-12-05T17:00")]


def test_run_event_for_an_unknown_task_is_an_error_summary(
    store: FileStore, http_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(store, http_task("monthly", "0 17 5 * *", http_server.url))
    summary = handler.handler({"lambdacron": {"run": "montly"}}, None)
    assert summary["error"] == ("no task 'montly' in env prod (manifest version 1); tasks: monthly")
    assert summary["outcomes"] == [] and http_server.requests == []
    assert events_named(log_lines(capsys), "run_unknown_task")[0]["level"] == "error"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"detail-type": "Scheduled Event"}, "not a scheduled event (no 'time')"),
        ("ping", "not a scheduled event (no 'time')"),
        ({"time": "yesterday"}, "time 'yesterday' is not an ISO 8601 time"),
        ({"lambdacron": {"walk": "x"}}, 'has neither "run" nor "batch"'),
        ({"lambdacron": {"batch": {"tasks": "x"}}}, 'a batch needs "minute" (ISO)'),
    ],
)
def test_events_it_does_not_understand_raise(
    store: FileStore, http_server: Any, bad: Any, message: str
) -> None:
    publish(store, http_task("every", "* * * * *", http_server.url))
    with pytest.raises(EventError) as caught:
        handler.handler(bad, None)
    assert message in str(caught.value)
    assert http_server.requests == []


# ---------------------------------------------------------------------------------------------
# Faults half-way


class Timeout(BaseException):
    """What Lambda's timeout amounts to: the invocation stops, whatever it was doing."""


class DiesAfter:
    """A state whose invocation dies once ``granted`` claims went through."""

    def __init__(self, state: State, granted: int) -> None:
        self.state = state
        self.left = granted
        self.lock = threading.Lock()

    def claim(self, task_name: str, minute: int, execution_id: str) -> bool:
        with self.lock:
            if self.left == 0:
                raise Timeout()
            self.left -= 1
        return self.state.claim(task_name, minute, execution_id)

    def last_processed(self) -> int | None:
        return self.state.last_processed()

    def set_processed(self, minute: int) -> None:
        self.state.set_processed(minute)


@pytest.mark.hardening
def test_an_invocation_that_dies_half_way_and_is_retried_fires_nothing_twice(
    store: FileStore, table: str, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMBDACRON_MAX_WORKERS", "2")
    names = [f"t{i}" for i in range(8)]
    publish(store, *(http_task(name, "0 17 * * *", http_server.url) for name in names))
    dying = handler.from_config(Config.from_environ(os.environ))
    dying.state = DiesAfter(dying.state, granted=3)

    with pytest.raises(Timeout):
        dying.handle(event("2026-12-05T17:00:00Z"))
    assert len(http_server.requests) == 3

    # The platform retries the event, on a fresh container.
    retry = handler.handler(event("2026-12-05T17:00:00Z"), None)

    expected = [(name, "2026-12-05T17:00") for name in names]
    assert sorted(runs_at(http_server)) == expected
    # the 3 fired before the timeout are the retry's duplicates; no run is lost or fired twice
    assert tally([retry], expected, runs_at(http_server)) == Tally(
        due=8, fired=5, failed=0, duplicates=3, lost=0
    )


def test_a_state_table_that_cannot_be_read_fails_the_invocation(
    store: FileStore, aws: Any, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMBDACRON_STATE_TABLE", "missing-table")
    publish(store, http_task("every", "* * * * *", http_server.url))
    with pytest.raises(StoreError, match="state table missing-table: reading the last processed"):
        handler.handler(event("2026-12-05T17:00:00Z"), None)
    assert http_server.requests == []


# ---------------------------------------------------------------------------------------------
# Cold start weight


def test_importing_the_handler_imports_nothing_heavy() -> None:
    heavy = [
        "jinja2",
        "typer",
        "cerberus",
        "rich",
        "yaml",
        "croniter",
        "boto3",
        "botocore",
        "requests",
    ]
    code = (
        "import sys, json\n"
        "import lambdacron.runtime.handler\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert json.loads(result.stdout) == []


# ---------------------------------------------------------------------------------------------
# Fan-out: more due tasks than one invocation should fire go to further invocations


def create_function(name: str) -> None:
    """The scheduler's own function in moto (docker-free: an invoke answers with its payload)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    role = boto3.client("iam").create_role(RoleName="scheduler", AssumeRolePolicyDocument="{}")
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
    )


def record_invokes(scheduler: handler.Scheduler) -> list[dict[str, Any]]:
    """The payloads of the coordinator's asynchronous invokes, as moto's Lambda received them."""
    assert isinstance(scheduler.invoke, handler.LambdaInvoker)
    seen: list[dict[str, Any]] = []

    def after_invoke(parsed: dict[str, Any], **kwargs: Any) -> None:
        assert parsed["StatusCode"] == 202  # InvocationType=Event
        seen.append(json.loads(parsed["Payload"].read()))

    client = scheduler.invoke._clients.client("lambda")
    client.meta.events.register("after-call.lambda.Invoke", after_invoke)
    return seen


@pytest.fixture
def fanout(
    store: FileStore, table: str, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Five tasks due at 17:00, a threshold of two, the function known to moto."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "lambdacron-prod")
    monkeypatch.setenv("LAMBDACRON_FANOUT_THRESHOLD", "2")
    names = [f"t{i}" for i in range(5)]
    publish(store, *(http_task(name, "0 17 * * *", http_server.url) for name in names))
    return names


def test_fan_out_hands_batches_to_workers_that_fire_each_task_once(
    fanout: list[str], http_server: Any
) -> None:
    create_function("lambdacron-prod")
    coordinator = handler.from_config(Config.from_environ(os.environ))
    payloads = record_invokes(coordinator)

    summary = coordinator.handle(event("2026-12-05T17:00:00Z"))

    assert summary["batches"] == 2
    assert summary["counts"]["due"] == 5 and summary["counts"]["delegated"] == 3
    assert [o["task"] for o in summary["outcomes"]] == ["t0", "t1"]
    assert payloads == [
        {
            "lambdacron": {
                "batch": {"minute": "2026-12-05T17:00:00Z", "tasks": ["t2", "t3"], "version": 1}
            }
        },
        {
            "lambdacron": {
                "batch": {"minute": "2026-12-05T17:00:00Z", "tasks": ["t4"], "version": 1}
            }
        },
    ]
    # Each batch runs on a worker container; Lambda may deliver an async event twice.
    worker_counts = []
    for payload in payloads + payloads:
        handler.reset()
        worker_counts.append(handler.handler(payload, None)["counts"])
    assert [(c["fired"], c["duplicates"]) for c in worker_counts] == [
        (2, 0),
        (1, 0),
        (0, 2),
        (0, 1),
    ]
    assert sorted(runs_at(http_server)) == [(name, "2026-12-05T17:00") for name in fanout]


def test_a_batch_that_cannot_be_handed_over_fires_here(
    fanout: list[str], http_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    coordinator = handler.from_config(Config.from_environ(os.environ))

    def throttled(event: dict[str, Any]) -> None:
        # moto accepts any async invoke, so the refusal is injected
        raise RuntimeError("TooManyRequestsException: Rate exceeded")

    coordinator.invoke = throttled
    summary = coordinator.handle(event("2026-12-05T17:00:00Z"))

    assert summary["batches"] == 0 and summary["counts"]["delegated"] == 0
    assert summary["counts"]["fired"] == 5
    assert sorted(runs_at(http_server)) == [(name, "2026-12-05T17:00") for name in fanout]
    failures = events_named(log_lines(capsys), "fanout_invoke_failed")
    assert [(f["level"], f["tasks"]) for f in failures] == [("error", 2), ("error", 1)]
    assert failures[0]["error"] == "RuntimeError: TooManyRequestsException: Rate exceeded"


def test_no_fan_out_outside_lambda(
    store: FileStore, http_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMBDACRON_FANOUT_THRESHOLD", "1")
    publish(store, *(http_task(f"t{i}", "0 17 * * *", http_server.url) for i in range(3)))
    summary = handler.handler(event("2026-12-05T17:00:00Z"), None)
    assert summary["batches"] == 0 and summary["counts"]["fired"] == 3


def test_a_worker_fires_the_version_it_was_handed(store: FileStore, http_server: Any) -> None:
    publish(store, http_task("old", "0 17 * * *", http_server.url))
    publish(store, http_task("new", "0 17 * * *", http_server.url), version=2)
    batch = {"minute": "2026-12-05T17:00:00Z", "tasks": ["old", "gone"], "version": 1}

    summary = handler.handler({"lambdacron": {"batch": batch}}, None)

    assert summary["manifest_version"] == 1
    assert runs_at(http_server) == [("old", "2026-12-05T17:00")]
    outcomes = {o["task"]: o for o in summary["outcomes"]}
    assert outcomes["gone"]["status"] == "failed"
    assert outcomes["gone"]["error"] == "task 'gone' is not in manifest version 1 of env prod"


def test_a_worker_whose_version_cannot_be_read_raises_for_a_retry(
    store: FileStore, http_server: Any
) -> None:
    publish(store, http_task("old", "0 17 * * *", http_server.url))
    batch = {"minute": "2026-12-05T17:00:00Z", "tasks": ["old"], "version": 7}
    with pytest.raises(StoreError, match="no such version"):
        handler.handler({"lambdacron": {"batch": batch}}, None)
    assert http_server.requests == []
