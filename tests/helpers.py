"""Build small projects in tmp_path for tests."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BATCH_TEMPLATE = """\
name: {name}
expression: "{expression}"
task:
  type: batch
  jobName: {name}
  jobQueue: {{{{ batch.queue }}}}
  jobDefinition: "defs:1"
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path → text, dedented) and make sure templates/ and envs/ exist."""
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "envs").mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def simple_project(root: Path, **extra: str) -> Path:
    files = {
        "envs/dev.yml": "vars:\n  batch: {queue: q-dev}\n",
        "templates/job.yml.j2": BATCH_TEMPLATE.format(name="job", expression="0 17 5 * *"),
    }
    files.update(extra)
    return write_project(root, files)


REPO = Path(__file__).resolve().parent.parent


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 (a free port) for the block; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
