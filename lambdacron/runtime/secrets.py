"""Dispatch stage, secrets: resolve ``secret(...)`` references at fire time and keep their
values out of everything lambdacron writes.

References: ``ssm:/path/name`` (SSM Parameter Store, decrypted), ``secretsmanager:name`` and
``secretsmanager:name#json_key`` (Secrets Manager; the secret string is a JSON object and
``json_key`` one of its keys). Values are cached for the life of the process (a Lambda cold
start) and remembered by the redactor, which replaces each of them with ``***`` wherever it
occurs, even inside a longer word: a short secret value makes logs harder to read, never leaks.

Python's ``logging`` is out of the redactor's reach: at DEBUG, botocore logs the body of the
GetParameter answer that brings a value (before the redactor can know it) and of every request
that carries one, and urllib3 logs URLs. So whenever a value is handed out, the loggers of the
AWS SDK and of HTTP (``SDK_LOGGERS``) are held at INFO or above, whatever level Lambda's
``AWS_LAMBDA_LOG_LEVEL`` or the root logger asks for.
"""

from __future__ import annotations

import json
import logging
import re
import string
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from lambdacron.runtime.errors import LambdacronError

if TYPE_CHECKING:
    from lambdacron.runtime.clients import Clients

MASK = "***"
NOT_FOUND_CODES = frozenset(
    {"ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException"}
)
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
# Their DEBUG lines quote request and response bodies, headers and URLs.
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
# Characters left as they are in a URL by requests (``requote_uri``), then by urllib3 (its grammar
# of a path and a query); "%" too when every "%" starts an escape. Their errors quote the URL so.
URL_SAFE = ("!#$&'()*+,/:;=?@[]~", "!$&'()*+,/:;=?@~")
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class SecretError(LambdacronError):
    """A secret reference that cannot be resolved. The message names the reference only."""

    exit_code = 3

    def __init__(self, reference: str, problem: str, fix: str) -> None:
        self.reference = reference
        super().__init__(f"secret {reference!r}: {problem}; {fix}")


class Secrets:
    """Resolves secret references through ``clients`` and redacts their values."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}
        # Every form a value may take in a log line (``forms``), longest first.
        self._forms: list[str] = []

    def resolve(self, reference: str) -> str:
        # On every call, not once: the value is about to travel in a request, and a level may
        # have been lowered since.
        quiet_sdk_loggers()
        value = self._values.get(reference)
        if value is None:
            value = self._fetch(reference)
            self._remember(reference, value)
        return value

    def redact(self, text: str) -> str:
        """``text`` with every resolved secret value replaced by ``***``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def redact_value(self, value: Any) -> Any:
        """A JSON-like value with every string redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value

    def _remember(self, reference: str, value: str) -> None:
        with self._lock:
            self._values[reference] = value
            known = set(self._forms) | {form for form in forms(value) if form}
            # Longest first, so that a secret containing another is masked whole.
            self._forms = sorted(known, key=len, reverse=True)

    def _fetch(self, reference: str) -> str:
        kind, _, name = reference.partition(":")
        if kind == "ssm" and name:
            return self._ssm(reference, name)
        if kind == "secretsmanager" and name:
            return self._secrets_manager(reference, name)
        raise SecretError(
            reference,
            "not a secret reference",
            'write secret("ssm:/path/name"), secret("secretsmanager:name") or '
            'secret("secretsmanager:name#json_key")',
        )

    def _ssm(self, reference: str, name: str) -> str:
        try:
            response = self._clients.client("ssm").get_parameter(Name=name, WithDecryption=True)
        except Exception as exc:
            raise _translate(reference, exc, "SSM Parameter Store") from exc
        return str(response["Parameter"]["Value"])

    def _secrets_manager(self, reference: str, name: str) -> str:
        secret_id, _, key = name.partition("#")
        try:
            response = self._clients.client("secretsmanager").get_secret_value(SecretId=secret_id)
        except Exception as exc:
            raise _translate(reference, exc, "Secrets Manager") from exc
        text = response.get("SecretString")
        if text is None:
            text = bytes(response["SecretBinary"]).decode("utf-8")
        return _json_key(reference, text, key) if key else str(text)


def forms(value: str) -> set[str]:
    """The value as is, JSON-escaped, URL-quoted (as a query value, as a form field) and as
    requests and urllib3 quote it inside a URL."""
    found = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    # urllib3 writes what looks like an escape in capitals, then keeps every "%" if all of them
    # start escapes, else quotes them all; requests decodes escapes of unreserved characters.
    capitals = ESCAPE.sub(lambda match: match[0].upper(), value)
    decoded = ESCAPE.sub(_decode_unreserved, capitals)
    for safe in URL_SAFE:
        found.add(quote(capitals, safe=safe))
        found.add(quote(decoded, safe=safe + "%"))
    return found


def _decode_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match[0][1:], 16))
    return char if char in UNRESERVED else match[0]


def quiet_sdk_loggers() -> None:
    """Hold every logger of ``SDK_LOGGERS`` at INFO or above (a higher level is kept)."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def _json_key(reference: str, text: str, key: str) -> str:
    fix = f"store a JSON object with a {key!r} key in the secret, or drop '#{key}'"
    try:
        document = json.loads(text)
    except ValueError:
        raise SecretError(reference, "the secret is not a JSON object", fix) from None
    if not isinstance(document, dict) or key not in document:
        raise SecretError(reference, f"the secret has no key {key!r}", fix)
    value = document[key]
    return value if isinstance(value, str) else json.dumps(value)


def _translate(reference: str, exc: Exception, service: str) -> Exception:
    """Missing or forbidden secrets become a SecretError naming the reference; anything else
    (throttling, network) is returned as is, so that the dispatcher may retry it."""
    from lambdacron.runtime.targets.base import error_code

    code = error_code(exc)
    if code in NOT_FOUND_CODES:
        return SecretError(
            reference, f"not found in {service}", "create it, or fix the reference in the template"
        )
    if code in DENIED_CODES:
        return SecretError(
            reference,
            f"access denied by {service}",
            "allow the scheduler's role to read it (and to decrypt it with its KMS key)",
        )
    return exc
