"""Target ``queue``: SQS SendMessage, or SendMessageBatch when several tasks share a queue.

``QueueName`` is resolved to a URL once per process (GetQueueUrl). FIFO queues (names ending in
``.fifo``) get the execution id as deduplication id and the task name as message group unless
the task sets them, so that a retried or duplicated send is dropped by SQS itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lambdacron.runtime.targets.base import (
    Request,
    TargetError,
    as_text,
    is_fifo,
    is_transient_code,
    without_type,
)

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task

BATCH_SIZE = 10
# SendMessageBatch refuses a call whose messages add up to more than this (and so does the
# single SendMessage for one message); stay under it with room for attributes.
BATCH_BYTES = 256 * 1024
ENTRY_FIELDS = (
    "MessageBody",
    "DelaySeconds",
    "MessageAttributes",
    "MessageSystemAttributes",
    "MessageGroupId",
    "MessageDeduplicationId",
)


def build(task: Task, ctx: FireContext) -> Request:
    request = without_type(task.target)
    request["MessageBody"] = as_text(request.get("MessageBody", ""))
    if is_fifo(str(request.get("QueueUrl") or request.get("QueueName") or "")):
        request.setdefault("MessageDeduplicationId", ctx.execution_id)
        request.setdefault("MessageGroupId", task.name)
    return request


def send(request: Request, clients: Clients) -> str:
    sqs = clients.client("sqs")
    call = {k: v for k, v in request.items() if k != "QueueName"}
    call["QueueUrl"] = queue_url(request, clients)
    return str(sqs.send_message(**call)["MessageId"])


def batch_key(target: Mapping[str, Any]) -> str:
    return str(target.get("QueueUrl") or target.get("QueueName") or "")


def send_batch(requests: Sequence[Request], clients: Clients) -> list[str | Exception]:
    """Send ``requests`` (to any queues) in as few SendMessageBatch calls as SQS allows; per
    request, in order, the MessageId or the exception that entry met."""
    results: list[str | Exception] = [TargetError("not sent", transient=True)] * len(requests)
    for url, indices in _by_queue(requests, clients, results).items():
        for chunk in _chunks(indices, requests):
            _send_chunk(url, chunk, requests, clients, results)
    return results


def queue_url(request: Mapping[str, Any], clients: Clients) -> str:
    url = request.get("QueueUrl")
    if url:
        return str(url)
    name = str(request["QueueName"])

    def lookup() -> str:
        return str(clients.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    return clients.memo(("sqs-queue-url", name), lookup)


def _by_queue(
    requests: Sequence[Request], clients: Clients, results: list[str | Exception]
) -> dict[str, list[int]]:
    """Request indices per queue URL; a queue that cannot be resolved fails its requests (and
    is looked up once, not once per request)."""
    groups: dict[str, list[int]] = {}
    resolved: dict[str, str | Exception] = {}
    for index, request in enumerate(requests):
        key = batch_key(request)
        if key not in resolved:
            try:
                resolved[key] = queue_url(request, clients)
            except Exception as exc:
                resolved[key] = exc
        url = resolved[key]
        if isinstance(url, Exception):
            results[index] = url
        else:
            groups.setdefault(url, []).append(index)
    return groups


def _chunks(indices: list[int], requests: Sequence[Request]) -> list[list[int]]:
    chunks: list[list[int]] = []
    size = 0
    for index in indices:
        entry_size = _size(requests[index])
        if not chunks or len(chunks[-1]) == BATCH_SIZE or size + entry_size > BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(index)
        size += entry_size
    return chunks


def _size(request: Request) -> int:
    attributes = request.get("MessageAttributes") or {}
    return len(str(request.get("MessageBody", "")).encode()) + len(repr(attributes))


def _send_chunk(
    url: str,
    chunk: list[int],
    requests: Sequence[Request],
    clients: Clients,
    results: list[str | Exception],
) -> None:
    entries = [
        {"Id": str(index), **{k: requests[index][k] for k in ENTRY_FIELDS if k in requests[index]}}
        for index in chunk
    ]
    try:
        response = clients.client("sqs").send_message_batch(QueueUrl=url, Entries=entries)
    except Exception as exc:
        for index in chunk:
            results[index] = exc
        return
    for ok in response.get("Successful", []):
        results[int(ok["Id"])] = str(ok["MessageId"])
    for failed in response.get("Failed", []):
        results[int(failed["Id"])] = TargetError(
            f"SQS refused the message for {url}: {failed.get('Code')}: {failed.get('Message', '')}",
            # SenderFault says the entry itself is wrong, unless its code says "slow down";
            # otherwise SQS may accept it later.
            transient=is_transient_code(failed.get("Code")) or not failed.get("SenderFault", False),
        )
