"""The Lambda deployment zip: reproducible, exactly the runtime and its dependencies, and able to
run the handler with nothing but boto3's own distributions beside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import lambdacron
from lambdacron.deploy.package import build_package, runtime_distributions
from lambdacron.runtime.manifest import Manifest, Task, dumps
from lambdacron.runtime.store import open_store

FORBIDDEN = (
    "jinja2",
    "typer",
    "cerberus",
    "rich",
    "yaml",
    "_yaml",
    "croniter",
    "boto3",
    "botocore",
    "click",
    "markupsafe",
    "s3transfer",
    "dateutil",
)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("package") / "lambdacron.zip"
    build_package(out)
    return zipfile.ZipFile(out)


def test_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    first = build_package(tmp_path / "a" / "one.zip")
    second = build_package(tmp_path / "b" / "two.zip")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    assert first.size == len(first.path.read_bytes()) == second.size
    assert first.files == second.files


def test_holds_the_runtime_and_its_dependencies_only(package: zipfile.ZipFile) -> None:
    names = package.namelist()
    tops = {name.split("/")[0] for name in names}
    runtime = Path(lambdacron.__file__).parent / "runtime"
    expected_runtime = {
        "lambdacron/" + p.relative_to(runtime.parent).as_posix()
        for p in runtime.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert {n for n in names if n.startswith("lambdacron/")} == {
        "lambdacron/__init__.py",
        *expected_runtime,
    }
    packages = {t for t in tops if not t.endswith(".dist-info")}
    assert packages == {
        "lambdacron",
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset_normalizer",
        "tzdata",
    }
    assert not tops & set(FORBIDDEN)
    assert "certifi/cacert.pem" in names  # requests' CA bundle: data, not only code
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so", ".pyd"))]
    assert names == sorted(names)


def test_entries_have_fixed_times_and_permissions(package: zipfile.ZipFile) -> None:
    for info in package.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.external_attr >> 16 == 0o100644, info.filename
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_dependencies_follow_the_metadata_without_extras() -> None:
    names = [d.metadata["Name"].lower().replace("_", "-") for d in runtime_distributions()]
    assert names == ["certifi", "charset-normalizer", "idna", "requests", "tzdata", "urllib3"]


def _boto3_only(folder: Path) -> Path:
    """A folder holding boto3 and the distributions it requires (what the Lambda Python runtime
    provides), as links into this virtualenv, and nothing else."""
    folder.mkdir()
    pending, seen = ["boto3"], set()
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        for requirement in dist.requires or ():
            if "extra" not in requirement.partition(";")[2]:
                pending.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
        for top in {str(f).split("/")[0] for f in dist.files or ()}:
            source = Path(str(dist.locate_file(top)))
            if top != ".." and not top.endswith(".dist-info") and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


def test_the_handler_runs_from_the_unpacked_zip_with_only_boto3_beside_it(
    package: zipfile.ZipFile, tmp_path: Path, http_server
) -> None:
    task = Task(
        "ping",
        "* * * * *",
        "UTC",
        {"type": "http", "method": "POST", "url": f"{http_server.url}/ping", "json": {"a": 1}},
    )
    manifest = Manifest(env="dev", tasks=(task,), version=1).with_digest()
    store = open_store(f"file://{tmp_path / 'store'}")
    store.write_version("dev", 1, dumps(manifest))
    store.replace_live("dev", dumps(manifest), None)
    unpacked = tmp_path / "task"
    package.extractall(unpacked)
    runtime = _boto3_only(tmp_path / "runtime")
    code = f"""
import json, sys
sys.path[:0] = [{str(unpacked)!r}, {str(runtime)!r}]
try:
    import jinja2
except ImportError:
    pass
else:
    raise SystemExit("jinja2 is importable: the path is not clean")
from lambdacron.runtime import handler
summary = handler.handler({{"time": "2026-12-04T10:00:00Z"}}, None)
import requests, boto3
assert requests.__file__.startswith({str(unpacked)!r}), requests.__file__
assert boto3.__file__.startswith({str(runtime)!r}), boto3.__file__
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r} and m != "boto3"
               and not m.startswith(("boto3.", "botocore", "s3transfer", "dateutil")))
print(json.dumps({{"summary": summary, "heavy": heavy}}))
"""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "LAMBDACRON_STORE": f"file://{tmp_path / 'store'}",
        "LAMBDACRON_ENV": "dev",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert [o["status"] for o in report["summary"]["outcomes"]] == ["fired"]
    assert [r.json() for r in http_server.requests] == [{"a": 1}]
