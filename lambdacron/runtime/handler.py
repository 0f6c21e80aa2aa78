"""The scheduler's entry point: manifest, tick, claims, dispatch, summary.

``handler(event, context)`` is the Lambda handler. It is configured by environment variables
(``Config``) and keeps, per cold start, one ``Scheduler``: the compiled manifest, the state
(claims and last processed minute), the clients and the log. Three kinds of event:

- an EventBridge scheduled event: its ``time``, truncated to the minute, is the tick (never the
  wall clock). With a state table every minute since the last processed one is evaluated, up to
  ``LAMBDACRON_MAX_CATCHUP_MINUTES`` before the tick; without one, the tick alone.
- ``{"lambdacron": {"run": "TASK"}}`` (optionally ``"at": ISO``): fire that task now.
- ``{"lambdacron": {"batch": {"minute": ISO, "tasks": [...], "version": N}}}``: a fan-out worker
  fires the tasks it was handed; the coordinator sends these (asynchronous invokes of
  ``AWS_LAMBDA_FUNCTION_NAME``) when more tasks are due than ``LAMBDACRON_FANOUT_THRESHOLD``
  (default 500; 0 turns fan-out off).

Every (task, minute) is claimed before it fires, so a retried, duplicated or overlapping event
fires nothing twice. The handler raises only when nothing could be evaluated (no manifest, store
or state table unreachable, an event it does not understand): a platform retry of a raised
invocation then cannot re-fire what already fired.

This module imports nothing heavy: boto3 and requests load when a client is first needed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lambdacron.runtime.context import FireContext, Outcome
from lambdacron.runtime.errors import LambdacronError, StoreError
from lambdacron.runtime.loader import Compiled, ManifestCache, ManifestSource, StoreSource, due
from lambdacron.runtime.log import Log, Sink, stdout_sink
from lambdacron.runtime.manifest import Task
from lambdacron.runtime.state import DynamoState, MemoryState, State

if TYPE_CHECKING:
    from lambdacron.runtime.dispatch import Dispatcher

ENV_STORE = "LAMBDACRON_STORE"
ENV_ENV = "LAMBDACRON_ENV"
ENV_STATE_TABLE = "LAMBDACRON_STATE_TABLE"
ENV_DLQ_URL = "LAMBDACRON_DLQ_URL"
ENV_MAX_CATCHUP = "LAMBDACRON_MAX_CATCHUP_MINUTES"
ENV_FANOUT_THRESHOLD = "LAMBDACRON_FANOUT_THRESHOLD"
ENV_MAX_WORKERS = "LAMBDACRON_MAX_WORKERS"
ENV_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

DEFAULT_MAX_CATCHUP = 60
# Tasks one invocation fires itself before handing the rest to further invocations: a few
# seconds of dispatch for slow targets, far within a one-minute schedule.
DEFAULT_FANOUT_THRESHOLD = 500
DEFAULT_MAX_WORKERS = 32

Invoker = Callable[[dict[str, Any]], None]


class EventError(LambdacronError):
    """An event the scheduler does not understand, or a bad configuration: nothing evaluated."""


@dataclass(frozen=True)
class Config:
    """The scheduler's settings, read from the Lambda's environment variables."""

    store: str
    env: str
    state_table: str | None = None
    dlq_url: str | None = None
    max_catchup: int = DEFAULT_MAX_CATCHUP
    fanout_threshold: int = DEFAULT_FANOUT_THRESHOLD
    max_workers: int = DEFAULT_MAX_WORKERS
    function_name: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        missing = [name for name in (ENV_STORE, ENV_ENV) if not environ.get(name)]
        if missing:
            raise EventError(
                f"scheduler configuration: {' and '.join(missing)} not set; the stack sets "
                f"{ENV_STORE} (s3://bucket/prefix or file:///path) and {ENV_ENV} (the env name)"
            )
        return cls(
            store=environ[ENV_STORE],
            env=environ[ENV_ENV],
            state_table=environ.get(ENV_STATE_TABLE) or None,
            dlq_url=environ.get(ENV_DLQ_URL) or None,
            max_catchup=_count(environ, ENV_MAX_CATCHUP, DEFAULT_MAX_CATCHUP),
            fanout_threshold=_count(environ, ENV_FANOUT_THRESHOLD, DEFAULT_FANOUT_THRESHOLD),
            max_workers=max(1, _count(environ, ENV_MAX_WORKERS, DEFAULT_MAX_WORKERS)),
            function_name=environ.get(ENV_FUNCTION_NAME) or None,
        )


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise EventError(
            f"scheduler configuration: {name}={text!r} is not a whole number >= 0 "
            f"(e.g. {name}={default})"
        )
    return int(text)


# ---------------------------------------------------------------------------------------------
# Minutes: the pure part of a tick


def minute_of(moment: datetime) -> int:
    """UTC epoch minute of an aware datetime (naive means UTC), truncated."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) // 60


