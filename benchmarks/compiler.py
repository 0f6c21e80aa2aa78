"""Benchmarks, the compiler: render, validate and write a synthetic project, as `lambdacron
render --env bench` does, in a fresh process each time (Jinja's and the validators' caches
start cold, as they do for a user)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import synth
from benchmarks.report import Row, child, medians

RENDER_LIMIT_S = 5.0
RENDER_SIZE = 10_000

RENDER_CHILD = """
import sys, time
from pathlib import Path
clock = time.perf_counter
started = clock()
from lambdacron.build import build_env, write_build
from lambdacron.project import find_project, load_env
imported = clock()
project = find_project(Path(sys.argv[1]))
env = load_env(project, sys.argv[2])
loaded = clock()
build = build_env(project, env)
built = clock()
write_build(build, project.build / env.name)
written = clock()
import json
print(json.dumps({
    "import_s": imported - started,
    "load_env_s": loaded - imported,
    "render_validate_s": built - loaded,
    "write_s": written - built,
    "total_s": written - started,
    "tasks": len(build.manifest.tasks),
    "digest": build.manifest.digest,
}))
"""


def render_sizes(sizes: tuple[int, ...]) -> list[int]:
    """The target is set at 10,000 tasks: measure there, and at the smaller sizes asked for."""
    return sorted({min(size, RENDER_SIZE) for size in sizes})


def render_rows(size: int, repeat: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="lambdacron-project-") as folder:
        root = synth.write_project(Path(folder), size)
        runs = [child(RENDER_CHILD, str(root), synth.ENV) for _ in range(repeat)]
    expected = synth.manifest(size).digest
    if any(run["digest"] != expected for run in runs):
        raise RuntimeError("the compiled project differs from the synthetic manifest")
    found = medians(runs)
    return [
        Row(
            figure="render + validate + write",
            size=size,
            value=found["total_s"],
            unit="s",
            limit=RENDER_LIMIT_S,
            note=(
                f"a fresh process: imports {found['import_s']:.2f} s, env file "
                f"{found['load_env_s']:.2f} s, render + validate {found['render_validate_s']:.2f} "
                f"s, write build/ (one file per task and manifest.json) {found['write_s']:.2f} s."
            ),
        )
    ]
