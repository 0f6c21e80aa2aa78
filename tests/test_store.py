"""The store, the same suite against the local folder and against S3 on the moto server."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from lambdacron.runtime import store as store_module
from lambdacron.runtime.errors import PublishConflictError, StoreError, UsageError
from lambdacron.runtime.manifest import Manifest, Task, dumps, loads
from lambdacron.runtime.store import FileStore, S3Store, Store, StoredObject, open_store

BUCKET = "lc-store"


def manifest_bytes(version: int, *names: str) -> bytes:
    tasks = tuple(
        Task(
            name=n,
            expression="0 17 5 * *",
            timezone="UTC",
            target={"type": "sns", "TopicArn": "t", "Message": n},
        )
        for n in names
    )
    return dumps(Manifest(env="prod", tasks=tasks, version=version).with_digest())


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.aws)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "file":
        return open_store((tmp_path / "store").as_uri())
    request.getfixturevalue("aws")
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return open_store(f"s3://{BUCKET}/manifests", region="us-east-1")


def test_an_empty_store_has_no_live_manifest_and_no_versions(store: Store) -> None:
    assert store.read_live("prod") is None
    assert store.list_versions("prod") == []


def test_versions_round_trip_and_list_in_numeric_order(store: Store) -> None:
    for number in (2, 10, 1):
        store.write_version("prod", number, manifest_bytes(number, "a"))
    assert store.list_versions("prod") == [1, 2, 10]
    assert loads(store.read_version("prod", 10)).version == 10
    assert store.list_versions("dev") == []


@pytest.mark.hardening
def test_a_version_is_never_overwritten(store: Store) -> None:
    store.write_version("prod", 1, manifest_bytes(1, "a"))
    with pytest.raises(PublishConflictError) as caught:
        store.write_version("prod", 1, manifest_bytes(1, "b"))
    assert caught.value.exit_code == 4
    assert [t.name for t in loads(store.read_version("prod", 1)).tasks] == ["a"]


def test_writing_the_same_version_bytes_again_is_a_retry_not_a_conflict(store: Store) -> None:
    store.write_version("prod", 1, manifest_bytes(1, "a"))
    store.write_version("prod", 1, manifest_bytes(1, "a"))
    assert store.list_versions("prod") == [1]


def test_a_version_that_never_went_live_can_be_discarded(store: Store) -> None:
    store.write_version("prod", 1, manifest_bytes(1, "a"))
    store.write_version("prod", 2, manifest_bytes(2, "b"))
    store.discard_version("prod", 2)
    store.discard_version("prod", 3)
    assert store.list_versions("prod") == [1]


def test_a_missing_version_is_a_store_error_naming_it(store: Store) -> None:
    with pytest.raises(StoreError, match=r"prod/versions/7\.json: no such version$"):
        store.read_version("prod", 7)


def test_replace_live_only_if_still_the_expected_one(store: Store) -> None:
    first = store.replace_live("prod", manifest_bytes(1, "a"), None)
    live = store.read_live("prod")
    assert live is not None and live.etag == first
    with pytest.raises(PublishConflictError, match="planned against no manifest, now version 1"):
        store.replace_live("prod", manifest_bytes(2, "b"), None)
    second = store.replace_live("prod", manifest_bytes(2, "b"), first)
    with pytest.raises(PublishConflictError, match="planned against version 2, now version 2"):
        store.replace_live("prod", manifest_bytes(3, "c"), first)
    live = store.read_live("prod")
    assert live is not None and live.etag == second
    assert loads(live.data).version == 2


def test_read_live_if_changed_answers_none_while_unchanged(store: Store) -> None:
    etag = store.replace_live("prod", manifest_bytes(1, "a"), None)
    assert store.read_live_if_changed("prod", etag) is None
    store.replace_live("prod", manifest_bytes(2, "a", "b"), etag)
    changed = store.read_live_if_changed("prod", etag)
    assert changed is not None and loads(changed.data).version == 2
    assert store.read_live_if_changed("prod", changed.etag) is None


@pytest.mark.hardening
def test_read_live_if_changed_is_loud_when_the_live_manifest_is_gone(store: Store) -> None:
    with pytest.raises(
        StoreError, match=r"prod/manifest\.json: .* disappeared; publish the env again"
    ):
        store.read_live_if_changed("prod", "some-etag")


def test_env_names_cannot_escape_their_folder(store: Store) -> None:
    with pytest.raises(UsageError, match=r"env name '\.\./x' is not valid"):
        store.read_live("../x")


def test_the_file_store_layout(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.write_version("prod", 1, manifest_bytes(1, "a"))
    store.replace_live("prod", manifest_bytes(1, "a"), None)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        "store/prod/manifest.json",
        "store/prod/manifest.json.lock",
        "store/prod/versions/1.json",
    ]
    # Small manifests stay readable JSON on disk.
    assert (tmp_path / "store/prod/manifest.json").read_bytes() == manifest_bytes(1, "a")


def test_the_file_store_gzips_large_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FILE_GZIP_THRESHOLD", 100)
    store = open_store(str(tmp_path))
    store.replace_live("prod", manifest_bytes(1, "a"), None)
    raw = (tmp_path / "prod/manifest.json").read_bytes()
    assert gzip.decompress(raw) == manifest_bytes(1, "a")
    live = store.read_live("prod")
    assert live is not None and loads(live.data).version == 1


@pytest.mark.aws
def test_the_s3_layout_and_encoding(aws: object) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    store = open_store(f"s3://{BUCKET}/a/b/")
    store.write_version("prod", 1, manifest_bytes(1, "a"))
    etag = store.replace_live("prod", manifest_bytes(1, "a"), None)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == ["a/b/prod/manifest.json", "a/b/prod/versions/1.json"]
    head = s3.head_object(Bucket=BUCKET, Key="a/b/prod/manifest.json")
    assert (head["ContentEncoding"], head["ContentType"], head["ETag"]) == (
        "gzip",
        "application/json",
        etag,
    )
    body = s3.get_object(Bucket=BUCKET, Key="a/b/prod/manifest.json")["Body"].read()
    assert gzip.decompress(body) == manifest_bytes(1, "a")


@pytest.mark.parametrize(
    ("url", "kind", "where"),
    [
        ("s3://bucket/prefix/", S3Store, "s3://bucket/prefix/prod/manifest.json"),
        ("s3://bucket", S3Store, "s3://bucket/prod/manifest.json"),
        ("file:///srv/store", FileStore, "/srv/store/prod/manifest.json"),
        ("file://localhost/srv/store", FileStore, "/srv/store/prod/manifest.json"),
        ("/srv/store", FileStore, "/srv/store/prod/manifest.json"),
    ],
)
def test_store_urls(url: str, kind: type, where: str) -> None:
    store = open_store(url)
    assert isinstance(store, kind)
    assert store.location("prod") == where


def test_a_relative_path_is_taken_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert open_store("store").location("dev") == str(tmp_path / "store/dev/manifest.json")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (
            "ftp://host/x",
            "store 'ftp://host/x': unsupported scheme 'ftp'; use s3://bucket/prefix "
            "or file:///absolute/path",
        ),
        (
            "file://host/x",
            "store 'file://host/x': a file store URL needs an absolute path, e.g. file:///host/x",
        ),
        ("s3:///prefix", "store 's3:///prefix': no bucket; use s3://bucket or s3://bucket/prefix"),
    ],
)
def test_bad_store_urls(url: str, error: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert str(caught.value) == error


def race(count: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action(i)`` in ``count`` threads released together; collect results or errors."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.hardening
def test_file_store_racing_writers_of_one_version_one_wins(tmp_path: Path) -> None:
    stores = [open_store(str(tmp_path)) for _ in range(8)]
    results = race(8, lambda i: stores[i].write_version("prod", 1, manifest_bytes(1, f"t{i}")))
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, PublishConflictError) for r in results if r is not None)
    assert [t.name for t in loads(stores[0].read_version("prod", 1)).tasks] == [f"t{winners[0]}"]
    assert sorted(p.name for p in (tmp_path / "prod/versions").iterdir()) == ["1.json"]


@pytest.mark.hardening
def test_file_store_racing_replacers_of_the_live_manifest_one_wins(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    etag = store.replace_live("prod", manifest_bytes(1, "a"), None)
    results = race(8, lambda i: store.replace_live("prod", manifest_bytes(2, f"t{i}"), etag))
    winners = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert len(winners) == 1
    assert all(
        isinstance(r, PublishConflictError) for i, r in enumerate(results) if i not in winners
    )
    live = store.read_live("prod")
    assert isinstance(live, StoredObject) and live.etag == results[winners[0]]
    assert [t.name for t in loads(live.data).tasks] == [f"t{winners[0]}"]


# --- failures: one clear line, exit 3 --------------------------------------------------------


@pytest.mark.hardening
def test_an_unreachable_s3_endpoint() -> None:
    store = open_store(f"s3://{BUCKET}/m")  # the autouse fixture aims AWS at a dead port
    with pytest.raises(StoreError) as caught:
        store.read_live("prod")
    assert str(caught.value) == (
        f"s3://{BUCKET}/m/prod/manifest.json: cannot reach S3 at http://127.0.0.1:9; check the "
        "network, the env's `region` and AWS_ENDPOINT_URL"
    )
    assert caught.value.exit_code == 3


@pytest.mark.aws
@pytest.mark.hardening
def test_a_missing_bucket(aws: object) -> None:
    store = open_store("s3://no-such-bucket/m")
    for attempt in (
        lambda: store.read_live("prod"),
        lambda: store.list_versions("prod"),
        lambda: store.write_version("prod", 1, b"{}"),
    ):
        with pytest.raises(StoreError) as caught:
            attempt()
        assert (
            "bucket 'no-such-bucket' does not exist; create it or fix `store:` in the env file"
            in str(caught.value)
        )
        assert "\n" not in str(caught.value)


@pytest.mark.aws
@pytest.mark.hardening
def test_missing_credentials(aws: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError) as caught:
        open_store(f"s3://{BUCKET}").list_versions("prod")
    assert str(caught.value) == (
        f"s3://{BUCKET}/prod/versions/: no AWS credentials found; set AWS_PROFILE, or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or run `aws sso login`)"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (
            "AccessDenied",
            403,
            "s3://b/k: access denied; the AWS identity in use needs "
            "s3:GetObject, s3:PutObject and s3:ListBucket on bucket 'b' (check AWS_PROFILE and the "
            "bucket policy)",
        ),
        (
            "ExpiredToken",
            400,
            "s3://b/k: the AWS credentials were rejected (ExpiredToken); refresh "
            "them (e.g. `aws sso login`) or check AWS_PROFILE / AWS_ACCESS_KEY_ID",
        ),
        ("SlowDown", 503, "s3://b/k: S3 answered SlowDown: it said\nso"),
    ],
)
@pytest.mark.hardening
def test_s3_error_answers_become_one_line(code: str, status: int, expected: str) -> None:
    error = ClientError(
        {
            "Error": {"Code": code, "Message": "it said\nso"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )
    result = store_module._client_error(error, "s3://b/k", "b")
    assert isinstance(result, StoreError)
    assert str(result) == expected.replace("\n", " ")
