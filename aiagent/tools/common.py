"""What every tool module shares: compact record shapes for the model, argument parsing and
the schema fragments the tool definitions repeat.

Compact shapes carry ids, names, key fields and a ``url`` to the record's page; long texts are
shortened. They are built from records a selector has already allowed the user to see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from aiagent.dates import parse_when
from aiagent.registry import ToolContext, ToolError
from crm import selectors as crm_selectors
from crm.errors import ValidationFailed
from crm.models import User
from customfields.services import VALUES_KEY

TEXT_LIMIT = 600
DEFAULT_LIMIT = 10
MAX_LIMIT = 50

# --- schema fragments ---------------------------------------------------------------------------
UUID = {"type": "string", "description": "The record's id (a UUID).", "maxLength": 64}
LIMIT = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_LIMIT,
    "description": f"How many records to return (default {DEFAULT_LIMIT}).",
}
QUERY = {
    "type": "string",
    "maxLength": 200,
    "description": "Words to look for in names, contacts, emails and companies.",
}
MINE = {
    "type": "boolean",
    "description": "Only records the user owns or is assigned to.",
}
DATE = {"type": "string", "maxLength": 40, "description": "A date: YYYY-MM-DD."}
MONEY = {"type": ["number", "string"], "description": 'An amount, e.g. 12000 or "12000.50".'}
CUSTOM_FIELDS = {
    "type": "object",
    "description": "Custom field values keyed by the field's name (see list_custom_fields).",
    "maxProperties": 30,
}
CUSTOM_FIELD_VALUES = {
    "type": "object",
    "description": "Custom field values keyed by the field's name, e.g. "
    '{"budget": 12000, "region": "EMEA"}. list_custom_fields gives the names, types, options '
    "and which fields are required. Dates are YYYY-MM-DD, multi-selects lists of options; "
    "null clears a value.",
    "maxProperties": 30,
}
USER_REF = {
    "type": ["integer", "string", "null"],
    "description": 'A user: their id, their username, or "me"; null for nobody.',
}
LONG_TEXT_LIMIT = 5000  # the schema's cap on a text field that has no max length
# Said of a field of that name whatever the record type.
FIELD_NOTES = {"currency": "ISO 4217 code, e.g. EUR."}


# --- record fields ------------------------------------------------------------------------------
# A record type's tool fields are its one field list (``leads.models.EDITABLE_FIELDS`` …), each
# described from its model field, so a field added to the list reaches the tools as it is.
def field_key(field: models.Field) -> str:
    """The argument naming a field: a link to another record is ``<name>_id`` (its id)."""
    return field.attname if field.is_relation else field.name


def field_schema(field: models.Field) -> dict:
    """The JSON schema of one model field's value, as a tool argument."""
    if field.is_relation:
        other = field.related_model._meta
        return {
            "type": ["string", "null"],
            "maxLength": 64,
            "description": f"The {other.verbose_name}'s id (search_{other.verbose_name_plural}); "
            "null unlinks it.",
        }
    if field.choices:
        schema: dict[str, Any] = {"type": "string", "enum": [str(v) for v, _ in field.flatchoices]}
    elif isinstance(field, models.DecimalField):
        schema = dict(MONEY)
    elif isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        schema = dict(DATE)
    elif isinstance(field, models.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, models.IntegerField):
        schema = {"type": "integer"}
    else:
        schema = {"type": "string", "maxLength": field.max_length or LONG_TEXT_LIMIT}
        if not field.blank and not field.has_default():
            schema["minLength"] = 1
    note = FIELD_NOTES.get(field.name) or str(field.help_text or "")
    if note:
        schema["description"] = note
    return schema


def field_properties(model: type[models.Model], names: tuple[str, ...]) -> dict[str, dict]:
    """The tool properties of a record type's fields ``names``."""
    fields = [model._meta.get_field(name) for name in names]
    return {field_key(f): field_schema(f) for f in fields}


def field_values(
    ctx: ToolContext, model: type[models.Model], names: tuple[str, ...], args: dict
) -> dict[str, Any]:
    """The fields ``names`` given in the tool arguments, as the record's services take them:
    amounts and dates parsed, texts trimmed, links read as records the user may see."""
    data: dict[str, Any] = {}
    for name in names:
        field = model._meta.get_field(name)
        key = field_key(field)
        if key not in args:
            continue
        value = args[key]
        if field.is_relation:
            value = linked(ctx, field.related_model, value)
        elif isinstance(field, models.DecimalField):
            value = parse_money(value, key)
        elif isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
            value = parse_day(value, key)
        elif isinstance(value, str):
            value = value.strip()
        data[name] = value
    return data


