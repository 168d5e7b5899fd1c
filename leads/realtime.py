"""Realtime for leads (issue 9, SPEC §4 Realtime): outbox handlers publish each lead change,
and a renderer turns a change into the fragments one connection's page swaps in.

Publishing happens in outbox handlers, so the services stay untouched: the handlers run after
the service's commit (in the Celery worker in production, which publishes through the Redis
channel layer; eagerly in embedded mode) and send only ids and what changed.

Rendering (``render_lead``, registered for the kind "lead") re-reads the lead as the
connection's user — ``crm.realtime.deliver`` has already asked ``crm.permissions`` — and
answers with the same partials the pages render:

- board (``/ws/boards/<workflow>/?<board filters>``): the card (``leads/_card.html``) inside
  an ``afterbegin`` swap into its step's column, marked ``data-realtime-upsert`` so
  ``static/js/realtime.js`` replaces a card already in that column in place (or takes it out
  of the column it left), plus every column header (``wfm/_board_head.html``, oob). A lead
  the user no longer sees, or that no longer matches the board's filters, is deleted from the
  board (``hx-swap-oob="delete"``).
- table (``/ws/tables/lead/?<table query>``): the row (``leads/list.html#row``, the same cells
  as the page) replaced in place by id; a new lead matching the filters increments the
  "N new leads — refresh" bar instead of jumping into the table; a lost one is deleted.
- detail page (``/ws/leads/<id>/``): a tiny element that makes the page re-fetch its ``main``
  partial (``hx-get`` … ``hx-trigger="load"`` into ``#lead-main``), so fields, step, score
  breakdown and timeline all come from the one view that renders them; a lead that went
  away is replaced by a notice (and the socket closes).
"""

from __future__ import annotations

from django.conf import settings
from django.http import QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from crm import permissions
from crm import realtime as crm_realtime
from crm.events import handles
from crm.models import Event
from crm.notifications import notify_assignment
from leads.models import Lead

KIND = "lead"

PUBLISHED_EVENTS = (
    "lead.created",
    "lead.updated",
    "lead.assigned",
    "lead.score_changed",
    "lead.qualified",
    "lead.disqualified",
    "lead.converted",
    "wfm.status_changed",
)
# What each event changed, for renderers (``lead.updated`` adds its payload's ``fields``).
CHANGES = {
    "lead.created": ["created"],
    "lead.assigned": ["assignee"],
    "lead.score_changed": ["score"],
    "lead.qualified": ["qualified"],
    "lead.disqualified": ["disqualified", "step"],
    "lead.converted": ["converted", "step"],
    "wfm.status_changed": ["step"],
}
# Changes that can alter a column's count or total (or the user's set of visible cards).
AGGREGATE_CHANGES = frozenset(
    {"created", "step", "deleted", "estimated_value", "assignee", "assigned_to", "owner"}
)
# The board's own query parameters (not filters), as in leads.views.BOARD_PARAMS.
BOARD_PARAMS = ("page", "ordering", "columns", "step", "offset", "group")


# --- publishing (outbox handlers) -------------------------------------------------------------
@handles(*PUBLISHED_EVENTS)
def publish_lead_change(event: Event) -> None:
    payload = event.payload or {}
    from_step_id = None
    if event.name == "wfm.status_changed":
        row = (
            Lead.all_objects.filter(wfm_project_id=payload.get("project_id"))
            .values_list("pk", "wfm_project__workflow_id")
            .first()
        )
        from_step_id = payload.get("from_step_id")
    else:
        row = (
            Lead.all_objects.filter(pk=payload.get("lead_id"))
            .values_list("pk", "wfm_project__workflow_id")
            .first()
        )
    if row is None:  # not a lead's project (a deal's), or the lead is gone
        return
    lead_id, workflow_id = row
    changed = list(CHANGES.get(event.name, []))
    if event.name == "lead.updated":
        fields = payload.get("fields") or []
        changed += ["deleted" if f == "deleted_at" else f for f in fields]
        if not changed:  # an attribution touch only: nothing on screen changed
            return
    revoked = [payload["previous_id"]] if payload.get("previous_id") else []
    crm_realtime.publish_change(
        KIND,
        lead_id,
        changed,
        workflow_id,
        from_step_id=from_step_id,
        revoked=revoked,
        event=event.name,
    )