def iso_minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, what: str) -> int:
    """An ISO 8601 time (``Z``, an offset, or naive UTC) as an epoch minute."""
    try:
        return minute_of(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        raise EventError(
            f"event: {what} {text!r} is not an ISO 8601 time; expected e.g. 2026-12-05T17:00:00Z"
        ) from None


def window(last_processed: int | None, tick: int, max_catchup: int) -> tuple[int, int, int]:
    """``(first, last, dropped)``: the minutes to evaluate for ``tick`` (``first > last`` when
    there are none) and how many missed minutes fall beyond the catch-up bound."""
    if last_processed is None:
        return tick, tick, 0
    if last_processed >= tick:
        return tick + 1, tick, 0  # a late or duplicated event: its minute is already done
    first = max(last_processed + 1, tick - max_catchup)
    return first, tick, first - (last_processed + 1)


def batches(pairs: Sequence[tuple[Task, int]], size: int) -> list[list[tuple[Task, int]]]:
    """Split due pairs into batches of at most ``size``, each within one minute."""
    result: list[list[tuple[Task, int]]] = []
    for task, minute in pairs:
        if not result or len(result[-1]) >= size or result[-1][0][1] != minute:
            result.append([])
        result[-1].append((task, minute))
    return result


def batch_event(minute: int, task_names: Sequence[str], version: int) -> dict[str, Any]:
    return {
        "lambdacron": {
            "batch": {"minute": iso_minute(minute), "tasks": list(task_names), "version": version}
        }
    }


# ---------------------------------------------------------------------------------------------
# The scheduler: one per cold start


@dataclass
class Counts:
    due: int = 0
    fired: int = 0
    failed: int = 0
    duplicates: int = 0
    skipped: int = 0
    delegated: int = 0

    def add(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status == "fired":
                self.fired += 1
            elif outcome.status == "failed":
                self.failed += 1
            elif outcome.status == "duplicate":
                self.duplicates += 1
            else:
                self.skipped += 1

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Scheduler:
    """Evaluates ticks against the manifest and fires what is due, each (task, minute) once."""

    def __init__(
        self,
        env: str,
        manifests: ManifestCache,
        state: State,
        dispatcher: Dispatcher,
        log: Log,
        invoke: Invoker | None = None,
        max_catchup: int = DEFAULT_MAX_CATCHUP,
        fanout_threshold: int = DEFAULT_FANOUT_THRESHOLD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.env = env
        self.manifests = manifests
        self.state = state
        self.dispatcher = dispatcher
        self.log = log
        self.invoke = invoke
        self.max_catchup = max_catchup
        self.fanout_threshold = fanout_threshold
        self.clock = clock

    def handle(self, event: Any) -> dict[str, Any]:
        """Route one event: a scheduled tick, a run request, or a fan-out batch."""
        if isinstance(event, Mapping) and isinstance(event.get("lambdacron"), Mapping):
            request = event["lambdacron"]
            if "run" in request:
                at = request.get("at")
                now = parse_time(at, "'at'") if at else int(self.clock()) // 60
                return self.run(str(request["run"]), now)
            if isinstance(request.get("batch"), Mapping):
                return self._batch_request(request["batch"])
            raise EventError(
                f"event: lambdacron request {json.dumps(request, default=str)[:200]} has neither "
                '"run" nor "batch"; e.g. {"lambdacron": {"run": "TASK"}}'
            )
        if isinstance(event, Mapping) and isinstance(event.get("time"), str):
            return self.tick(parse_time(event["time"], "time"))
        raise EventError(
            "event: not a scheduled event (no 'time') nor a lambdacron request; the scheduler is "
            'triggered by an EventBridge schedule, or invoked with {"lambdacron": {"run": "TASK"}}'
        )

    def tick(self, tick: int) -> dict[str, Any]:
        """Evaluate the minutes up to ``tick`` not processed yet, fire what is due."""
        compiled = self.manifests.current()
        lag = max(0.0, self.clock() - tick * 60)
        first, last, dropped = window(self.state.last_processed(), tick, self.max_catchup)
        if dropped:
            self.log.warning(
                "catchup_dropped",
                env=self.env,
                dropped_minutes=dropped,
                first_dropped=iso_minute(first - dropped),
                last_dropped=iso_minute(first - 1),
                max_catchup_minutes=self.max_catchup,
            )
        pairs = due(compiled, first, last)
        counts = Counts(due=len(pairs))
        local, handed = self._fan_out(compiled, pairs)
        counts.delegated = len(pairs) - len(local)
        outcomes = self._fire(compiled, local, claim=True)
        counts.add(outcomes)
        if first <= last:
            self._mark_processed(last)
        summary = self._summary(compiled, range(first, last + 1), outcomes, counts)
        summary.update(tick=iso_minute(tick), dropped_minutes=dropped, batches=handed)
        self.log.metrics(
            self.env,
            {**counts.as_dict(), "dropped_minutes": dropped, "lag_seconds": round(lag, 3)},
            manifest_version=compiled.version,
            tick=iso_minute(tick),
        )
        return summary

    def run(self, task_name: str, minute: int) -> dict[str, Any]:
        """Fire ``task_name`` for ``minute`` now, unclaimed: a run by hand is meant to fire."""
        compiled = self.manifests.current()
        task = compiled.by_name.get(task_name)
        if task is None:
            known = ", ".join(t.name for t in compiled.manifest.tasks[:20]) or "none"
            error = (
                f"no task {task_name!r} in env {self.env} (manifest version {compiled.version}); "
                f"tasks: {known}"
            )
            self.log.error("run_unknown_task", env=self.env, task=task_name, error=error)
            summary = self._summary(compiled, [minute], [], Counts())
            summary["error"] = error
            return summary
        outcomes = self._fire(compiled, [(task, minute)], claim=False)
        counts = Counts(due=1)
        counts.add(outcomes)
        return self._summary(compiled, [minute], outcomes, counts)

    def batch(self, minute: int, task_names: Sequence[str], version: int) -> dict[str, Any]:
        """A fan-out worker: fire the named tasks of manifest ``version`` at ``minute``, claimed,
        so that a batch delivered twice (or retried after a timeout) fires each task once."""
        compiled = self.manifests.version(version)
        pairs: list[tuple[Task, int]] = []
        missing: list[Outcome] = []
        for name in task_names:
            task = compiled.by_name.get(name)
            if task is None:
                missing.append(self._missing(name, minute, version))
            else:
                pairs.append((task, minute))
        outcomes = self._fire(compiled, pairs, claim=True) + missing
        counts = Counts(due=len(task_names))
        counts.add(outcomes)
        self.log.metrics(
            self.env, counts.as_dict(), manifest_version=compiled.version, batch=iso_minute(minute)
        )
        return self._summary(compiled, [minute], outcomes, counts)

    def _batch_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        tasks, version, minute = request.get("tasks"), request.get("version"), request.get("minute")
        if (
            not isinstance(tasks, list)
            or not isinstance(version, int)
            or not isinstance(minute, str)
        ):
            raise EventError(
                'event: a batch needs "minute" (ISO), "tasks" (names) and "version" (number), '
                f"got {json.dumps(dict(request), default=str)[:200]}"
            )
        return self.batch(parse_time(minute, "batch minute"), [str(t) for t in tasks], version)

    def _missing(self, name: str, minute: int, version: int) -> Outcome:
        error = f"task {name!r} is not in manifest version {version} of env {self.env}"
        outcome = Outcome(name, iso_minute(minute), "failed", error=error)
        self._log_outcome(outcome, version)
        return outcome

    def _fan_out(
        self, compiled: Compiled, pairs: list[tuple[Task, int]]
    ) -> tuple[list[tuple[Task, int]], int]:
        """Keep the first ``fanout_threshold`` pairs, hand the rest in batches to further
        invocations; returns what to fire here and how many batches were handed. A batch that
        cannot be handed is fired here: its claims make that safe even if the invoke went through."""
        threshold = self.fanout_threshold
        if self.invoke is None or not threshold or len(pairs) <= threshold:
            return pairs, 0
        local, handed = pairs[:threshold], 0
        for batch in batches(pairs[threshold:], threshold):
            minute = batch[0][1]
            event = batch_event(minute, [task.name for task, _ in batch], compiled.version)
            try:
                self.invoke(event)
                handed += 1
            except Exception as exc:
                self.log.error(
                    "fanout_invoke_failed",
                    env=self.env,
                    minute=iso_minute(minute),
                    tasks=len(batch),
                    error=f"{type(exc).__name__}: {exc}",
                )
                local.extend(batch)
        if handed:
            self.log.info("fanout", env=self.env, batches=handed, due=len(pairs), local=len(local))
        return local, handed

    def _fire(
        self, compiled: Compiled, pairs: Sequence[tuple[Task, int]], claim: bool
    ) -> list[Outcome]:
        if not pairs:
            return []
        contexts = [FireContext.at(self.env, task, minute) for task, minute in pairs]
        outcomes = self.dispatcher.fire_all(contexts, claim=self._claim if claim else None)
        for outcome in outcomes:
            self._log_outcome(outcome, compiled.version)
        return outcomes

    def _claim(self, ctx: FireContext) -> bool:
        return self.state.claim(ctx.task.name, ctx.minute, ctx.execution_id)

    def _mark_processed(self, minute: int) -> None:
        # After dispatch, and never fatal: if it fails, the next tick evaluates these minutes
        # again and the claims turn them into duplicates.
        try:
            self.state.set_processed(minute)
        except StoreError as exc:
            self.log.error(
                "state_update_failed", env=self.env, minute=iso_minute(minute), error=str(exc)
            )

    def _log_outcome(self, outcome: Outcome, version: int) -> None:
        level = "error" if outcome.status == "failed" else "info"
        self.log.event(
            level,
            f"task_{outcome.status}",
            env=self.env,
            manifest_version=version,
            **outcome.to_log(),
        )

    def _summary(
        self,
        compiled: Compiled,
        minutes: Sequence[int],
        outcomes: Sequence[Outcome],
        counts: Counts,
    ) -> dict[str, Any]:
        return {
            "env": self.env,
            "manifest_version": compiled.version,
            "minutes": [iso_minute(m) for m in minutes],
            "outcomes": [outcome.to_log() for outcome in outcomes],
            "counts": counts.as_dict(),
        }


# ---------------------------------------------------------------------------------------------
# Wiring: what the Lambda (and `lambdacron serve`) builds once per process


def build_scheduler(
    env: str,
    source: ManifestSource,
    state: State,
    *,
    dlq_url: str | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    max_catchup: int = DEFAULT_MAX_CATCHUP,
    fanout_threshold: int = DEFAULT_FANOUT_THRESHOLD,
    invoke: Invoker | None = None,
    region: str | None = None,
    sink: Sink = stdout_sink,
    clock: Callable[[], float] = time.time,
) -> Scheduler:
    """A scheduler with the real dispatcher, its clients and its secrets-redacting log."""
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.dispatch import Dispatcher

    clients = Clients(region=region, max_pool_connections=max_workers)
    dispatcher = Dispatcher(clients, dlq_url=dlq_url, max_workers=max_workers)
    log = Log(redact=dispatcher.secrets.redact, sink=sink, clock=clock)
    return Scheduler(
        env,
        ManifestCache(source, env, log),
        state,
        dispatcher,
        log,
        invoke=invoke,
        max_catchup=max_catchup,
        fanout_threshold=fanout_threshold,
        clock=clock,
    )


class AwsClients:
    """boto3 clients for the scheduler's own bookkeeping (state table, fan-out invokes), with
    botocore's standard retries: unlike target calls, nothing else retries these."""

    def __init__(self) -> None:
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3.session
            from botocore.config import Config as BotoConfig

            if self._session is None:
                self._session = boto3.session.Session()
            config = BotoConfig(
                connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 4}
            )
            self._clients[service] = self._session.client(service, config=config)
        return self._clients[service]


class LambdaInvoker:
    """Hands a fan-out batch to another invocation of this function (asynchronous invoke)."""

    def __init__(self, function_name: str, clients: AwsClients) -> None:
        self.function_name = function_name
        self._clients = clients

    def __call__(self, event: dict[str, Any]) -> None:
        self._clients.client("lambda").invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(event).encode("utf-8"),
        )


def from_config(config: Config, sink: Sink = stdout_sink) -> Scheduler:
    from lambdacron.runtime.store import open_store

    aws = AwsClients()
    state: State = (
        DynamoState(config.state_table, config.env, lambda: aws.client("dynamodb"))
        if config.state_table
        else MemoryState()
    )
    return build_scheduler(
        config.env,
        StoreSource(open_store(config.store), config.env),
        state,
        dlq_url=config.dlq_url,
        max_workers=config.max_workers,
        max_catchup=config.max_catchup,
        fanout_threshold=config.fanout_threshold,
        invoke=LambdaInvoker(config.function_name, aws) if config.function_name else None,
        sink=sink,
    )


_scheduler: Scheduler | None = None


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda entry point."""
    global _scheduler
    try:
        if _scheduler is None:
            _scheduler = from_config(Config.from_environ(os.environ))
        return _scheduler.handle(event)
    except LambdacronError as exc:
        # Raised only when nothing could be evaluated: one alarm-worthy line, then let the
        # platform see the failure (and retry the event).
        # Without a scheduler no secret was ever resolved: nothing to redact.
        log = _scheduler.log if _scheduler is not None else Log(redact=str)
        log.error("invocation_failed", error=str(exc), error_type=type(exc).__name__)
        raise


def reset() -> None:
    """Forget this process's scheduler (manifest, claims, clients): next call is a cold start."""
    global _scheduler
    _scheduler = None
