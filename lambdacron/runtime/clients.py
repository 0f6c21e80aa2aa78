"""Dispatch stage, the connections: one boto3 client per AWS service and one HTTP session per
process (a Lambda cold start), created on first use so that importing the runtime stays cheap.

Endpoints come from the standard AWS configuration (``AWS_ENDPOINT_URL``, profiles), never
from here. botocore's own retries are off: the dispatcher retries with backoff within each
task's ``retries``, so a throttled call is not retried twice over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import requests

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
# Long enough for a RequestResponse Lambda invoke; a scheduler invocation lasts a minute or so.
READ_TIMEOUT = 60.0


class Clients:
    """Lazily created, thread-safe, per-process clients. ``max_pool_connections`` should be at
    least the dispatcher's ``max_workers`` so that no worker waits for a connection."""

    def __init__(self, region: str | None = None, max_pool_connections: int = 32) -> None:
        self.region = region
        self.max_pool_connections = max_pool_connections
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._http: requests.Session | None = None
        self._memo: dict[tuple[str, ...], Any] = {}

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` ("sqs", "lambda", ...), created once."""
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._create(service)
                    self._clients[service] = client
        return client

    @property
    def http(self) -> requests.Session:
        """A requests session shared by every HTTP target: keep-alive connections, no cookies
        (one task's cookies must never reach another task), no automatic retries."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = self._create_http()
        return self._http

    def memo(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        """A value computed once per process (e.g. a queue name's URL). A failed computation is
        not cached, so the next call tries again."""
        try:
            value: T = self._memo[key]
        except KeyError:
            value = compute()
            with self._lock:
                self._memo.setdefault(key, value)
        return value

    def _create(self, service: str) -> Any:
        import boto3.session
        from botocore.config import Config

        # boto3's default session is not thread-safe to create clients from: keep our own.
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_pool_connections=self.max_pool_connections,
            retries={"mode": "standard", "total_max_attempts": 1},
            tcp_keepalive=True,
        )
        return self._session.client(service, config=config)

    def _create_http(self) -> requests.Session:
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_maxsize=self.max_pool_connections, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session
