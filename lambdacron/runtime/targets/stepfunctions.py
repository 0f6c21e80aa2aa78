"""Target ``stepfunctions``: Step Functions StartExecution, named by the execution id unless the
task names it. ``ExecutionAlreadyExists`` means this very run already started: a success."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdacron.runtime.targets.base import Request, as_text, error_code, without_type

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task


def build(task: Task, ctx: FireContext) -> Request:
    request = without_type(task.target)
    if "input" in request:
        request["input"] = as_text(request["input"])
    request.setdefault("name", ctx.execution_id)
    return request


def send(request: Request, clients: Clients) -> str:
    try:
        response = clients.client("stepfunctions").start_execution(**request)
    except Exception as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            return execution_arn(str(request["stateMachineArn"]), str(request["name"]))
        raise
    return str(response["executionArn"])


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:…:stateMachine:NAME → arn:…:execution:NAME:EXECUTION (the documented ARN layout)."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
