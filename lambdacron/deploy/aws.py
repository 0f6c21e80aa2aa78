"""Deploy stage, AWS access: one boto3 session per command, the account pin, and botocore's
failures turned into one clear StoreError line (exit 3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lambdacron.errors import StoreError
from lambdacron.project import Environment

T = TypeVar("T")


@dataclass(frozen=True)
class Aws:
    """A session for one env: its region, and the identity its credentials resolve to."""

    session: Any
    region: str
    account: str
    caller: str
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def client(self, service: str) -> Any:
        """The session's client for ``service``, created once."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    @property
    def partition(self) -> str:
        """``aws``, ``aws-cn``, ``aws-us-gov``...: from the caller's ARN."""
        parts = self.caller.split(":")
        return parts[1] if len(parts) > 1 and parts[0] == "arn" else "aws"


def connect(env: Environment) -> Aws:
    """A session in the env's region, after checking the env's account pin (``account:``)."""
    import boto3

    session = boto3.session.Session(region_name=env.region)
    region = session.region_name
    if not region:
        raise StoreError(
            f"env {env.name}: no AWS region; set `region:` in envs/{env.name}.yml or AWS_REGION"
        )
    identity = call("sts get-caller-identity", lambda: session.client("sts").get_caller_identity())
    account = str(identity["Account"])
    if env.account and account != env.account:
        raise StoreError(
            f"env {env.name} is pinned to AWS account {env.account}, but the credentials in use "
            f"({identity.get('Arn')}) belong to account {account}. Nothing was changed. Switch "
            f"credentials (AWS_PROFILE) or fix `account:` in envs/{env.name}.yml."
        )
    return Aws(session, region, account, str(identity.get("Arn", "")))


def call(what: str, run: Callable[[], T]) -> T:
    """Run one AWS request; any failure becomes a StoreError naming ``what``."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        return run()
    except ClientError as exc:
        raise StoreError(f"{what}: {error_code(exc)}: {error_message(exc)}") from exc
    except ResponseParserError as exc:
        # An answer botocore cannot read (a proxy's page, an emulator's error): its text is the
        # only clue there is.
        raise StoreError(f"{what}: unexpected answer: {exc}".replace("\n", " ")) from exc
    except BotoCoreError as exc:
        raise StoreError(f"{what}: {exc}. Check the network, AWS credentials and region.") from exc


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message") or exc).replace("\n", " ")
