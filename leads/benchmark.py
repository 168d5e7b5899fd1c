"""The benchmark of SPEC §10: a large dataset and per-screen figures.

The dataset is a pure function of its size: ``generate`` draws every ``[bench]`` lead (with
its WFM project, first history row, owner object permissions) and its activities from fixed
seeds, with times relative to the dataset's *anchor* (the moment it was built). ``prepare``
reuses what is in the database only when its fingerprint (counts and the sum of the estimated
values, see ``expected_fingerprint``) is what the generator makes for that size, and
otherwise deletes the ``[bench]`` records and builds them again: with ``COPY`` on PostgreSQL,
``bulk_create`` elsewhere (small sizes). The full rescore then runs at the anchor, so that a
new and a reused dataset hold the same scores when the screens are measured.

``measure`` requests each screen in-process through Django's test client as a real user and
reports the SQL query count, p50/p95 latency, the SQL time of the request (the sum of its
statements' times) and the time of the page's main SQL statement run alone (the slowest
statement of a request, re-run directly).
"""

from __future__ import annotations

import bisect
import gc
import json
import math
import os
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import tablib
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection, models, transaction
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from config.celery import app as celery_app
from crm import services as crm_services
from crm.models import Event, ImportJob, ImportRow, User
from crm.roles import Role
from customfields.models import CustomFieldDefinition
from leads.models import Lead, LeadUserObjectPermission
from wfm.models import BoardEntry, Project, StatusHistory, WorkflowStep
from wfm.selectors import project_type_for

BENCH_PREFIX = "[bench]"
BENCH_PASSWORD = "pipecrm-bench"
BENCH_REASON = "Benchmark"
REPS = [f"bench_rep{i}" for i in range(1, 5)]
MANAGER = "bench_manager"

# The generator's seed and version. Change GENERATOR whenever the generator draws anything
# differently: the fingerprint of a dataset it built before then no longer matches, and the
# next run rebuilds it instead of measuring a dataset the current code would not make.
SEED = 17
GENERATOR = 2

CUSTOM_FIELDS = [
    # name, label, type, options
    (
        "bench_industry",
        "Industry",
        "dropdown",
        ["Software", "Manufacturing", "Healthcare", "Retail", "Energy"],
    ),
    (
        "bench_company_size",
        "Company size",
        "dropdown",
        ["1-10", "11-50", "51-200", "201-1000", "1000+"],
    ),
    ("bench_budget", "Budget", "number", []),
    ("bench_arr", "ARR", "decimal", []),
    ("bench_decision_date", "Decision date", "date", []),
    ("bench_has_champion", "Has champion", "boolean", []),
    ("bench_competitor", "Competitor", "text", []),
    ("bench_interests", "Interests", "multi_select", ["crm", "analytics", "automation", "ai"]),
    ("bench_region", "Region", "dropdown", ["EMEA", "AMER", "APAC"]),
    ("bench_notes", "Notes", "long_text", []),
]

ACTIVITY_MIX = [
    # weight, type, direction, metadata kind, done
    (20, "email", "inbound", None, True),
    (15, "email", "outbound", None, True),
    (15, "call", "outbound", None, True),
    (6, "meeting", "", None, True),
    (14, "note", "", "web_visit", True),
    (6, "note", "", "form_submission", True),
    (6, "note", "", "content_download", True),
    (12, "task", "", None, False),
    (6, "note", "", None, True),
]
_ACTIVITY_CUM = [sum(m[0] for m in ACTIVITY_MIX[: i + 1]) for i in range(len(ACTIVITY_MIX))]
# Activities per lead, looked up by 10 bits of the lead's hash: the floor of an exponential
# variable of mean 3 (about 2.5 per lead on average, 12 at most).
_ACTIVITY_COUNTS = [min(12, int(-3 * math.log(1 - (k + 0.5) / 1024))) for k in range(1024)]
_MASK64 = (1 << 64) - 1


@dataclass
class Figure:
    name: str
    queries: int
    p50_ms: float
    p95_ms: float
    sql_ms: float
    path: str = ""
    # The SQL time of the captured request: the sum of its statements' own times.
    sql_total_ms: float = 0.0
    # Board scenarios: the cards the response holds.
    cards: int | None = None

    @property
    def app_ms(self) -> float:
        """The time spent outside SQL: p50 less the request's total SQL time."""
        return round(self.p50_ms - self.sql_total_ms, 1)

    def as_json(self) -> dict:
        row = {
            k: v
            for k, v in asdict(self).items()
            if k in {"name", "queries", "p50_ms", "p95_ms", "sql_ms", "sql_total_ms", "path"}
        }
        row["app_ms"] = self.app_ms
        if self.cards is not None:
            row["cards"] = self.cards
        return row


