"""Set-based loading of what the scoring rules look at: one query per batch of leads.

It reads the leads' own fields (with their organization and workflow step) and, per lead,
its activities aggregated into one JSON object (counts by kind, first response, last
activity) by a correlated subquery over the activities' (lead, created_at) index. No per-lead
query, whatever the batch size; no list of ids sent back to the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Count, JSONField, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, JSONObject

from leads.models import Lead
from leads.scoring.factors import LeadInputs, Settings, Signals

LEAD_VALUES = (
    "pk",
    "created_at",
    "source",
    "company_name",
    "contact_email",
    "ai_insights",
    "last_activity_at",
    "lead_score",
    "is_qualified",
    "converted_at",
    "wfm_project__workflow_id",
    "wfm_project__current_step__order",
    "wfm_project__current_step__is_final",
    "organization__name",
    "organization__industry",
    "organization__size",
    "organization__address",
    "organization__domain",
)


@dataclass
class LeadRow:
    """A lead as the rescore sees it: its scoring inputs and what decides auto-qualification."""

    id: Any
    old_score: int
    is_qualified: bool
    is_converted: bool
    workflow_id: int
    step_order: int
    step_is_final: bool
    inputs: LeadInputs
    new_score: int = 0
    document: str = ""  # the breakdown as JSON


def activity_model():
    """``activities.Activity`` once that app defines it; None before (scores then see no
    activity)."""
    try:
        return apps.get_model("activities", "Activity")
    except LookupError:
        return None


def iter_batches(
    queryset: QuerySet[Lead], batch_size: int, settings: Settings, now: datetime
) -> Iterator[list[dict]]:
    """The rows of ``queryset`` in primary-key order, ``batch_size`` at a time (keyset
    pagination: each batch is one indexed query, however deep into the table), each with its
    activity signals (``signals``). Of the custom field values only the profile's industry,
    size and location fields are read."""
    values: dict[str, Any] = {
        f"cf_{n}": KT(f"custom_field_values__{name}")
        for n, name in enumerate(_custom_fields(settings))
    }
    signals = signals_subquery(settings, now)
    if signals is not None:
        values["signals"] = signals
    qs = queryset.order_by("pk").values(*LEAD_VALUES, **values)
    last = None
    while True:
        page = qs if last is None else qs.filter(pk__gt=last)
        rows = list(page[:batch_size])
        if not rows:
            return
        yield rows
        last = rows[-1]["pk"]


def _custom_fields(settings: Settings) -> list[str]:
    return list(
        dict.fromkeys(
            n
            for n in (settings.industry_field, settings.company_size_field, settings.location_field)
            if n
        )
    )


def _plain(value: Any) -> Any:
    """A custom field value read as text: a multi-select list comes back as JSON."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def lead_rows(rows: list[dict], settings: Settings) -> list[LeadRow]:
    """The rows of ``iter_batches`` as the rules' inputs."""
    fields = list(enumerate(_custom_fields(settings)))
    out = []
    for r in rows:
        inputs = LeadInputs(
            created_at=r["created_at"],
            source=r["source"] or "",
            company_name=r["company_name"] or "",
            contact_email=r["contact_email"] or "",
            custom_field_values={
                name: _plain(r[f"cf_{n}"]) for n, name in fields if r[f"cf_{n}"] is not None
            },
            organization_name=r["organization__name"] or "",
            organization_industry=r["organization__industry"] or "",
            organization_size=r["organization__size"] or "",
            organization_address=r["organization__address"] or "",
            organization_domain=r["organization__domain"] or "",
            ai_insights=r["ai_insights"] or {},
            last_activity_at=r["last_activity_at"],
            signals=_signals(r.get("signals")),
        )
        out.append(
            LeadRow(
                id=r["pk"],
                old_score=r["lead_score"],
                is_qualified=r["is_qualified"],
                is_converted=r["converted_at"] is not None,
                workflow_id=r["wfm_project__workflow_id"],
                step_order=r["wfm_project__current_step__order"],
                step_is_final=r["wfm_project__current_step__is_final"],
                inputs=inputs,
            )
        )
    return out


