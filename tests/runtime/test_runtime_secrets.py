"""Secrets: resolved from SSM Parameter Store and Secrets Manager at fire time, cached per
process, and redacted from anything lambdacron writes."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdacron.runtime.clients import Clients
from lambdacron.runtime.secrets import MASK, SecretError, Secrets

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