def ensure_users() -> tuple[User, list[User]]:
    groups = {g.name: g for g in Group.objects.all()}
    users = []
    for username, role in [(MANAGER, Role.MANAGER), *[(r, Role.SALES_REP) for r in REPS]]:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": username}
        )
        if created:
            user.set_password(BENCH_PASSWORD)
            user.save()
        user.groups.add(groups[role.value])
        users.append(user)
    return users[0], users[1:]


def ensure_custom_fields() -> None:
    for order, (name, label, ftype, options) in enumerate(CUSTOM_FIELDS, start=100):
        CustomFieldDefinition.objects.get_or_create(
            entity_type="lead",
            name=name,
            defaults={
                "label": label,
                "type": ftype,
                "options": options,
                "display_order": order,
                "show_in_table": order < 103,
            },
        )


def _custom_values(rng: random.Random) -> dict:
    return {
        "bench_industry": rng.choice(CUSTOM_FIELDS[0][3]),
        "bench_company_size": rng.choice(CUSTOM_FIELDS[1][3]),
        "bench_budget": rng.randrange(0, 500_000, 500),
        "bench_arr": f"{rng.uniform(0, 2_000_000):.2f}",
        "bench_decision_date": (
            date(2026, 1, 1) + timedelta(days=rng.randrange(0, 700))
        ).isoformat(),
        "bench_has_champion": rng.random() < 0.3,
        "bench_competitor": rng.choice(["", "Salesforce", "HubSpot", "Pipedrive"]),
        "bench_interests": sorted(rng.sample(CUSTOM_FIELDS[7][3], rng.randrange(0, 3))),
        "bench_region": rng.choice(CUSTOM_FIELDS[8][3]),
        "bench_notes": "",
    }


# --- the generator -------------------------------------------------------------------------------
def _lead_hash(number: int) -> int:
    """A 64-bit hash of the lead's number (splitmix64), salted by the seed and version: what
    the fingerprint depends on (the estimated value, the activity count) is drawn from it, so
    that ``expected_fingerprint`` computes it without running the whole generator."""
    z = (number * 0x9E3779B97F4A7C15 + SEED * 0x100000001B3 + GENERATOR) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _estimated_value(h: int) -> int:
    return 1_000 + h % 199_000


def _activity_count(h: int) -> int:
    return _ACTIVITY_COUNTS[(h >> 32) & 1023]


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a generated dataset cheaply: its ``[bench]`` leads and activities and
    the sum of the leads' estimated values (none of which the rescore or time changes)."""

    leads: int
    activities: int
    value: int

    def __str__(self) -> str:
        return f"{self.leads} leads, {self.activities} activities, Σ value {self.value}"


def expected_fingerprint(n_leads: int) -> Fingerprint:
    """The fingerprint of the dataset the generator makes for ``n_leads`` leads."""
    activities = value = 0
    for number in range(n_leads):
        h = _lead_hash(number)
        value += _estimated_value(h)
        activities += _activity_count(h)
    return Fingerprint(n_leads, activities, value)


def current_fingerprint() -> Fingerprint:
    """The fingerprint of the ``[bench]`` records in the database."""
    leads = Lead.all_objects.filter(name__startswith=BENCH_PREFIX).aggregate(
        n=models.Count("pk"), value=Sum("estimated_value")
    )
    activities = _activity_model().objects.filter(subject__startswith=BENCH_PREFIX).count()
    return Fingerprint(leads["n"], activities, int(leads["value"] or 0))


def _activity_model():
    return apps.get_model("activities", "Activity")


@dataclass
class Context:
    """What the generated rows point at: the lead workflow's steps, the owners."""

    project_type_id: int
    workflow_id: int
    steps: list[WorkflowStep]
    owner_ids: list[int]
    permission_ids: list[int]

    @classmethod
    def load(cls) -> Context:
        _, reps = ensure_users()
        ensure_custom_fields()
        project_type = project_type_for(entity_type="lead")
        workflow = project_type.default_workflow
        steps = list(WorkflowStep.objects.filter(workflow=workflow).order_by("order", "pk"))
        permissions = Permission.objects.filter(
            content_type__app_label="leads",
            codename__in=["view_lead", "change_lead", "delete_lead"],
        ).order_by("codename")
        return cls(
            project_type_id=project_type.pk,
            workflow_id=workflow.pk,
            steps=steps,
            owner_ids=[u.pk for u in reps],
            permission_ids=[p.pk for p in permissions],
        )


