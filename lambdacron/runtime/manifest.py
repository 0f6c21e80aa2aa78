"""The manifest: canonical JSON, digest, (de)serialisation and format checks.

A manifest is one JSON document per environment and version. The digest covers the canonical
task list only, so equal content gives an equal digest whatever the file order or formatting.
This module is shared by the compiler (writing) and the runtime (loading), so it uses only the
standard library.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from lambdacron.runtime.errors import ManifestError

FORMAT = 1
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Task:
    """One scheduled task, as validated and published. ``target`` is the ``task:`` mapping."""

    name: str
    expression: str
    timezone: str
    target: Mapping[str, Any]
    enabled: bool = True
    retries: int = 2
    description: str | None = None
    source: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.target["type"])

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "expression": self.expression,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "retries": self.retries,
            "task": dict(self.target),
        }
        if self.description is not None:
            data["description"] = self.description
        if self.source is not None:
            data["source"] = self.source
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """A task from its manifest form. A cold start builds one per task (100,000 and more),
        so the frozen instance's fields are filled in directly: the generated ``__init__`` goes
        through ``object.__setattr__`` once per field, three times slower."""
        task = object.__new__(cls)
        task.__dict__.update(
            name=data["name"],
            expression=data["expression"],
            timezone=data.get("timezone", "UTC"),
            target=data["task"],
            enabled=data.get("enabled", True),
            retries=data.get("retries", 2),
            description=data.get("description"),
            source=data.get("source"),
            extra={}
            if data.keys() <= _TASK_KEYS
            else {k: v for k, v in data.items() if k not in _TASK_KEYS},
        )
        return task


_TASK_KEYS = frozenset(
    ("name", "expression", "timezone", "enabled", "retries", "task", "description", "source")
)


@dataclass(frozen=True)
class Manifest:
    """One published (or about to be published) version of an environment's tasks."""

    env: str
    tasks: tuple[Task, ...]
    version: int = 0
    digest: str = ""
    published_at: str | None = None
    published_by: str | None = None
    message: str | None = None
    git: Mapping[str, Any] | None = None
    generator: str | None = None
    format: int = FORMAT
    extra: Mapping[str, Any] = field(default_factory=dict)

    def task(self, name: str) -> Task | None:
        for task in self.tasks:
            if task.name == name:
                return task
        return None

    def with_digest(self) -> Manifest:
        return replace(self, digest=digest_tasks(self.tasks))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "env": self.env,
            "version": self.version,
            "digest": self.digest or digest_tasks(self.tasks),
            "published_at": self.published_at,
            "published_by": self.published_by,
            "message": self.message,
            "git": dict(self.git) if self.git is not None else None,
            "generator": self.generator,
            "tasks": task_list(self.tasks),
        }
        data.update(self.extra)
        return data


def task_list(tasks: Sequence[Task]) -> list[dict[str, Any]]:
    """The canonical task list: tasks ordered by name."""
    return [task.to_dict() for task in sorted(tasks, key=lambda t: t.name)]


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8: equal content gives equal bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest_tasks(tasks: Sequence[Task]) -> str:
    return digest_task_dicts(task_list(tasks))


def digest_task_dicts(tasks: Sequence[Mapping[str, Any]]) -> str:
    ordered = sorted(tasks, key=lambda t: str(t.get("name", "")))
    return "sha256:" + hashlib.sha256(canonical_json(ordered)).hexdigest()


def dumps(manifest: Manifest) -> bytes:
    """The manifest as canonical JSON bytes (what the store keeps, before any compression)."""
    return canonical_json(manifest.to_dict())


