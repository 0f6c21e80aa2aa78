"""Benchmarks, the cold start: the manifest on the store, what a fresh scheduler process spends
to import the handler and load, verify and compile it, its peak memory, and the imports.

Every figure here is measured in fresh interpreters (``report.child``), a median over several,
after one discarded run that leaves the ``.pyc`` files behind. The deployment zip ships no
``.pyc`` (Lambda cannot write them), so the handler import is also measured from a copy of the
runtime's sources where Python must compile every module, as at a real cold start.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import MIB, REPO, Row, child, median, medians
from lambdacron.runtime.manifest import Manifest, dumps

COLD_START_LIMIT_MS = 300.0
MEMORY_LIMIT_MIB = 256.0
STORE_LIMIT_MIB = 4.0
IMPORT_LIMIT_MS = 50.0
# What the S3 store writes: gzip level 6, no timestamp (see lambdacron.runtime.store).
GZIP_LEVEL = 6

# Peak resident memory of this process. Not ru_maxrss: Linux carries it over exec from the
# forked parent, so a child of a big benchmark process would report the parent's size.
PEAK_MEMORY = """
def peak_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""

# A scheduler's cold start, as the handler does it: import, build the scheduler, then load the
# live manifest (read, gunzip, parse, verify the digest, compile the timetable). argv[3] "nogc"
# turns the cyclic garbage collector off first, to show what it costs.
HANDLER_CHILD = (
    """
import sys, time
if sys.argv[3] == "nogc":
    import gc; gc.disable()
started = time.perf_counter()
import lambdacron.runtime.handler as handler
imported = time.perf_counter()
config = handler.Config(store=sys.argv[1], env=sys.argv[2])
scheduler = handler.from_config(config, sink=lambda line: None)
compiled = scheduler.manifests.current()
loaded = time.perf_counter()
import json
"""
    + PEAK_MEMORY
    + """
print(json.dumps({
    "import_ms": (imported - started) * 1000,
    "load_ms": (loaded - imported) * 1000,
    "total_ms": (loaded - started) * 1000,
    "tasks": len(compiled.tasks),
    "peak_mib": peak_mib(),
    "boto3": "boto3" in sys.modules,
}))
"""
)

# The same load taken apart, each step timed once, cold: the bare gunzip and JSON parse (what
# any loader pays), then the runtime's own functions from the stored bytes.
PHASES_CHILD = """
import sys, time
clock = time.perf_counter
t = clock(); import gzip, json
from lambdacron.runtime.loader import compile_manifest
from lambdacron.runtime.manifest import loads
out = {"import_ms": (clock() - t) * 1000}
def step(name, work):
    started = clock(); value = work(); out[name] = (clock() - started) * 1000; return value
stored = step("read_ms", lambda: open(sys.argv[1], "rb").read())
raw = step("gunzip_ms", lambda: gzip.decompress(stored))
parsed = step("json_loads_ms", lambda: json.loads(raw))
del raw, parsed
manifest = step("manifest_loads_ms", lambda: loads(stored))
step("compile_manifest_ms", lambda: compile_manifest(manifest))
print(json.dumps(out))
"""

# One JSON library in a fresh process: import it, parse the manifest, serialise the sorted task
# list as the digest does (orjson sorts keys with OPT_SORT_KEYS), compare with canonical_json.
PARSER_CHILD = """
import sys, time, gzip
raw = gzip.decompress(open(sys.argv[1], "rb").read())
clock = time.perf_counter
started = clock()
if sys.argv[2] == "orjson":
    import orjson
    loads, dumps = orjson.loads, lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
else:
    import json
    loads = json.loads
    dumps = lambda v: json.dumps(
        v, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
imported = clock()
data = loads(raw)
parsed = clock()
ordered = sorted(data["tasks"], key=lambda t: str(t.get("name", "")))
sorted_at = clock()
dumped = dumps(ordered)
dumped_at = clock()
import json
from lambdacron.runtime.manifest import canonical_json
print(json.dumps({
    "import_ms": (imported - started) * 1000,
    "loads_ms": (parsed - imported) * 1000,
    "dumps_ms": (dumped_at - sorted_at) * 1000,
    "same_bytes": dumped == canonical_json(ordered),
}))
"""

# The 2017 way: json.loads, then one croniter object per task. croniter objects are timed on a
# spread sample and scaled linearly (building 100,000 of them takes seconds).
BASELINE_CHILD = """
import sys, time
started = time.perf_counter()
import gzip, json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from croniter import croniter
stored = open(sys.argv[1], "rb").read()
data = json.loads(gzip.decompress(stored) if stored[:2] == b"\\x1f\\x8b" else stored)
tasks = [t for t in data["tasks"] if t.get("enabled", True)]
parsed = time.perf_counter()
step = max(1, len(tasks) // int(sys.argv[2]))
picked = tasks[::step][: int(sys.argv[2])]
now = datetime.now(UTC)
built = time.perf_counter()
schedules = [croniter(t["expression"], now.astimezone(ZoneInfo(t["timezone"]))) for t in picked]
per_task = (time.perf_counter() - built) / len(picked)
print(json.dumps({
    "parse_ms": (parsed - started) * 1000,
    "total_ms": ((parsed - started) + per_task * len(tasks)) * 1000,
    "sampled": len(picked),
}))
"""