@dataclass
class GeneratedLead:
    """One lead as the generator draws it. ``lead`` holds the Lead's column values (by
    attname) except its project; ``activities`` the values of its activities."""

    number: int
    step: WorkflowStep
    lead: dict
    activities: list[dict] = field(default_factory=list)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def generate(n_leads: int, context: Context, anchor: datetime) -> Iterator[GeneratedLead]:
    """The leads 0 … ``n_leads - 1`` with their activities, always the same for the same
    numbers: lead fields from one seeded stream, activities from another, both drawn
    in lead order (so a run always starts at lead 0), value and activity count from the lead's
    hash. Times are ``anchor`` minus what was drawn."""
    lead_rng = random.Random(f"pipecrm-bench-leads-{SEED}-{GENERATOR}")
    activity_rng = random.Random(f"pipecrm-bench-activities-{SEED}-{GENERATOR}")
    steps = context.steps
    step_cum = []
    for step in steps:
        step_cum.append((step_cum[-1] if step_cum else 0) + (8 if step.is_final else 40))
    sources = [c for c, _ in Lead.Source.choices]
    priorities = [c for c, _ in Lead.Priority.choices]
    owners = context.owner_ids
    currency = settings.DEFAULT_CURRENCY
    for number in range(n_leads):
        h = _lead_hash(number)
        lead_id = _uuid(lead_rng)
        step = steps[bisect.bisect_right(step_cum, lead_rng.random() * step_cum[-1])]
        minutes = lead_rng.randrange(1, 525_600)
        created_at = anchor - timedelta(minutes=minutes)
        owner = owners[number % len(owners)]
        lead = {
            "id": lead_id,
            "name": f"{BENCH_PREFIX} Lead {number}",
            "source": lead_rng.choice(sources),
            "contact_name": f"Contact {number}",
            "contact_email": f"contact{number}@company{number % 20011}.example",
            "company_name": f"Company {number % 20011}",
            "estimated_value": Decimal(_estimated_value(h)),
            "currency": currency,
            "priority": lead_rng.choice(priorities),
            "owner_id": owner,
            "assigned_to_id": owner if lead_rng.random() < 0.8 else None,
            "created_by_id": owner,
            "created_at": created_at,
            "custom_field_values": _custom_values(lead_rng),
            "is_qualified": step.order >= 3 and step.outcome != "lost",
            "first_activity_at": None,
            "last_activity_at": None,
        }
        generated = GeneratedLead(number, step, lead)
        generated.activities = _activities(activity_rng, lead, _activity_count(h), minutes)
        if generated.activities:
            times = [a["created_at"] for a in generated.activities]
            lead["first_activity_at"], lead["last_activity_at"] = min(times), max(times)
        yield generated


def _activities(rng: random.Random, lead: dict, count: int, minutes: int) -> list[dict]:
    """``count`` activities of ``lead``, at times between its creation and the anchor."""
    span = minutes * 60
    rows = []
    for _ in range(count):
        weight = rng.random() * _ACTIVITY_CUM[-1]
        _, kind, direction, meta_kind, done = ACTIVITY_MIX[
            bisect.bisect_right(_ACTIVITY_CUM, weight)
        ]
        at = lead["created_at"] + timedelta(seconds=rng.randrange(0, span))
        rows.append(
            {
                "id": _uuid(rng),
                "type": kind,
                "subject": f"{BENCH_PREFIX} {kind}",
                "direction": direction,
                "is_done": done,
                "done_at": at if done else None,
                "due_at": None if done else at + timedelta(days=2),
                "metadata": {"kind": meta_kind} if meta_kind else {},
                "lead_id": lead["id"],
                "assigned_to_id": lead["owner_id"],
                "created_by_id": lead["owner_id"],
                "created_at": at,
                "updated_at": at,
            }
        )
    return rows


# --- building and reusing the dataset -----------------------------------------------------------
@dataclass
class Dataset:
    leads: int
    activities: int
    fingerprint: Fingerprint
    anchor: datetime
    built: bool
    seconds: float = 0.0
    lead_seconds: float = 0.0
    activity_seconds: float = 0.0
    deleted_seconds: float = 0.0
    method: str = ""

    def as_json(self) -> dict:
        return {
            "name": "dataset",
            "leads": self.leads,
            "activities": self.activities,
            "fingerprint": str(self.fingerprint),
            "anchor": self.anchor.isoformat(),
            "built": self.built,
            "method": self.method,
            "seconds": self.seconds,
            "lead_seconds": self.lead_seconds,
            "activity_seconds": self.activity_seconds,
            "deleted_seconds": self.deleted_seconds,
        }