@handles("lead.assigned")
def notify_lead_assignee(event: Event) -> None:
    """The new assignee hears of it in the bell (not when they assigned it themselves)."""
    notify_assignment(event, model=Lead, url_name="leads:detail", describe=_described)


def _described(lead: Lead) -> str:
    company = f" ({lead.company_name})" if lead.company_name else ""
    return f"“{lead.name}”{company}"


# --- rendering ----------------------------------------------------------------------------
def render_lead(user, pk, changed: list[str], context: crm_realtime.RenderContext) -> str | None:
    """The fragments for one connection (see the module docstring)."""
    if context.surface == "board":
        return _board(user, pk, changed, context)
    if context.surface == "table":
        return _table(user, pk, changed, context)
    if context.surface == "record":
        return _record(pk, changed, context)
    return None


def _has_filters(params: QueryDict) -> bool:
    from leads.filters import LeadFilter

    return any(
        value.strip()
        for key, values in params.lists()
        for value in values
        if key in LeadFilter.base_filters or key.startswith("cf_")
    )


def _filtered(user, params: QueryDict):
    """The visible leads matching the page's filters (None: the filters are not valid)."""
    from crm.errors import ValidationFailed
    from leads import selectors
    from leads.filters import LeadFilter

    rows = selectors.lead_list(user=user)
    if not _has_filters(params):
        return rows  # no filter set: skip building the FilterSet (a deep copy of its filters)
    filterset = LeadFilter(params, queryset=rows)
    try:
        return filterset.qs
    except ValidationFailed:
        return None


def _lead(pk) -> Lead | None:
    """The live lead with what cards and rows show. Read once per message for every
    connection (``context.memo``): only after ``crm.realtime.deliver`` has decided, per
    connection, that its user may see it."""
    from leads import selectors
    from wfm import boards

    lead = Lead.objects.select_related(*selectors.LIST_RELATED).filter(pk=pk).first()
    if lead is not None:
        boards.stamp_cards([lead])
    return lead


def _delete(dom_id: str) -> str:
    return format_html('<div id="{}" hx-swap-oob="delete" data-realtime-remove></div>', dom_id)


def _board(user, pk, changed, context) -> str | None:
    from leads import selectors
    from wfm import boards

    rows = _filtered(user, context.params)
    if rows is None:
        return None
    steps = context.state.get("steps")
    if steps is None:
        steps = [s for s in selectors.lead_steps() if s.workflow_id == context.workflow_id]
        context.state["steps"] = steps
    if not steps:
        return None
    rows = rows.filter(wfm_project__workflow_id=context.workflow_id)
    lead = context.memo("lead", lambda: _lead(pk)) if context.visible else None
    if lead is not None and (
        lead.wfm_project.workflow_id != context.workflow_id
        or (_has_filters(context.params) and not rows.filter(pk=pk).exists())
    ):
        lead = None  # not on this board (any more)
    parts = []
    if lead is None:
        parts.append(_delete(f"card-{pk}"))
    else:
        params = context.params.copy()
        for key in BOARD_PARAMS:
            params.pop(key, None)
        board_query = params.urlencode()
        movable = permissions.can_change(user, lead)
        card = context.memo(
            ("card", movable, board_query),
            lambda: render_to_string(
                "leads/_card.html",
                {
                    "card": lead,
                    "movable": {lead.pk} if movable else set(),
                    "board_query": board_query,
                },
            ),
        )
        parts.append(_upsert_card(lead.wfm_project.current_step_id, card))
    heads = boards.column_summaries(
        steps=_affected_steps(steps, lead, changed, context),
        queryset=rows,
        value_field="estimated_value",
    )
    head_context = {"board_currency": settings.DEFAULT_CURRENCY, "oob": True}
    parts += [
        render_to_string("wfm/_board_head.html", {**head_context, "column": column})
        for column in heads
    ]
    return "".join(parts)


