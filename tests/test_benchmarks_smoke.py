"""The benchmarks at a tiny size: the generator, every figure, the report's structure.

Nothing here looks at how long anything took; it checks that each benchmark measures the work
it claims to (the project compiles to the synthetic manifest, croniter and the timetable agree,
the dispatched tasks arrive) and that the report holds every figure.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from benchmarks import synth
from benchmarks.__main__ import FIGURE_ORDER, Options, parse_args, render, run
from benchmarks.coldstart import orjson_row
from benchmarks.report import Rate, Report, Row, table, write
from benchmarks.servers import serving
from lambdacron.build import compile_env
from lambdacron.project import find_project, load_env
from lambdacron.runtime.cron import compile_expression


def test_jobs_are_the_same_for_the_same_size_and_cover_the_mix() -> None:
    jobs = synth.jobs(2000)
    assert jobs == synth.jobs(2000)
    assert synth.jobs(100) == jobs[:100]  # a smaller size is a prefix of a bigger one
    assert len({job.name for job in jobs}) == 2000
    assert set(Counter(job.type for job in jobs)) == set(synth.TARGETS)
    assert {job.timezone for job in jobs} == {None, *synth.ZONES}
    assert len(synth.ZONES) == 12
    expressions = {job.expression for job in jobs}
    assert set(synth.COMMON_EXPRESSIONS) <= expressions
    compiled = [compile_expression(expression) for expression in expressions]
    assert any(cron.day_or for cron in compiled)
    assert any(not job.enabled for job in jobs)


def test_the_project_compiles_to_the_synthetic_manifest(tmp_path: Path) -> None:
    root = synth.write_project(tmp_path, 120)
    project = find_project(root)
    manifest = compile_env(project, load_env(project, synth.ENV))
    expected = synth.manifest(120)
    assert [task.name for task in manifest.tasks] == [task.name for task in expected.tasks]
    assert manifest.digest == expected.digest
    assert {task.type for task in manifest.tasks} == set(synth.TARGETS)


def test_a_row_passes_by_its_limit_or_its_ratio() -> None:
    fast = Row("f", 10, 0.5, "ms", baseline=10.0, limit=1.0)
    slow = Row("f", 10, 2.0, "ms", baseline=10.0, limit=1.0)
    speedup = Row("d", 10, 100.0, "ms", baseline=400.0, min_ratio=5.0)
    plain = Row("p", None, 3.0, "B")
    assert (fast.passed, slow.passed, speedup.passed, plain.passed) == (True, False, False, None)
    assert (fast.ratio, speedup.ratio, plain.ratio) == (20.0, 4.0, None)
    assert (fast.target, speedup.target, plain.target) == ("≤ 1 ms", "≥ 5× faster", "—")
    text = table([fast, slow, Row("g", 5, 1.0, "ms", baseline_name="croniter", note="why")])
    assert "| f | 10 | 0.50 ms | 10.0 ms | 20.0× | ≤ 1 ms | pass |" in text
    assert "| f | 10 | 2.00 ms | 10.0 ms | 5.00× | ≤ 1 ms | FAIL |" in text
    assert "| g [1] [2] | 5 | 1.00 ms | — | — | — |  |" in text
    assert text.endswith("[1] croniter\n[2] why")


def test_options_parse_sizes_and_refuse_nonsense() -> None:
    options = parse_args(["--sizes", "100, 50,100", "--repeat", "2", "--out", "x.json"])
    assert (options.sizes, options.repeat, options.out) == ((50, 100), 2, Path("x.json"))
    assert parse_args([]).sizes == (1_000, 10_000, 100_000)
    with pytest.raises(SystemExit):
        parse_args(["--repeat", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--sizes", "ten"])


def test_the_http_server_answers_on_loopback_with_keep_alive() -> None:
    with serving("http") as url, requests.Session() as session:
        assert url.startswith("http://127.0.0.1:")
        answers = [session.post(f"{url}/hooks/x", json={"n": n}, timeout=10) for n in range(2)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"ok": True})] * 2
    assert answers[1].headers.get("Connection", "").lower() != "close"


def test_every_figure_at_a_tiny_size(aws: Any, http_server: Any, tmp_path: Path) -> None:
    options = Options(sizes=(50,), repeat=1, sample=20, sqs_tasks=20, rate_tasks=5)
    found = run(options, http_server.url)

    figures = [row.figure for row in found.rows]
    orjson = {"manifest JSON parse: orjson.loads"}
    assert set(FIGURE_ORDER) - orjson <= set(figures) <= set(FIGURE_ORDER)
    assert figures == sorted(figures, key=FIGURE_ORDER.index)
    for row in found.rows:
        assert row.value > 0, row
        assert row.passed in (True, False, None)
    targets = {row.figure: row for row in found.rows if row.passed is not None}
    assert set(targets) >= {
        "one tick: tasks due at a minute",
        "due-between, 60-minute catch-up",
        "cold start: import, read, verify, compile",
        "cold start peak memory",
        "manifest on the store (gzip JSON)",
        "render + validate + write",
        "dispatch due SQS tasks",
        "import lambdacron.runtime.handler",
    }
    by_figure = {row.figure: row for row in found.rows}
    assert "disagreed on 0 sampled" in by_figure["one tick: tasks due at a minute"].note
    assert "boto3 was not imported" in by_figure["cold start: import, read, verify, compile"].note
    assert (
        "besides the standard library: none" in by_figure["import lambdacron.runtime.handler"].note
    )
    assert by_figure["dispatch due SQS tasks"].size == 20

    assert [rate.type for rate in found.rates] == list(synth.TARGETS)
    assert all(isinstance(rate, Rate) and rate.per_second > 0 for rate in found.rates)
    # Warm-up, then one plain and one claimed round of 5 tasks, all at the loopback server.
    assert len(http_server.requests) == 3 + 5 + 5
    assert all(r.path.startswith("/hooks/") and r.method == "POST" for r in http_server.requests)
    sqs = boto3.client("sqs")
    delivered = 0
    for url in sqs.list_queues(QueueNamePrefix="bench-")["QueueUrls"]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        delivered += int(attributes["ApproximateNumberOfMessages"])
    # Queues are emptied before each round (moto slows down as they fill): the last round's.
    assert delivered == 5

    path = write(found, tmp_path / "bench.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {
        "machine",
        "sizes",
        "repeat",
        "sample",
        "seconds",
        "figures",
        "dispatch_rates",
        "findings",
    }
    assert data["sizes"] == [50] and len(data["figures"]) == len(found.rows)
    assert {"figure", "size", "value", "baseline", "ratio", "target", "passed"} <= set(
        data["figures"][0]
    )
    assert set(data["findings"]["fanout"]["per_type"]) == set(synth.TARGETS)
    printed = render(found)
    assert printed.startswith("| figure | N | lambdacron | baseline | ratio | target | result |")
    assert "| target type | due tasks | tasks/s | tasks/s with claims | server |" in printed
    assert "targets met" in printed


def test_report_json_has_the_machine(tmp_path: Path) -> None:
    found = Report((10,), 1, 5, rows=[Row("f", 10, 1.0, "ms", limit=2.0)])
    found.findings.update(load_average_start=(0.0, 0.0, 0.0))
    data = json.loads(write(found, tmp_path / "out" / "bench.json").read_text(encoding="utf-8"))
    assert data["figures"][0]["passed"] is True
    assert {"python", "cpus", "commit", "date"} <= set(data["machine"])


def test_the_orjson_row_sets_its_saving_against_the_cold_start() -> None:
    stdlib = [{"import_ms": 1.0, "loads_ms": 100.0, "dumps_ms": 80.0, "same_bytes": True}]
    fast = [{"import_ms": 6.0, "loads_ms": 30.0, "dumps_ms": 20.0, "same_bytes": True}]
    findings: dict[str, Any] = {}
    row = orjson_row(1000, stdlib, fast, {"total_ms": 500.0}, findings)
    assert (row.value, row.baseline, row.passed) == (30.0, 100.0, None)
    assert "same bytes: yes" in row.note
    found = findings["orjson"]["1000"]
    assert (found["parse_saving_ms"], found["digest_saving_ms_if_recomputed"]) == (65.0, 60.0)
    assert found["saving_share"] == 0.13 and found["orjson_dumps_same_bytes"] is True
    differs = [{**fast[0], "same_bytes": False}]
    orjson_row(1000, stdlib, differs, {"total_ms": 500.0}, findings)
    assert findings["orjson"]["1000"]["digest_saving_ms_if_recomputed"] == 0.0


def test_the_printed_report_says_what_orjson_saves_or_costs() -> None:
    found = Report((1000, 100_000), 1, 5, rows=[Row("f", 10, 1.0, "ms", limit=2.0)])
    found.findings.update(
        load_average_start=(0.5, 0.0, 0.0),
        load_average_end=(1.5, 0.0, 0.0),
        orjson={
            "1000": {"parse_saving_ms": -7.7, "saving_share": -0.1},
            "100000": {"parse_saving_ms": 74.5, "saving_share": 0.1},
        },
    )
    printed = render(found)
    assert "orjson at N=1,000: costs 7.7 ms of parsing, its import included (10% of" in printed
    assert "orjson at N=100,000: saves 74.5 ms of parsing" in printed
    assert printed.endswith(
        "1 of 1 targets met; 0 s; load average 0.5 at the start, 1.5 at the end"
    )
