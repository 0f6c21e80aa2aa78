"""Benchmarks, the output: figures measured beside their baselines, targets, the printed tables
and ``build/bench.json``.

A ``Row`` is one figure at one size: the median lambdacron value, the median baseline measured in
the same run, and the target. Lower is better for every row of the main table (times, bytes);
the ratio says how many times lower than the baseline lambdacron is. Dispatch rates, where
higher is better, have a table of their own (``Rate``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    """One figure at one size. ``limit``: the target is value ≤ limit; ``min_ratio``: the target
    is baseline / value ≥ min_ratio. Neither: reported, no target."""

    figure: str
    size: int | None
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    limit: float | None = None
    min_ratio: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.value <= 0:
            return None
        return self.baseline / self.value

    @property
    def target(self) -> str:
        if self.limit is not None:
            return f"≤ {self.limit:g} {self.unit}"
        if self.min_ratio is not None:
            return f"≥ {self.min_ratio:g}× faster"
        return "—"

    @property
    def passed(self) -> bool | None:
        if self.limit is not None:
            return self.value <= self.limit
        if self.min_ratio is not None:
            ratio = self.ratio
            return ratio is not None and ratio >= self.min_ratio
        return None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "target": self.target, "passed": self.passed}


@dataclass(frozen=True)
class Rate:
    """Due tasks one invocation dispatches per second, for one target type."""

    type: str
    tasks: int
    per_second: float
    claimed_per_second: float
    server: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """Everything one run measured, in the order it was measured."""

    sizes: tuple[int, ...]
    repeat: int
    sample: int
    rows: list[Row] = field(default_factory=list)
    rates: list[Rate] = field(default_factory=list)
    findings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": machine(),
            "sizes": list(self.sizes),
            "repeat": self.repeat,
            "sample": self.sample,
            "seconds": round(self.seconds, 1),
            "figures": [row.as_dict() for row in self.rows],
            "dispatch_rates": [rate.as_dict() for rate in self.rates],
            "findings": self.findings,
        }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _commit() -> str | None:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip()


# Measuring


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def child(code: str, *args: str, cwd: Path = REPO) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter and return the JSON object it prints last: cold
    starts and imports are measured where nothing is loaded yet. ``cwd`` comes first on the
    child's ``sys.path``."""
    found = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({found.returncode}):\n{found.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def medians(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per key, the median of the numeric values the runs reported."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return {key: median([run[key] for run in runs]) for key in keys}


# Printing


def number(value: float) -> str:
    """Three significant digits, thousands separated, no exponent."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    digits = 2
    while abs(value) < 10 ** -(digits - 1) and digits < 8:
        digits += 1
    return f"{value:.{digits}f}"


def ratio_text(ratio: float | None) -> str:
    return "—" if ratio is None else f"{number(ratio)}×"


def verdict(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: ""}[passed]


def table(rows: Sequence[Row]) -> str:
    """The main table, Markdown, with a numbered note for each baseline and detail."""
    lines = [
        "| figure | N | lambdacron | baseline | ratio | target | result |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    notes: list[str] = []
    for row in rows:
        marks = []
        for text in (row.baseline_name, row.note):
            if text:
                if text not in notes:
                    notes.append(text)
                marks.append(f"[{notes.index(text) + 1}]")
        baseline = "—" if row.baseline is None else f"{number(row.baseline)} {row.unit}"
        size = "—" if row.size is None else f"{row.size:,}"
        label = " ".join([row.figure, *marks])
        lines.append(
            f"| {label} | {size} | {number(row.value)} {row.unit} "
            f"| {baseline} | {ratio_text(row.ratio)} | {row.target} | {verdict(row.passed)} |"
        )
    lines.append("")
    lines.extend(f"[{index}] {text}" for index, text in enumerate(notes, 1))
    return "\n".join(lines)


def rates_table(rates: Sequence[Rate]) -> str:
    lines = [
        "| target type | due tasks | tasks/s | tasks/s with claims | server |",
        "|---|---:|---:|---:|---|",
    ]
    for rate in rates:
        lines.append(
            f"| {rate.type} | {rate.tasks:,} | {number(rate.per_second)} "
            f"| {number(rate.claimed_per_second)} | {rate.server} |"
        )
    return "\n".join(lines)


def write(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return path
