"""Target ``lambda``: Lambda Invoke (not the deprecated InvokeAsync).

``InvocationType`` defaults to ``Event`` (asynchronous: Lambda queues the event and retries it
itself). ``Payload`` (or its 2017 LambdaCron alias ``InvokeArgs``) is sent as JSON when it is a
mapping or list. A function error in a ``RequestResponse`` invoke is a failure, not retried: the
function ran, and running it again is the function's own retry policy to decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambdacron.runtime.targets.base import Request, TargetError, as_text, without_type

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task


def build(task: Task, ctx: FireContext) -> Request:
    request = without_type(task.target)
    payload = request.pop("InvokeArgs", None)
    payload = request.get("Payload", payload)
    if payload is not None:
        request["Payload"] = as_text(payload)
    request.setdefault("InvocationType", "Event")
    return request


def send(request: Request, clients: Clients) -> str:
    response = clients.client("lambda").invoke(**request)
    check(request, response)
    return str(response["ResponseMetadata"].get("RequestId") or response.get("StatusCode"))


def check(request: Mapping[str, Any], response: Mapping[str, Any]) -> None:
    """Raise when the function itself failed (the ``FunctionError`` of the response)."""
    function_error = response.get("FunctionError")
    if not function_error:
        return
    payload = response.get("Payload")
    # Read whole (at most Lambda's 6 MB): the error may echo a secret, masked before it is cut.
    detail = payload.read().decode("utf-8", "replace") if payload else ""
    raise TargetError(
        f"Lambda function {request['FunctionName']} failed ({function_error})",
        transient=False,
        quoted=detail,
    )
