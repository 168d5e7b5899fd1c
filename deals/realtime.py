"""Realtime for deals (issue 9, SPEC §4 Realtime): outbox handlers publish each deal change;
a renderer turns a change into the fragments one connection's page swaps in. The same
pattern as ``leads/realtime.py`` (see its docstring):

- board (``/ws/boards/<workflow>/?<board filters>``): the card (``deals/_card.html``) upserted
  into its step's column, every column header (``wfm/_board_head.html``) and the pipeline
  totals (``deals/board.html#totals``), out of band; a deal the user no longer sees (or that
  no longer matches the filters) is deleted from the board;
- detail page (``/ws/deals/<id>/``): an element that re-fetches the ``detail`` partial into
  ``#deal-detail``; a deal that went away is replaced by a notice.
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
from deals.models import Deal

KIND = "deal"

PUBLISHED_EVENTS = (
    "deal.created",
    "deal.updated",
    "deal.assigned",
    "deal.won",
    "deal.lost",
    "wfm.status_changed",
)
CHANGES = {
    "deal.created": ["created"],
    "deal.assigned": ["assignee"],
    "deal.won": ["won", "step"],
    "deal.lost": ["lost", "step"],
    "wfm.status_changed": ["step"],
}
# Changes that can alter a column's count or totals (or the user's set of visible cards).
AGGREGATE_CHANGES = frozenset(
    {"created", "step", "deleted", "amount", "won", "lost", "assignee", "assigned_to", "owner"}
)
# The board's own query parameters (not filters), as in deals.views.BOARD_PARAMS.
BOARD_PARAMS = ("workflow", "step", "offset", "page", "page_size")


# --- publishing (outbox handlers) -------------------------------------------------------------
@handles(*PUBLISHED_EVENTS)
def publish_deal_change(event: Event) -> None:
    payload = event.payload or {}
    from_step_id = None
    if event.name == "wfm.status_changed":
        rows = Deal.all_objects.filter(wfm_project_id=payload.get("project_id"))
        from_step_id = payload.get("from_step_id")
    else:
        rows = Deal.all_objects.filter(pk=payload.get("deal_id"))
    row = rows.values_list("pk", "wfm_project__workflow_id").first()
    if row is None:  # not a deal's project (a lead's), or the deal is gone
        return
    deal_id, workflow_id = row
    changed = list(CHANGES.get(event.name, []))
    if event.name == "deal.updated":
        fields = set(payload.get("fields") or [])
        if fields <= {"step"}:  # a move: wfm.status_changed publishes it
            return
        changed += sorted("deleted" if f == "deleted_at" else f for f in fields)
    revoked = [payload["previous_id"]] if payload.get("previous_id") else []
    crm_realtime.publish_change(
        KIND,
        deal_id,
        changed,
        workflow_id,
        from_step_id=from_step_id,
        revoked=revoked,
        event=event.name,
    )


@handles("deal.assigned")
def notify_deal_assignee(event: Event) -> None:
    """The new assignee hears of it in the bell (not when they assigned it themselves)."""
    notify_assignment(event, model=Deal, url_name="deals:detail", describe=_described)


def _described(deal: Deal) -> str:
    return f"“{deal.name}”"


# --- rendering ----------------------------------------------------------------------------
def render_deal(user, pk, changed: list[str], context: crm_realtime.RenderContext) -> str | None:
    if context.surface == "board":
        return _board(user, pk, changed, context)
    if context.surface == "record":
        return _record(pk, changed, context)
    return None  # the deal table has no live rows yet


def _has_filters(params: QueryDict) -> bool:
    from deals.filters import DealFilter

    return any(
        value.strip()
        for key, values in params.lists()
        for value in values
        if key in DealFilter.base_filters or key.startswith("cf_")
    )


def _deal(pk) -> Deal | None:
    """The live deal as cards show it, read once per message for every connection
    (``context.memo``), after ``crm.realtime.deliver`` has let each connection's user in."""
    from deals import selectors
    from wfm import boards

    deal = selectors.with_display(Deal.objects.filter(pk=pk)).first()
    if deal is not None:
        boards.stamp_cards([deal])
    return deal


