"""Target ``batch``: AWS Batch SubmitJob. ``parameters`` and ``tags`` are string maps in the API,
so numbers, booleans and nested values are sent as their JSON text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdacron.runtime.targets.base import Request, as_string_map, without_type

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task


def build(task: Task, ctx: FireContext) -> Request:
    request = without_type(task.target)
    for key in ("parameters", "tags"):
        if isinstance(request.get(key), dict):
            request[key] = as_string_map(request[key])
    return request


def send(request: Request, clients: Clients) -> str:
    return str(clients.client("batch").submit_job(**request)["jobId"])
