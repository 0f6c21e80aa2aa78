"""Stage: plan. The per-task difference between the live manifest and the one about to be
published: added, changed (each field, ``path: old → new``) and removed tasks.

Pure: two manifests in, a ``Plan`` out. Fields are compared through their canonical JSON, the same
bytes the digest hashes, so a plan has no changes exactly when the digests are equal. Secret
references are runtime placeholders already, so they are shown as references, never resolved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lambdacron.runtime.manifest import Manifest, Task, canonical_json

# Text output shortens long values; ``--output json`` always carries them whole.
TEXT_VALUE_LIMIT = 120
PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class _Absent:
    """A field that one side does not have."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldChange:
    """One changed leaf of a task: ``path`` such as ``task.parameters.period``."""

    path: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path}
        if self.old is not ABSENT:
            data["old"] = self.old
        if self.new is not ABSENT:
            data["new"] = self.new
        return data


@dataclass(frozen=True)
class TaskChange:
    name: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class Plan:
    """What publishing ``digest`` over the live manifest would change."""

    env: str
    live_version: int | None
    live_digest: str | None
    digest: str
    added: tuple[Task, ...]
    changed: tuple[TaskChange, ...]
    removed: tuple[Task, ...]
    unchanged: int

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def summary(self) -> str:
        return (
            f"Plan: {len(self.added)} to add, {len(self.changed)} to change, "
            f"{len(self.removed)} to remove."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "live_version": self.live_version,
            "live_digest": self.live_digest,
            "digest": self.digest,
            "has_changes": self.has_changes,
            "added": [task.to_dict() for task in self.added],
            "changed": [
                {"name": c.name, "changes": [f.to_dict() for f in c.changes]} for c in self.changed
            ],
            "removed": [task.to_dict() for task in self.removed],
            "unchanged": self.unchanged,
            "summary": {
                "add": len(self.added),
                "change": len(self.changed),
                "remove": len(self.removed),
            },
        }


def diff(live: Manifest | None, new: Manifest) -> Plan:
    """The plan that takes ``live`` (None: nothing published) to ``new``."""
    old_tasks = {t.name: t for t in live.tasks} if live is not None else {}
    new_tasks = {t.name: t for t in new.tasks}
    changed = []
    unchanged = 0
    for name in sorted(old_tasks.keys() & new_tasks.keys()):
        changes = tuple(field_changes(old_tasks[name].to_dict(), new_tasks[name].to_dict()))
        if changes:
            changed.append(TaskChange(name, changes))
        else:
            unchanged += 1
    return Plan(
        env=new.env,
        live_version=None if live is None else live.version,
        live_digest=None if live is None else live.digest,
        digest=new.digest or new.with_digest().digest,
        added=tuple(new_tasks[n] for n in sorted(new_tasks.keys() - old_tasks.keys())),
        changed=tuple(changed),
        removed=tuple(old_tasks[n] for n in sorted(old_tasks.keys() - new_tasks.keys())),
        unchanged=unchanged,
    )


def field_changes(old: Any, new: Any, path: str = "") -> Iterator[FieldChange]:
    """Every leaf that differs, depth first: mappings by key, lists by position."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(old.keys() | new.keys(), key=str):
            yield from field_changes(
                old.get(key, ABSENT), new.get(key, ABSENT), _join(path, str(key))
            )
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            yield from field_changes(
                old[index] if index < len(old) else ABSENT,
                new[index] if index < len(new) else ABSENT,
                f"{path}[{index}]",
            )
    elif _differs(old, new):
        yield FieldChange(path, old, new)


def _differs(old: Any, new: Any) -> bool:
    if old is ABSENT or new is ABSENT:
        return old is not new
    # Canonical JSON, not ==: 1 and 1.0, or 1 and true, are equal in Python but not in the digest.
    return canonical_json(old) != canonical_json(new)


def _join(path: str, key: str) -> str:
    part = key if PLAIN_KEY.fullmatch(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def render_text(plan: Plan) -> str:
    """``+ name``, ``~ name`` with its ``field: old → new`` lines, ``- name``, then the summary."""
    lines = [f"+ {task.name}" for task in plan.added]
    for change in plan.changed:
        lines.append(f"~ {change.name}")
        lines.extend(f"    {f.path}: {_show(f.old)} → {_show(f.new)}" for f in change.changes)
    lines.extend(f"- {task.name}" for task in plan.removed)
    if lines:
        lines.append("")
    lines.append(plan.summary)
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > TEXT_VALUE_LIMIT:
        return f"{text[: TEXT_VALUE_LIMIT - 1]}… ({len(text)} characters)"
    return text
