"""The lead record description (SPEC §4 "one pattern"): what the shared table, board, export
and bulk actions show and call for leads."""

from __future__ import annotations

from django.utils.safestring import mark_safe

from crm import formatting as fmt
from crm import permissions
from crm.records.cards import line, write_card
from crm.records.exports import field_columns
from crm.records.groupings import by_assignee
from crm.records.types import (
    Board,
    Column,
    Editing,
    ExportColumn,
    Filter,
    Grouping,
    Importing,
    Merging,
    RecordType,
    choice_label,
    record_url,
    standard_bulk_actions,
)
from leads import selectors, services
from leads.filters import STATES, LeadFilter
from leads.forms import LeadForm
from leads.models import EDITABLE_FIELDS, Lead


# Cells are written with ``fmt.esc`` rather than ``format_html``: a page writes hundreds.
def _name(lead: Lead):
    html = (
        f'<a class="record-link" href="{fmt.esc(record_url("leads:detail", lead.pk))}">'
        f"{fmt.esc(lead.name)}</a>"
    )
    if lead.is_converted:
        html += fmt.state_badge("converted", "converted")
    return mark_safe(html)


def _stack(first, second):
    """Two lines in one cell."""
    return mark_safe(
        f'<span class="cell-stack">{fmt.esc(first)}<small>{fmt.esc(second)}</small></span>'
    )


def _contact(lead: Lead):
    if not lead.contact_email:
        return lead.contact_name or fmt.DASH
    return _stack(
        lead.contact_name or lead.contact_email, lead.contact_email if lead.contact_name else ""
    )


def _touch(source: str, campaign: str):
    if not source and not campaign:
        return fmt.DASH
    return _stack(source or "(direct)", campaign)


_source = choice_label(Lead.Source)
_priority = choice_label(Lead.Priority)


def lead_card(lead: Lead, *, movable: bool, board_query: str):
    """A lead on the board (``crm.records.cards``): name and score, company, estimated
    value, time in the step, assignee."""
    return write_card(
        lead,
        kind="lead",
        movable=movable,
        board_query=board_query,
        urls="leads:{}",
        reason_url="leads:disqualify",
        title_badge=fmt.score_badge(lead.lead_score),
        lines=[line("building", lead.company_name)] if lead.company_name else (),
        value=fmt.money(lead.estimated_value, lead.currency),
        value_title="Estimated value",
    )


def _steps():
    return [(s.pk, s.name) for s in selectors.lead_steps()]


def _writes_leads(user) -> bool:
    return permissions.works_on(user, Lead)


def _delete_lead(by, lead):
    return services.lead_delete(by=by, lead=lead)


COLUMNS = (
    Column("name", "Lead", _name, ordering="name", wide=True, related=()),
    Column(
        "company",
        "Company",
        lambda lead: lead.company_name or fmt.DASH,
        "company_name",
        related=(),
    ),
    Column("contact", "Contact", _contact, ordering="contact_name", related=()),
    Column(
        "step",
        "Step",
        lambda lead: fmt.step_badge(lead.wfm_project.current_step),
        "step",
        related=("wfm_project__current_step__status",),
    ),
    Column(
        "score", "Score", lambda lead: fmt.score_badge(lead.lead_score), "lead_score", related=()
    ),
    Column(
        "value",
        "Value",
        lambda lead: fmt.money(lead.estimated_value, lead.currency),
        "estimated_value",
        numeric=True,
        related=(),
    ),
    Column("source", "Source", lambda lead: _source(lead.source), "source", related=()),
    Column(
        "priority",
        "Priority",
        lambda lead: _priority(lead.priority),
        "priority",
        default=False,
        related=(),
    ),
    Column(
        "assignee",
        "Assignee",
        lambda lead: fmt.person_name(lead.assigned_to),
        "assigned_to",
        related=("assigned_to",),
    ),
    Column(
        "owner",
        "Owner",
        lambda lead: fmt.person_name(lead.owner),
        "owner",
        default=False,
        related=("owner",),
    ),
    Column(
        "close",
        "Expected close",
        lambda lead: fmt.when(lead.estimated_close_date),
        "estimated_close_date",
        default=False,
        related=(),
    ),
    Column(
        "first_touch",
        "First touch",
        lambda lead: _touch(lead.utm_source, lead.utm_campaign),
        "utm_source",
        default=False,
        related=(),
    ),
    Column(
        "last_touch",
        "Last touch",
        lambda lead: _touch(lead.last_touch_source, lead.last_touch_campaign),
        "last_touch_source",
        default=False,
        related=(),
    ),
    Column(
        "last_activity",
        "Last activity",
        lambda lead: fmt.ago(lead.last_activity_at),
        "last_activity_at",
        default=False,
        related=(),
    ),
    Column("created", "Created", lambda lead: fmt.ago(lead.created_at), "created_at", related=()),
)

FILTERS = (
    Filter("step", "Step", "select", choices=_steps),
    Filter("source", "Source", "select", choices=lambda: Lead.Source.choices),
    Filter("assigned_to", "Assignee", "user", none_value="0"),
    Filter("owner", "Owner", "user"),
    Filter("is_qualified", "Qualified", "boolean"),
    Filter("is_converted", "Converted", "boolean", more=True),
    Filter("state", "Status", "select", choices=lambda: STATES, more=True),
    Filter("inactive_days", "No activity for (days)", "number", more=True, placeholder="14"),
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

# The board's "Columns by" switch: where leads come from, who works them, how urgent.
GROUPINGS = {
    "source": Grouping("Source", "source", columns=lambda: Lead.Source.choices),
    "assignee": by_assignee(),
    "priority": Grouping(
        "Priority", "priority", columns=lambda: list(reversed(Lead.Priority.choices))
    ),
}

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
        card=lead_card,
        card_related=("assigned_to",),
        reason_outcomes=("lost",),
        groupings=GROUPINGS,
    ),
    editing=Editing(
        form=LeadForm,
        create=lambda by, data: services.lead_create(by=by, **data),
        update=lambda by, lead, data: services.lead_update(by=by, lead=lead, data=data),
        fields_template="leads/_form_fields.html",  # two columns, the duplicate check inline
    ),
    importing=LEAD_IMPORT,
    delete=_delete_lead,
    merging=Merging(
        fields=EDITABLE_FIELDS,
        labels=selectors.HISTORY_LABELS,
        merge=lambda by, survivor, merged, fields: services.lead_merge(
            by=by, survivor=survivor, merged=merged, fields=fields
        ),
    ),
    add_permission="leads.add_lead",
    empty_hint="Leads arrive through the API and the assistant, or add one by hand.",
)