def linked(ctx: ToolContext, model: type[models.Model], pk: Any) -> models.Model | None:
    """The record ``pk`` of ``model`` if the user may see it (else not found); None for none."""
    if pk is None or pk == "":
        return None
    return crm_selectors.get_visible(user=ctx.user, queryset=model.objects.all(), pk=pk)


# --- links ------------------------------------------------------------------------------------
def url(name: str, pk: Any) -> str:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return ""


def lead_url(pk: Any) -> str:
    return url("leads:detail", pk)


def deal_url(pk: Any) -> str:
    return url("deals:detail", pk)


def person_url(pk: Any) -> str:
    return url("crm:person_detail", pk)


def organization_url(pk: Any) -> str:
    return url("crm:organization_detail", pk)


# --- values -----------------------------------------------------------------------------------
def short(text: Any, limit: int = TEXT_LIMIT) -> str:
    text = str(text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def money(amount: Decimal | None, currency: str) -> str | None:
    if amount is None:
        return None
    return f"{amount:.2f} {currency}"


def iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="minutes")
    return value.isoformat()


def user_name(user: User | None) -> str | None:
    return user.display_name if user is not None else None


# --- arguments --------------------------------------------------------------------------------
def limit_of(args: dict, default: int = DEFAULT_LIMIT) -> int:
    return max(1, min(int(args.get("limit") or default), MAX_LIMIT))


