"""Reads of the privacy app (issue 18): consents, the data held about a lead or a person
(the export), the access log, and what the retention policy would anonymize."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from activities.models import Activity, SequenceEnrollment
from aiagent.models import Conversation, Message
from crm.models import Person
from crm.records import details
from customfields.selectors import definitions_for
from deals.models import Deal
from leads import selectors as lead_selectors
from leads.models import Lead, TouchPoint
from privacy.models import Consent

FORMAT_VERSION = "1.0"


# --- consent -------------------------------------------------------------------------------------
def _consent_filter(*, lead: Lead | None, person: Person | None) -> Q:
    q = Q(pk__in=[])
    if lead is not None:
        q |= Q(lead=lead)
        person = person or (lead.person if lead.person_id else None)
    if person is not None:
        q |= Q(person=person)
    return q


def consent_status(
    *, lead: Lead | None = None, person: Person | None = None, purpose: str
) -> Consent | None:
    """The consent record that holds for the subject and purpose: the newest of the lead's and
    its person's (or the person's), or None when none was ever recorded."""
    return (
        Consent.objects.filter(_consent_filter(lead=lead, person=person), purpose=purpose)
        .order_by("-at", "-pk")
        .first()
    )


def has_consent(
    *, lead: Lead | None = None, person: Person | None = None, purpose: str = "marketing"
) -> bool:
    """Has the subject consented to ``purpose`` (and not withdrawn it since)?"""
    latest = consent_status(lead=lead, person=person, purpose=purpose)
    return latest is not None and latest.granted


def consent_list(*, lead: Lead | None = None, person: Person | None = None) -> list[Consent]:
    return list(
        Consent.objects.filter(_consent_filter(lead=lead, person=person))
        .select_related("form", "recorded_by")
        .order_by("-at", "-pk")
    )


def consents_in_force(*, lead: Lead | None = None, person: Person | None = None) -> list[Consent]:
    """Per purpose, the consent that holds (the newest, as ``consent_status``), newest first."""
    latest: dict[str, Consent] = {}
    for consent in consent_list(lead=lead, person=person):
        latest.setdefault(consent.purpose, consent)
    return list(latest.values())


# --- export --------------------------------------------------------------------------------------
def _value(obj: models.Model, f: models.Field) -> Any:
    if f.is_relation:
        related = getattr(obj, f.name, None)
        if related is None:
            return None
        label = getattr(related, "display_name", None) or str(related)
        return {"id": str(related.pk), "name": label}
    return getattr(obj, f.attname)


def record_data(obj: models.Model, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every stored field of ``obj`` with its value (related records as id and name)."""
    return {
        f.name: _value(obj, f)
        for f in obj._meta.concrete_fields
        if f.name not in exclude and f.name != "custom_field_values"
    }


def _custom_fields(entity_type: str, values) -> list[dict]:
    values = values if isinstance(values, dict) else {}
    definitions = {d.name: d for d in definitions_for(entity_type)}
    rows = [
        {
            "name": name,
            "label": definitions[name].label if name in definitions else name,
            "type": definitions[name].type if name in definitions else "",
            "value": value,
        }
        for name, value in values.items()
    ]
    return sorted(rows, key=lambda r: r["label"].lower())


def _history(history: details.History) -> list[dict]:
    rows = []
    for entry in history.entries:
        row: dict[str, Any] = {"at": entry.at, "kind": entry.kind, "user": entry.user or None}
        if entry.kind == "step":
            row.update(from_step=entry.from_step or None, to_step=entry.to_step)
            row["reason"] = entry.reason
        else:
            row["changes"] = [
                {"field": c.field, "label": c.label, "old": c.old, "new": c.new}
                for c in entry.changes
            ]
        rows.append(row)
    return rows


ACTIVITY_FIELDS = (
    "id",
    "type",
    "subject",
    "notes",
    "due_at",
    "duration_minutes",
    "is_done",
    "done_at",
    "direction",
    "outcome",
    "is_system_activity",
    "metadata",
    "created_at",
)


def _activities(queryset) -> list[dict]:
    rows = []
    for activity in queryset.select_related("assigned_to").order_by("created_at", "pk"):
        row = {name: getattr(activity, name) for name in ACTIVITY_FIELDS}
        row["assigned_to"] = activity.assigned_to.display_name if activity.assigned_to else None
        row["links"] = {
            name: str(getattr(activity, f"{name}_id"))
            for name in Activity.LINK_FIELDS
            if getattr(activity, f"{name}_id")
        }
        rows.append(row)
    return rows


