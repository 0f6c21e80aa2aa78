"""Scheduler state: idempotency claims per (task, scheduled minute) and the last processed minute.

The runtime stage between "what is due" and "fire it": a task fires only after its claim for that
minute succeeded, so a retried, duplicated or overlapping invocation fires nothing twice; the last
processed minute tells the next invocation where catch-up starts. Three backends share one protocol:

- ``DynamoState``: the Lambda with ``LAMBDACRON_STATE_TABLE``. One table, string hash key ``pk``
  (``TABLE_KEY``), TTL on ``expires_at`` (``TTL_ATTRIBUTE``). Claims are conditional puts, the
  marker a conditional update that never moves backwards.
- ``MemoryState``: the Lambda without a table. A warm container still won't fire a retried event
  twice; it knows nothing durable, so it reports no last processed minute (no catch-up).
- ``FileState``: ``lambdacron serve``, one SQLite file per env under the project's ``.lambdacron/``.

Minutes are UTC epoch minutes (epoch seconds // 60), as in ``lambdacron.runtime.cron``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lambdacron.runtime.errors import StoreError

if TYPE_CHECKING:
    import sqlite3

# The DynamoDB table's key schema, for the CloudFormation template: AttributeDefinitions
# [{AttributeName: pk, AttributeType: S}], KeySchema [{AttributeName: pk, KeyType: HASH}],
# TimeToLiveSpecification {AttributeName: expires_at, Enabled: true}.
TABLE_KEY = "pk"
TABLE_KEY_TYPE = "S"
TTL_ATTRIBUTE = "expires_at"
# Claims outlive every retry path (Lambda's async retries give up after 6 hours) with room to spare.
CLAIM_TTL_SECONDS = 7 * 24 * 3600
# A warm container keeps claims this long: the default maximum event age of an async invocation.
MEMORY_RETENTION_MINUTES = 6 * 60

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"


class State(Protocol):
    """Where claims and the last processed minute live."""

    def claim(self, task_name: str, minute: int, execution_id: str) -> bool:
        """True: this invocation owns (task, minute) and may fire it. False: already claimed."""
        ...

    def last_processed(self) -> int | None:
        """The newest minute fully evaluated, or None when unknown (no catch-up then)."""
        ...

    def set_processed(self, minute: int) -> None:
        """Record ``minute`` as processed unless a newer minute already is (never backwards)."""
        ...


def claim_key(env: str, task_name: str, minute: int) -> str:
    return f"claim#{env}#{task_name}#{minute}"


def processed_key(env: str) -> str:
    return f"processed#{env}"


class MemoryState:
    """Claims held in this process only; bounded to ``retention_minutes`` behind the newest."""

    def __init__(self, retention_minutes: int = MEMORY_RETENTION_MINUTES) -> None:
        self._retention = retention_minutes
        self._claims: dict[int, set[str]] = {}
        self._newest: int | None = None
        self._lock = threading.Lock()

    def claim(self, task_name: str, minute: int, execution_id: str) -> bool:
        with self._lock:
            if self._newest is None or minute > self._newest:
                self._newest = minute
                self._prune(minute - self._retention)
            names = self._claims.setdefault(minute, set())
            if task_name in names:
                return False
            names.add(task_name)
            return True

    def _prune(self, oldest: int) -> None:
        for minute in [m for m in self._claims if m < oldest]:
            del self._claims[minute]

    def last_processed(self) -> int | None:
        # Another container may have processed any minute: nothing here is worth catching up from.
        return None

    def set_processed(self, minute: int) -> None:
        return None


class DynamoState:
    """Claims and the processed marker in one DynamoDB table (key ``pk``, TTL ``expires_at``)."""

    def __init__(
        self,
        table: str,
        env: str,
        client: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.env = env
        self._client_factory = client
        self._client: Any = None
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def claim(self, task_name: str, minute: int, execution_id: str) -> bool:
        item = {
            TABLE_KEY: {"S": claim_key(self.env, task_name, minute)},
            "task": {"S": task_name},
            "minute": {"N": str(minute)},
            "execution_id": {"S": execution_id},
            "claimed_at": {"N": str(int(self._clock()))},
            # From the scheduled minute, not the clock: the same claim always expires alike.
            TTL_ATTRIBUTE: {"N": str(minute * 60 + CLAIM_TTL_SECONDS)},
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": TABLE_KEY},
            )
        except Exception as exc:
            if _error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise self._error(f"claiming {task_name} at minute {minute}", exc) from exc
        return True

    def last_processed(self) -> int | None:
        try:
            response = self.client.get_item(
                TableName=self.table,
                Key={TABLE_KEY: {"S": processed_key(self.env)}},
                ConsistentRead=True,
            )
        except Exception as exc:
            raise self._error("reading the last processed minute", exc) from exc
        item = response.get("Item")
        return int(item["minute"]["N"]) if item else None

    def set_processed(self, minute: int) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={TABLE_KEY: {"S": processed_key(self.env)}},
                UpdateExpression="SET #m = :m, updated_at = :now",
                ConditionExpression="attribute_not_exists(#pk) OR #m < :m",
                ExpressionAttributeNames={"#pk": TABLE_KEY, "#m": "minute"},
                ExpressionAttributeValues={
                    ":m": {"N": str(minute)},
                    ":now": {"N": str(int(self._clock()))},
                },
            )
        except Exception as exc:
            if _error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return  # a newer minute is already recorded: keep it
            raise self._error(f"recording minute {minute} as processed", exc) from exc

    def _error(self, doing: str, exc: Exception) -> StoreError:
        return StoreError(
            f"state table {self.table}: {doing} failed: {type(exc).__name__}: {exc}. Check that "
            f"the table exists with the string hash key {TABLE_KEY!r} and that the function may "
            "GetItem, PutItem and UpdateItem on it."
        )


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def state_path(root: Path, env: str) -> Path:
    """Where ``serve`` keeps an env's state inside a project."""
    return root / ".lambdacron" / "state" / f"{env}.sqlite3"


