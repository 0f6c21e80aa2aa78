"""The store: where published manifests live, for the publisher (write side) and the scheduler
(read side).

Layout, the same for both kinds of store::

    <store>/<env>/manifest.json        the live manifest, the one the scheduler loads
    <store>/<env>/versions/<N>.json    every published version, immutable

``file:///abs/path`` (or a plain path) is the embedded local store; ``s3://bucket/prefix`` reaches
S3 through the standard AWS configuration, so ``AWS_ENDPOINT_URL`` points it at any S3-compatible
server. Both give the two guarantees publishing relies on: a version is written only if absent, and
the live manifest is replaced only if it is still the one the caller read (S3 conditional writes
``If-None-Match: *`` / ``If-Match``; a lock plus an atomic rename locally).

The store moves bytes; parsing and verifying them is ``lambdacron.runtime.manifest``'s job, which
accepts plain or gzip JSON. This module is part of the runtime: standard library only, boto3
imported lazily.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from lambdacron.runtime.errors import PublishConflictError, StoreError, UsageError
from lambdacron.runtime.manifest import GZIP_MAGIC

LIVE = "manifest.json"
VERSIONS = "versions"
# Above this size the local store keeps gzip (still read transparently); below it, plain JSON that a
# person can open. S3 objects are always gzip: it keeps a 100k-task manifest far below 4 MB.
FILE_GZIP_THRESHOLD = 1024 * 1024
ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
VERSION_FILE = re.compile(r"([1-9][0-9]*)\.json")

T = TypeVar("T")


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes as stored (plain or gzip JSON) and the tag that identifies this content."""

    data: bytes
    etag: str


class Store(ABC):
    """One store URL; every method takes the environment name."""

    url: str

    @abstractmethod
    def read_live(self, env: str) -> StoredObject | None:
        """The live manifest, or None when nothing has been published."""

    @abstractmethod
    def read_live_if_changed(self, env: str, etag: str) -> StoredObject | None:
        """The live manifest if its tag is no longer ``etag``; None when it is unchanged."""

    @abstractmethod
    def read_version(self, env: str, number: int) -> bytes:
        """The bytes of ``versions/<number>.json``; StoreError when there is no such version."""

    @abstractmethod
    def list_versions(self, env: str) -> list[int]:
        """Every version number present, ascending."""

    @abstractmethod
    def write_version(self, env: str, number: int, data: bytes) -> None:
        """Create ``versions/<number>.json``; PublishConflictError if it already exists with other
        bytes (the very same bytes again are a retried request, not a conflict)."""

    @abstractmethod
    def discard_version(self, env: str, number: int) -> None:
        """Remove a version that never went live: a publisher's own, after it lost the race for
        the live manifest. Never called for a version that was made live."""

    @abstractmethod
    def replace_live(self, env: str, data: bytes, expected_etag: str | None) -> str:
        """Make ``data`` live if the live manifest still has ``expected_etag`` (None: if there is
        none), else PublishConflictError (unless it already holds ``data``: a retried request).
        Returns the new tag."""

    @abstractmethod
    def location(self, env: str, name: str = LIVE) -> str:
        """A URL naming one object of the store, for messages."""

    def version_location(self, env: str, number: int) -> str:
        return self.location(env, f"{VERSIONS}/{number}.json")