IMPORT_CHILD = """
import sys, time
started = time.perf_counter()
__import__(sys.argv[1])
elapsed = time.perf_counter() - started
import json
heavy = ("boto3", "botocore", "requests", "jinja2", "typer", "cerberus", "rich", "yaml", "croniter")
print(json.dumps({
    "import_ms": elapsed * 1000,
    "loaded": [m for m in heavy if m in sys.modules],
    "file": sys.modules[sys.argv[1]].__file__,
}))
"""


def store_manifest(manifest: Manifest, root: Path) -> tuple[str, Path, int]:
    """Put ``manifest`` live in a file store at ``root`` as an S3 store keeps it (gzip JSON);
    returns the store URL, the stored file and the uncompressed size."""
    raw = dumps(manifest)
    path = root / manifest.env / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0))
    return root.as_uri(), path, len(raw)


def cold_start_rows(
    manifest: Manifest, repeat: int, sample: int, findings: dict[str, Any]
) -> list[Row]:
    """Size, cold start, memory and JSON-library figures of one manifest."""
    size = len(manifest.tasks)
    with tempfile.TemporaryDirectory(prefix="lambdacron-bench-") as folder:
        url, path, raw_size = store_manifest(manifest, Path(folder))
        stored_size = path.stat().st_size
        child(HANDLER_CHILD, url, manifest.env, "gc")  # leaves the .pyc files behind
        runs = [child(HANDLER_CHILD, url, manifest.env, "gc") for _ in range(repeat)]
        no_gc = medians([child(HANDLER_CHILD, url, manifest.env, "nogc") for _ in range(repeat)])
        baseline = medians([child(BASELINE_CHILD, str(path), str(sample)) for _ in range(repeat)])
        parts = medians([child(PHASES_CHILD, str(path)) for _ in range(repeat)])
        parsers = {
            name: [child(PARSER_CHILD, str(path), name) for _ in range(repeat)]
            for name in ("json", "orjson")
            if _installed(name)
        }
    if any(run["tasks"] != sum(t.enabled for t in manifest.tasks) for run in runs):
        raise RuntimeError("the scheduler compiled another number of tasks than the manifest has")
    cold = medians(runs)
    findings.setdefault("gc", {})[str(size)] = {
        "cold_start_ms": cold["total_ms"],
        "cold_start_gc_off_ms": no_gc["total_ms"],
    }
    rows = [
        Row(
            figure="manifest on the store (gzip JSON)",
            size=size,
            value=stored_size / MIB,
            unit="MiB",
            baseline=raw_size / MIB,
            baseline_name="baseline: the same manifest as uncompressed canonical JSON.",
            limit=STORE_LIMIT_MIB,
        ),
        Row(
            figure="manifest bytes per task",
            size=size,
            value=stored_size / size,
            unit="B",
            baseline=raw_size / size,
            baseline_name="baseline: the same manifest as uncompressed canonical JSON.",
        ),
        Row(
            figure="cold start: import, read, verify, compile",
            size=size,
            value=cold["total_ms"],
            unit="ms",
            baseline=baseline["total_ms"],
            baseline_name=(
                "baseline: a fresh process imports json and croniter, reads and parses the "
                "manifest, and builds one croniter object per enabled task (timed on "
                f"{int(baseline['sampled']):,} spread tasks, scaled linearly)."
            ),
            limit=COLD_START_LIMIT_MS,
            note=_cold_note(cold, no_gc, parts, any(run["boto3"] for run in runs)),
        ),
        Row(
            figure="cold start peak memory",
            size=size,
            value=cold["peak_mib"],
            unit="MiB",
            limit=MEMORY_LIMIT_MIB,
            note=(
                "peak resident memory (VmHWM) of the whole scheduler process after its cold start."
            ),
        ),
    ]
    if "orjson" in parsers:
        rows.append(orjson_row(size, parsers["json"], parsers["orjson"], cold, findings))
    else:
        findings.setdefault("orjson", {})[str(size)] = "orjson is not installed"
    return rows


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cold_note(
    cold: dict[str, float], no_gc: dict[str, float], parts: dict[str, float], boto3: bool
) -> str:
    steps = ", ".join(
        f"{label} {parts[name]:.1f}"
        for label, name in (
            ("read", "read_ms"),
            ("gunzip", "gunzip_ms"),
            ("json.loads alone", "json_loads_ms"),
            ("manifest.loads (gunzip, parse, verify, tasks)", "manifest_loads_ms"),
            ("compile_manifest (timetable)", "compile_manifest_ms"),
        )
    )
    return (
        f"lambdacron: a fresh process imports lambdacron.runtime.handler "
        f"({cold['import_ms']:.1f} ms), builds the scheduler and loads the live manifest "
        f"({cold['load_ms']:.1f} ms); boto3 {'was' if boto3 else 'was not'} imported. With the "
        f"cyclic garbage collector off: {no_gc['total_ms']:.1f} ms. Its steps, each cold, ms: "
        f"{steps}."
    )