class FileState:
    """Claims and the processed marker in a local SQLite file: atomic across threads and
    processes."""

    def __init__(self, path: Path, retention_minutes: int = CLAIM_TTL_SECONDS // 60) -> None:
        self.path = path
        self._retention = retention_minutes
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 5000")
            db.execute(
                "CREATE TABLE IF NOT EXISTS claims (task TEXT NOT NULL, minute INTEGER NOT NULL, "
                "execution_id TEXT NOT NULL, PRIMARY KEY (task, minute))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS processed (id INTEGER PRIMARY KEY CHECK (id = 1), "
                "minute INTEGER NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._error("opening", exc) from exc
        return db

    def claim(self, task_name: str, minute: int, execution_id: str) -> bool:
        _, changed = self._execute(
            "INSERT OR IGNORE INTO claims (task, minute, execution_id) VALUES (?, ?, ?)",
            (task_name, minute, execution_id),
        )
        return changed == 1

    def last_processed(self) -> int | None:
        rows, _ = self._execute("SELECT minute FROM processed WHERE id = 1", ())
        return int(rows[0][0]) if rows else None

    def set_processed(self, minute: int) -> None:
        self._execute(
            "INSERT INTO processed (id, minute) VALUES (1, ?) ON CONFLICT (id) "
            "DO UPDATE SET minute = excluded.minute WHERE minute < excluded.minute",
            (minute,),
        )
        self._execute("DELETE FROM claims WHERE minute < ?", (minute - self._retention,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple[Any, ...]) -> tuple[list[Any], int]:
        """Rows and changed-row count, read under the lock: the connection is shared by threads."""
        import sqlite3

        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                return cursor.fetchall(), cursor.rowcount
            except sqlite3.Error as exc:
                raise self._error("updating", exc) from exc

    def _error(self, doing: str, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.path}: {doing} the scheduler state failed: {exc}. Delete the file to start "
            "afresh (every due task of the current minute may then fire again)."
        )