def open_store(url: str, region: str | None = None) -> Store:
    """The store behind ``url``: ``s3://bucket[/prefix]``, ``file:///abs/path`` or a plain path."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return _open_s3(url, parts.netloc, parts.path, region)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreError(
                f"store {url!r}: a file store URL needs an absolute path, e.g. "
                f"file:///{parts.netloc}{parts.path}"
            )
        return FileStore(Path(unquote(parts.path)))
    if parts.scheme:
        raise StoreError(
            f"store {url!r}: unsupported scheme {parts.scheme!r}; use s3://bucket/prefix or "
            "file:///absolute/path"
        )
    return FileStore(Path(url).expanduser().absolute())


def check_env(env: str) -> str:
    """Env names become path segments and object keys: refuse anything that could escape them."""
    if not ENV_NAME.fullmatch(env) or env in (".", ".."):
        raise UsageError(
            f"env name {env!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    return env


def version_number(name: str) -> int | None:
    match = VERSION_FILE.fullmatch(name)
    return int(match.group(1)) if match else None


def manifest_version(data: bytes | None) -> int | None:
    """The ``version`` field of stored manifest bytes, for conflict messages; None if unreadable."""
    if data is None:
        return None
    try:
        raw = gzip.decompress(data) if data[:2] == GZIP_MAGIC else data
        value = json.loads(raw).get("version")
    except (OSError, EOFError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _compress(data: bytes) -> bytes:
    # mtime=0: the same manifest always gives the same bytes, hence the same S3 ETag.
    return gzip.compress(data, compresslevel=6, mtime=0)


# ---------------------------------------------------------------------------------------------
# The local store


class FileStore(Store):
    """A folder on a local file system (POSIX: ``flock`` guards the live manifest)."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise StoreError(f"store {root}: a file store needs an absolute path")
        self.root = root
        self.url = root.as_uri()

    def location(self, env: str, name: str = LIVE) -> str:
        return str(self._path(env, name))

    def _path(self, env: str, name: str = LIVE) -> Path:
        return self.root / check_env(env) / name

    def read_live(self, env: str) -> StoredObject | None:
        data = self._read(self._path(env))
        return None if data is None else StoredObject(data, _content_tag(data))

    def read_live_if_changed(self, env: str, etag: str) -> StoredObject | None:
        live = self.read_live(env)
        if live is None:
            raise StoreError(
                f"{self.location(env)}: the live manifest has disappeared; publish the env again"
            )
        return None if live.etag == etag else live

    def read_version(self, env: str, number: int) -> bytes:
        data = self._read(self._path(env, f"{VERSIONS}/{number}.json"))
        if data is None:
            raise StoreError(f"{self.version_location(env, number)}: no such version")
        return data

    def list_versions(self, env: str) -> list[int]:
        folder = self._path(env, VERSIONS)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _os_error(folder, exc) from exc
        return sorted(n for n in map(version_number, names) if n is not None)

    def write_version(self, env: str, number: int, data: bytes) -> None:
        path = self._path(env, f"{VERSIONS}/{number}.json")
        encoded = self._encode(data)
        temp = self._write_temp(path.parent, encoded)
        try:
            # A hard link appears complete or not at all and fails if the name exists: no reader
            # ever sees half a version, and no version is ever overwritten.
            os.link(temp, path)
        except FileExistsError:
            if self._read(path) != encoded:
                raise PublishConflictError(env, number - 1, number) from None
        except OSError as exc:
            raise _os_error(path, exc) from exc
        finally:
            temp.unlink(missing_ok=True)

    def discard_version(self, env: str, number: int) -> None:
        path = self._path(env, f"{VERSIONS}/{number}.json")
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(path, exc) from exc

    def replace_live(self, env: str, data: bytes, expected_etag: str | None) -> str:
        path = self._path(env)
        with self._locked(path):
            current = self._read(path)
            current_tag = None if current is None else _content_tag(current)
            encoded = self._encode(data)
            if current == encoded:
                return _content_tag(encoded)
            if current_tag != expected_etag:
                raise PublishConflictError(
                    env, _planned_version(data, expected_etag), manifest_version(current)
                )
            temp = self._write_temp(path.parent, encoded)
            try:
                os.replace(temp, path)
            except OSError as exc:
                temp.unlink(missing_ok=True)
                raise _os_error(path, exc) from exc
            _sync_folder(path.parent)
        return _content_tag(encoded)

    def _encode(self, data: bytes) -> bytes:
        return _compress(data) if len(data) > FILE_GZIP_THRESHOLD else data

    def _write_temp(self, folder: Path, encoded: bytes) -> Path:
        """Write the bytes to a fresh file beside their final name, flushed to disk."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".publish-", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as handle:
                handle.write(encoded)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _os_error(folder, exc) from exc
        return Path(name)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        import fcntl

        lock_path = path.with_name(path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the whole block below
        except OSError as exc:
            raise _os_error(lock_path, exc) from exc
        with handle:
            # flock belongs to the open file description: it excludes other processes and other
            # threads alike, and the kernel releases it if the publisher dies.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _read(self, path: Path) -> bytes | None:
        """The file's bytes, None if it does not exist."""
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(path, exc) from exc


