"""The load run's figures and verdict (``loadtest/report.py``, ``loadtest/run.py``)."""

from __future__ import annotations

import json
import math

import pytest

from loadtest import report
from loadtest.run import parse_levels

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)


def stats_csv(tmp_path, rows, name="locust-100"):
    lines = [HEADER]
    for kind, label, count, fails, rps, p50, p95, p99 in rows:
        lines.append(
            f"{kind},{label},{count},{fails},{p50},{p50},1,{p99},100,{rps},0,"
            f"{p50},{p50},{p50},{p50},{p95},{p95},{p95},{p99},{p99},{p99},{p99}\n"
        )
    (tmp_path / f"{name}_stats.csv").write_text("".join(lines))
    return tmp_path / name


def realtime_json(tmp_path, delays, errors=None, name="realtime-100.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"delays": delays, "errors": errors or {}}))
    return path


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 21))  # 1 … 20
    assert report.percentile(values, 50) == 10
    assert report.percentile(values, 95) == 19
    assert report.percentile(values, 100) == 20
    assert report.percentile([7.0], 99) == 7.0
    assert math.isnan(report.percentile([], 95))
    assert report.percentile([3, 1, 2], 50) == 2  # unsorted input


def test_a_level_report_reads_locust_and_the_viewers(tmp_path):
    prefix = stats_csv(
        tmp_path,
        [
            ("GET", "page: leads table", 400, 0, 6.7, 80, 310, 450),
            ("POST", "api: create lead", 200, 2, 3.3, 90, 420, 600),
            ("", "Aggregated", 600, 2, 10.0, 85, 350, 520),
        ],
    )
    (tmp_path / "locust-100_failures.csv").write_text(
        "Method,Name,Error,Occurrences\nPOST,api: create lead,503 unavailable,2\n"
    )
    delays = {"board: socket": [100.0, 200.0, 300.0], "lead page: on screen": [400.0]}
    level = report.level_report(
        prefix, realtime_json(tmp_path, delays, {"dropped boards: X": 1}), users=100, duration_s=60
    )
    assert (level.rps, level.requests, level.failures, level.p95) == (10.0, 600, 2, 350)
    assert [k.name for k in level.kinds] == ["api: create lead", "page: leads table"]
    assert level.errors == {
        "realtime: dropped boards: X": 1,
        "POST api: create lead: 503 unavailable": 2,
    }
    assert level.error_count == 5
    overall = level.realtime_overall()
    assert (overall.count, overall.p50, overall.max) == (4, 200.0, 400.0)
    text = report.format_level(level)
    assert "api: create lead" in text and "board: socket" in text


TARGETS = report.Targets(users=100, p95_ms=500, realtime_p95_ms=1000)


def level(users=100, rps=50.0, p95=300.0, failures=0, kinds=None, realtime=None, errors=None):
    if kinds is None:
        kinds = [report.Kind("GET", "page", 10, 0, 1.0, 50, p95, p95, p95)]
    realtime = realtime if realtime is not None else report.realtime_figures({"b": [300.0] * 20})
    return report.LevelReport(
        users, 60, rps, 100, failures, 50, p95, p95, kinds, realtime, errors or {}
    )


def test_targets_met():
    assert report.check(level(), TARGETS) == []


@pytest.mark.parametrize(
    ("changes", "miss"),
    [
        ({"users": 50}, "measured at 50 users"),
        ({"failures": 1}, "1 errors"),
        ({"errors": {"realtime: dropped": 2}}, "2 errors"),
        (
            {"kinds": [report.Kind("POST", "htmx: bulk", 5, 0, 0.1, 200, 900, 900, 900)]},
            "htmx: bulk: p95 900 ms > 500 ms",
        ),
        ({"realtime": report.realtime_figures({"b": [1500.0] * 20})}, "realtime delay p95 1500"),
        ({"realtime": report.realtime_figures({})}, "no realtime delivery"),
    ],
)
def test_each_target_can_be_missed(changes, miss):
    misses = report.check(level(**changes), TARGETS)
    assert any(miss in m for m in misses), misses


def test_a_kind_without_requests_is_no_miss():
    kinds = [report.Kind("GET", "page: deals board", 0, 0, 0.0, math.nan, math.nan, math.nan, 0)]
    assert report.check(level(kinds=kinds), TARGETS) == []


def test_the_knee_is_where_p95_passes_the_target_or_throughput_stops_growing():
    good = [level(25, 20, 100), level(50, 40, 150), level(100, 78, 300), level(200, 150, 450)]
    assert report.knee(good, TARGETS) == "not reached up to 200 users"
    slow = [level(25, 20, 100), level(50, 40, 150), level(100, 75, 700)]
    assert report.knee(slow, TARGETS) == "between 50 and 100 users: p95 150 → 700 ms"
    flat = [level(25, 20, 100), level(50, 40, 150), level(100, 44, 400)]
    assert "between 50 and 100 users: throughput 40.0 → 44.0 req/s" in report.knee(flat, TARGETS)
    assert "knee:" in report.format_curve(flat, TARGETS)


def test_curve_levels():
    assert parse_levels(None, 100) == [100]
    assert parse_levels("200,25, 50,100,50", 100) == [25, 50, 100, 200]
    with pytest.raises(ValueError):
        parse_levels("0,25", 100)
