"""Clients: one boto3 client per service per process, created lazily, with our retry policy
and the endpoint of the standard AWS configuration."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lambdacron.runtime.clients import Clients


@pytest.mark.aws
def test_one_client_per_service_even_under_concurrency(aws: Any) -> None:
    clients = Clients(region="eu-west-1")
    seen: list[Any] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(clients.client("sqs"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(client) for client in seen}) == 1
    assert clients.client("sns") is not seen[0]
    sqs = seen[0]
    assert sqs.meta.region_name == "eu-west-1"
    assert sqs.meta.endpoint_url == aws.url
    assert sqs.meta.config.retries["total_max_attempts"] == 1
    assert sqs.meta.config.max_pool_connections == 32


def test_http_session_is_shared_and_keeps_no_cookies() -> None:
    cookies_sent: list[str | None] = []

    class SetsCookies(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cookies_sent.append(self.headers.get("Cookie"))
            self.send_response(200)
            self.send_header("Set-Cookie", "sid=task-a; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SetsCookies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    clients = Clients()
    try:
        first = clients.http.get(url, timeout=5)
        second = clients.http.get(url, timeout=5)
    finally:
        server.shutdown()
        server.server_close()

    assert clients.http is clients.http
    assert (first.status_code, second.status_code) == (200, 200)
    assert cookies_sent == [None, None]


def test_memo_computes_once_and_does_not_cache_failures() -> None:
    clients = Clients()
    calls: list[int] = []

    def fail() -> str:
        calls.append(0)
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        clients.memo(("k",), fail)
    assert clients.memo(("k",), lambda: "v") == "v"
    assert clients.memo(("k",), fail) == "v"
    assert calls == [0]


def test_importing_the_fire_path_does_not_import_boto3_or_requests() -> None:
    code = (
        "import sys, lambdacron.runtime.dispatch, lambdacron.runtime.targets; "
        "print(sorted(m for m in ('boto3', 'botocore', 'requests') if m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
