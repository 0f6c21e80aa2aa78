"""Publishing, history and rollback on manifests built directly, against the local store and
against S3 on the moto server."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdacron.errors import PublishConflictError, StoreError, UsageError
from lambdacron.project import Environment, Project
from lambdacron.publish import (
    Draft,
    commit,
    git_info,
    history,
    local_user,
    open_env_store,
    prepare,
    prepare_rollback,
    publisher,
)
from lambdacron.runtime.manifest import Manifest, Task, loads
from lambdacron.runtime.store import Store, StoredObject, open_store

BUCKET = "lc-publish"
NOW = datetime(2026, 12, 4, 15, 30, 5, 123456, tzinfo=UTC)


def task(name: str, queue: str = "reports") -> Task:
    return Task(
        name=name,
        expression="0 17 5 * *",
        timezone="UTC",
        target={"type": "batch", "jobName": name, "jobQueue": queue, "jobDefinition": "d:1"},
        source=f"templates/{name}.yml.j2",
    )


def compiled(*tasks: Task) -> Manifest:
    return Manifest(env="prod", tasks=tasks, generator="lambdacron 0.1.0").with_digest()


def publish(store: Store, manifest: Manifest, message: str | None = None) -> Manifest:
    return commit(
        store, prepare(store, "prod", manifest), published_by="me", message=message, now=NOW
    )


def live(store: Store) -> Manifest:
    found = store.read_live("prod")
    assert found is not None
    return loads(found.data)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.aws)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return open_store(str(tmp_path / "store"))
    request.getfixturevalue("aws")
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return open_store(f"s3://{BUCKET}/manifests")


def test_publish_change_republish_history_and_rollback(store: Store) -> None:
    first = publish(
        store, replace(compiled(task("a")), git={"commit": "abc", "dirty": False}), "first"
    )
    assert (first.version, first.published_at, first.published_by, first.message) == (
        1,
        "2026-12-04T15:30:05Z",
        "me",
        "first",
    )
    assert first.extra == {"previous_version": None}
    assert live(store) == first
    assert loads(store.read_version("prod", 1)) == first

    again = prepare(store, "prod", compiled(task("a")))
    assert not again.plan.has_changes and again.number == 2

    second = publish(store, compiled(task("a", queue="other"), task("b")), "queue")
    assert (second.version, second.extra) == (2, {"previous_version": 1})
    assert live(store).digest == second.digest

    draft = prepare_rollback(store, "prod", 1)
    assert [c.name for c in draft.plan.changed] == ["a"] and [
        t.name for t in draft.plan.removed
    ] == ["b"]
    third = commit(store, draft, published_by="me", now=NOW)
    assert (third.version, third.message, third.extra) == (
        3,
        "rollback of 1",
        {"previous_version": 2, "rollback_of": 1},
    )
    assert third.digest == first.digest and third.git == first.git
    assert live(store) == third

    rows = [
        (e.version, e.state, e.message, e.tasks, e.rollback_of, e.git_commit)
        for e in history(store, "prod")
    ]
    assert rows == [
        (3, "live", "rollback of 1", 1, 1, "abc"),
        (2, "", "queue", 2, None, None),
        (1, "", "first", 1, None, "abc"),
    ]
    assert [e.version for e in history(store, "prod", limit=2)] == [3, 2]
    assert history(store, "prod")[0].to_dict()["git"] == {"commit": "abc", "dirty": False}


def test_a_rollback_message_keeps_the_note(store: Store) -> None:
    publish(store, compiled(task("a")))
    publish(store, compiled(task("b")))
    rolled = commit(store, prepare_rollback(store, "prod", 1), published_by="me", message="bad b")
    assert rolled.message == "rollback of 1: bad b"


def test_rollback_to_a_version_that_does_not_exist(store: Store) -> None:
    publish(store, compiled(task("a")))
    with pytest.raises(UsageError) as caught:
        prepare_rollback(store, "prod", 7)
    assert str(caught.value) == (
        "--to 7: env prod has no version 7 (versions 1 to 1); see `lambdacron history --env prod`"
    )


def test_history_of_nothing(store: Store) -> None:
    assert history(store, "prod") == []


# --- conflicts ---------------------------------------------------------------------------------


@pytest.mark.hardening
def test_two_publishers_planned_against_the_same_live_version(store: Store) -> None:
    publish(store, compiled(task("a")))
    first = prepare(store, "prod", compiled(task("a"), task("b")))
    second = prepare(store, "prod", compiled(task("a"), task("c")))
    commit(store, first, published_by="one")
    with pytest.raises(PublishConflictError) as caught:
        commit(store, second, published_by="two")
    assert caught.value.exit_code == 4
    assert str(caught.value) == (
        "env prod: the live manifest changed while publishing (planned against version 1, now "
        "version 2). Nothing was changed. Run `lambdacron plan --env prod` and publish again."
    )
    assert store.list_versions("prod") == [1, 2]
    assert live(store).published_by == "one" and live(store).version == 2
    assert [t.name for t in loads(store.read_version("prod", 2)).tasks] == ["a", "b"]


class Interleaved(Store):
    """A store that runs ``before_replace`` once, just before the live manifest is replaced:
    another publisher slipping in between the two writes of this one."""

    def __init__(self, inner: Store, before_replace: Callable[[], object]) -> None:
        self.inner = inner
        self.url = inner.url
        self.before_replace: Callable[[], object] | None = before_replace

    def replace_live(self, env: str, data: bytes, expected_etag: str | None) -> str:
        if self.before_replace is not None:
            hook, self.before_replace = self.before_replace, None
            hook()
        return self.inner.replace_live(env, data, expected_etag)

    def read_live(self, env: str) -> StoredObject | None:
        return self.inner.read_live(env)

    def read_live_if_changed(self, env: str, etag: str) -> StoredObject | None:
        return self.inner.read_live_if_changed(env, etag)

    def read_version(self, env: str, number: int) -> bytes:
        return self.inner.read_version(env, number)

    def list_versions(self, env: str) -> list[int]:
        return self.inner.list_versions(env)

    def write_version(self, env: str, number: int, data: bytes) -> None:
        self.inner.write_version(env, number, data)

    def discard_version(self, env: str, number: int) -> None:
        self.inner.discard_version(env, number)

    def location(self, env: str, name: str = "manifest.json") -> str:
        return self.inner.location(env, name)


@pytest.mark.hardening
def test_a_publisher_overtaken_between_its_two_writes_changes_nothing(store: Store) -> None:
    publish(store, compiled(task("a")))

    def other_publisher() -> None:
        overtaking = prepare(store, "prod", compiled(task("c")))
        assert overtaking.number == 3  # version 2 is already claimed by the slow publisher
        commit(store, overtaking, published_by="fast")

    slow = Interleaved(store, other_publisher)
    with pytest.raises(PublishConflictError, match="planned against version 1, now version 3"):
        commit(slow, prepare(slow, "prod", compiled(task("b"))), published_by="slow")
    assert store.list_versions("prod") == [1, 3]
    assert live(store).published_by == "fast"
    assert [(e.version, e.state) for e in history(store, "prod")] == [(3, "live"), (1, "")]


@pytest.mark.hardening
def test_racing_publishers_in_threads_on_the_local_store(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    publish(store, compiled(task("a")))
    count = 6
    drafts = [prepare(store, "prod", compiled(task("a"), task(f"t{i}"))) for i in range(count)]
    barrier = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = commit(open_store(str(tmp_path)), drafts[i], published_by=f"p{i}")
        except PublishConflictError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if isinstance(o, Manifest)]
    assert len(winners) == 1
    assert sum(isinstance(o, PublishConflictError) for o in outcomes) == count - 1
    assert store.list_versions("prod") == [1, 2]
    assert live(store) == winners[0] == loads(store.read_version("prod", 2))


# --- interrupted and damaged -----------------------------------------------------------------


class FailingReplace(Interleaved):
    def __init__(self, inner: Store) -> None:
        super().__init__(inner, lambda: None)

    def replace_live(self, env: str, data: bytes, expected_etag: str | None) -> str:
        raise StoreError(f"{self.location(env)}: cannot reach S3 at http://127.0.0.1:9; check it.")


@pytest.mark.hardening
def test_an_interrupted_publish_is_continued_by_the_next(store: Store) -> None:
    publish(store, compiled(task("a")))
    with pytest.raises(StoreError) as caught:
        publish(FailingReplace(store), compiled(task("b")))
    assert str(caught.value).endswith(
        "check it. Version 2 was written but not made live (the live manifest is still version "
        "1); publish again to continue."
    )
    assert store.list_versions("prod") == [1, 2] and live(store).version == 1

    draft = prepare(store, "prod", compiled(task("b")))
    assert draft.number == 3 and draft.plan.has_changes
    publish(store, compiled(task("b")))
    assert live(store).version == 3 and live(store).extra["previous_version"] == 1
    assert [(e.version, e.state) for e in history(store, "prod")] == [
        (3, "live"),
        (2, "never live"),
        (1, ""),
    ]


@pytest.mark.hardening
def test_an_interrupted_first_publish(store: Store) -> None:
    with pytest.raises(
        StoreError, match=r"the live manifest is still no manifest\); publish again"
    ):
        publish(FailingReplace(store), compiled(task("a")))
    assert [(e.version, e.state) for e in history(store, "prod")] == [(1, "never live")]
    publish(store, compiled(task("a")))
    assert [(e.version, e.state) for e in history(store, "prod")] == [
        (2, "live"),
        (1, "never live"),
    ]


@pytest.mark.hardening
def test_a_damaged_live_manifest_is_replaced_by_the_next_publish(store: Store) -> None:
    publish(store, compiled(task("a")))
    current = store.read_live("prod")
    assert current is not None
    store.replace_live("prod", b'{"format": 1, "tasks": [], "digest": "sha256:0"}', current.etag)
    draft = prepare(store, "prod", compiled(task("a")))
    assert draft.live_problem is not None and "digest mismatch" in draft.live_problem
    assert draft.number == 2 and [t.name for t in draft.plan.added] == ["a"]
    commit(store, draft, published_by="me")
    assert live(store).version == 2


# --- account pin, identity, git --------------------------------------------------------------


def environment(tmp_path: Path, store: str, account: str | None = None) -> Environment:
    return Environment(
        name="prod",
        path=tmp_path / "envs/prod.yml",
        store=store,
        region="us-east-1",
        account=account,
    )


@pytest.mark.aws
@pytest.mark.hardening
def test_an_account_mismatch_is_refused_before_the_bucket_is_touched(
    aws: object, tmp_path: Path
) -> None:
    env = environment(tmp_path, f"s3://{BUCKET}/m", account="999999999999")
    with pytest.raises(StoreError) as caught:
        open_env_store(env)
    assert str(caught.value) == (
        "env prod is pinned to AWS account 999999999999, but the credentials in use belong to "
        "account 123456789012 (arn:aws:sts::123456789012:user/moto); switch AWS_PROFILE or "
        "credentials, or change `account:` in prod.yml"
    )
    assert caught.value.exit_code == 3


@pytest.mark.aws
def test_the_pinned_account_matches(aws: object, tmp_path: Path) -> None:
    env = environment(tmp_path, f"s3://{BUCKET}/m", account="123456789012")
    store, identity = open_env_store(env)
    assert identity is not None and identity.account == "123456789012"
    assert publisher(store, env, identity) == "arn:aws:sts::123456789012:user/moto"


@pytest.mark.aws
def test_an_unpinned_s3_store_is_published_by_the_aws_caller(aws: object, tmp_path: Path) -> None:
    env = environment(tmp_path, f"s3://{BUCKET}/m")
    store, identity = open_env_store(env)
    assert identity is None
    assert publisher(store, env, None) == "arn:aws:sts::123456789012:user/moto"


def test_without_sts_an_unpinned_s3_store_falls_back_to_the_local_user(tmp_path: Path) -> None:
    env = environment(tmp_path, f"s3://{BUCKET}/m")  # AWS points at a dead port here
    store, _ = open_env_store(env)
    assert publisher(store, env, None) == local_user()


def test_a_local_store_ignores_the_pin_and_needs_no_aws(tmp_path: Path) -> None:
    env = environment(tmp_path, str(tmp_path / "store"), account="999999999999")
    store, identity = open_env_store(env)
    assert identity is None
    assert publisher(store, env, None) == local_user()
    assert "@" in local_user()


@pytest.mark.aws
@pytest.mark.hardening
def test_sts_without_credentials_is_one_clear_line(
    aws: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError) as caught:
        open_env_store(environment(tmp_path, f"s3://{BUCKET}/m", account="123456789012"))
    assert str(caught.value) == (
        "sts get-caller-identity: no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY (or run `aws sso login`)"
    )


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def test_git_info(tmp_path: Path) -> None:
    project = Project(
        root=tmp_path,
        templates=tmp_path / "templates",
        envs=tmp_path / "envs",
        build=tmp_path / "build",
        store=(tmp_path / ".lambdacron/store").as_uri(),
    )
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/a.yml.j2").write_text("name: a\n")
    assert git_info(project) is None
    git(tmp_path, "init", "-q")
    assert git_info(project) is None  # no commit yet
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "init")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (tmp_path / "build/prod").mkdir(parents=True)
    (tmp_path / "build/prod/manifest.json").write_text("{}")
    (tmp_path / ".lambdacron/store").mkdir(parents=True)
    (tmp_path / ".lambdacron/store/x").write_text("{}")
    assert git_info(project) == {"commit": head, "dirty": False}
    (tmp_path / "templates/a.yml.j2").write_text("name: b\n")
    assert git_info(project) == {"commit": head, "dirty": True}


# --- store failures: one clear line, exit 3, nothing written ---------------------------------


@pytest.mark.aws
@pytest.mark.hardening
def test_a_missing_bucket_stops_the_publish_before_anything_is_written(aws: object) -> None:
    store = open_store("s3://no-such-bucket/m")
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        prepare(store, "prod", compiled(task("a")))


def test_a_draft_is_plain_data(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    draft = prepare(store, "prod", compiled(task("a")))
    assert isinstance(draft, Draft) and draft.live is None and draft.live_etag is None
    assert list(tmp_path.iterdir()) == []
