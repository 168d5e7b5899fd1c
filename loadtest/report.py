"""Figures of a load run and their verdict: Locust's statistics (its ``--csv`` files), the
realtime delays the websocket viewers recorded, the targets of SPEC §11 and the knee of a
curve. Plain functions, unit-tested in ``tests/loadtest``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` (0–100) percentile by the nearest-rank method: the smallest value with at
    least ``pct`` % of the values at or below it (a p95 of 20 values is the 19th). NaN for
    no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Targets:
    """SPEC §11 on a 2-core machine: at ``users`` concurrent users, no error, every request
    kind's p95 within ``p95_ms``, the realtime delay's p95 within ``realtime_p95_ms``."""

    users: int = 100
    errors: int = 0
    p95_ms: float = 500
    realtime_p95_ms: float = 1000


@dataclass
class Kind:
    """One request kind (Locust's name of it, e.g. ``page: leads table``)."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    max: float


@dataclass
class Realtime:
    """Delays (ms) from a write to the viewers' receipt, by surface."""

    name: str
    count: int
    p50: float
    p95: float
    p99: float
    max: float


@dataclass
class LevelReport:
    users: int
    duration_s: float
    rps: float
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float
    kinds: list[Kind]
    realtime: list[Realtime]
    errors: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return self.failures + sum(self.errors.values())

    def realtime_overall(self) -> Realtime | None:
        return next((r for r in self.realtime if r.name == "all"), None)

    def as_json(self) -> dict:
        data = asdict(self)
        data["error_count"] = self.error_count
        return data


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_stats(path: Path) -> tuple[list[Kind], Kind | None]:
    """Locust's ``<prefix>_stats.csv``: the request kinds and the ``Aggregated`` row."""
    kinds, total = [], None
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            kind = Kind(
                method=row.get("Type", ""),
                name=row.get("Name", ""),
                requests=int(_number(row.get("Request Count", "0")) or 0),
                failures=int(_number(row.get("Failure Count", "0")) or 0),
                rps=_number(row.get("Requests/s", "0")),
                p50=_number(row.get("50%", "")),
                p95=_number(row.get("95%", "")),
                p99=_number(row.get("99%", "")),
                max=_number(row.get("Max Response Time", "")),
            )
            if kind.name == "Aggregated":
                total = kind
            else:
                kinds.append(kind)
    return kinds, total


def read_failures(path: Path) -> dict[str, int]:
    """Locust's ``<prefix>_failures.csv``: occurrences by "METHOD name: error"."""
    if not path.exists():
        return {}
    out: dict[str, int] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            key = f"{row.get('Method', '')} {row.get('Name', '')}: {row.get('Error', '')}"
            out[key] = out.get(key, 0) + int(_number(row.get("Occurrences", "0")) or 0)
    return out


def realtime_figures(delays: dict[str, list[float]]) -> list[Realtime]:
    """Per surface and over all of them (``all``)."""
    out = []
    every: list[float] = []
    for name in sorted(delays):
        values = delays[name]
        every.extend(values)
        out.append(_realtime(name, values))
    out.append(_realtime("all", every))
    return out


def _realtime(name: str, values: Sequence[float]) -> Realtime:
    return Realtime(
        name=name,
        count=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=max(values) if values else math.nan,
    )


def read_realtime(path: Path) -> tuple[dict[str, list[float]], dict[str, int]]:
    """The viewers' file: ``{"delays": {surface: [ms, …]}, "errors": {what: n}}``."""
    if not path.exists():
        return {}, {"realtime: no viewer report": 1}
    data = json.loads(path.read_text())
    return data.get("delays", {}), data.get("errors", {})


def level_report(
    prefix: Path, realtime_file: Path, *, users: int, duration_s: float
) -> LevelReport:
    kinds, total = read_stats(Path(f"{prefix}_stats.csv"))
    delays, realtime_errors = read_realtime(realtime_file)
    total = total or Kind("", "Aggregated", 0, 0, 0.0, math.nan, math.nan, math.nan, math.nan)
    errors = {f"realtime: {k}": v for k, v in realtime_errors.items() if v}
    return LevelReport(
        users=users,
        duration_s=duration_s,
        rps=total.rps,
        requests=total.requests,
        failures=total.failures,
        p50=total.p50,
        p95=total.p95,
        p99=total.p99,
        kinds=sorted(kinds, key=lambda k: (k.name, k.method)),
        realtime=realtime_figures(delays),
        errors=errors | read_failures(Path(f"{prefix}_failures.csv")),
    )


def check(report: LevelReport, targets: Targets) -> list[str]:
    """What misses the targets (empty: all met)."""
    misses = []
    if report.users < targets.users:
        misses.append(f"measured at {report.users} users, the target is {targets.users}")
    if report.error_count > targets.errors:
        misses.append(f"{report.error_count} errors (target {targets.errors})")
    if report.requests == 0:
        misses.append("no request was made")
    for kind in report.kinds:
        if kind.requests and not kind.p95 <= targets.p95_ms:
            misses.append(f"{kind.name}: p95 {kind.p95:.0f} ms > {targets.p95_ms:.0f} ms")
    overall = report.realtime_overall()
    if overall is None or overall.count == 0:
        misses.append("no realtime delivery was measured")
    elif not overall.p95 <= targets.realtime_p95_ms:
        misses.append(f"realtime delay p95 {overall.p95:.0f} ms > {targets.realtime_p95_ms:.0f} ms")
    return misses


def knee(levels: Sequence[LevelReport], targets: Targets) -> str:
    """Where the curve bends: the first level whose p95 passes the target or that gains less
    than a quarter of the throughput its extra users should bring (the server saturated)."""
    ordered = sorted(levels, key=lambda r: r.users)
    for previous, current in zip(ordered, ordered[1:], strict=False):
        expected = previous.rps * current.users / previous.users
        gained = current.rps - previous.rps
        if not current.p95 <= targets.p95_ms:
            return (
                f"between {previous.users} and {current.users} users: p95 "
                f"{previous.p95:.0f} → {current.p95:.0f} ms"
            )
        if expected > previous.rps and gained < 0.25 * (expected - previous.rps):
            return (
                f"between {previous.users} and {current.users} users: throughput "
                f"{previous.rps:.1f} → {current.rps:.1f} req/s (saturated)"
            )
    if ordered:
        return f"not reached up to {ordered[-1].users} users"
    return "no level measured"


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}"