def _affected_steps(steps, lead, changed, context) -> list:
    """The columns whose headers (count, total) may have changed: none for an edit that
    leaves them alone, the two ends of a move, else all of them (a card that left the board
    took its old column with it, and the user may not learn which one it was)."""
    if lead is None:
        return steps
    if not set(changed) & AGGREGATE_CHANGES:
        return []
    ends = {lead.wfm_project.current_step_id, context.change.get("from_step_id")}
    if "step" in changed and context.change.get("from_step_id"):
        return [s for s in steps if s.pk in ends]
    return steps


def _upsert_card(step_id: int, card_html: str) -> str:
    """The card into the top of its step's column; static/js/realtime.js turns this into an
    in-place replacement when the card is already in that column."""
    return format_html(
        "<div hx-swap-oob='afterbegin:[data-step-id=\"{}\"] [data-board-list]' "
        "data-realtime-upsert>{}</div>",
        step_id,
        card_html,
    )


def _table(user, pk, changed, context) -> str | None:
    from customfields.selectors import definitions_for
    from leads import columns as lead_columns

    if not context.visible:
        return _delete(f"row-{pk}")
    if "created" in changed:
        rows = _filtered(user, context.params)
        if rows is None or not rows.filter(pk=pk).exists():
            return None
        new = context.state.setdefault("new", set())
        new.add(str(pk))
        return _new_rows_bar(len(new), context.params)
    lead = context.memo("lead", lambda: _lead(pk))
    if lead is None:
        return None
    columns = context.state.get("columns")
    if columns is None:
        available = lead_columns.available_columns(definitions_for("lead"))
        columns = lead_columns.chosen_columns(context.params.getlist("columns"), available)
        context.state["columns"] = columns
    return context.memo(
        ("row", tuple(c.key for c in columns)),
        lambda: render_to_string(
            "leads/list.html#row", {"lead": lead, "columns": columns, "oob": True}
        ),
    )


def _new_rows_bar(count: int, params: QueryDict) -> str:
    params = params.copy()
    params.pop("page", None)
    url = reverse("leads:list") + (f"?{params.urlencode()}" if params else "")
    label = "1 new lead" if count == 1 else f"{count} new leads"
    return format_html(
        '<div id="new-rows-bar" hx-swap-oob="true" class="alert alert-info py-1 px-2 mb-2 '
        'd-flex align-items-center gap-2" role="status" data-testid="new-rows-bar">'
        '<i class="bi bi-arrow-clockwise" aria-hidden="true"></i><span>{}</span>'
        '<a class="alert-link" href="{}" data-realtime-refresh>refresh</a></div>',
        label,
        url,
    )


def _record(pk, changed, context) -> str:
    if not context.visible:
        reason = "was deleted" if "deleted" in changed else "is no longer visible to you"
        return format_html(
            '<div id="presence" class="presence small" data-testid="presence" hx-swap-oob="true">'
            '<div class="alert alert-warning mb-2" role="alert" data-testid="record-gone">'
            'This lead {}. <a href="{}">Back to the leads</a></div></div>',
            reason,
            reverse("leads:list"),
        )
    return format_html(
        '<div id="lead-refresh" hx-swap-oob="true" hidden hx-get="{}" hx-trigger="load" '
        'hx-target="#lead-main" data-changed="{}"></div>',
        reverse("leads:detail", args=[pk]),
        ",".join(changed),
    )


crm_realtime.register_renderer(KIND, render_lead, model=Lead)
