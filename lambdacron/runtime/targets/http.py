"""Target ``http``: one HTTP request through a shared keep-alive session.

``method`` and ``url``; optional ``headers``, ``params``, ``json`` or ``body``, ``timeout``
(seconds, default 10, always set so that a hanging server cannot hold a worker) and
``expect_status`` (a status or a list; default any 2xx). The response id is the HTTP status.

Errors name the URL as the task wrote it: requests and urllib3 quote it as they encoded it
(``a b`` as ``a%20b``), a form of a secret in the URL that redaction could miss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdacron.runtime.targets.base import (
    Request,
    TargetError,
    as_text,
    is_transient,
    is_transient_status,
)

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext
    from lambdacron.runtime.manifest import Task

DEFAULT_TIMEOUT = 10.0


def build(task: Task, ctx: FireContext) -> Request:
    target = task.target
    request: Request = {
        "method": str(target.get("method", "GET")).upper(),
        "url": str(target["url"]),
        "timeout": float(target.get("timeout", DEFAULT_TIMEOUT)),
    }
    if target.get("headers"):
        request["headers"] = {str(k): as_text(v) for k, v in target["headers"].items()}
    if target.get("params"):
        request["params"] = target["params"]
    if "json" in target:
        request["json"] = target["json"]
    elif "body" in target:
        request["data"] = as_text(target["body"]).encode("utf-8")
    if "expect_status" in target:
        expected = target["expect_status"]
        request["expect_status"] = (
            [int(s) for s in expected] if isinstance(expected, list) else [int(expected)]
        )
    return request


def send(request: Request, clients: Clients) -> str:
    import requests

    call = {k: v for k, v in request.items() if k != "expect_status"}
    try:
        response = clients.http.request(**call)
    except requests.RequestException as exc:
        # ``from None``: a traceback of the cause would quote the URL in requests' encoding.
        raise _not_answered(request, exc) from None
    with response:
        status = int(response.status_code)
        if not _expected(status, request.get("expect_status")):
            raise TargetError(
                f"{request['method']} {request['url']} answered HTTP {status} {response.reason} "
                f"(expected {_describe(request.get('expect_status'))})",
                transient=is_transient_status(status),
                quoted=response.text,
            )
    return str(status)


def _not_answered(request: Request, exc: Exception) -> TargetError:
    """requests' error told with the URL as written and the cause at the bottom of its chain
    (e.g. ``[Errno 111] Connection refused``), not urllib3's wrappers that quote the URL."""
    import requests

    timeout = request["timeout"]
    if isinstance(exc, requests.ConnectTimeout):
        reason = f"no connection within {timeout:g} s"
    elif isinstance(exc, requests.ReadTimeout):
        reason = f"no answer within {timeout:g} s, the task's timeout"
    else:
        reason = str(_root_cause(exc))
    return TargetError(
        f"{request['method']} {request['url']} failed: {type(exc).__name__}: {reason}",
        transient=is_transient(exc),
    )


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while True:
        cause = exc.__cause__ or exc.__context__
        if cause is None or id(cause) in seen:
            return exc
        seen.add(id(cause))
        exc = cause


def _expected(status: int, expected: Any) -> bool:
    return status in expected if expected else 200 <= status < 300


def _describe(expected: Any) -> str:
    return " or ".join(str(s) for s in expected) if expected else "2xx"
