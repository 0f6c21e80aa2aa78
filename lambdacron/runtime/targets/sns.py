"""Target ``sns``: SNS Publish. ``Message`` is sent as JSON when it is a mapping or list. FIFO
topics get the execution id as deduplication id and the task name as message group unless the
task sets them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdacron.runtime.targets.base import Request, as_text, is_fifo, without_type

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task


def build(task: Task, ctx: FireContext) -> Request:
    request = without_type(task.target)
    request["Message"] = as_text(request.get("Message", ""))
    if is_fifo(str(request.get("TopicArn", ""))):
        request.setdefault("MessageDeduplicationId", ctx.execution_id)
        request.setdefault("MessageGroupId", task.name)
    return request


def send(request: Request, clients: Clients) -> str:
    return str(clients.client("sns").publish(**request)["MessageId"])