def _filtered(user, params: QueryDict):
    from crm.errors import ValidationFailed
    from deals import selectors
    from deals.filters import DealFilter

    rows = selectors.deal_list(user=user)
    if not _has_filters(params):
        return rows  # no filter set: skip building the FilterSet (a deep copy of its filters)
    filterset = DealFilter(params, queryset=rows)
    try:
        return filterset.qs if filterset.is_bound else filterset.queryset
    except ValidationFailed:
        return None


def _board(user, pk, changed, context) -> str | None:
    from deals import selectors
    from wfm import boards

    rows = _filtered(user, context.params)
    if rows is None:
        return None
    steps = context.state.get("steps")
    if steps is None:
        steps = [s for s in selectors.deal_steps() if s.workflow_id == context.workflow_id]
        context.state["steps"] = steps
    if not steps:
        return None
    rows = rows.filter(wfm_project__workflow_id=context.workflow_id)
    deal = context.memo("deal", lambda: _deal(pk)) if context.visible else None
    if deal is not None and (
        deal.wfm_project.workflow_id != context.workflow_id
        or (_has_filters(context.params) and not rows.filter(pk=pk).exists())
    ):
        deal = None  # not on this board (any more)
    parts = []
    if deal is None:
        parts.append(
            format_html('<div id="card-{}" hx-swap-oob="delete" data-realtime-remove></div>', pk)
        )
    else:
        params = context.params.copy()
        for key in BOARD_PARAMS:
            params.pop(key, None)
        board_query = params.urlencode()
        movable = permissions.can_change(user, deal)
        card = context.memo(
            ("card", movable, board_query),
            lambda: render_to_string(
                "deals/_card.html",
                {
                    "card": deal,
                    "movable": {deal.pk} if movable else set(),
                    "board_query": board_query,
                },
            ),
        )
        parts.append(
            format_html(
                "<div hx-swap-oob='afterbegin:[data-step-id=\"{}\"] [data-board-list]' "
                "data-realtime-upsert>{}</div>",
                deal.wfm_project.current_step_id,
                card,
            )
        )
    if deal is not None and not set(changed) & AGGREGATE_CHANGES:
        return "".join(parts)  # an edit that leaves counts and totals alone
    heads = boards.column_summaries(steps=steps, queryset=rows, value_field="amount", weighted=True)
    shared = {"board_currency": settings.DEFAULT_CURRENCY, "show_probability": True, "oob": True}
    parts += [
        render_to_string("wfm/_board_head.html", {**shared, "column": column}) for column in heads
    ]
    open_columns = [c for c in heads if c.step.outcome == "none"]
    parts.append(
        render_to_string(
            "deals/board.html#totals",
            {
                **shared,
                "workflow": steps[0].workflow,
                "board_total": sum((c.total or 0) for c in open_columns),
                "board_weighted": sum((c.weighted_total or 0) for c in open_columns),
            },
        )
    )
    return "".join(parts)


def _record(pk, changed, context) -> str:
    if not context.visible:
        reason = "was deleted" if "deleted" in changed else "is no longer visible to you"
        return format_html(
            '<div id="presence" class="presence small" data-testid="presence" hx-swap-oob="true">'
            '<div class="alert alert-warning mb-2" role="alert" data-testid="record-gone">'
            'This deal {}. <a href="{}">Back to the deals</a></div></div>',
            reason,
            reverse("deals:list"),
        )
    return format_html(
        '<div id="deal-refresh" hx-swap-oob="true" hidden hx-get="{}" hx-trigger="load" '
        'hx-target="#deal-detail" data-changed="{}"></div>',
        reverse("deals:detail", args=[pk]),
        ",".join(changed),
    )


crm_realtime.register_renderer(KIND, render_deal, model=Deal)
