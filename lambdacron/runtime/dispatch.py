"""Dispatch stage: fire due tasks at their targets, concurrently, each at most once.

For every ``FireContext``: claim it (when a claim is given), expand its placeholders, build the
target's request, send it; retry transient failures with exponential backoff and full jitter
within the task's ``retries``; record a task that still fails on the dead-letter queue with its
context (placeholders kept, so that no secret value is copied there). Tasks run in a bounded
thread pool and every call has a timeout, so one slow or failing task never holds the others.
Queue tasks bound for the same queue share SendMessageBatch calls.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from lambdacron.runtime.clients import Clients
from lambdacron.runtime.context import FireContext, Outcome, Status
from lambdacron.runtime.errors import LambdacronError
from lambdacron.runtime.expand import expand
from lambdacron.runtime.secrets import Secrets
from lambdacron.runtime.targets import BATCH_TARGETS, target
from lambdacron.runtime.targets.base import (
    BatchTarget,
    Request,
    Target,
    TargetError,
    is_fifo,
    is_transient,
)

Claim = Callable[[FireContext], bool]
Job = Callable[[], list[Outcome]]

BACKOFF_BASE = 0.25  # seconds before the first retry, at most (full jitter)
BACKOFF_CAP = 4.0
DLQ_ATTEMPTS = 3
DLQ_MAX_BYTES = 250 * 1024  # SQS takes 256 KiB per message; leave room for the error text


class Dispatcher:
    """Fires tasks through ``clients``. ``secrets`` resolves and redacts secret references (one
    per process, so that its cache and redactor are shared); ``sleep`` and ``rng`` are injectable
    so that tests of retries do not wait; ``max_workers`` bounds the thread pool of ``fire_all``.
    """

    def __init__(
        self,
        clients: Clients,
        *,
        secrets: Secrets | None = None,
        dlq_url: str | None = None,
        max_workers: int = 32,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.clients = clients
        self.secrets = secrets if secrets is not None else Secrets(clients)
        self.dlq_url = dlq_url
        self.max_workers = max_workers
        self._sleep = sleep
        self._rng = rng

    def fire_all(
        self, contexts: Sequence[FireContext], claim: Claim | None = None
    ) -> list[Outcome]:
        """Fire every context concurrently; the outcomes, in the order of ``contexts``."""
        jobs = self._jobs(contexts, claim)
        outcomes: list[Outcome | None] = [None] * len(contexts)
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(jobs))) as pool:
            futures = [(pool.submit(job), indices) for job, indices in jobs]
            for future, indices in futures:
                for index, outcome in zip(
                    indices, self._results(future, contexts, indices), strict=True
                ):
                    outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def fire(self, ctx: FireContext, claim: Claim | None = None) -> Outcome:
        """Fire one task: claim, send, retry transient failures, dead-letter what still fails."""
        started = time.monotonic()
        refused = self._claim(ctx, claim, started)
        if refused is not None:
            return refused
        attempts = 0
        while True:
            attempts += 1
            try:
                module = target(ctx.task.type)
                response_id = module.send(self._prepare(ctx, module), self.clients)
            except Exception as exc:
                if not self._should_retry(exc, ctx, attempts):
                    return self._failed(ctx, exc, attempts, started)
                self._backoff(attempts)
                continue
            return _outcome(ctx, "fired", started, attempts, response_id=response_id)

    def _jobs(
        self, contexts: Sequence[FireContext], claim: Claim | None
    ) -> list[tuple[Job, list[int]]]:
        """One job per task, except that tasks of a batching type that share a batch key go
        together, ``BATCH_SIZE`` at a time. Batches come first: they are quick, and many tasks
        should not wait behind a slow one."""
        jobs: list[tuple[Job, list[int]]] = []
        singles: list[tuple[Job, list[int]]] = []
        groups: dict[tuple[str, str], list[int]] = {}
        for index, ctx in enumerate(contexts):
            type_name = str(ctx.task.target.get("type"))
            module = BATCH_TARGETS.get(type_name)
            if module is None:
                singles.append((self._single_job(ctx, claim), [index]))
            else:
                groups.setdefault((type_name, module.batch_key(ctx.task.target)), []).append(index)
        for (type_name, _), indices in groups.items():
            module = BATCH_TARGETS[type_name]
            for start in range(0, len(indices), module.BATCH_SIZE):
                chunk = indices[start : start + module.BATCH_SIZE]
                jobs.append((self._chunk_job(module, [contexts[i] for i in chunk], claim), chunk))
        return jobs + singles

    def _single_job(self, ctx: FireContext, claim: Claim | None) -> Job:
        return lambda: [self.fire(ctx, claim)]

    def _chunk_job(self, module: BatchTarget, chunk: list[FireContext], claim: Claim | None) -> Job:
        if len(chunk) == 1:
            return self._single_job(chunk[0], claim)
        return lambda: self._fire_batch(module, chunk, claim)

    def _fire_batch(
        self, module: BatchTarget, contexts: list[FireContext], claim: Claim | None
    ) -> list[Outcome]:
        """Like ``fire`` for several tasks sharing calls: each round sends every task still
        pending in one ``send_batch``; entries that failed transiently go again next round."""
        started = time.monotonic()
        outcomes: dict[int, Outcome] = {}
        for index, ctx in enumerate(contexts):
            refused = self._claim(ctx, claim, started)
            if refused is not None:
                outcomes[index] = refused
        pending = [index for index in range(len(contexts)) if index not in outcomes]
        attempts = dict.fromkeys(pending, 0)
        requests: dict[int, Request] = {}
        rounds = 0
        while pending:
            rounds += 1
            failures = self._batch_round(module, contexts, pending, attempts, requests, outcomes)
            pending = []
            for index, exc in failures.items():
                if self._should_retry(exc, contexts[index], attempts[index]):
                    pending.append(index)
                else:
                    outcomes[index] = self._failed(contexts[index], exc, attempts[index], started)
            if pending:
                self._backoff(rounds)
        for index, outcome in outcomes.items():
            if outcome.status == "fired":
                outcomes[index] = replace(outcome, duration_ms=_elapsed_ms(started))
        return [outcomes[index] for index in range(len(contexts))]

    def _batch_round(
        self,
        module: BatchTarget,
        contexts: list[FireContext],
        pending: list[int],
        attempts: dict[int, int],
        requests: dict[int, Request],
        outcomes: dict[int, Outcome],
    ) -> dict[int, Exception]:
        failures: dict[int, Exception] = {}
        ready: list[int] = []
        for index in pending:
            attempts[index] += 1
            try:
                if index not in requests:
                    requests[index] = self._prepare(contexts[index], module)
            except Exception as exc:
                failures[index] = exc
                continue
            ready.append(index)
        results = module.send_batch([requests[i] for i in ready], self.clients) if ready else []
        for index, result in zip(ready, results, strict=True):
            if isinstance(result, Exception):
                failures[index] = result
            else:
                outcomes[index] = _outcome(contexts[index], "fired", 0, attempts[index], result)
        return failures

    def _claim(self, ctx: FireContext, claim: Claim | None, started: float) -> Outcome | None:
        """None when the task may fire; else its outcome (a duplicate, or a failed claim, which
        is not sent: firing without a claim could fire it twice)."""
        if claim is None:
            return None
        try:
            claimed = claim(ctx)
        except Exception as exc:
            return self._failed(ctx, exc, 0, started, during="claiming it")
        return None if claimed else _outcome(ctx, "duplicate", started, 0)

    def _prepare(self, ctx: FireContext, module: Target) -> Request:
        expanded = expand(ctx.task.target, ctx, self.secrets.resolve)
        return module.build(replace(ctx.task, target=expanded), ctx)

    def _should_retry(self, exc: BaseException, ctx: FireContext, attempts: int) -> bool:
        return is_transient(exc) and attempts < 1 + max(0, ctx.task.retries)

    def _backoff(self, attempt: int) -> None:
        self._sleep(self._rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))

    def _failed(
        self,
        ctx: FireContext,
        exc: BaseException,
        attempts: int,
        started: float,
        during: str = "sending it",
    ) -> Outcome:
        error = f"{during}: {describe(exc, self.secrets.redact)}"
        dlq_error = self._dead_letter(ctx, error, attempts)
        if dlq_error is not None:
            error = f"{error}; and the dead-letter queue refused it: {dlq_error}"
        dlq = self.dlq_url is not None and dlq_error is None
        return _outcome(ctx, "failed", started, attempts, error=error, dlq=dlq)

    def _dead_letter(self, ctx: FireContext, error: str, attempts: int) -> str | None:
        """Record a failed task on the DLQ; None when recorded (or when there is no DLQ), else
        why it could not be."""
        if self.dlq_url is None:
            return None
        call: dict[str, Any] = {
            "QueueUrl": self.dlq_url,
            "MessageBody": self.secrets.redact(self._dead_letter_text(ctx, error, attempts)),
        }
        if is_fifo(self.dlq_url):
            call.update(MessageGroupId=ctx.task.name, MessageDeduplicationId=ctx.execution_id)
        for attempt in range(1, DLQ_ATTEMPTS + 1):
            try:
                self.clients.client("sqs").send_message(**call)
                return None
            except Exception as exc:
                if attempt == DLQ_ATTEMPTS or not is_transient(exc):
                    return describe(exc, self.secrets.redact)
                self._backoff(attempt)
        return None

    def _dead_letter_text(self, ctx: FireContext, error: str, attempts: int) -> str:
        letter = self._dead_letter_body(ctx, error, attempts)
        text = json.dumps(letter)
        if len(text.encode("utf-8")) > DLQ_MAX_BYTES:
            # A request near the SQS size limit cannot travel with its context; the context is
            # worth more, and the request is in the manifest.
            letter["request"] = None
            letter["request_omitted"] = "too large for an SQS message; see the task in the manifest"
            text = json.dumps(letter)
        return text

    def _dead_letter_body(self, ctx: FireContext, error: str, attempts: int) -> dict[str, Any]:
        """Everything needed to understand and replay the run, with secret placeholders kept."""
        request: Any
        try:
            module = target(ctx.task.type)
            expanded = expand(ctx.task.target, ctx)
            request = module.build(replace(ctx.task, target=expanded), ctx)
        except Exception:
            request = dict(ctx.task.target)
        return {
            "env": ctx.env,
            "task": ctx.task.name,
            "type": ctx.task.target.get("type"),
            "scheduled": ctx.scheduled_iso,
            "execution_id": ctx.execution_id,
            "request": _jsonable(request),
            "error": error,
            "attempts": attempts,
        }

    def _results(
        self, future: Future[list[Outcome]], contexts: Sequence[FireContext], indices: list[int]
    ) -> list[Outcome]:
        """A job's outcomes; should a job itself break, its tasks fail and the others go on."""
        try:
            return future.result()
        except Exception as exc:
            error = f"dispatching it: {describe(exc, self.secrets.redact)}"
            return [
                _outcome(contexts[i], "failed", time.monotonic(), 0, error=error) for i in indices
            ]


def describe(exc: BaseException, redact: Callable[[str], str]) -> str:
    """An error as a log line, with every secret value masked by ``redact``: our own errors
    speak for themselves, others carry their type; what a target answered is masked before it
    is shortened (``TargetError.describe``)."""
    if isinstance(exc, TargetError):
        return exc.describe(redact)
    if isinstance(exc, LambdacronError):
        return redact(str(exc))
    return redact(f"{type(exc).__name__}: {exc}")


def _outcome(
    ctx: FireContext,
    status: Status,
    started: float,
    attempts: int,
    response_id: str | None = None,
    error: str | None = None,
    dlq: bool = False,
) -> Outcome:
    return Outcome(
        task=ctx.task.name,
        scheduled=ctx.scheduled_iso,
        status=status,
        response_id=response_id,
        attempts=attempts,
        duration_ms=_elapsed_ms(started),
        error=error,
        dlq=dlq,
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _jsonable(value: Any) -> Any:
    """The request as JSON can carry it (an HTTP body is bytes in the request)."""
    return json.loads(json.dumps(value, default=lambda v: v.decode("utf-8", "replace")))
