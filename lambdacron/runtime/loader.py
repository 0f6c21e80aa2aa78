"""Runtime stage one: the manifest in memory, compiled, kept for the life of the container.

A manifest is fetched and compiled (a cron ``Timetable`` over the enabled tasks) at cold start and
kept; every later invocation asks its source whether something newer is live (a conditional GET)
and recompiles only then. A manifest that fails to load, verify or compile is never used: at cold
start that is an error the invocation raises (nothing can be evaluated; the platform retries); in
a warm container the last good manifest stays in use and an alarm-worthy error line is logged.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lambdacron.runtime.errors import ManifestError
from lambdacron.runtime.manifest import Manifest, Task, loads, paused_gc

if TYPE_CHECKING:
    from lambdacron.runtime.cron import Timetable
    from lambdacron.runtime.log import Log
    from lambdacron.runtime.store import Store


class ManifestSource(Protocol):
    """Where manifests come from: the store's live manifest, or (for the CLI) a fresh render."""

    def describe(self) -> str:
        """Names the source in messages."""
        ...

    def fetch(self, tag: str | None) -> tuple[Manifest, str] | None:
        """The manifest and its tag; None when ``tag`` is still current. Raises when it cannot."""
        ...

    def version(self, number: int) -> Manifest:
        """A published version by number (fan-out workers fire the version they were handed)."""
        ...


@dataclass(frozen=True)
class Compiled:
    """A verified manifest ready to evaluate: ``tasks[i]`` is entry ``i`` of ``timetable``."""

    manifest: Manifest
    tasks: tuple[Task, ...]
    timetable: Timetable
    tag: str

    @property
    def version(self) -> int:
        return self.manifest.version

    @functools.cached_property
    def by_name(self) -> Mapping[str, Task]:
        """Every task (enabled or not) by name: a fan-out worker looks up hundreds at a time."""
        return {task.name: task for task in self.manifest.tasks}


def compile_manifest(manifest: Manifest, tag: str = "", source: str = "manifest") -> Compiled:
    """Build the timetable of the enabled tasks; a bad expression refuses the whole manifest."""
    from lambdacron.runtime.cron import Timetable

    tasks = tuple(task for task in manifest.tasks if task.enabled)
    with paused_gc():
        try:
            timetable = Timetable([(task.expression, task.timezone) for task in tasks])
        except (ValueError, KeyError) as exc:
            raise ManifestError(source, f"a task cannot be scheduled: {exc}") from exc
    return Compiled(manifest, tasks, timetable, tag)


def due(compiled: Compiled, first_minute: int, last_minute: int) -> list[tuple[Task, int]]:
    """The (task, minute) pairs due from ``first_minute`` to ``last_minute`` inclusive, in minute
    order: the pure core of a tick, no clock and no I/O."""
    if last_minute < first_minute:
        return []
    return [
        (compiled.tasks[index], minute)
        for minute, index in compiled.timetable.due_between(first_minute, last_minute)
    ]


class StoreSource:
    """The live manifest of one env in a store, re-read only when its ETag changes."""

    def __init__(self, store: Store, env: str) -> None:
        self.store = store
        self.env = env

    def describe(self) -> str:
        return self.store.location(self.env)

    def fetch(self, tag: str | None) -> tuple[Manifest, str] | None:
        found = (
            self.store.read_live(self.env)
            if tag is None
            else self.store.read_live_if_changed(self.env, tag)
        )
        if found is None:
            if tag is None:
                raise ManifestError(
                    self.describe(),
                    f"nothing has been published for env {self.env}; run "
                    f"`lambdacron publish --env {self.env}` (or check LAMBDACRON_STORE)",
                )
            return None
        return loads(found.data, self.describe()), found.etag

    def version(self, number: int) -> Manifest:
        where = self.store.version_location(self.env, number)
        return loads(self.store.read_version(self.env, number), where)


class ManifestCache:
    """The compiled manifest of one env, for the life of the process (one cold start)."""

    def __init__(self, source: ManifestSource, env: str, log: Log) -> None:
        self.source = source
        self.env = env
        self.log = log
        self._current: Compiled | None = None
        self._versions: dict[int, Compiled] = {}

    def current(self) -> Compiled:
        """The manifest to evaluate now: refreshed if a newer one is live and valid."""
        try:
            fetched = self.source.fetch(self._current.tag if self._current else None)
            fresh = None if fetched is None else self._compile(*fetched)
        except Exception as exc:
            # Warm: whatever went wrong (store down, garbage, a bug in a newer format), the last
            # good manifest is safer than none. Cold: nothing to fall back on, so fail loudly.
            if self._current is None:
                raise
            self.log.error(
                "manifest_rejected",
                env=self.env,
                source=self.source.describe(),
                error=str(exc),
                kept_version=self._current.version,
            )
            return self._current
        if fresh is not None:
            previous = self._current
            self._current = fresh
            self.log.info(
                "manifest_loaded",
                env=self.env,
                source=self.source.describe(),
                manifest_version=fresh.version,
                digest=fresh.manifest.digest,
                tasks=len(fresh.manifest.tasks),
                enabled=len(fresh.tasks),
                previous_version=None if previous is None else previous.version,
            )
        if self._current is None:
            raise ManifestError(self.source.describe(), "the source returned no manifest")
        return self._current

    def version(self, number: int) -> Compiled:
        """Version ``number``: the current one if it is, else read from the source once."""
        current = self._current
        if current is not None and current.version == number:
            return current
        if number not in self._versions:
            manifest = self.source.version(number)
            # Workers of one fan-out share a version; the latest few cover overlapping minutes.
            if len(self._versions) >= 4:
                self._versions.pop(next(iter(self._versions)))
            self._versions[number] = self._compile(manifest, f"version-{number}")
        return self._versions[number]

    def _compile(self, manifest: Manifest, tag: str) -> Compiled:
        source = self.source.describe()
        if manifest.env and manifest.env != self.env:
            raise ManifestError(
                source,
                f"the manifest is for env {manifest.env!r}, not {self.env!r}; check "
                "LAMBDACRON_STORE and LAMBDACRON_ENV",
            )
        return compile_manifest(manifest, tag, source)
