"""``python -m benchmarks``: every figure, one table, ``build/bench.json``.

Starts a moto server and an HTTP server on 127.0.0.1 (child processes), points this process's
boto3 at moto with fake credentials, measures, prints the table of figures (medians, baselines,
ratios, targets, pass/fail) and the table of dispatch rates, and writes the JSON report.
Exits 0 whether or not targets pass: the report says which do.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import coldstart, compiler, dispatch, report, servers, synth, tick
from benchmarks.report import Report, Row

DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_REPEAT = 5
DEFAULT_SAMPLE = 5_000
# The compiler's runs take seconds each: three give a median.
RENDER_REPEAT = 3
FIGURE_ORDER = (
    "one tick: tasks due at a minute",
    "due-between, 60-minute catch-up",
    "cold start: import, read, verify, compile",
    "cold start peak memory",
    "manifest on the store (gzip JSON)",
    "manifest bytes per task",
    "manifest JSON parse: orjson.loads",
    "render + validate + write",
    "dispatch due SQS tasks",
    "import lambdacron.runtime.handler",
    "import lambdacron.runtime.handler, no .pyc",
)
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    repeat: int = DEFAULT_REPEAT
    sample: int = DEFAULT_SAMPLE
    sqs_tasks: int = dispatch.SQS_TASKS
    rate_tasks: int = dispatch.RATE_TASKS
    out: Path = report.REPO / "build" / "bench.json"


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="lambdacron's benchmarks: every figure beside its baseline, one table, JSON.",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="task counts, comma-separated (default: 1000,10000,100000)",
    )
    parser.add_argument(
        "--repeat", type=_positive, default=DEFAULT_REPEAT, help="runs per median (default: 5)"
    )
    parser.add_argument(
        "--sample",
        type=_positive,
        default=DEFAULT_SAMPLE,
        help="tasks croniter is timed on before scaling (default: 5000)",
    )
    parser.add_argument(
        "--sqs-tasks",
        type=_positive,
        default=dispatch.SQS_TASKS,
        help="due SQS tasks for the dispatch figure (default: 1000)",
    )
    parser.add_argument(
        "--rate-tasks",
        type=_positive,
        default=dispatch.RATE_TASKS,
        help="due tasks per type for the rates table (default: 300)",
    )
    parser.add_argument("--out", type=Path, default=Options.out, help="default: build/bench.json")
    args = parser.parse_args(argv)
    return Options(args.sizes, args.repeat, args.sample, args.sqs_tasks, args.rate_tasks, args.out)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted({_positive(item.strip()) for item in text.split(",") if item.strip()}))


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(options: Options, http_url: str) -> Report:
    """Every measurement; AWS is wherever this process's environment points boto3."""
    started = time.perf_counter()
    found = Report(options.sizes, options.repeat, options.sample)
    found.findings["load_average_start"] = os.getloadavg()
    for size in options.sizes:
        progress(f"N={size:,}: generating the manifest")
        manifest = synth.manifest(size)
        progress(f"N={size:,}: tick and catch-up window")
        found.rows += tick.tick_rows(manifest.tasks, options.repeat, options.sample)
        progress(f"N={size:,}: cold starts, size, memory")
        found.rows += coldstart.cold_start_rows(
            manifest, options.repeat, options.sample, found.findings
        )
    for size in compiler.render_sizes(options.sizes):
        progress(f"N={size:,}: render + validate + write")
        found.rows += compiler.render_rows(size, min(options.repeat, RENDER_REPEAT))
    progress("imports")
    found.rows += coldstart.import_rows(options.repeat)
    progress("dispatch")
    rows, rates, fanout = dispatch.run(
        http_url, options.repeat, options.sqs_tasks, options.rate_tasks
    )
    found.rows += rows
    found.rates = rates
    found.findings["fanout"] = fanout
    found.findings["load_average_end"] = os.getloadavg()
    found.rows.sort(key=_order)
    found.seconds = time.perf_counter() - started
    return found


def _order(row: Row) -> tuple[int, int]:
    position = FIGURE_ORDER.index(row.figure) if row.figure in FIGURE_ORDER else len(FIGURE_ORDER)
    return position, row.size or 0


def render(found: Report) -> str:
    """The text printed at the end: both tables and the findings that need words."""
    lines = [report.table(found.rows), "", report.rates_table(found.rates), ""]
    fanout: dict[str, Any] = found.findings.get("fanout", {})
    threshold = fanout.get("fanout_threshold")
    for kind, seconds in fanout.get("per_type", {}).items():
        lines.append(
            f"fan-out threshold {threshold} {kind} tasks: {seconds['seconds_for_threshold']:.2f} s "
            f"({seconds['seconds_for_threshold_claimed']:.2f} s with claims) in one invocation"
        )
    for size, orjson in found.findings.get("orjson", {}).items():
        if isinstance(orjson, dict):
            saving = orjson["parse_saving_ms"]
            lines.append(
                f"orjson at N={int(size):,}: {'saves' if saving > 0 else 'costs'} "
                f"{abs(saving):.1f} ms of parsing, its import included "
                f"({abs(orjson['saving_share']):.0%} of the cold start)"
            )
        else:
            lines.append(f"orjson at N={int(size):,}: {orjson}")
    passed = [row.passed for row in found.rows if row.passed is not None]
    lines.append(
        f"{sum(passed)} of {len(passed)} targets met; {found.seconds:.0f} s; load average "
        f"{found.findings['load_average_start'][0]:.1f} at the start, "
        f"{found.findings['load_average_end'][0]:.1f} at the end"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    with servers.serving("moto") as moto_url, servers.serving("http") as http_url:
        # This process only: boto3 and lambdacron's clients reach moto, never a real account.
        os.environ.update(FAKE_AWS, AWS_ENDPOINT_URL=moto_url)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        found = run(options, http_url)
    print(render(found))
    path = report.write(found, options.out)
    progress(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
