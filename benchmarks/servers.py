"""Benchmarks, the loopback servers the dispatch figures fire at, each in a process of its own.

A moto server (``ThreadedMotoServer``, AWS without docker) and a keep-alive HTTP server, both on
127.0.0.1 at a free port. They run in child processes so that the server's threads do not take
the GIL from the dispatcher being measured: AWS is another machine too. ``python -m
benchmarks.servers moto|http`` prints the server's URL, then serves until its stdin closes.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MOTO_CONFIG = {"lambda": {"use_docker": False}, "batch": {"use_docker": False}}


@contextlib.contextmanager
def serving(kind: str) -> Iterator[str]:
    """Start ``kind`` ("moto" or "http") in a child process; yields its URL; stops it after."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.servers", kind],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # moto's web server logs every request to stderr whatever its verbosity.
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(
                f"the {kind} server did not start (it printed {url!r}); run "
                f"`python -m benchmarks.servers {kind}` to see its errors"
            )
        yield url
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class _Hook(BaseHTTPRequestHandler):
    """Answers every request with 200 and a small JSON body, keeping the connection open."""

    protocol_version = "HTTP/1.1"
    # Headers and body in one segment, sent at once: otherwise Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every keep-alive request.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    body = b'{"ok":true}'

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return None


def _serve_http() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()
    server.server_close()


def _serve_moto() -> None:
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/config", json=MOTO_CONFIG, timeout=30).raise_for_status()
    print(url, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    {"moto": _serve_moto, "http": _serve_http}[sys.argv[1]]()