def prepare(
    n_leads: int,
    *,
    log: Callable[[str], None],
    rebuild: bool = False,
    method: str | None = None,
    batch: int = 10_000,
) -> Dataset:
    """The dataset of ``n_leads`` leads: the one in the database when its fingerprint is the
    generator's for that size, else built anew (the ``[bench]`` records deleted first)."""
    context = Context.load()
    expected = expected_fingerprint(n_leads)
    current = current_fingerprint()
    anchor = dataset_anchor(context) if current == expected else None
    if not rebuild and anchor is not None:
        log(f"Reusing the dataset: {current} (fingerprint matches).")
        return Dataset(n_leads, expected.activities, expected, anchor, built=False)
    started = time.perf_counter()
    deleted = 0.0
    if current.leads or current.activities:
        reason = "--rebuild" if rebuild else f"found {current}, expected {expected}"
        log(f"Deleting the [bench] records ({reason})…")
        delete_dataset()
        deleted = time.perf_counter() - started
    method = method or ("copy" if connection.vendor == "postgresql" else "bulk")
    anchor = timezone.now().replace(microsecond=0)
    log(f"Building {n_leads} leads with {method.upper()} (anchor {anchor.isoformat()})…")
    builder = _CopyBuilder if method == "copy" else _BulkBuilder
    lead_seconds, activity_seconds = builder(context, log).build(n_leads, anchor, batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    found = current_fingerprint()
    if found != expected:  # the builders and expected_fingerprint disagree: a bug
        raise RuntimeError(f"built {found}, expected {expected}")
    return Dataset(
        n_leads,
        expected.activities,
        expected,
        anchor,
        built=True,
        seconds=round(time.perf_counter() - started, 1),
        lead_seconds=round(lead_seconds, 1),
        activity_seconds=round(activity_seconds, 1),
        deleted_seconds=round(deleted, 1),
        method=method,
    )


def dataset_anchor(context: Context) -> datetime | None:
    """When the dataset in the database was built: lead 0's creation plus the minutes the
    generator drew for it (None if lead 0 is not there)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    first = next(generate(1, context, epoch))
    created_at = (
        Lead.all_objects.filter(pk=first.lead["id"]).values_list("created_at", flat=True).first()
    )
    if created_at is None:
        return None
    return created_at + (epoch - first.lead["created_at"])


def delete_dataset() -> None:
    """Delete the ``[bench]`` leads and everything that points at them: projects, status
    history, object permissions, activities, score snapshots … (set-based: no history row and
    no signal per lead; the foreign keys are checked at commit)."""
    q = connection.ops.quote_name
    lead_table = q(Lead._meta.db_table)
    bench = f"SELECT id FROM {lead_table} WHERE name LIKE %s"
    projects = f"SELECT wfm_project_id FROM {lead_table} WHERE name LIKE %s"
    pattern = BENCH_PREFIX + "%"
    # Every table with a foreign key to the leads, related names "+" included (hidden).
    referencing = {
        (rel.related_model._meta.db_table, rel.field.column)
        for rel in Lead._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for table, column in sorted(referencing):
            cursor.execute(f"DELETE FROM {q(table)} WHERE {q(column)} IN ({bench})", [pattern])
        cursor.execute(
            f"DELETE FROM {q(Lead.history.model._meta.db_table)} WHERE id IN ({bench})", [pattern]
        )
        history = q(StatusHistory._meta.db_table)
        cursor.execute(f"DELETE FROM {history} WHERE project_id IN ({projects})", [pattern])
        entries = q(BoardEntry._meta.db_table)  # the board tallies' (rebuilt after a build)
        cursor.execute(f"DELETE FROM {entries} WHERE project_id IN ({projects})", [pattern])
        project_ids = [row[0] for row in _fetch(cursor, projects, [pattern])]
        cursor.execute(f"DELETE FROM {lead_table} WHERE name LIKE %s", [pattern])
        project_table = q(Project._meta.db_table)
        for start in range(0, len(project_ids), 50_000):
            chunk = project_ids[start : start + 50_000]
            if connection.vendor == "postgresql":
                cursor.execute(f"DELETE FROM {project_table} WHERE id = ANY(%s)", [chunk])
            else:
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {project_table} WHERE id IN ({marks})", chunk)
        # Activities of the generator left without their lead (a run stopped half-way).
        activity_table = q(_activity_model()._meta.db_table)
        cursor.execute(f"DELETE FROM {activity_table} WHERE subject LIKE %s", [pattern])


def _fetch(cursor, sql: str, params: list) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


class _Builder:
    def __init__(self, context: Context, log: Callable[[str], None]):
        self.context = context
        self.log = log

    def build(self, n_leads: int, anchor: datetime, batch: int) -> tuple[float, float]:
        """Insert the generated dataset batch by batch. Returns the seconds spent on the
        leads (with their projects, history and permissions) and on the activities, each
        with its share of the generator's time."""
        lead_seconds = activity_seconds = 0.0
        started = time.perf_counter()
        done = 0
        leads = generate(n_leads, self.context, anchor)
        while done < n_leads:
            t0 = time.perf_counter()
            chunk = [g for _, g in zip(range(batch), leads, strict=False)]
            t1 = time.perf_counter()
            activity_share = sum(len(g.activities) for g in chunk) / max(
                1, len(chunk) + sum(len(g.activities) for g in chunk)
            )
            with transaction.atomic():
                self.prepare_batch()
                self.insert_leads(chunk, anchor)
                t2 = time.perf_counter()
                self.insert_activities([a for g in chunk for a in g.activities])
            t3 = time.perf_counter()
            generation = t1 - t0
            lead_seconds += t2 - t1 + generation * (1 - activity_share)
            activity_seconds += t3 - t2 + generation * activity_share
            done += len(chunk)
            rate = done / max(time.perf_counter() - started, 1e-6)
            self.log(f"  {done}/{n_leads} leads ({rate:.0f}/s)")
        return lead_seconds, activity_seconds

    def prepare_batch(self) -> None:
        pass

    def project_rows(self, chunk: list[GeneratedLead], anchor: datetime) -> list[dict]:
        c = self.context
        return [
            {
                "project_type_id": c.project_type_id,
                "workflow_id": c.workflow_id,
                "current_step_id": g.step.pk,
                "created_at": g.lead["created_at"],
                "updated_at": anchor,
                "created_by_id": None,
            }
            for g in chunk
        ]

    def history_row(self, project_id: int, g: GeneratedLead, anchor: datetime) -> dict:
        return {
            "project_id": project_id,
            "from_step_id": None,
            "to_step_id": g.step.pk,
            "reason": BENCH_REASON,
            "at": anchor,
        }


class _BulkBuilder(_Builder):
    """Any database: ``bulk_create`` (a few thousand leads a second)."""

    def insert_leads(self, chunk: list[GeneratedLead], anchor: datetime) -> None:
        projects = Project.objects.bulk_create(
            [Project(**row) for row in self.project_rows(chunk, anchor)]
        )
        Lead.objects.bulk_create(
            [Lead(wfm_project_id=p.pk, **g.lead) for g, p in zip(chunk, projects, strict=True)]
        )
        StatusHistory.objects.bulk_create(
            [
                StatusHistory(**self.history_row(p.pk, g, anchor))
                for g, p in zip(chunk, projects, strict=True)
            ]
        )
        LeadUserObjectPermission.objects.bulk_create(
            [
                LeadUserObjectPermission(
                    user_id=g.lead["owner_id"],
                    permission_id=perm,
                    content_object_id=g.lead["id"],
                )
                for g in chunk
                for perm in self.context.permission_ids
            ]
        )

    def insert_activities(self, rows: list[dict]) -> None:
        Activity = _activity_model()
        Activity.objects.bulk_create([Activity(**row) for row in rows], batch_size=5000)


class _CopyWriter:
    """Rows of one model written with ``COPY … FROM STDIN``: every concrete column, those the
    rows leave out filled with the field's constant default (what ``bulk_create`` would
    have filled), JSON as text."""

    def __init__(self, model: type[models.Model], given: Sequence[str]):
        self.model = model
        self.given = list(given)
        q = connection.ops.quote_name
        columns, defaults, json_at = [], [], []
        positions = {}
        for f in model._meta.concrete_fields:
            if f.attname in given:
                positions[f.attname] = len(columns)
                if isinstance(f, models.JSONField):
                    json_at.append(len(columns))
                columns.append(f.column)
                defaults.append(None)
                continue
            if isinstance(f, models.AutoField):
                continue  # the column's own identity default
            if f.has_default() and callable(f.default) and f.default not in (dict, list):
                raise ValueError(f"{model.__name__}.{f.name}: give it (a default per row)")
            value = f.get_default()  # as bulk_create: the default, "" or None
            if isinstance(f, models.JSONField):
                value = json.dumps(value)
            columns.append(f.column)
            defaults.append(value)
        self.positions = [positions[name] for name in self.given]
        self.json_at = [self.positions.index(i) for i in json_at]
        self.defaults = defaults
        self.sql = f"COPY {q(model._meta.db_table)} ({', '.join(q(c) for c in columns)}) FROM STDIN"

    def write(self, cursor, rows: list[dict]) -> None:
        given, positions, json_at = self.given, self.positions, self.json_at
        # Queued: a thread sends the rows while this one formats the next.
        with cursor.copy(self.sql, writer=QueuedLibpqWriter(cursor)) as copy:
            for row in rows:
                values = list(self.defaults)
                for name, at in zip(given, positions, strict=True):
                    values[at] = row[name]
                for i in json_at:
                    values[positions[i]] = json.dumps(row[given[i]])
                copy.write_row(values)


class _CopyBuilder(_Builder):
    """PostgreSQL: ``COPY`` into every table (tens of thousands of rows a second), project
    ids taken from their sequence beforehand."""

    LEAD_FIELDS = (
        "id",
        "name",
        "source",
        "contact_name",
        "contact_email",
        "company_name",
        "estimated_value",
        "currency",
        "priority",
        "owner_id",
        "assigned_to_id",
        "created_by_id",
        "created_at",
        "custom_field_values",
        "is_qualified",
        "first_activity_at",
        "last_activity_at",
        "updated_at",
        "wfm_project_id",
    )
    ACTIVITY_FIELDS = (
        "id",
        "type",
        "subject",
        "direction",
        "is_done",
        "done_at",
        "due_at",
        "metadata",
        "lead_id",
        "assigned_to_id",
        "created_by_id",
        "created_at",
        "updated_at",
    )

    def __init__(self, context: Context, log: Callable[[str], None]):
        super().__init__(context, log)
        self.projects = _CopyWriter(
            Project,
            (
                "id",
                "project_type_id",
                "workflow_id",
                "current_step_id",
                "created_at",
                "updated_at",
                "created_by_id",
            ),
        )
        self.leads = _CopyWriter(Lead, self.LEAD_FIELDS)
        self.history = _CopyWriter(
            StatusHistory, ("project_id", "from_step_id", "to_step_id", "reason", "at")
        )
        self.permissions = _CopyWriter(
            LeadUserObjectPermission, ("user_id", "permission_id", "content_object_id")
        )
        self.activities = _CopyWriter(_activity_model(), self.ACTIVITY_FIELDS)
        self.superuser: bool | None = None

    def prepare_batch(self) -> None:
        with connection.cursor() as cursor:
            # Rebuildable data: a batch need not wait for its WAL to reach the disk.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            if self.superuser is None:
                cursor.execute("SELECT current_setting('is_superuser') = 'on'")
                self.superuser = cursor.fetchone()[0]
            if self.superuser:
                # The rows point only at rows just written or read (users, steps,
                # permissions): the foreign keys' per-row triggers, half of the load's time,
                # are skipped (only a superuser may; for others they run).
                cursor.execute("SET LOCAL session_replication_role TO replica")

    def insert_leads(self, chunk: list[GeneratedLead], anchor: datetime) -> None:
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor, for COPY
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Project._meta.db_table, len(chunk)],
            )
            project_ids = [row[0] for row in cursor.fetchall()]
            projects = self.project_rows(chunk, anchor)
            for row, pk in zip(projects, project_ids, strict=True):
                row["id"] = pk
            self.projects.write(raw, projects)
            self.leads.write(
                raw,
                [
                    {**g.lead, "updated_at": anchor, "wfm_project_id": pk}
                    for g, pk in zip(chunk, project_ids, strict=True)
                ],
            )
            self.history.write(
                raw,
                [self.history_row(pk, g, anchor) for g, pk in zip(chunk, project_ids, strict=True)],
            )
            self.permissions.write(
                raw,
                [
                    {
                        "user_id": g.lead["owner_id"],
                        "permission_id": p,
                        "content_object_id": g.lead["id"],
                    }
                    for g in chunk
                    for p in self.context.permission_ids
                ],
            )

    def insert_activities(self, rows: list[dict]) -> None:
        with connection.cursor() as cursor:
            self.activities.write(cursor.cursor, rows)


