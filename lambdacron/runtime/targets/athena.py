"""Target ``athena``: Athena StartQueryExecution, with the execution id as ClientRequestToken
(Athena then starts one query however often the same request is retried)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdacron.runtime.targets.base import Request, as_text, without_type

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task


def build(task: Task, ctx: FireContext) -> Request:
    request = without_type(task.target)
    request.setdefault("ClientRequestToken", ctx.execution_id)
    if isinstance(request.get("ExecutionParameters"), list):
        request["ExecutionParameters"] = [as_text(v) for v in request["ExecutionParameters"]]
    return request


def send(request: Request, clients: Clients) -> str:
    response = clients.client("athena").start_query_execution(**request)
    return str(response["QueryExecutionId"])