def _deals(queryset) -> list[dict]:
    return [
        {
            "id": str(deal.pk),
            "name": deal.name,
            "amount": deal.amount,
            "currency": deal.currency,
            "stage": deal.wfm_project.current_step.name,
            "expected_close_date": deal.expected_close_date,
            "won_at": deal.won_at,
            "lost_at": deal.lost_at,
            "lost_reason": deal.lost_reason,
            "custom_fields": _custom_fields("deal", deal.custom_field_values),
            "created_at": deal.created_at,
        }
        for deal in queryset.select_related("wfm_project__current_step").order_by("created_at")
    ]


def _consents(consents: list[Consent]) -> list[dict]:
    return [
        {
            "purpose": c.purpose,
            "status": c.status,
            "source": c.source,
            "form": {"id": str(c.form_id), "name": c.form.name} if c.form_id else None,
            "evidence": c.evidence,
            "at": c.at,
            "subject": "lead" if c.lead_id else "person",
        }
        for c in consents
    ]


def _conversations(*, strings: list[str], ids: list[str]) -> list[dict]:
    """AI conversations started from the records or whose messages mention their strings."""
    mentions = Q(context_id__in=ids)
    terms = [s for s in strings if s and len(s) >= 3]
    for term in terms:
        mentions |= Q(title__icontains=term)
        mentions |= Exists(
            Message.objects.filter(conversation=OuterRef("pk")).filter(
                Q(content__icontains=term) | Q(data__icontains=term)
            )
        )
    for record_id in ids:
        mentions |= Exists(
            Message.objects.filter(conversation=OuterRef("pk"), data__icontains=record_id)
        )
    conversations = (
        Conversation.objects.filter(mentions)
        .select_related("user")
        .prefetch_related("messages")
        .order_by("created_at")
    )
    return [
        {
            "id": str(c.pk),
            "title": c.title,
            "user": c.user.display_name,
            "created_at": c.created_at,
            "messages": [
                {"role": m.role, "kind": m.kind, "content": m.content, "at": m.created_at}
                for m in c.messages.all()
            ],
        }
        for c in conversations
    ]


def _touch_points(lead: Lead) -> list[dict]:
    return [
        {
            "at": t.at,
            "channel": t.channel,
            "utm_source": t.utm_source,
            "utm_medium": t.utm_medium,
            "utm_campaign": t.utm_campaign,
            "utm_content": t.utm_content,
            "utm_term": t.utm_term,
            "referrer_url": t.referrer_url,
            "landing_page": t.landing_page,
            "form": {"id": str(t.form_id), "name": t.form.name} if t.form_id else None,
            "client_ip": t.client_ip,
            "user_agent": t.user_agent,
            "note": t.note,
        }
        for t in TouchPoint.objects.filter(lead=lead).select_related("form").order_by("at", "pk")
    ]


def _lead_section(lead: Lead) -> dict[str, Any]:
    return {
        "record": record_data(lead, exclude=("ai_insights", "lead_score_factors", "wfm_project")),
        "status": lead.wfm_project.current_step.name,
        "custom_fields": _custom_fields("lead", lead.custom_field_values),
        "score_factors": lead.lead_score_factors,
        "ai_insights": lead.ai_insights,
        "activities": _activities(Activity.objects.filter(lead=lead)),
        "touch_points": _touch_points(lead),
        "history": _history(
            lead_selectors.lead_history_view(lead=lead, show_system=True, limit=10_000)
        ),
        "sequences": [
            {
                "sequence": e.sequence.name,
                "status": e.status,
                "steps_done": e.steps_done,
                "enrolled_at": e.enrolled_at,
                "finished_at": e.finished_at,
                "stop_reason": e.stop_reason,
            }
            for e in SequenceEnrollment.objects.filter(lead=lead).select_related("sequence")
        ],
    }


def _merged(model, obj: models.Model, entity_type: str) -> list[dict[str, Any]]:
    """The records merged into ``obj``: kept (soft-deleted, pointing at it) with what they
    held when they were merged."""
    return [
        {
            "record": record_data(
                copy, exclude=("ai_insights", "lead_score_factors", "wfm_project")
            ),
            "custom_fields": _custom_fields(entity_type, copy.custom_field_values),
        }
        for copy in model.all_objects.filter(merged_into=obj).order_by("merged_at", "pk")
    ]


def _envelope(kind: str, obj: models.Model, by) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "record_type": kind,
        "id": str(obj.pk),
        "name": str(obj),
        "exported_at": timezone.now(),
        "exported_by": by.display_name if getattr(by, "pk", None) else None,
    }


