"""Lead template tags. Cells and badges are built in Python: the table renders hundreds of
them per page, and a template include per cell costs several times more."""

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma, naturaltime
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from crm import formatting
from customfields.values import display_value

register = template.Library()

# Score bands shown as cold / warm / hot (SPEC §6 Scoring): crm.formatting decides.
WARM_FROM = formatting.WARM_FROM
HOT_FROM = formatting.HOT_FROM
DASH = formatting.DASH


@register.filter
def score_band(score) -> str:
    return formatting.temperature(score)


@register.simple_tag
def score_badge(score) -> SafeString:
    return formatting.score_badge(score)


@register.simple_tag
def step_badge(step) -> SafeString:
    return formatting.step_badge(step)


def _name(lead):
    html = format_html(
        '<a class="record-link" href="{}">{}</a>',
        reverse("leads:detail", args=[lead.pk]),
        lead.name,
    )
    if lead.is_converted:
        html += mark_safe(' <span class="badge text-bg-success-subtle border">converted</span>')
    return html


def _contact(lead):
    if not lead.contact_email:
        return lead.contact_name or ""
    return format_html(
        '{}<div class="small text-body-secondary">{}</div>', lead.contact_name, lead.contact_email
    )


def _value(lead):
    if lead.estimated_value is None:
        return DASH
    return f"{intcomma(floatformat(lead.estimated_value, 0))} {lead.currency}"


def _when(value, fmt="M j, Y"):
    return (
        format_html('<span title="{}">{}</span>', value, date_filter(value, fmt)) if value else DASH
    )


CELLS = {
    "name": _name,
    "company": lambda lead: lead.company_name or DASH,
    "contact": _contact,
    "step": lambda lead: step_badge(lead.wfm_project.current_step),
    "score": lambda lead: score_badge(lead.lead_score),
    "value": _value,
    "source": lambda lead: lead.get_source_display(),
    "priority": lambda lead: lead.get_priority_display(),
    "assignee": lambda lead: lead.assigned_to.display_name if lead.assigned_to else DASH,
    "owner": lambda lead: lead.owner.display_name if lead.owner else DASH,
    "close": lambda lead: date_filter(lead.estimated_close_date, "M j, Y") or DASH,
    "last_activity": lambda lead: (
        format_html(
            '<span title="{}">{}</span>', lead.last_activity_at, naturaltime(lead.last_activity_at)
        )
        if lead.last_activity_at
        else DASH
    ),
    "created": lambda lead: _when(lead.created_at),
}


@register.simple_tag
def lead_cell(lead, column) -> SafeString:
    """One table cell's content for a built-in or a custom field column."""
    render = CELLS.get(column.key)
    if render is not None:
        return format_html("{}", render(lead))
    if column.definition is not None:
        definition = column.definition
        value = display_value(definition, (lead.custom_field_values or {}).get(definition.name))
        return format_html("{}", DASH if value is None else value)
    return SafeString("")


@register.simple_tag
def lead_cells(lead, columns) -> SafeString:
    """All ``<td>`` cells of one table row (one tag call per row, not per cell)."""
    return mark_safe("".join(f"<td>{lead_cell(lead, column)}</td>" for column in columns))
