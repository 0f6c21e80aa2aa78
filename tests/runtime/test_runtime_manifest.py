"""The manifest's wire form: canonical bytes, the digest, and the fast and slow ways to load it."""

from __future__ import annotations

import gc
import gzip
import json

import pytest

from lambdacron.runtime import manifest as manifest_module
from lambdacron.runtime.errors import ManifestError
from lambdacron.runtime.manifest import Manifest, Task, dumps, loads

TASKS = (
    Task("b", "@daily", "UTC", {"type": "http", "url": "http://x", "method": "GET"}),
    Task(
        "a",
        "0 17 5 * *",
        "Europe/Madrid",
        {"type": "queue", "QueueName": "q", "MessageBody": "x"},
        extra={"expression_source": "H 17 5 * *"},
    ),
)
MANIFEST = Manifest(env="dev", tasks=TASKS, version=3, message="m").with_digest()


def test_dumps_is_canonical_and_loads_round_trips() -> None:
    raw = dumps(MANIFEST)
    assert (
        raw
        == json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    loaded = loads(raw)
    assert loaded.tasks == tuple(sorted(TASKS, key=lambda t: t.name))
    assert (loaded.version, loaded.digest, loaded.message) == (3, MANIFEST.digest, "m")
    assert loads(gzip.compress(raw)) == loaded


def test_the_fast_path_hashes_the_task_list_bytes_it_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(tasks: object) -> str:
        raise AssertionError("the canonical manifest should not be re-serialised to verify it")

    monkeypatch.setattr(manifest_module, "digest_task_dicts", refuse)
    assert loads(dumps(MANIFEST)).digest == MANIFEST.digest


def test_a_pretty_printed_manifest_is_verified_the_slow_way() -> None:
    pretty = json.dumps(json.loads(dumps(MANIFEST)), indent=2).encode()
    assert loads(pretty).tasks == loads(dumps(MANIFEST)).tasks


def test_a_second_task_list_smuggled_after_the_first_is_refused() -> None:
    raw = dumps(MANIFEST)
    evil = json.dumps(
        [{"name": "evil", "expression": "* * * * *", "task": {"type": "http"}}]
    ).encode()
    start = raw.index(b',"tasks":[') + len(b',"tasks":')
    end = raw.rindex(b',"version":')
    smuggled_list = raw[start:end] + b',"x":1,"tasks":' + evil
    import hashlib

    forged_digest = "sha256:" + hashlib.sha256(smuggled_list).hexdigest()
    forged = raw[:start] + smuggled_list + raw[end:]
    forged = forged.replace(MANIFEST.digest.encode(), forged_digest.encode())
    with pytest.raises(ManifestError, match="its task list is not one JSON array"):
        loads(forged)
    with pytest.raises(ManifestError, match="digest mismatch"):
        loads(
            forged.replace(b',"version":3}', b', "version":3}')
        )  # laid out otherwise: parsed whole


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda raw: raw[: len(raw) // 2], "not valid JSON"),
        (lambda raw: raw.replace(b'"@daily"', b'"@hourly"'), "digest mismatch"),
        (
            lambda raw: raw.replace(b'"format":1', b'"format":2'),
            "manifest format 2 is not supported",
        ),
        (lambda raw: gzip.compress(raw)[:40], "corrupt gzip data"),
    ],
)
def test_damaged_manifests_are_refused(mutate, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        loads(mutate(dumps(MANIFEST)), "s3://b/dev/manifest.json")


def test_loading_leaves_the_garbage_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    loads(dumps(MANIFEST))
    assert gc.isenabled()
    gc.disable()
    try:
        loads(dumps(MANIFEST))
        assert not gc.isenabled()
    finally:
        gc.enable()