def _content_tag(data: bytes) -> str:
    # A content hash rather than mtime and size: renames within one clock tick, or a file restored
    # from a backup, cannot make a changed manifest look unchanged.
    return hashlib.sha256(data).hexdigest()


def _planned_version(data: bytes, expected_etag: str | None) -> int | None:
    """Best guess of the version the caller planned against, for the conflict message: the one
    before the version being made live (the publisher names it exactly when it knows better)."""
    if expected_etag is None:
        return None
    new = manifest_version(data)
    return None if new is None else new - 1


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; file systems that cannot sync a folder are still correct."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _os_error(path: Path, exc: OSError) -> StoreError:
    return StoreError(
        f"{path}: {exc.strerror or exc} (check that the local store folder exists and is writable)"
    )


# ---------------------------------------------------------------------------------------------
# S3


def _open_s3(url: str, bucket: str, path: str, region: str | None) -> S3Store:
    if not bucket:
        raise StoreError(f"store {url!r}: no bucket; use s3://bucket or s3://bucket/prefix")
    return S3Store(bucket, path.strip("/"), region)


class S3Store(Store):
    """A bucket and key prefix. Objects are written gzip-compressed with ContentEncoding gzip."""

    def __init__(self, bucket: str, prefix: str = "", region: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._client: Any = None

    @property
    def client(self) -> Any:
        """One boto3 client per store, created on first use from its own session (sessions are not
        shared between threads)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session()
            self._client = session.client(
                "s3",
                region_name=self.region,
                config=Config(connect_timeout=10, read_timeout=60),
            )
        return self._client

    def key(self, env: str, name: str = LIVE) -> str:
        parts = [self.prefix, check_env(env), name] if self.prefix else [check_env(env), name]
        return "/".join(parts)

    def location(self, env: str, name: str = LIVE) -> str:
        return f"s3://{self.bucket}/{self.key(env, name)}"

    def read_live(self, env: str) -> StoredObject | None:
        return self._get(env, LIVE, missing_ok=True)

    def read_live_if_changed(self, env: str, etag: str) -> StoredObject | None:
        try:
            return self._get(env, LIVE, missing_ok=False, IfNoneMatch=etag)
        except _NotModified:
            return None

    def read_version(self, env: str, number: int) -> bytes:
        found = self._get(env, f"{VERSIONS}/{number}.json", missing_ok=True)
        if found is None:
            raise StoreError(f"{self.version_location(env, number)}: no such version")
        return found.data

    def list_versions(self, env: str) -> list[int]:
        prefix = self.key(env, f"{VERSIONS}/")

        def run() -> list[int]:
            numbers: list[int] = []
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    number = version_number(item["Key"][len(prefix) :])
                    if number is not None:
                        numbers.append(number)
            return sorted(numbers)

        return self._call(run, self.location(env, f"{VERSIONS}/"))

    def write_version(self, env: str, number: int, data: bytes) -> None:
        name = f"{VERSIONS}/{number}.json"
        try:
            self._put(env, name, data, IfNoneMatch="*")
        except _PreconditionFailed:
            if not self._holds(env, name, data):
                raise PublishConflictError(env, number - 1, number) from None

    def discard_version(self, env: str, number: int) -> None:
        name = f"{VERSIONS}/{number}.json"
        key = self.key(env, name)
        self._call(
            lambda: self.client.delete_object(Bucket=self.bucket, Key=key), self.location(env, name)
        )

    def replace_live(self, env: str, data: bytes, expected_etag: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if expected_etag is None else {"IfMatch": expected_etag}
        try:
            return self._put(env, LIVE, data, **condition)
        except _PreconditionFailed:
            current = self._get(env, LIVE, missing_ok=True)
            if current is not None and current.data == _compress(data):
                return current.etag
            raise PublishConflictError(
                env,
                _planned_version(data, expected_etag),
                manifest_version(None if current is None else current.data),
            ) from None

    def _holds(self, env: str, name: str, data: bytes) -> bool:
        """Whether the object already holds exactly ``data``: a conditional PUT retried after a
        lost response finds its own first attempt, which is not a conflict."""
        current = self._get(env, name, missing_ok=True)
        return current is not None and current.data == _compress(data)

    def _get(self, env: str, name: str, missing_ok: bool, **conditions: str) -> StoredObject | None:
        key = self.key(env, name)

        def run() -> StoredObject | None:
            response = self.client.get_object(Bucket=self.bucket, Key=key, **conditions)
            return StoredObject(response["Body"].read(), response["ETag"])

        try:
            return self._call(run, self.location(env, name))
        except _Missing:
            if missing_ok:
                return None
            raise StoreError(
                f"{self.location(env, name)}: the object has disappeared; publish the env again"
            ) from None

    def _put(self, env: str, name: str, data: bytes, **conditions: str) -> str:
        key = self.key(env, name)

        def run() -> str:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=_compress(data),
                ContentEncoding="gzip",
                ContentType="application/json",
                **conditions,
            )
            return str(response["ETag"])

        try:
            return self._call(run, self.location(env, name))
        except _Missing:
            # If-Match on a key that no longer exists: the live manifest was removed since read.
            raise _PreconditionFailed() from None

    def _call(self, run: Callable[[], T], where: str) -> T:
        """Run one S3 request, turning botocore's failures into one clear StoreError line."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return run()
        except ClientError as exc:
            raise _client_error(exc, where, self.bucket) from exc
        except BotoCoreError as exc:
            raise aws_error(exc, where, self._endpoint(), "S3") from exc

    def _endpoint(self) -> str:
        return "the default endpoint" if self._client is None else self._client.meta.endpoint_url


class _Missing(Exception):
    """NoSuchKey: handled by the caller (absent live manifest, missing version)."""


class _NotModified(Exception):
    """304 to a conditional GET: the live manifest is unchanged."""


class _PreconditionFailed(Exception):
    """412 (or 409) to a conditional PUT: someone else wrote first."""


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}


