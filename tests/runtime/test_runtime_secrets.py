"""Secrets: resolved from SSM Parameter Store and Secrets Manager at fire time, cached per
process, and redacted from anything lambdacron writes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdacron.runtime.clients import Clients
from lambdacron.runtime.secrets import MASK, SDK_LOGGERS, SecretError, Secrets

pytestmark = pytest.mark.aws


def test_ssm_secure_string_is_decrypted(aws: Any) -> None:
    boto3.client("ssm").put_parameter(Name="/finp/token", Value="t0ken", Type="SecureString")

    assert Secrets(Clients()).resolve("ssm:/finp/token") == "t0ken"


def test_secrets_manager_string_and_json_key(aws: Any) -> None:
    manager = boto3.client("secretsmanager")
    manager.create_secret(Name="finp/plain", SecretString="pl41n")
    manager.create_secret(
        Name="finp/db", SecretString=json.dumps({"user": "finp", "password": "pw!", "port": 5432})
    )
    secrets = Secrets(Clients())

    assert secrets.resolve("secretsmanager:finp/plain") == "pl41n"
    assert secrets.resolve("secretsmanager:finp/db#password") == "pw!"
    assert secrets.resolve("secretsmanager:finp/db#port") == "5432"


def test_values_are_cached_per_process(aws: Any) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/finp/token", Value="first", Type="SecureString")
    secrets = Secrets(Clients())
    assert secrets.resolve("ssm:/finp/token") == "first"

    ssm.delete_parameter(Name="/finp/token")

    assert secrets.resolve("ssm:/finp/token") == "first"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "ssm:/missing",
            "secret 'ssm:/missing': not found in SSM Parameter Store; create it, or fix the "
            "reference in the template",
        ),
        (
            "secretsmanager:missing",
            "secret 'secretsmanager:missing': not found in Secrets Manager; create it, or fix "
            "the reference in the template",
        ),
        (
            "secretsmanager:finp/db#host",
            "secret 'secretsmanager:finp/db#host': the secret has no key 'host'; store a JSON "
            "object with a 'host' key in the secret, or drop '#host'",
        ),
        (
            "secretsmanager:finp/plain#user",
            "secret 'secretsmanager:finp/plain#user': the secret is not a JSON object; store a "
            "JSON object with a 'user' key in the secret, or drop '#user'",
        ),
        (
            "vault:/x",
            "secret 'vault:/x': not a secret reference; write secret(\"ssm:/path/name\"), "
            'secret("secretsmanager:name") or secret("secretsmanager:name#json_key")',
        ),
        (
            "ssm:",
            "secret 'ssm:': not a secret reference; write secret(\"ssm:/path/name\"), "
            'secret("secretsmanager:name") or secret("secretsmanager:name#json_key")',
        ),
    ],
)
def test_unresolvable_references_name_the_reference(aws: Any, reference: str, message: str) -> None:
    manager = boto3.client("secretsmanager")
    manager.create_secret(Name="finp/plain", SecretString="v4lue-plain")
    manager.create_secret(Name="finp/db", SecretString=json.dumps({"password": "v4lue-pw"}))

    with pytest.raises(SecretError) as caught:
        Secrets(Clients()).resolve(reference)

    assert str(caught.value) == message
    assert "v4lue" not in str(caught.value)


def test_redact_masks_every_form_of_a_resolved_value(aws: Any) -> None:
    value = 'p@ss "word"/+'
    boto3.client("ssm").put_parameter(Name="/p", Value=value, Type="SecureString")
    boto3.client("ssm").put_parameter(Name="/short", Value="ss", Type="SecureString")
    secrets = Secrets(Clients())
    assert secrets.redact(f"before {value}") == f"before {value}"
    secrets.resolve("ssm:/p")
    secrets.resolve("ssm:/short")

    assert secrets.redact(f"header {value}!") == "header ***!"
    assert secrets.redact(json.dumps({"h": value})) == '{"h": "***"}'
    assert secrets.redact("url ?k=p%40ss%20%22word%22%2F%2B") == "url ?k=***"
    assert secrets.redact("form k=p%40ss+%22word%22%2F%2B") == "form k=***"
    assert secrets.redact_value({"a": [f"x{value}"], "n": 1, value: "ss"}) == {
        "a": ["x***"],
        "n": 1,
        "***": "***",
    }


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=30), around=st.text(max_size=20))
def test_redacted_text_never_contains_the_value(value: str, around: str) -> None:
    secrets = Secrets(Clients())
    secrets._remember("ssm:/x", value)

    redacted = secrets.redact(around + value + around)

    # What is left of the text between the masks never holds the value (a value such as "*"
    # may of course reappear inside a mask itself).
    assert not any(value in fragment for fragment in redacted.split(MASK))
    assert MASK in redacted


# Any character but "#", which would end the query (requests drops a fragment); often "%" and
# hex digits, to make escapes, valid or not.
URL_TEXT = st.text(
    st.one_of(
        st.sampled_from("%%0aF7e[ ]/+é"),
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="#"),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(value=URL_TEXT)
def test_a_value_in_a_url_is_masked_in_requests_error_messages(value: str) -> None:
    secrets = Secrets(Clients())
    secrets._remember("ssm:/x", value)
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:9/hook?token={value}&end=1", timeout=5)
    # the value as requests and urllib3 encoded it, e.g. s3cr3t/T0k+n%209Xq for s3cr3t/T0k+n 9Xq
    quoted = re.search(r"with url: /hook\?token=(.*)&end=1 \(Caused by", str(caught.value))
    assert quoted is not None, str(caught.value)

    # masked whole (a short value may be masked more than once: "1" becomes "***")
    assert secrets.redact(quoted[1]).replace(MASK, "") == ""


@pytest.fixture
def sdk_loggers() -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in SDK_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("sdk_loggers")
def test_resolving_a_secret_keeps_the_sdk_quiet_at_debug(
    aws: Any, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("ssm").put_parameter(Name="/finp/token", Value="t0ken-9Xq", Type="SecureString")
    caplog.set_level(logging.DEBUG)  # what AWS_LAMBDA_LOG_LEVEL=DEBUG does to the root logger
    logging.getLogger("botocore").setLevel(logging.DEBUG)  # even if asked for by name
    logging.getLogger("urllib3").setLevel(logging.WARNING)  # a higher level is left alone

    assert Secrets(Clients()).resolve("ssm:/finp/token") == "t0ken-9Xq"

    assert [r.name for r in caplog.records if "t0ken-9Xq" in r.getMessage()] == []
    assert {name: logging.getLogger(name).level for name in SDK_LOGGERS} == {
        "botocore": logging.INFO,
        "boto3": logging.INFO,
        "urllib3": logging.WARNING,
        "s3transfer": logging.INFO,
    }