def loads(raw: bytes, source: str = "manifest") -> Manifest:
    """Parse and verify a manifest: gzip or plain JSON, ``format`` checked first, digest verified.

    A manifest as ``dumps`` writes it is verified by hashing the bytes of its task list as they
    stand, and parsed in two parts (the header, the task list), so that the bytes hashed are the
    bytes used; anything else is parsed whole and its digest recomputed from the parsed tasks.
    The cyclic garbage collector is paused meanwhile: it only slows the building of many objects.
    """
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ManifestError(source, f"corrupt gzip data ({exc})") from exc
    with paused_gc():
        split = _canonical_split(raw)
        if split is not None:
            header, listed, digest = split
            del raw  # from here the task list's text is the one copy held (100,000 tasks: 41 MB)
            try:
                header["tasks"] = json.loads(listed)
            except ValueError as exc:
                raise ManifestError(
                    source, f"its task list is not one JSON array ({exc}); refusing to use it"
                ) from exc
            return from_dict(header, source, verified=digest)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(source, f"not valid JSON ({exc})") from exc
        return from_dict(data, source)


_TASKS_KEY = b',"tasks":['
_TAIL = re.compile(rb'\],"version":(0|[1-9][0-9]{0,17})\}\s*\Z')


def _canonical_split(raw: bytes) -> tuple[dict[str, Any], str, str] | None:
    """``(header, task list text, digest of the task list's bytes)`` when ``raw`` is laid out
    as ``dumps`` writes it: sorted keys, so ``tasks`` then ``version`` close the document. The
    list is hashed and decoded straight from ``raw``'s buffer, without copying it. None when
    ``raw`` is laid out otherwise."""
    start = raw.find(_TASKS_KEY)
    tail = _TAIL.search(raw, max(0, len(raw) - 64))
    if start < 0 or tail is None or tail.start() < start:
        return None
    try:
        header = json.loads(raw[:start] + b"}")
        with (
            memoryview(raw) as whole,
            whole[start + len(_TASKS_KEY) - 1 : tail.start() + 1] as listed,
        ):
            digest = "sha256:" + hashlib.sha256(listed).hexdigest()
            text = str(listed, "utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or "tasks" in header or "version" in header:
        return None
    header["version"] = int(tail.group(1))
    return header, text, digest


@contextmanager
def paused_gc(freeze: bool = True) -> Iterator[None]:
    """No cyclic collection while building many objects: the collector would rescan them again
    and again as they pile up. With ``freeze`` (long-lived objects: a manifest, a timetable,
    which hold no cycles to find) they are moved out of its reach for good, so it neither runs
    100,000 objects deep on re-enabling nor rescans them later."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def from_dict(data: Any, source: str = "manifest", verified: str | None = None) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError(source, "not a JSON object")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ManifestError(
            source,
            f"manifest format {fmt!r} is not supported by this lambdacron (it reads format {FORMAT}); "
            "upgrade lambdacron or republish with this version",
        )
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not all(isinstance(t, dict) for t in raw_tasks):
        raise ManifestError(source, "'tasks' must be a list of objects")
    # ``verified``: the digest of the task list's bytes; equal to the claimed one only when those
    # bytes are the canonical list, so anything else falls back to recomputing it.
    claimed = data.get("digest")
    digest = (
        verified if verified is not None and verified == claimed else digest_task_dicts(raw_tasks)
    )
    if data.get("digest") != digest:
        raise ManifestError(
            source,
            f"digest mismatch: the manifest says {data.get('digest')!r} but its tasks hash to "
            f"{digest!r}; it was altered or truncated, refusing to use it",
        )
    try:
        tasks = tuple(Task.from_dict(t) for t in raw_tasks)
    except (KeyError, TypeError) as exc:
        raise ManifestError(source, f"a task lacks a required field: {exc}") from exc
    known = {
        "format",
        "env",
        "version",
        "digest",
        "published_at",
        "published_by",
        "message",
        "git",
        "generator",
        "tasks",
    }
    return Manifest(
        env=str(data.get("env", "")),
        tasks=tasks,
        version=int(data.get("version") or 0),
        digest=digest,
        published_at=data.get("published_at"),
        published_by=data.get("published_by"),
        message=data.get("message"),
        git=data.get("git"),
        generator=data.get("generator"),
        extra={k: v for k, v in data.items() if k not in known},
    )
