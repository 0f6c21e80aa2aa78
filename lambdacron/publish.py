"""Stage: publish. The compiled manifest → a plan against the live one → ``versions/<N>.json`` →
the live ``manifest.json``; and the history and rollback built on the same steps.

Publishing is two conditional writes: version N is claimed only if absent (the number comes from
the highest version present, so a version left behind by an interrupted publish is skipped, never
overwritten), then the live manifest is replaced only if it is still the one the plan was read
from. A publisher that loses either race raises PublishConflictError and leaves the store as it was.

The store, the caller's identity and the clock are passed in; the CLI wires them together.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambdacron import __version__
from lambdacron.errors import ManifestError, PublishConflictError, StoreError, UsageError
from lambdacron.plan import Plan, diff
from lambdacron.project import Environment, Project
from lambdacron.runtime.manifest import Manifest, dumps, loads
from lambdacron.runtime.store import S3Store, Store, aws_error, manifest_version, open_store

GENERATOR = f"lambdacron {__version__}"
PREVIOUS = "previous_version"  # the live version a version was planned against: history's chain
ROLLBACK_OF = "rollback_of"
HISTORY_READERS = 8


@dataclass(frozen=True)
class Identity:
    """Who is publishing: the AWS caller (account and ARN) or the local user."""

    name: str
    account: str | None = None


@dataclass(frozen=True)
class Draft:
    """A publish that has been planned but not written: the new content, the live manifest it was
    planned against (and that manifest's tag), and the version number it will claim."""

    env: str
    manifest: Manifest
    live: Manifest | None
    live_etag: str | None
    number: int
    plan: Plan
    rollback_of: int | None = None
    live_problem: str | None = None  # the live manifest could not be read; publishing replaces it


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    published_at: str | None
    published_by: str | None
    message: str | None
    digest: str
    tasks: int
    git_commit: str | None
    git_dirty: bool | None
    rollback_of: int | None
    state: str  # "live", "" (was live before), or "never live" (an interrupted or lost publish)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "published_at": self.published_at,
            "published_by": self.published_by,
            "message": self.message,
            "digest": self.digest,
            "tasks": self.tasks,
            "git": None
            if self.git_commit is None
            else {"commit": self.git_commit, "dirty": self.git_dirty},
            "rollback_of": self.rollback_of,
            "live": self.state == "live",
            "never_live": self.state == "never live",
        }


# --- who, where, which commit -----------------------------------------------------------------


def open_env_store(env: Environment) -> tuple[Store, Identity | None]:
    """The env's store, after checking the env's account pin when the store is in AWS: nothing
    touches the bucket under the wrong account. Returns the caller identity when it was checked."""
    store = open_store(env.store, region=env.region)
    if not (isinstance(store, S3Store) and env.account):
        return store, None
    identity = aws_caller(env.region)
    if identity.account != env.account:
        raise StoreError(
            f"env {env.name} is pinned to AWS account {env.account}, but the credentials in use "
            f"belong to account {identity.account} ({identity.name}); switch AWS_PROFILE or "
            f"credentials, or change `account:` in {env.path.name}"
        )
    return store, identity


def aws_caller(region: str | None) -> Identity:
    """``sts get-caller-identity``."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = "the STS endpoint"
    try:
        client = boto3.session.Session().client("sts", region_name=region)
        endpoint = str(client.meta.endpoint_url)
        answer = client.get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(exc, "sts get-caller-identity", endpoint, "STS") from exc
    return Identity(name=str(answer["Arn"]), account=str(answer["Account"]))


def publisher(store: Store, env: Environment, checked: Identity | None) -> str:
    """``published_by``: the AWS caller's ARN for an S3 store, else ``user@host``."""
    if checked is not None:
        return checked.name
    if isinstance(store, S3Store):
        try:
            return aws_caller(env.region).name
        except StoreError:
            # No pin to enforce, and S3-compatible servers may lack STS: the S3 writes that
            # follow report any real credential problem.
            pass
    return local_user()


def local_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def git_info(project: Project) -> dict[str, Any] | None:
    """The commit the project is at and whether its files differ from it; None outside git."""
    commit = _git(project.root, "rev-parse", "HEAD")
    if commit is None:
        return None
    # Build output and the local store are products of publishing, not inputs to it.
    inside = [project.relative(p) for p in (project.build, project.root / ".lambdacron")]
    excluded = [f":(exclude){p}" for p in inside if not Path(p).is_absolute()]
    status = _git(project.root, "status", "--porcelain", "--", ".", *excluded)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


# --- plan, publish, roll back -----------------------------------------------------------------


def prepare(store: Store, env: str, manifest: Manifest) -> Draft:
    """Plan ``manifest`` against the live one; the next version number is past every version
    present, including one an interrupted publish wrote but never made live."""
    live_object = store.read_live(env)
    live, problem = None, None
    if live_object is not None:
        try:
            live = loads(live_object.data, store.location(env))
        except ManifestError as exc:
            # A damaged live manifest must not block the publish that repairs it.
            problem = str(exc)
    numbers = store.list_versions(env)
    highest = max([*numbers, 0 if live is None else live.version])
    return Draft(
        env=env,
        manifest=manifest,
        live=live,
        live_etag=None if live_object is None else live_object.etag,
        number=highest + 1,
        plan=diff(live, manifest),
        live_problem=problem,
    )