def environment() -> dict:
    """The machine and database the figures were taken on."""
    env = {
        "name": "environment",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "database": connection.vendor,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "reference_cache": settings.REFERENCE_CACHE,
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            env["version"] = cursor.fetchone()[0]
            cursor.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
                [list(PG_SETTINGS)],
            )
            env["settings"] = {
                name: _setting(value, unit) for name, value, unit in cursor.fetchall()
            }
    else:
        env["version"] = connection.Database.sqlite_version
    return env


PG_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "jit",
    "max_parallel_workers_per_gather",
)


def _setting(value: str, unit: str | None) -> str:
    """A pg_settings value in readable units (``shared_buffers`` is counted in 8 kB pages)."""
    if unit in {"8kB", "kB"}:
        kb = int(value) * (8 if unit == "8kB" else 1)
        for size, suffix in ((1024 * 1024, "GB"), (1024, "MB")):
            if kb >= size and kb % size == 0:
                return f"{kb // size}{suffix}"
        return f"{kb}kB"
    return value if not unit else f"{value}{unit}"


def settle(log: Callable[[str], None] = print) -> None:
    """PostgreSQL: ``VACUUM (ANALYZE)`` the tables the screens read, before measuring them.

    A freshly bulk-loaded or rescored table has no visibility map yet, so every count and
    aggregate reads the heap (measured: ``COUNT(*)`` of 100,000 leads 80 ms before, 8 ms after,
    by an index-only scan). Autovacuum does this on a running server a minute after such a
    write; the benchmark does it itself so that it measures the steady state, not the minute
    after a bulk load."""
    if connection.vendor != "postgresql":
        return
    tables = [
        Lead._meta.db_table,
        LeadUserObjectPermission._meta.db_table,
        Project._meta.db_table,
        StatusHistory._meta.db_table,
        _activity_model()._meta.db_table,
    ]
    log(f"  VACUUM (ANALYZE) {', '.join(tables)}")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _time_sql(sql: str, repeats: int = 5) -> float:
    """Median time of one statement run alone (NaN if the logged SQL cannot be re-run)."""
    timings = []
    try:
        return _run_timed(sql, repeats, timings)
    except Exception:
        return float("nan")