def lead_export_data(*, lead: Lead, by=None) -> dict[str, Any]:
    """Everything held about a lead (issue 18): the record and its custom fields, activities,
    touch points, history, AI insights and the AI conversations that mention it, consents,
    sequences, and the deals, person and organization it links to."""
    lead = (
        Lead.all_objects.select_related(
            "person",
            "organization",
            "owner",
            "assigned_to",
            "converted_to_person",
            "converted_to_organization",
            "wfm_project__current_step",
            "wfm_project__workflow",
        )
        .filter(pk=lead.pk)
        .get()
    )
    deals = Deal.all_objects.filter(pk=lead.converted_to_deal_id)
    person = lead.person or lead.converted_to_person
    return {
        **_envelope("lead", lead, by),
        **_lead_section(lead),
        "consents": _consents(consent_list(lead=lead)),
        "deals": _deals(deals),
        "person": {"id": str(person.pk), "name": person.full_name} if person else None,
        "merged_records": _merged(Lead, lead, "lead"),
        "ai_conversations": _conversations(
            strings=[lead.contact_name, lead.contact_email, lead.contact_phone],
            ids=[str(lead.pk)],
        ),
    }


def person_export_data(*, person: Person, by=None) -> dict[str, Any]:
    """Everything held about a person: the record, custom fields, activities, history,
    consents, deals, and the leads they came from or are linked to (each in full)."""
    person = Person.all_objects.select_related("organization", "owner").get(pk=person.pk)
    leads = list(
        Lead.all_objects.filter(Q(person=person) | Q(converted_to_person=person))
        .select_related("wfm_project__current_step", "wfm_project__workflow", "owner")
        .order_by("created_at")
    )
    deals = Deal.all_objects.filter(
        Q(person=person) | Q(pk__in=[lead.converted_to_deal_id for lead in leads if lead.pk])
    )
    strings = [person.full_name, person.email, person.phone]
    for lead in leads:
        strings += [lead.contact_name, lead.contact_email, lead.contact_phone]
    return {
        **_envelope("person", person, by),
        "record": record_data(person),
        "custom_fields": _custom_fields("person", person.custom_field_values),
        "activities": _activities(Activity.objects.filter(person=person)),
        "history": _history(
            details.history_for(person, show_system=True, custom_fields="person", limit=10_000)
        ),
        "consents": _consents(consent_list(person=person)),
        "deals": _deals(deals),
        "leads": [{"id": str(lead.pk), "name": lead.name, **_lead_section(lead)} for lead in leads],
        "merged_records": _merged(Person, person, "person"),
        "ai_conversations": _conversations(
            strings=list(dict.fromkeys(strings)),
            ids=[str(person.pk), *(str(lead.pk) for lead in leads)],
        ),
    }


# --- retention -----------------------------------------------------------------------------------
def retention_leads(*, now: datetime | None = None) -> models.QuerySet[Lead]:
    """Disqualified leads untouched (no activity, no change) for
    ``RETENTION_DISQUALIFIED_LEAD_DAYS`` days and not yet anonymized; none when it is 0."""
    days = settings.RETENTION_DISQUALIFIED_LEAD_DAYS
    if not days:
        return Lead.all_objects.none()
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return (
        Lead.all_objects.filter(
            anonymized_at__isnull=True,
            wfm_project__current_step__outcome="lost",
            updated_at__lt=cutoff,
        )
        .filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=cutoff))
        .order_by("updated_at")
    )


def retention_people(*, now: datetime | None = None) -> models.QuerySet[Person]:
    """People untouched for ``RETENTION_INACTIVE_PERSON_DAYS`` days: no change, no activity, no
    lead or deal still open or changed since; none when it is 0."""
    days = settings.RETENTION_INACTIVE_PERSON_DAYS
    if not days:
        return Person.all_objects.none()
    cutoff = (now or timezone.now()) - timedelta(days=days)
    recent_activity = Activity.objects.filter(person=OuterRef("pk"), created_at__gte=cutoff)
    live_lead = Lead.all_objects.filter(
        Q(person=OuterRef("pk")) | Q(converted_to_person=OuterRef("pk")),
        anonymized_at__isnull=True,
    ).filter(Q(updated_at__gte=cutoff) | Q(wfm_project__current_step__is_final=False))
    live_deal = Deal.all_objects.filter(person=OuterRef("pk")).filter(
        Q(updated_at__gte=cutoff) | Q(wfm_project__current_step__is_final=False)
    )
    return (
        Person.all_objects.filter(anonymized_at__isnull=True, updated_at__lt=cutoff)
        .exclude(Exists(recent_activity))
        .exclude(Exists(live_lead))
        .exclude(Exists(live_deal))
        .order_by("updated_at")
    )
