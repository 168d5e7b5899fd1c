"""The data a load or fault run starts from, written through the app's own code (runs inside
Django, with the stack's environment; ``python -m loadtest prepare …`` is what the runners
call in a subprocess).

- ``dataset``: the benchmark's dataset of ``--leads`` leads (``leads.benchmark.prepare``:
  built with ``COPY`` on PostgreSQL, or reused when its fingerprint matches), rescored once as
  at its anchor and vacuumed — the benchmark's steps without its measurements.
- ``fixture``: what the load generator needs and may not read from the database itself (it
  imports nothing of Django): accounts and their password, API tokens, the lead workflow's
  steps and the moves a board allows between open steps, the "live" leads the realtime
  measurement writes to, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

LIVE_PREFIX = "[live]"
PASSWORD_ENV = "LOADTEST_PASSWORD"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def build_dataset(leads: int, *, rebuild: bool = False) -> dict:
    from crm.records import tallies
    from leads import benchmark

    started = time.perf_counter()
    dataset = benchmark.prepare(leads, log=lambda m: print(f"  {m}", flush=True), rebuild=rebuild)
    info = {"leads": leads, "built": dataset.built, "build_seconds": dataset.seconds}
    if dataset.built:
        rescore = benchmark.measure_rescore(now=dataset.anchor)
        print(f"  rescored {rescore.leads} leads in {rescore.seconds} s", flush=True)
        tallies.rebuild_all()  # the boards' column heads (the COPY emitted no events)
        benchmark.settle(log=lambda m: print(m, flush=True))
    info["seconds"] = round(time.perf_counter() - started, 1)
    return info


def settle_overdue() -> int:
    """Mark the activities already past due as notified, as a running system's overdue
    notifier (beat, 500 an hour per run) would have long ago. A dataset built by ``COPY``
    never met it: its first run would flood the worker with a backlog of ``activity.overdue``
    events (500 per run, measured 18 s of one worker process at 5,000 leads) that a steady
    state does not have."""
    from django.db import connection

    from activities.models import Activity
    from activities.services import OVERDUE_FLAG

    table = connection.ops.quote_name(Activity._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET metadata = metadata || jsonb_build_object(%s, now()::text) "
            "WHERE is_done = false AND due_at < now() AND assigned_to_id IS NOT NULL "
            "AND NOT metadata ? %s",
            [OVERDUE_FLAG, OVERDUE_FLAG],
        )
        return cursor.rowcount


def _user(username: str, role, password: str, *, superuser: bool = False):
    from django.contrib.auth.models import Group

    from crm.models import User

    user, _ = User.objects.get_or_create(username=username, defaults={"first_name": username})
    user.set_password(password)
    user.is_superuser = user.is_staff = superuser
    user.save()
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


def _token(user) -> str:
    from crm import tokens
    from crm.models import ApiToken

    ApiToken.objects.filter(user=user).delete()  # a fresh set every run, under the limit
    return tokens.token_create(by=user, name="load test")[1]


def make_fixture(*, leads: int, live: int, integrations: int) -> dict:
    from crm.roles import Role
    from leads import benchmark
    from leads import services as lead_services
    from leads.models import Lead
    from wfm.models import WorkflowStep, WorkflowTransition
    from wfm.selectors import project_type_for

    settled = settle_overdue()
    print(f"  {settled} activities past due marked as notified (steady state)", flush=True)
    password = os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(18)
    manager, reps = benchmark.ensure_users()
    for user in [manager, *reps]:
        user.set_password(password)
        user.save(update_fields=["password"])
    api_users = [
        _user(f"load_integration{i}", Role.MANAGER, password) for i in range(1, integrations + 1)
    ]
    admin = _user("load_admin", None, password, superuser=True)

    workflow = project_type_for(entity_type="lead").default_workflow
    steps = list(WorkflowStep.objects.filter(workflow=workflow).order_by("order", "pk"))
    open_steps = {s.pk for s in steps if not s.is_final}
    moves: dict[str, list[int]] = {}
    for t in WorkflowTransition.objects.filter(workflow=workflow):
        if t.from_step_id in open_steps and t.to_step_id in open_steps:
            moves.setdefault(str(t.from_step_id), []).append(t.to_step_id)

    # The leads the realtime measurement writes to: each rep owns some (their boards and
    # detail pages show them), named apart from the benchmark's.
    Lead.all_objects.filter(name__startswith=LIVE_PREFIX).delete()
    live_leads = []
    for i in range(live):
        owner = reps[i % len(reps)]
        lead = lead_services.lead_create(
            by=manager,
            name=f"{LIVE_PREFIX} Lead {i}",
            source=Lead.Source.WEB,
            owner=owner,
            assigned_to=owner,
            company_name="RT 0",
        )
        live_leads.append({"id": str(lead.pk), "owner": owner.username})

    return {
        "password": password,
        "leads": leads,
        "reps": [{"username": u.username, "id": u.pk} for u in reps],
        "managers": [{"username": manager.username, "id": manager.pk}],
        "admin": {"username": admin.username, "id": admin.pk},
        "integrations": [{"username": u.username, "token": _token(u)} for u in api_users],
        "writer": {"username": manager.username, "token": _token(manager)},
        "workflow": {
            "id": workflow.pk,
            "steps": [{"id": s.pk, "name": s.name, "final": s.is_final} for s in steps],
            "open_steps": sorted(open_steps),
            "moves": moves,
        },
        "live_leads": live_leads,
        "custom_field_filters": [
            "cf_bench_industry=Software",
            "cf_bench_region=EMEA",
            "cf_bench_industry=Healthcare&cf_bench_company_size=51-200",
            "cf_bench_has_champion=true",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest prepare")
    parser.add_argument("what", choices=["dataset", "fixture"])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--live", type=int, default=12, help="live leads (realtime writes)")
    parser.add_argument("--integrations", type=int, default=2)
    parser.add_argument("--out", type=Path, help="fixture JSON path")
    args = parser.parse_args(argv)
    _setup()
    if args.what == "dataset":
        info = build_dataset(args.leads, rebuild=args.rebuild)
        print(json.dumps(info), flush=True)
        return 0
    fixture = make_fixture(leads=args.leads, live=args.live, integrations=args.integrations)
    out = args.out or Path("loadtest-fixture.json")
    out.write_text(json.dumps(fixture, indent=1))
    os.chmod(out, 0o600)  # holds the accounts' password and API tokens of this run
    print(f"  fixture: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
