"""Targets, shared parts: the shape every target module has, its error, and the rule that tells
a transient failure (worth a retry) from a permanent one.

A target module turns a task's ``task:`` mapping into one AWS API (or HTTP) request with ``build``
(pure), and sends it with ``send`` (I/O), returning the target's response id.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lambdacron.runtime.errors import LambdacronError
from lambdacron.runtime.manifest import Task

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients
    from lambdacron.runtime.context import FireContext

Request = dict[str, Any]

# Error codes that AWS documents as "slow down" or "try again", whatever the HTTP status. A code
# may come with its service's prefix (SQS: "AWS.SimpleQueueService.RequestThrottled", KMS
# through SQS: "KMS.ThrottlingException"): ``is_transient_code`` looks past it.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServiceException",
        "KMSThrottlingException",
        "KmsThrottled",
    }
)
# HTTP statuses a target may answer when it is overloaded or briefly unavailable.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})
# Characters of a target's own answer (a response body, a function's error) kept in a message.
QUOTE_PREVIEW = 300


class TargetError(LambdacronError):
    """A target refused or failed a request. ``transient`` says whether a retry may succeed.

    ``quoted`` is the target's own answer, kept whole: it may echo a secret the request carried,
    and only once that is masked may it be shortened (``describe``); a cut made first could
    leave half of a secret that the redactor no longer recognises.
    """

    exit_code = 3

    def __init__(self, message: str, *, transient: bool, quoted: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.quoted = quoted

    def describe(self, redact: Callable[[str], str]) -> str:
        """The message and the first ``QUOTE_PREVIEW`` characters of the answer, redacted."""
        message = redact(str(self))
        if not self.quoted:
            return message
        return f"{message}: {redact(self.quoted)[:QUOTE_PREVIEW]}"


class Target(Protocol):
    """One target type: ``build`` the request (pure), ``send`` it (returns the response id)."""

    def build(self, task: Task, ctx: FireContext) -> Request: ...

    def send(self, request: Request, clients: Clients) -> str: ...


class BatchTarget(Target, Protocol):
    """A target whose API takes several requests per call (SQS SendMessageBatch).

    ``batch_key`` groups unexpanded ``task:`` mappings that are likely to share one call;
    ``send_batch`` returns, per request and in order, the response id or the exception.
    """

    BATCH_SIZE: int

    def batch_key(self, target: Mapping[str, Any]) -> str: ...

    def send_batch(
        self, requests: Sequence[Request], clients: Clients
    ) -> list[str | Exception]: ...


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_HTTP_STATUSES or status >= 500


def is_transient_code(code: object) -> bool:
    return isinstance(code, str) and code.rpartition(".")[2] in TRANSIENT_CODES


def is_transient(exc: BaseException) -> bool:
    """True when a retry of the same request may succeed: throttling, 5xx, timeouts, lost
    connections. Everything else (validation, missing resources, bugs) is permanent."""
    if isinstance(exc, TargetError):
        return exc.transient
    if isinstance(exc, LambdacronError):
        return False
    return _is_transient_botocore(exc) or _is_transient_requests(exc)


def _is_transient_botocore(exc: BaseException) -> bool:
    # Only consult botocore if it is loaded: an HTTP-only runtime never imports it.
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:
        return False
    if isinstance(exc, exceptions.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return is_transient_code(error.get("Code")) or is_transient_status(int(status))
    return isinstance(
        exc,
        exceptions.HTTPClientError | exceptions.ConnectionError | exceptions.IncompleteReadError,
    )


def _is_transient_requests(exc: BaseException) -> bool:
    exceptions = sys.modules.get("requests.exceptions")
    if exceptions is None:
        return False
    return isinstance(exc, exceptions.Timeout | exceptions.ConnectionError)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def as_text(value: Any) -> str:
    """A message body: strings as they are, mappings and lists as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def as_string_map(value: Mapping[str, Any]) -> dict[str, str]:
    """APIs that take string-to-string maps (Batch parameters, tags): YAML gives numbers and
    booleans too, and JSON for nested values is what a user would write by hand."""
    return {str(k): v if isinstance(v, str) else as_text(v) for k, v in value.items()}


def without_type(target: Mapping[str, Any]) -> Request:
    """The ``task:`` mapping minus ``type``: the AWS API's own parameter names."""
    return {k: v for k, v in target.items() if k != "type"}


def is_fifo(name_or_url_or_arn: str) -> bool:
    return name_or_url_or_arn.endswith(".fifo")