def _run_timed(sql: str, repeats: int, timings: list[float]) -> float:
    with connection.cursor() as cursor:
        for _ in range(repeats):
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


# A board card: an element whose class list holds ``board-card`` (not ``board-card-title``).
CARD = re.compile(r'class="(?:[^"]*\s)?board-card(?:\s[^"]*)?"')


def count_cards(html: str) -> int:
    return len(CARD.findall(html))


CAPTURED_RUNS = 5


@dataclass
class Request:
    """One scenario's request: who asks what, and whether its response is a board."""

    name: str
    client: Client
    path: str
    headers: dict | None = None
    cards: bool = False


def measure(
    name: str,
    client: Client,
    path: str,
    *,
    requests: int = 20,
    headers: dict | None = None,
    cards: bool = False,
) -> Figure:
    """One scenario alone (``measure_all`` of one request)."""
    return measure_all([Request(name, client, path, headers, cards)], requests=requests)[0]


def measure_all(scenarios: Sequence[Request], *, requests: int = 20) -> list[Figure]:
    """Measure every scenario as production serves it (``DEBUG`` off: no query log, no
    template debug information).

    First, scenario by scenario, one warm-up and ``CAPTURED_RUNS`` runs with the queries
    captured (their count, the median of the requests' total SQL time, and the slowest
    SELECT, re-run alone for its own time). Then ``requests`` rounds of timed runs without
    capturing, **interleaved**: each round requests every scenario once, so that whatever
    else the machine does for a moment (a checkpoint, autovacuum, another process) is spread
    over all scenarios instead of landing on one, and two runs agree."""
    with override_settings(DEBUG=False):
        figures = [_captured(scenario) for scenario in scenarios]
        timings: list[list[float]] = [[] for _ in scenarios]
        machine: list[float] = []
        # What is alive now is the benchmark's own (the dataset it built or checked, the
        # rescore): a server process holds none of it, so the collector's full passes must
        # not walk it during the timed requests (measured: 300 ms pauses on board requests).
        gc.collect()
        gc.freeze()
        for _ in range(requests):
            for scenario, times in zip(scenarios, timings, strict=True):
                headers = {"secure": True, **(scenario.headers or {})}
                started = time.perf_counter()
                response = scenario.client.get(scenario.path, **headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (scenario.name, response.status_code)
            machine.append(_calibration_ms())
        gc.unfreeze()
    figures.append(Figure(name=CALIBRATION, queries=0, p50_ms=0, p95_ms=0, sql_ms=0.0, path=""))
    timings.append(machine)
    for figure, times in zip(figures, timings, strict=True):
        figure.p50_ms = round(statistics.median(times), 1)
        figure.p95_ms = round(_percentile(times, 0.95), 1)
    return figures


# The machine's own speed in the same rounds: a fixed piece of pure Python (no I/O), timed
# once per round. On a shared virtual machine its time moves from run to run (seen here: the
# same loop 0.68 s, then 1.09 s, on an idle machine); when every scenario of a --compare
# moved by as much as it did, the machine changed, not the code.
CALIBRATION = "calibration: fixed Python work, no I/O"


def _calibration_ms() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(200_000):
        total += i % 7
    assert total
    return (time.perf_counter() - started) * 1000


def _captured(scenario: Request) -> Figure:
    headers = {"secure": True, **(scenario.headers or {})}
    client, path = scenario.client, scenario.path
    response = client.get(path, **headers)
    if response.status_code != 200:
        raise RuntimeError(f"{scenario.name}: GET {path} answered {response.status_code}")
    runs = []
    for _ in range(CAPTURED_RUNS):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, **headers)
            assert response.status_code == 200
        # Copy now: ``captured_queries`` slices the connection's log when read, and every
        # later request empties that log (``request_started``), which made the count read 0.
        runs.append(list(ctx.captured_queries))
    captured = runs[0]
    selects = [q for q in captured if q["sql"].lstrip().upper().startswith("SELECT")]
    slowest = max(selects, key=lambda q: float(q["time"]), default=None)
    sql_total = statistics.median(sum(float(q["time"]) for q in run) for run in runs)
    return Figure(
        name=scenario.name,
        queries=len(captured),
        p50_ms=float("nan"),
        p95_ms=float("nan"),
        sql_ms=round(_time_sql(slowest["sql"]), 1) if slowest else 0.0,
        path=path,
        sql_total_ms=round(sql_total * 1000, 1),
        cards=count_cards(response.content.decode()) if scenario.cards else None,
    )