def format_level(report: LevelReport) -> str:
    lines = [
        f"{report.users} users, {report.duration_s:.0f} s: {report.rps:.1f} req/s, "
        f"{report.requests} requests, {report.error_count} errors; "
        f"p50 {_ms(report.p50)} / p95 {_ms(report.p95)} / p99 {_ms(report.p99)} ms",
        f"  {'request kind':<44} {'count':>7} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6}",
    ]
    for k in report.kinds:
        lines.append(
            f"  {(k.method + ' ' + k.name).strip()[:44]:<44} {k.requests:>7} {k.failures:>5} "
            f"{_ms(k.p50):>6} {_ms(k.p95):>6} {_ms(k.p99):>6}"
        )
    lines.append(
        f"  {'realtime delay (write → viewer)':<44} {'count':>7} {'':>5} "
        f"{'p50':>6} {'p95':>6} {'p99':>6}"
    )
    for r in report.realtime:
        lines.append(
            f"  {r.name:<44} {r.count:>7} {'':>5} {_ms(r.p50):>6} {_ms(r.p95):>6} {_ms(r.p99):>6}"
        )
    for what, count in sorted(report.errors.items()):
        lines.append(f"  error ×{count}: {what}")
    lines.extend(f"  note: {n}" for n in report.notes)
    return "\n".join(lines)


def format_curve(levels: Iterable[LevelReport], targets: Targets) -> str:
    levels = sorted(levels, key=lambda r: r.users)
    lines = [
        f"  {'users':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6} "
        f"{'realtime p95':>12}"
    ]
    for r in levels:
        rt = r.realtime_overall()
        lines.append(
            f"  {r.users:>5} {r.rps:>7.1f} {_ms(r.p50):>6} {_ms(r.p95):>6} {_ms(r.p99):>6} "
            f"{r.error_count:>6} {_ms(rt.p95 if rt else math.nan):>12}"
        )
    lines.append(f"  knee: {knee(levels, targets)}")
    return "\n".join(lines)
