"""Shared fixtures: a guard against real AWS and the home directory, a moto server on loopback,
and a local HTTP server that records what it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import loopback_server

REPO = Path(__file__).resolve().parent.parent
DEAD_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing listens, so stray AWS calls fail fast


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials and region; any AWS call not aimed at the moto server fails loudly;
    the home directory is a fresh empty folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "LAMBDACRON_STORE",
        "LAMBDACRON_ENV",
        "LAMBDACRON_STATE_TABLE",
        "LAMBDACRON_DLQ_URL",
        "NO_COLOR",
        "FORCE_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)


@dataclass
class MotoServer:
    url: str

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(
        f"{url}/moto-api/config",
        json={"lambda": {"use_docker": False}, "batch": {"use_docker": False}},
        timeout=10,
    ).raise_for_status()
    try:
        yield MotoServer(url)
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto server for this test, reached by real boto3 through AWS_ENDPOINT_URL."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    yield moto_server


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    response_body: bytes = b'{"ok": true}'


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 that records every request and answers ``status``."""
    state = HttpServer(url="")
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(
                Recorded(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
            )
            if state.delay:
                stop.wait(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.response_body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(state.response_body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with loopback_server(Handler) as url:
        state.url = url
        try:
            yield state
        finally:
            stop.set()  # a request held by ``delay`` answers now, so the server can stop