# --- the full rescore (scoring, issue 8) ------------------------------------------------------
@dataclass
class RescoreFigure:
    leads: int
    seconds: float
    changed: int
    auto_qualified: int
    activities: int

    def as_json(self) -> dict:
        return {"name": "full rescore", **asdict(self)}


def measure_rescore(*, now: datetime | None = None, batch_size: int | None = None) -> RescoreFigure:
    """Time a full rescore of every live lead (the set-based path of the nightly task), as
    at ``now`` (the benchmark passes the dataset's anchor: the scores' recency and decay
    count from it, so that every run leaves the same scores whatever the day).

    The ``lead.score_changed`` events it writes to the outbox are not dispatched here (in
    production a Celery task per batch hands them to the workers); they are removed after
    the measurement so that the benchmark database does not pile them up. On PostgreSQL the
    leads table is vacuumed first, as autovacuum would have done since the previous run.
    """
    from leads.scoring.services import BATCH_SIZE, rescore_leads

    activities = _activity_model().objects.count()
    if connection.vendor == "postgresql":
        # What autovacuum does between two nightly runs (a benchmark server may run without
        # it): the previous run's dead row versions are cleared, their space reused.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) leads_lead")
    result = rescore_leads(
        Lead.objects.all(), now=now, batch_size=batch_size or BATCH_SIZE, dispatch_events=False
    )
    delete_events(result.event_ids)
    return RescoreFigure(
        leads=result.scored,
        seconds=round(result.seconds, 1),
        changed=result.changed,
        auto_qualified=len(result.auto_qualified),
        activities=activities,
    )


