"""Target ``eventbridge``: EventBridge PutEvents with one entry. PutEvents answers 200 even when
it refuses the entry, so ``FailedEntryCount`` is checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdacron.runtime.targets.base import Request, TargetError, as_text, is_transient_code

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task

ENTRY_FIELDS = (
    "Source",
    "DetailType",
    "Detail",
    "EventBusName",
    "Resources",
    "Time",
    "TraceHeader",
)


def build(task: Task, ctx: FireContext) -> Request:
    entry = {k: task.target[k] for k in ENTRY_FIELDS if k in task.target}
    entry["Detail"] = as_text(entry.get("Detail", {}))
    return {"Entries": [entry]}


def send(request: Request, clients: Clients) -> str:
    response = clients.client("events").put_events(**request)
    entry: dict[str, Any] = response["Entries"][0]
    if response.get("FailedEntryCount") or "EventId" not in entry:
        code = entry.get("ErrorCode")
        raise TargetError(
            f"EventBridge refused the event: {code}: {entry.get('ErrorMessage', '')}",
            transient=is_transient_code(code),
        )
    return str(entry["EventId"])
