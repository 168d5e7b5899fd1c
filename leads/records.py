"""The lead record description (SPEC §4 "one pattern"): what the shared table, board, export
and bulk actions show and call for leads."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html

from crm import formatting as fmt
from crm import permissions
from crm.records.exports import field_columns
from crm.records.types import (
    Board,
    Column,
    ExportColumn,
    Filter,
    Importing,
    RecordType,
    standard_bulk_actions,
)
from leads import boards as lead_boards
from leads import selectors, services
from leads.filters import LeadFilter
from leads.models import EDITABLE_FIELDS, Lead


def _name(lead: Lead):
    html = format_html(
        '<a class="record-link" href="{}">{}</a>',
        reverse("leads:detail", args=[lead.pk]),
        lead.name,
    )
    if lead.is_converted:
        html += fmt.state_badge("converted", "converted")
    return html


def _contact(lead: Lead):
    if not lead.contact_email:
        return lead.contact_name or fmt.DASH
    return format_html(
        '<span class="cell-stack">{}<small>{}</small></span>',
        lead.contact_name or lead.contact_email,
        lead.contact_email if lead.contact_name else "",
    )


def _touch(source: str, campaign: str):
    if not source and not campaign:
        return fmt.DASH
    return format_html(
        '<span class="cell-stack">{}<small>{}</small></span>', source or "(direct)", campaign
    )


def _steps():
    return [(s.pk, s.name) for s in selectors.lead_steps()]


def _writes_leads(user) -> bool:
    return permissions.works_on(user, Lead)


def _delete_lead(by, lead):
    return services.lead_delete(by=by, lead=lead)


COLUMNS = (
    Column("name", "Lead", _name, ordering="name", wide=True),
    Column("company", "Company", lambda lead: lead.company_name or fmt.DASH, "company_name"),
    Column("contact", "Contact", _contact, ordering="contact_name"),
    Column("step", "Step", lambda lead: fmt.step_badge(lead.wfm_project.current_step), "step"),
    Column("score", "Score", lambda lead: fmt.score_badge(lead.lead_score), "lead_score"),
    Column(
        "value",
        "Value",
        lambda lead: fmt.money(lead.estimated_value, lead.currency),
        "estimated_value",
        numeric=True,
    ),
    Column("source", "Source", lambda lead: lead.get_source_display(), "source"),
    Column(
        "priority", "Priority", lambda lead: lead.get_priority_display(), "priority", default=False
    ),
    Column("assignee", "Assignee", lambda lead: fmt.person_name(lead.assigned_to), "assigned_to"),
    Column("owner", "Owner", lambda lead: fmt.person_name(lead.owner), "owner", default=False),
    Column(
        "close",
        "Expected close",
        lambda lead: fmt.when(lead.estimated_close_date),
        "estimated_close_date",
        default=False,
    ),
    Column(
        "first_touch",
        "First touch",
        lambda lead: _touch(lead.utm_source, lead.utm_campaign),
        "utm_source",
        default=False,
    ),
    Column(
        "last_touch",
        "Last touch",
        lambda lead: _touch(lead.last_touch_source, lead.last_touch_campaign),
        "last_touch_source",
        default=False,
    ),
    Column(
        "last_activity",
        "Last activity",
        lambda lead: fmt.ago(lead.last_activity_at),
        "last_activity_at",
        default=False,
    ),
    Column("created", "Created", lambda lead: fmt.ago(lead.created_at), "created_at"),
)

FILTERS = (
    Filter("step", "Step", "select", choices=_steps),
    Filter("source", "Source", "select", choices=lambda: Lead.Source.choices),
    Filter("assigned_to", "Assignee", "user", none_value="0"),
    Filter("owner", "Owner", "user"),
    Filter("is_qualified", "Qualified", "boolean"),
    Filter("is_converted", "Converted", "boolean", more=True),
    Filter("priority", "Priority", "select", choices=lambda: Lead.Priority.choices, more=True),
    Filter("score_min", "Score from", "number", more=True, placeholder="0"),
    Filter("score_max", "Score to", "number", more=True, placeholder="100"),
    Filter("created_after", "Created from", "date", more=True),
    Filter("created_before", "Created to", "date", more=True),
    Filter("qualified_after", "Qualified from", "date", more=True),
    Filter("qualified_before", "Qualified to", "date", more=True),
    Filter("converted_after", "Converted from", "date", more=True),
    Filter("converted_before", "Converted to", "date", more=True),
    Filter("owner_or_assignee", "Owner or assignee", "user", more=True),
    Filter("close_after", "Close from", "date", more=True),
    Filter("close_before", "Close to", "date", more=True),
    Filter("first_touch_source", "First-touch source", "text", more=True),
    Filter("first_touch_campaign", "First-touch campaign", "text", more=True),
    Filter("last_touch_source", "Last-touch source", "text", more=True),
    Filter("last_touch_campaign", "Last-touch campaign", "text", more=True),
)

EXPORT_COLUMNS = (
    *field_columns(Lead, ("id", *EDITABLE_FIELDS)),
    ExportColumn("step", lambda lead: lead.wfm_project.current_step.name),
    *field_columns(Lead, ("lead_score", "is_qualified", "owner", "assigned_to", "created_at")),
)

LEAD_IMPORT = Importing(
    fields=tuple(
        f for f in (*EDITABLE_FIELDS, "owner", "assigned_to") if f not in ("person", "organization")
    ),
    create=lambda by, data: services.lead_create(by=by, channel="import", **data),
    create_many=lambda by, rows: services.lead_create_many(by=by, rows=rows, channel="import"),
    update=lambda by, lead, data: services.lead_update(by=by, lead=lead, data=data),
    match_field="contact_email",
    match_stored_normalized=True,
    synonyms={
        "lead": "name",
        "lead name": "name",
        "title": "name",
        "email": "contact_email",
        "e-mail": "contact_email",
        "email address": "contact_email",
        "mail": "contact_email",
        "contact": "contact_name",
        "full name": "contact_name",
        "phone": "contact_phone",
        "telephone": "contact_phone",
        "mobile": "contact_phone",
        "company": "company_name",
        "organisation": "company_name",
        "organization": "company_name",
        "value": "estimated_value",
        "amount": "estimated_value",
        "close date": "estimated_close_date",
        "referrer": "referrer_url",
        "landing page url": "landing_page",
    },
    required=("name",),
    defaults=("owner", "source", "step"),
    source_choices=lambda: Lead.Source.choices,
    step_choices=_steps,
    move=lambda by, lead, step: services.lead_transition(by=by, lead=lead, to_step=step),
    touch=lambda by, lead, data, note: services.touch_point_add(
        by=by, lead=lead, channel="import", attribution=data, note=note
    ),
)

LEADS = RecordType(
    key="lead",
    model=Lead,
    plural="Leads",
    url_names="leads:{}",
    saved_view_screen="leads",
    icon="person-lines-fill",
    filterset=LeadFilter,
    columns=COLUMNS,
    filters=FILTERS,
    list_selector=lambda user: selectors.lead_list(user=user),
    get_selector=lambda user, pk, action="view": selectors.lead_get(
        user=user, lead_id=pk, action=action
    ),
    default_ordering=("-created_at",),
    export_columns=EXPORT_COLUMNS,
    search_placeholder="Name, contact, email, company…",
    bulk_actions=standard_bulk_actions(
        allowed=_writes_leads,
        assign=lambda by, lead, user: services.lead_assign(by=by, lead=lead, assignee=user),
        move=lambda by, lead, step: services.lead_transition(by=by, lead=lead, to_step=step),
        delete=_delete_lead,
    ),
    bulk_steps=selectors.lead_steps,
    board=Board(
        steps=selectors.lead_steps,
        value_field="estimated_value",
        transition=lambda *, by, obj, to_step, reason="": services.lead_transition(
            by=by, lead=obj, to_step=to_step, reason=reason
        ),
        card_template="leads/_card.html",
        reason_outcomes=("lost",),
        groupings=lead_boards.GROUPINGS,
        group_board=lead_boards.group_board,
    ),
    importing=LEAD_IMPORT,
    delete=_delete_lead,
    add_permission="leads.add_lead",
    empty_hint="Leads arrive through the API and the assistant, or add one by hand.",
)
