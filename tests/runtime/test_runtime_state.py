"""Scheduler state: claims per (task, minute) and the monotonic last processed minute, for the
DynamoDB (moto), in-memory and SQLite-file backends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from lambdacron.runtime.errors import StoreError
from lambdacron.runtime.state import (
    CLAIM_TTL_SECONDS,
    TABLE_KEY,
    TABLE_KEY_TYPE,
    TTL_ATTRIBUTE,
    DynamoState,
    FileState,
    MemoryState,
    State,
    state_path,
)

MINUTE = 29_904_060  # 2026-11-09T17:00Z


def create_table(name: str = "lambdacron-state") -> str:
    """The table as the stack creates it: the documented key schema and TTL attribute."""
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": TABLE_KEY_TYPE}],
        KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
    )
    return name


def dynamo(env: str = "prod", clock: Callable[[], float] = lambda: 1_800_000_000.0) -> DynamoState:
    return DynamoState(create_table(), env, lambda: boto3.client("dynamodb"), clock=clock)


@pytest.fixture(params=["memory", "file", "dynamodb"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> State:
    if request.param == "memory":
        return MemoryState()
    if request.param == "file":
        return FileState(tmp_path / "state.sqlite3")
    request.getfixturevalue("aws")
    return dynamo()


def test_a_claim_is_granted_once(state: State) -> None:
    assert state.claim("report", MINUTE, "id-1") is True
    assert state.claim("report", MINUTE, "id-1") is False
    assert state.claim("report", MINUTE, "id-other") is False


def test_claims_are_per_task_and_per_minute(state: State) -> None:
    assert state.claim("report", MINUTE, "a")
    assert state.claim("report", MINUTE + 1, "b")
    assert state.claim("backup", MINUTE, "c")
    assert not state.claim("backup", MINUTE, "c")


def test_concurrent_claims_grant_exactly_one(state: State) -> None:
    barrier = threading.Barrier(8)

    def attempt(_: int) -> bool:
        barrier.wait()
        return state.claim("report", MINUTE, "id")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count(True) == 1


@pytest.mark.parametrize("backend", ["file", "dynamodb"])
def test_processed_minute_never_moves_backwards(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "dynamodb":
        request.getfixturevalue("aws")
        durable: State = dynamo()
    else:
        durable = FileState(tmp_path / "s.sqlite3")
    assert durable.last_processed() is None
    durable.set_processed(MINUTE)
    assert durable.last_processed() == MINUTE
    durable.set_processed(MINUTE - 5)
    assert durable.last_processed() == MINUTE
    durable.set_processed(MINUTE + 3)
    assert durable.last_processed() == MINUTE + 3


def test_memory_state_knows_no_processed_minute() -> None:
    memory = MemoryState()
    memory.set_processed(MINUTE)
    assert memory.last_processed() is None


def test_memory_state_forgets_claims_beyond_its_retention() -> None:
    memory = MemoryState(retention_minutes=10)
    assert memory.claim("report", MINUTE, "a")
    assert not memory.claim("report", MINUTE, "a")
    assert memory.claim("report", MINUTE + 11, "b")  # newer minute: the old one is pruned
    assert memory.claim("report", MINUTE, "a")
    assert not memory.claim("report", MINUTE + 11, "b")


@pytest.mark.aws
def test_dynamodb_items_carry_ttl_and_context(aws: object) -> None:
    state = dynamo()
    assert state.claim("report", MINUTE, "report-exec-id")
    state.set_processed(MINUTE)
    items = {
        item[TABLE_KEY]["S"]: item
        for item in boto3.client("dynamodb").scan(TableName="lambdacron-state")["Items"]
    }
    claim = items[f"claim#prod#report#{MINUTE}"]
    assert claim[TTL_ATTRIBUTE] == {"N": str(MINUTE * 60 + CLAIM_TTL_SECONDS)}
    assert claim["execution_id"] == {"S": "report-exec-id"}
    assert claim["claimed_at"] == {"N": "1800000000"}
    assert items["processed#prod"]["minute"] == {"N": str(MINUTE)}
    assert TTL_ATTRIBUTE not in items["processed#prod"]  # the marker must never expire


@pytest.mark.aws
def test_dynamodb_envs_sharing_a_table_do_not_collide(aws: object) -> None:
    prod = dynamo("prod")
    dev = DynamoState("lambdacron-state", "dev", lambda: boto3.client("dynamodb"))
    assert prod.claim("report", MINUTE, "a")
    assert dev.claim("report", MINUTE, "a")
    prod.set_processed(MINUTE)
    assert dev.last_processed() is None


@pytest.mark.aws
def test_dynamodb_missing_table_is_a_store_error_not_a_duplicate(aws: object) -> None:
    state = DynamoState("no-such-table", "prod", lambda: boto3.client("dynamodb"))
    with pytest.raises(StoreError) as caught:
        state.claim("report", MINUTE, "a")
    assert str(caught.value).startswith("state table no-such-table: claiming report at minute")
    assert "string hash key 'pk'" in str(caught.value)
    with pytest.raises(StoreError, match="reading the last processed minute"):
        state.last_processed()
    with pytest.raises(StoreError, match="recording minute"):
        state.set_processed(MINUTE)


def test_file_state_is_shared_between_processes_through_the_file(tmp_path: Path) -> None:
    path = state_path(tmp_path, "dev")
    assert path == tmp_path / ".lambdacron" / "state" / "dev.sqlite3"
    first, second = FileState(path), FileState(path)
    assert first.claim("report", MINUTE, "a")
    assert not second.claim("report", MINUTE, "a")
    first.set_processed(MINUTE)
    assert second.last_processed() == MINUTE
    first.close()
    second.close()
    assert FileState(path).last_processed() == MINUTE


def test_file_state_prunes_claims_past_retention(tmp_path: Path) -> None:
    state = FileState(tmp_path / "s.sqlite3", retention_minutes=60)
    assert state.claim("report", MINUTE, "a")
    state.set_processed(MINUTE + 61)
    assert state.claim("report", MINUTE, "a")  # forgotten: far older than any retry


def test_file_state_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="opening the scheduler state failed"):
        FileState(blocker / "state.sqlite3")