def prepare_rollback(store: Store, env: str, to: int) -> Draft:
    """A draft that publishes version ``to``'s tasks (and its git provenance) again."""
    numbers = store.list_versions(env)
    if to not in numbers:
        have = f"versions {numbers[0]} to {numbers[-1]}" if numbers else "no versions"
        raise UsageError(
            f"--to {to}: env {env} has no version {to} ({have}); "
            f"see `lambdacron history --env {env}`"
        )
    old = loads(store.read_version(env, to), store.version_location(env, to))
    manifest = Manifest(env=env, tasks=old.tasks, git=old.git).with_digest()
    return replace(prepare(store, env, manifest), rollback_of=to)


def commit(
    store: Store,
    draft: Draft,
    *,
    published_by: str,
    message: str | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Write version ``draft.number`` and make it live (see the module docstring)."""
    final = finalise(draft, published_by, message, now or datetime.now(UTC))
    data = dumps(final)
    try:
        store.write_version(draft.env, draft.number, data)
    except PublishConflictError:
        raise _conflict(store, draft) from None
    try:
        store.replace_live(draft.env, data, draft.live_etag)
    except PublishConflictError:
        # Nobody can have made our version live: undo it so that losing changes nothing.
        with contextlib.suppress(StoreError):
            store.discard_version(draft.env, draft.number)
        raise _conflict(store, draft) from None
    except StoreError as exc:
        live = "no manifest" if draft.live is None else f"version {draft.live.version}"
        raise StoreError(
            f"{exc} Version {draft.number} was written but not made live (the live manifest is "
            f"still {live}); publish again to continue."
        ) from exc
    return final


def finalise(draft: Draft, published_by: str, message: str | None, now: datetime) -> Manifest:
    """The manifest as published: number, time, author, message and provenance."""
    extra: dict[str, Any] = {**draft.manifest.extra, PREVIOUS: _live_version(draft)}
    if draft.rollback_of is not None:
        extra[ROLLBACK_OF] = draft.rollback_of
        note = f"rollback of {draft.rollback_of}"
        message = f"{note}: {message}" if message else note
    return replace(
        draft.manifest,
        version=draft.number,
        published_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        published_by=published_by,
        message=message,
        generator=GENERATOR,
        extra=extra,
    )


def _live_version(draft: Draft) -> int | None:
    return None if draft.live is None else draft.live.version


def _conflict(store: Store, draft: Draft) -> PublishConflictError:
    """The conflict as the user sees it: planned against this version, the live one is now that."""
    try:
        current = store.read_live(draft.env)
    except StoreError:
        current = None
    found = manifest_version(None if current is None else current.data)
    return PublishConflictError(draft.env, _live_version(draft), found)


# --- history ----------------------------------------------------------------------------------


def history(store: Store, env: str, limit: int | None = None) -> list[HistoryEntry]:
    """Published versions, newest first (the last ``limit`` of them)."""
    live_object = store.read_live(env)
    live = None if live_object is None else loads(live_object.data, store.location(env))
    numbers = store.list_versions(env)
    if limit:
        numbers = numbers[-limit:]

    def read(number: int) -> Manifest:
        return loads(store.read_version(env, number), store.version_location(env, number))

    with ThreadPoolExecutor(max_workers=HISTORY_READERS) as pool:
        versions = {m.version: m for m in pool.map(read, numbers)}
    states = _states(versions, live)
    return [_entry(versions[n], states.get(n, "")) for n in sorted(versions, reverse=True)]


def _states(versions: Mapping[int, Manifest], live: Manifest | None) -> dict[int, str]:
    """Follow ``previous_version`` back from the live manifest: versions on that chain were live;
    versions off it, above the point where the chain leaves the ones read, never were."""
    if live is None:
        return {n: "never live" for n in versions}
    states = {live.version: "live"}
    number: int | None = live.version
    floor = 0
    while number is not None:
        current = versions.get(number)
        previous = number if current is None else current.extra.get(PREVIOUS, number)
        if previous is not None and not (isinstance(previous, int) and previous < number):
            floor = number  # left the versions read, or a version without the chain field
            break
        states.setdefault(number, "")
        number = previous
    for other in versions:
        if other not in states and other > floor:
            states[other] = "never live"
    return states


def _entry(manifest: Manifest, state: str) -> HistoryEntry:
    git = manifest.git or {}
    rollback_of = manifest.extra.get(ROLLBACK_OF)
    return HistoryEntry(
        version=manifest.version,
        published_at=manifest.published_at,
        published_by=manifest.published_by,
        message=manifest.message,
        digest=manifest.digest,
        tasks=len(manifest.tasks),
        git_commit=git.get("commit"),
        git_dirty=git.get("dirty"),
        rollback_of=rollback_of if isinstance(rollback_of, int) else None,
        state=state,
    )