def delete_events(ids: list[int]) -> None:
    """Delete outbox events by primary key, set-based (``QuerySet.delete`` reads every row
    first: minutes for the million events of a rescore of 1,000,000 leads). What points at
    them goes as their foreign keys say: deleted (cascade) or emptied (set null)."""
    q = connection.ops.quote_name
    table = q(Event._meta.db_table)
    relations = [
        rel
        for rel in Event._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]
    size = 50_000 if connection.vendor == "postgresql" else 500
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            if connection.vendor == "postgresql":
                where, params = "= ANY(%s)", [chunk]
            else:
                where, params = f"IN ({', '.join(['%s'] * len(chunk))})", chunk
            for rel in relations:
                related, column = q(rel.related_model._meta.db_table), q(rel.field.column)
                if rel.on_delete is models.SET_NULL:
                    cursor.execute(
                        f"UPDATE {related} SET {column} = NULL WHERE {column} {where}", params
                    )
                else:
                    cursor.execute(f"DELETE FROM {related} WHERE {column} {where}", params)
            cursor.execute(f"DELETE FROM {table} WHERE id {where}", params)


# --- the import (issue 12) ----------------------------------------------------------------------
@dataclass
class ImportFigure:
    rows: int
    seconds: float
    created: int
    failed: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")

    def as_json(self) -> dict:
        return {
            "name": f"import of {self.rows} lead rows",
            "seconds": self.seconds,
            "created": self.created,
            "failed": self.failed,
            "rows_per_second": round(self.rows_per_second),
        }


def import_file(rows: int, seed: int = 7) -> bytes:
    """A trade-show export: name, e-mail, company, phone, source, value, a custom field."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    data = tablib.Dataset(
        headers=["Lead name", "Email", "Company", "Phone", "Source", "Value", "Industry"]
    )
    for i in range(rows):
        data.append(
            [
                f"Imported lead {i}",
                f"buyer{i}-{run}@company{i % 5000}.example",
                f"Company {i % 5000}",
                f"+1 555 {rng.randint(1000, 9999)}",
                rng.choice(["Website", "Event", "Referral", "Cold call"]),
                f"{rng.randint(1, 500) * 100}",
                rng.choice(CUSTOM_FIELDS[0][3]),
            ]
        )
    return data.export("csv").encode()


def measure_import(user: User, rows: int) -> ImportFigure:
    """Time ``rows`` new leads through the import (``crm.services.import_run``: the services'
    checks, history, permissions, events, scoring), as a worker runs it. The events it writes
    are not dispatched (workers would handle them after); the leads, their history and events
    are removed afterwards, so that the benchmark database does not grow run by run."""
    ensure_custom_fields()
    reverse("crm:imports")  # load the URL conf (the progress panel's links) before the clock
    content = import_file(rows)
    job = crm_services.import_create(
        by=user, record_type="lead", file_name="benchmark.csv", content=content
    )
    job = crm_services.import_configure(
        by=user, job=job, mapping={**job.mapping, "Industry": "cf_bench_industry"}, mode="skip"
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.PENDING)
    if connection.vendor == "postgresql":  # what autovacuum does after the previous run's churn
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) leads_lead")
    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    first_event = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        started = time.perf_counter()
        job = crm_services.import_run(job_id=job.pk)
        seconds = time.perf_counter() - started
    finally:
        celery_app.conf.task_always_eager = eager
    figure = ImportFigure(
        rows=rows, seconds=round(seconds, 1), created=job.created, failed=job.failed
    )
    ids = list(
        ImportRow.objects.filter(job=job, outcome="created").values_list("object_id", flat=True)
    )
    # Without a "deleted" history row per lead (one INSERT each: minutes for 100k rows).
    with override_settings(SIMPLE_HISTORY_ENABLED=False):
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            Lead.history.filter(id__in=chunk).delete()
            Lead.all_objects.filter(pk__in=chunk).delete()
    Event.objects.filter(pk__gt=first_event).delete()
    job.delete()
    return figure
