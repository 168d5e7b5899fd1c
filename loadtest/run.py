"""``python -m loadtest run``: the load test against the production-mode stack (issue 21).

1. A PostgreSQL cluster of the run's own in ``--workdir`` (created once, kept: the dataset
   lives there) and a Redis of its own.
2. A template database per dataset size, ``pipecrm_tpl_<leads>``: migrated, with the
   benchmark's dataset built once (``COPY``, rescored, vacuumed) and reused by later runs.
   Every run starts from a copy of it (``CREATE DATABASE … TEMPLATE``), so that what one
   run writes (leads created, moved, assigned) does not change the next run's starting point.
3. The stack (``loadtest.stack``): two daphne processes, a Celery worker and beat, DEBUG off.
4. Per level (``--users``, or each of ``--curve``): Locust headless with the four kinds of
   user of ``loadtest/locustfile.py``, ramped up, then measured for ``--duration`` seconds
   (``--reset-stats``: the ramp-up is not in the figures); the outbox is then left to drain
   before the next level.
5. Requests/s, p50/p95/p99 per request kind, errors and the realtime delay, the curve and its
   knee; the targets of SPEC §11 checked at ``--users``: exit 1 on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from loadtest import report
from loadtest.stack import PYTHON, ROOT, Postgres, Redis, Stack, free_port, log

DEFAULT_WORKDIR = Path(os.environ.get("LOADTEST_WORKDIR", "/var/tmp/pipecrm-loadtest"))
RUN_DATABASE = "pipecrm_load"


def template_name(leads: int) -> str:
    return f"pipecrm_tpl_{leads}"


def pending_events(postgres: Postgres, database: str) -> int:
    rows = postgres.execute(
        "SELECT count(*) FROM crm_event WHERE status IN ('pending', 'failed')", database
    )
    return int(rows[0][0])


def prepare_template(stack: Stack, leads: int, *, rebuild: bool) -> None:
    template = template_name(leads)
    pg = stack.postgres
    if rebuild and pg.exists(template):
        pg.execute(f'DROP DATABASE "{template}" WITH (FORCE)')
    if not pg.exists(template):
        log(f"  create database {template}")
        pg.execute(f'CREATE DATABASE "{template}"')
    stack.database = template
    started = time.monotonic()
    stack.prepare_database()
    log(f"  dataset of {leads} leads in {template}")
    stack.python("-m", "loadtest", "prepare", "dataset", "--leads", str(leads))
    # Leave nothing of the template's own events for the runs to dispatch.
    pg.execute(
        "UPDATE crm_event SET status = 'processed' WHERE status IN ('pending', 'failed')",
        template,
    )
    pg.execute("CHECKPOINT")
    log(f"  template ready in {time.monotonic() - started:.0f} s")


def clone_run_database(postgres: Postgres, leads: int) -> float:
    started = time.monotonic()
    if postgres.exists(RUN_DATABASE):
        postgres.execute(f'DROP DATABASE "{RUN_DATABASE}" WITH (FORCE)')
    postgres.execute(
        f'CREATE DATABASE "{RUN_DATABASE}" TEMPLATE "{template_name(leads)}" STRATEGY FILE_COPY'
    )
    return time.monotonic() - started


def run_locust(
    stack: Stack, rundir: Path, *, users: int, duration: int, spawn_rate: float, fixture: Path
) -> report.LevelReport:
    prefix = rundir / f"locust-{users}"
    realtime = rundir / f"realtime-{users}.json"
    env = {
        **stack.env,
        "LOADTEST_FIXTURE": str(fixture),
        "LOADTEST_HOSTS": ",".join(stack.urls),
        "LOADTEST_REALTIME_OUT": str(realtime),
        "PYTHONPATH": str(ROOT),
    }
    ramp = users / spawn_rate
    cmd = [
        PYTHON,
        "-m",
        "locust",
        "-f",
        str(ROOT / "loadtest" / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        # The measured window starts once every user runs (--reset-stats).
        "--run-time",
        f"{int(ramp + duration + 2)}s",
        "--reset-stats",
        "--stop-timeout",
        "10",
        "--host",
        stack.urls[0],
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    log(f"\n==> {users} users (ramp-up {ramp:.0f} s, then {duration} s measured)")
    with open(rundir / f"locust-{users}.log", "wb") as out:
        result = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"locust exited with {result.returncode}; see {out.name}")
    level = report.level_report(prefix, realtime, users=users, duration_s=duration)
    return level


def drain(stack: Stack, timeout: float = 120) -> tuple[int, float]:
    """Wait until the outbox holds no pending event (the worker caught up); (left, seconds)."""
    started = time.monotonic()
    left = pending_events(stack.postgres, stack.database)
    while left and time.monotonic() - started < timeout:
        time.sleep(2)
        left = pending_events(stack.postgres, stack.database)
    return left, time.monotonic() - started


def parse_levels(curve: str | None, users: int) -> list[int]:
    if not curve:
        return [users]
    levels = sorted({int(x) for x in curve.split(",") if x.strip()})
    if any(level < 1 for level in levels):
        raise ValueError("--curve takes positive numbers of users, e.g. 25,50,100,200")
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest run",
        description="Load test of the production-mode stack (issue 21).",
    )
    parser.add_argument("--users", type=int, default=100, help="users the targets apply to")
    parser.add_argument("--duration", type=int, default=60, help="measured seconds per level")
    parser.add_argument("--leads", type=int, default=100_000, help="dataset size")
    parser.add_argument("--curve", help="levels of users to measure, e.g. 25,50,100,200")
    parser.add_argument("--spawn-rate", type=float, default=0, help="users/s (default users/10)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--rebuild", action="store_true", help="build the dataset anew")
    parser.add_argument("--no-check", action="store_true", help="report only, exit 0")
    parser.add_argument("--p95-ms", type=float, default=500)
    parser.add_argument("--realtime-p95-ms", type=float, default=1000)
    args = parser.parse_args(argv)

    levels = parse_levels(args.curve, args.users)
    if args.users not in levels:
        levels = sorted({*levels, args.users})
    targets = report.Targets(
        users=args.users, p95_ms=args.p95_ms, realtime_p95_ms=args.realtime_p95_ms
    )
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rundir = workdir / time.strftime("run-%Y%m%d-%H%M%S")
    rundir.mkdir()
    log(f"Load test: {levels} users, {args.duration} s each, {args.leads} leads; logs in {rundir}")

    started = time.monotonic()
    postgres = Postgres(workdir / "pg", free_port(), workdir / "postgres.log")
    redis = Redis(free_port(), rundir / "redis.log")
    stack = Stack(
        rundir,
        postgres,
        redis,
        RUN_DATABASE,
        [free_port(), free_port()],
        extra_env={"LOG_LEVEL": "WARNING", "DB_STATEMENT_TIMEOUT": "30"},
    )
    levels_done: list[report.LevelReport] = []
    try:
        log("==> PostgreSQL (own cluster) and Redis (own server)")
        postgres.init()
        postgres.start()
        redis.start()
        log("==> template database")
        stack.extra_env["DB_STATEMENT_TIMEOUT"] = "0"  # building the dataset: no limit
        prepare_template(stack, args.leads, rebuild=args.rebuild)
        stack.extra_env["DB_STATEMENT_TIMEOUT"] = "30"
        log(f"==> run database from the template: {clone_run_database(postgres, args.leads):.0f} s")
        stack.database = RUN_DATABASE
        stack.prepare_database()
        fixture = rundir / "fixture.json"
        stack.python(
            "-m",
            "loadtest",
            "prepare",
            "fixture",
            "--leads",
            str(args.leads),
            "--out",
            str(fixture),
        )
        log("==> stack: 2 × daphne, celery worker, celery beat (DEBUG=0)")
        stack.start()
        stack.wait_healthy()
        for users in levels:
            spawn_rate = args.spawn_rate or max(1.0, users / 10)
            level = run_locust(
                stack,
                rundir,
                users=users,
                duration=args.duration,
                spawn_rate=spawn_rate,
                fixture=fixture,
            )
            left, seconds = drain(stack)
            level.notes.append(
                f"outbox after the level: drained in {seconds:.0f} s"
                if not left
                else f"outbox after the level: {left} events still pending after {seconds:.0f} s"
            )
            for name, service in stack.services.items():
                if not service.alive():
                    level.errors[f"{name} exited during the level"] = 1
            log(report.format_level(level))
            levels_done.append(level)
    except Exception:
        stack.tail()
        raise
    finally:
        stack.stop()
        redis.stop()
        postgres.stop()

    at_target = next(level for level in levels_done if level.users == args.users)
    misses = report.check(at_target, targets)
    summary = {
        "levels": [level.as_json() for level in levels_done],
        "targets": targets.__dict__,
        "misses": misses,
        "knee": report.knee(levels_done, targets) if len(levels_done) > 1 else None,
        "seconds": round(time.monotonic() - started),
    }
    (rundir / "report.json").write_text(json.dumps(summary, indent=1, default=str))
    log("\n==> summary")
    if len(levels_done) > 1:
        log(report.format_curve(levels_done, targets))
    log(
        f"  targets at {args.users} users (0 errors, p95 ≤ {args.p95_ms:.0f} ms, "
        f"realtime p95 ≤ {args.realtime_p95_ms:.0f} ms): " + ("MET" if not misses else "MISSED")
    )
    for miss in misses:
        log(f"  - {miss}")
    log(f"  report: {rundir / 'report.json'} ({summary['seconds']} s in all)")
    return 0 if args.no_check or not misses else 1


if __name__ == "__main__":
    sys.exit(main())