def orjson_row(
    size: int,
    json_runs: Sequence[dict[str, Any]],
    orjson_runs: Sequence[dict[str, Any]],
    cold: dict[str, float],
    findings: dict[str, Any],
) -> Row:
    """orjson against json, each in fresh processes, for what the cold start parses and what
    the digest re-serialises; the saving includes orjson's own import."""
    stdlib, fast = medians(json_runs), medians(orjson_runs)
    same = all(run["same_bytes"] for run in orjson_runs)
    parse_saving = stdlib["import_ms"] + stdlib["loads_ms"] - fast["import_ms"] - fast["loads_ms"]
    # Re-serialising is only needed for a manifest not laid out as `dumps` writes it: reported,
    # not counted in the saving.
    digest_saving = stdlib["dumps_ms"] - fast["dumps_ms"] if same else 0.0
    findings.setdefault("orjson", {})[str(size)] = {
        "json": stdlib,
        "orjson": fast,
        "orjson_dumps_same_bytes": same,
        "parse_saving_ms": parse_saving,
        "digest_saving_ms_if_recomputed": digest_saving,
        "cold_start_ms": cold["total_ms"],
        "saving_share": parse_saving / cold["total_ms"],
    }
    return Row(
        figure="manifest JSON parse: orjson.loads",
        size=size,
        value=fast["loads_ms"],
        unit="ms",
        baseline=stdlib["loads_ms"],
        baseline_name="baseline: json.loads of the same bytes (standard library).",
        note=(
            f"each in a fresh process; orjson import {fast['import_ms']:.1f} ms. Recomputing "
            f"the digest (needed only for a manifest not laid out as dumps writes it): json.dumps "
            f"{stdlib['dumps_ms']:.1f} ms, orjson.dumps(OPT_SORT_KEYS) {fast['dumps_ms']:.1f} ms, "
            f"same bytes: {'yes' if same else 'no'}."
        ),
    )


def import_rows(repeat: int) -> list[Row]:
    """The handler's import time, from cached bytecode and from source, beside the CLI's."""
    with tempfile.TemporaryDirectory(prefix="lambdacron-sources-") as folder:
        sources = _runtime_sources(Path(folder))
        handler = _imports("lambdacron.runtime.handler", repeat)
        cli = _imports("lambdacron.cli", repeat)
        fresh = _imports("lambdacron.runtime.handler", repeat, sources)
    rows = []
    for figure, found, note in (
        ("import lambdacron.runtime.handler", handler, "bytecode (.pyc) cached"),
        (
            "import lambdacron.runtime.handler, no .pyc",
            fresh,
            "from a copy of lambdacron/__init__.py and lambdacron/runtime/ with no .pyc, as the "
            "deployment zip ships them: Python compiles every module at each cold start.",
        ),
    ):
        rows.append(
            Row(
                figure=figure,
                size=None,
                value=found["import_ms"],
                unit="ms",
                baseline=cli["import_ms"],
                baseline_name="baseline: import lambdacron.cli (the compiler's CLI), .pyc cached.",
                limit=IMPORT_LIMIT_MS,
                note=f"{note} Modules loaded besides the standard library: "
                f"{', '.join(found['loaded']) or 'none'} (the CLI: {', '.join(cli['loaded'])}).",
            )
        )
    return rows


def _imports(module: str, repeat: int, cwd: Path | None = None) -> dict[str, Any]:
    runs = [_import_once(module, cwd) for _ in range(repeat + 1)][1:]
    return {"import_ms": median([run["import_ms"] for run in runs]), "loaded": runs[0]["loaded"]}


def _import_once(module: str, cwd: Path | None) -> dict[str, Any]:
    if cwd is None:
        return child(IMPORT_CHILD, module)
    # The copy comes first on sys.path (cwd); writing no bytecode keeps it compiling each time.
    found = child("import sys; sys.dont_write_bytecode = True\n" + IMPORT_CHILD, module, cwd=cwd)
    if not str(found["file"]).startswith(str(cwd)):
        raise RuntimeError(f"{module} was imported from {found['file']}, not from the copy")
    return found


def _runtime_sources(folder: Path) -> Path:
    """What the deployment zip holds of lambdacron: its __init__ and the runtime, sources only."""
    package = folder / "lambdacron"
    shutil.copytree(
        REPO / "lambdacron" / "runtime",
        package / "runtime",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    shutil.copy2(REPO / "lambdacron" / "__init__.py", package / "__init__.py")
    return folder