def new_lead_rows(leads: Sequence[Lead], settings: Settings, now: datetime) -> list[LeadRow]:
    """Leads built but not saved yet (an import's batch) as the rules' inputs: the rows
    ``iter_batches`` would read from the database (a custom field value as the database hands
    it back, as text), read from the instances. A new lead has no activity."""
    fields = list(enumerate(_custom_fields(settings)))
    steps: dict[int, Any] = {}
    rows = []
    for lead in leads:
        organization = lead.organization if lead.organization_id else None
        project = lead.wfm_project
        if project.current_step_id not in steps:
            steps[project.current_step_id] = project.current_step
        step = steps[project.current_step_id]
        values = lead.custom_field_values or {}
        row = {name: getattr(lead, name) for name in LEAD_VALUES if "__" not in name}
        row.update(
            {
                "created_at": lead.created_at or now,
                "wfm_project__workflow_id": project.workflow_id,
                "wfm_project__current_step__order": step.order,
                "wfm_project__current_step__is_final": step.is_final,
                **{
                    f"organization__{name}": getattr(organization, name) if organization else None
                    for name in ("name", "industry", "size", "address", "domain")
                },
                **{
                    f"cf_{n}": None if values.get(name) is None else _as_text(values[name])
                    for n, name in fields
                },
            }
        )
        rows.append(row)
    return lead_rows(rows, settings)


def _as_text(value: Any) -> str:
    """A JSON value as ``KT`` reads it: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def signals_subquery(settings: Settings, now: datetime) -> Subquery | None:
    """Per lead (``OuterRef("pk")``), its activities aggregated into one JSON object (system
    activities excluded: automation writes them, the lead did nothing). None before the
    activities app exists."""
    Activity = activity_model()
    if Activity is None:
        return None
    kinds = settings.activity_kinds
    every_kind = sorted({k for values in kinds.values() for k in values})
    recent = Q()
    if settings.engagement_window_days:
        recent = Q(created_at__gte=now - timedelta(days=settings.engagement_window_days))

    def kind_in(name: str) -> Q:
        values = list(kinds.get(name) or ())
        return Q(metadata__kind__in=values) if values else Q(pk__in=[])

    plain_email = Q(type="email", direction="inbound")
    if every_kind:
        # A form submission recorded as an inbound email counts as a submission only.
        plain_email &= Q(metadata__kind__isnull=True) | ~Q(metadata__kind__in=every_kind)
    # The first contact made by the team: an outbound call or email, or a meeting held.
    responded = (Q(direction="outbound") & (Q(is_done=True) | Q(type="email"))) | Q(
        type="meeting", is_done=True
    )
    per_lead = (
        Activity.objects.filter(lead_id=OuterRef("pk"), is_system_activity=False)
        .order_by()
        .values("lead_id")
        .annotate(
            signals=JSONObject(
                inbound_emails=Count("pk", filter=plain_email & recent),
                form_submissions=Count("pk", filter=kind_in("form_submissions") & recent),
                web_visits=Count("pk", filter=kind_in("web_visits") & recent),
                content_downloads=Count("pk", filter=kind_in("content_downloads") & recent),
                calls=Count("pk", filter=Q(type="call", is_done=True)),
                meetings=Count("pk", filter=Q(type="meeting", is_done=True)),
                first_response_at=Min(Coalesce("done_at", "created_at"), filter=responded),
                last_activity_at=Max("created_at"),
            )
        )
        .values("signals")
    )
    return Subquery(per_lead, output_field=JSONField())


def _moment(value: str | None) -> datetime | None:
    """A time from the signals' JSON: ISO 8601 with its offset (PostgreSQL) or the stored
    UTC text without one (SQLite)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _signals(data: dict | None) -> Signals:
    if not data:
        return Signals()
    return Signals(
        inbound_emails=data["inbound_emails"],
        form_submissions=data["form_submissions"],
        web_visits=data["web_visits"],
        content_downloads=data["content_downloads"],
        calls=data["calls"],
        meetings=data["meetings"],
        first_response_at=_moment(data["first_response_at"]),
        last_activity_at=_moment(data["last_activity_at"]),
    )