def parse_money(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _invalid(field, "Give an amount as a number.")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise _invalid(field, "Give an amount as a number.") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise _invalid(field, "Give a positive amount below a trillion.")
    return amount.quantize(Decimal("0.01"))


def parse_day(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    when = parse_when(str(value))
    if when is None:
        raise _invalid(field, "Give a date as YYYY-MM-DD.")
    return timezone.localtime(when).date()


def parse_moment(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    when = parse_when(str(value))
    if when is None:
        raise _invalid(
            field,
            "Give a date and time as YYYY-MM-DDTHH:MM, or a phrase such as “tomorrow at 10am”.",
        )
    return when


def _invalid(field: str, message: str) -> ToolError:
    return ToolError(f"{field}: {message}", code="invalid_arguments", details={field: [message]})


def resolve_user(ctx: ToolContext, value: Any, field: str = "user") -> User | None:
    """An active user by id, username or "me" (None for null/empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lower() in ("me", "myself", "self"):
        return ctx.user
    users = crm_selectors.assignable_users(with_roles=False)
    found = None
    if isinstance(value, int) and not isinstance(value, bool):
        found = users.filter(pk=value).first()
    elif isinstance(value, str):
        text = value.strip().lstrip("@")
        if text.isdigit():
            found = users.filter(pk=int(text)).first()
        if found is None and text:
            found = users.filter(username__iexact=text).first()
        if found is None and " " in text:
            first, _, last = text.partition(" ")
            found = users.filter(
                Q(first_name__iexact=first) & Q(last_name__iexact=last.strip())
            ).first()
    if found is None:
        raise _invalid(field, "Unknown user; use list_users to find one.")
    return found


def custom_field_values_of(args: dict) -> dict | None:
    """The ``custom_field_values`` argument, None when not given; the services validate it
    (``customfields.services.validate_values``)."""
    values = args.get("custom_field_values")
    return dict(values) if isinstance(values, dict) else None


def update_data(data: dict[str, Any], args: dict) -> dict[str, Any]:
    """An update tool's changes: its parsed fields plus the custom field values given (merged
    into the stored ones by the service). Refuses a call that changes nothing."""
    if "custom_field_values" in args:
        data = {**data, "custom_field_values": custom_field_values_of(args) or {}}
    if not data:
        raise ToolError("Give at least one field to change.", code="invalid_arguments")
    return data


@contextmanager
def explained_custom_fields() -> Iterator[None]:
    """Turn a refused custom field value into a tool error whose message names every field
    (the service's message only counts them when several are wrong), so that the model can
    correct its call."""
    try:
        yield
    except ValidationFailed as exc:
        prefix = f"{VALUES_KEY}."
        custom = {k: v for k, v in exc.details.items() if k.startswith(prefix)}
        if not custom:
            raise
        problems = " ".join(
            f"{key}: {message}" for key, messages in custom.items() for message in messages
        )
        raise ToolError(
            f"Invalid custom field values: {problems} (list_custom_fields describes the fields)",
            code="invalid_arguments",
            details=exc.details,
        ) from exc


def table_url(name: str, data: QueryDict, args: dict) -> str:
    """The record table (URL ``name``) filtered as a search tool filtered: "show all"."""
    from django.urls import reverse

    data = _with_custom_fields(data, args)
    return reverse(name) + (f"?{data.urlencode()}" if data else "")


def _with_custom_fields(data: QueryDict, args: dict) -> QueryDict:
    data = data.copy()
    for name, value in (args.get("custom_fields") or {}).items():
        data[f"cf_{name}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return data


def search_results(
    filterset_class: type,
    data: QueryDict,
    queryset: QuerySet,
    args: dict,
    brief: Callable[[Any], dict],
    *,
    order_by: tuple[str, ...] = (),
) -> dict:
    """A search tool's answer: ``queryset`` filtered as its table filters it (``data`` plus the
    ``custom_fields`` argument), the count and the first ``limit`` records, compact."""
    filterset = filterset_class(_with_custom_fields(data, args), queryset=queryset)
    if not filterset.is_valid():
        details = {k: [str(m) for m in v] for k, v in filterset.errors.items()}
        raise ToolError("Invalid filters.", code="invalid_arguments", details=details)
    try:
        rows = filterset.qs.order_by(*order_by) if order_by else filterset.qs
        total = rows.count()
    except ValidationFailed as exc:  # a bad custom-field filter value
        raise ToolError(exc.message, code="invalid_arguments", details=exc.details) from None
    return {"count": total, "results": [brief(row) for row in rows[: limit_of(args)]]}


def require_text(args: dict, field: str) -> str:
    value = str(args.get(field) or "").strip()
    if not value:
        raise _invalid(field, "This is required.")
    return value


# --- compact records ----------------------------------------------------------------------------
def lead_brief(lead) -> dict:
    step = lead.wfm_project.current_step if lead.wfm_project_id else None
    return {
        "type": "lead",
        "id": str(lead.pk),
        "name": short(lead.name, 200),
        "company": short(lead.company_name, 200) or None,
        "contact": short(lead.contact_name, 200) or None,
        "email": lead.contact_email or None,
        "step": step.name if step else None,
        "score": lead.lead_score,
        "value": money(lead.estimated_value, lead.currency),
        "source": lead.source,
        "owner": user_name(lead.owner),
        "assignee": user_name(lead.assigned_to),
        "qualified": lead.is_qualified,
        "converted": lead.is_converted,
        "url": lead_url(lead.pk),
    }


def deal_brief(deal) -> dict:
    step = deal.wfm_project.current_step if deal.wfm_project_id else None
    return {
        "type": "deal",
        "id": str(deal.pk),
        "name": short(deal.name, 200),
        "amount": money(deal.amount, deal.currency),
        "step": step.name if step else None,
        "probability": getattr(deal, "probability", step.probability if step else None),
        "expected_close_date": iso(deal.expected_close_date),
        "organization": short(deal.organization.name, 200) if deal.organization_id else None,
        "person": deal.person.full_name if deal.person_id else None,
        "owner": user_name(deal.owner),
        "assignee": user_name(deal.assigned_to),
        "won": deal.won_at is not None,
        "lost": deal.lost_at is not None,
        "url": deal_url(deal.pk),
    }


def person_brief(person) -> dict:
    return {
        "type": "person",
        "id": str(person.pk),
        "name": short(person.full_name, 200),
        "email": person.email or None,
        "phone": person.phone or None,
        "job_title": short(person.job_title, 150) or None,
        "organization": short(person.organization.name, 200) if person.organization_id else None,
        "owner": user_name(person.owner),
        "url": person_url(person.pk),
    }


def organization_brief(organization) -> dict:
    return {
        "type": "organization",
        "id": str(organization.pk),
        "name": short(organization.name, 200),
        "domain": organization.domain or None,
        "industry": organization.industry or None,
        "size": organization.size or None,
        "owner": user_name(organization.owner),
        "url": organization_url(organization.pk),
    }


def activity_brief(activity, *, visible_links: dict | None = None) -> dict:
    """``visible_links``: the linked records' ids the user may see, by link name; links to
    records the user may not see are left out (an activity can sit on several timelines)."""
    links = {}
    for field in ("lead", "deal", "person", "organization"):
        pk = getattr(activity, f"{field}_id")
        if pk is not None and (visible_links is None or pk in visible_links.get(field, ())):
            links[field] = str(pk)
    link_url = ""
    if "lead" in links:
        link_url = lead_url(links["lead"])
    elif "deal" in links:
        link_url = deal_url(links["deal"])
    elif "person" in links:
        link_url = person_url(links["person"])
    elif "organization" in links:
        link_url = organization_url(links["organization"])
    return {
        "type": "activity",
        "id": str(activity.pk),
        "subject": short(activity.subject, 200),
        "name": short(activity.subject, 200),
        "kind": activity.type,
        "due_at": iso(activity.due_at),
        "done": activity.is_done,
        "overdue": bool(
            not activity.is_done and activity.due_at and activity.due_at < timezone.now()
        ),
        "assignee": user_name(activity.assigned_to),
        "links": links,
        "url": link_url or url_or_list(),
    }


def url_or_list() -> str:
    try:
        return reverse("activities:list")
    except NoReverseMatch:
        return ""