def _client_error(exc: Any, where: str, bucket: str) -> Exception:
    """S3's own answers: the ones the store handles, then bucket and permission problems."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchKey", "404"):
        return _Missing()
    if code == "304" or status == 304:
        return _NotModified()
    if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
        return _PreconditionFailed()
    if code == "NoSuchBucket":
        return StoreError(
            f"{where}: bucket {bucket!r} does not exist; create it or fix `store:` in the env file"
        )
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return StoreError(
            f"{where}: access denied; the AWS identity in use needs s3:GetObject, s3:PutObject and "
            f"s3:ListBucket on bucket {bucket!r} (check AWS_PROFILE and the bucket policy)"
        )
    return aws_error(exc, where, "", "S3")


def aws_error(exc: Exception, where: str, endpoint: str, service: str) -> StoreError:
    """One clear line for a failed AWS call: credentials, network, or the service's answer."""
    from botocore import exceptions as bc

    if isinstance(exc, bc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _CREDENTIAL_CODES:
            return StoreError(
                f"{where}: the AWS credentials were rejected ({code}); refresh them (e.g. `aws sso "
                "login`) or check AWS_PROFILE / AWS_ACCESS_KEY_ID"
            )
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = str(error.get("Message") or exc).replace("\n", " ")
        return StoreError(f"{where}: {service} answered {code or status}: {text}")
    if isinstance(exc, bc.NoCredentialsError | bc.PartialCredentialsError):
        return StoreError(
            f"{where}: no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or run `aws sso login`)"
        )
    if isinstance(exc, bc.TokenRetrievalError | bc.SSOTokenLoadError | bc.CredentialRetrievalError):
        return StoreError(
            f"{where}: the AWS credentials could not be loaded ({exc}); run `aws sso login` or "
            "check AWS_PROFILE"
        )
    if isinstance(exc, bc.NoRegionError):
        return StoreError(f"{where}: no AWS region; set `region:` in the env file or AWS_REGION")
    if isinstance(exc, bc.ReadTimeoutError):
        return StoreError(f"{where}: {service} at {endpoint} did not answer in time; try again")
    if isinstance(exc, bc.ConnectionError | bc.HTTPClientError):
        return StoreError(
            f"{where}: cannot reach {service} at {endpoint}; check the network, the env's "
            "`region` and AWS_ENDPOINT_URL"
        )
    return StoreError(f"{where}: {type(exc).__name__}: {exc}".replace("\n", " "))
