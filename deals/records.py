"""The deal record description (SPEC §4 "one pattern"): what the shared table, board, export
and bulk actions show and call for deals."""

from __future__ import annotations

from django.conf import settings
from django.db.models.functions import TruncMonth
from django.utils.dateformat import format as date_format
from django.utils.safestring import mark_safe

from crm import formatting as fmt
from crm import permissions
from crm import selectors as crm_selectors
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
    RecordType,
    record_url,
    standard_bulk_actions,
)
from deals import selectors, services
from deals.filters import OUTCOME_CHOICES, DealFilter
from deals.forms import DealForm
from deals.models import EDITABLE_FIELDS, Deal
from wfm.models import WorkflowStep


# Cells are written with ``fmt.esc`` rather than ``format_html``: a page writes hundreds.
def _name(deal: Deal):
    html = (
        f'<a class="record-link" href="{fmt.esc(record_url("deals:detail", deal.pk))}">'
        f"{fmt.esc(deal.name)}</a>"
    )
    if deal.won_at:
        html += fmt.state_badge("won", "won")
    elif deal.lost_at:
        html += fmt.state_badge("lost", "lost")
    return mark_safe(html)


def _organization(deal: Deal):
    if not deal.organization_id:
        return fmt.DASH
    url = record_url("crm:organization_detail", deal.organization_id)
    return mark_safe(f'<a href="{fmt.esc(url)}">{fmt.esc(deal.organization.name)}</a>')


def deal_card(deal: Deal, *, movable: bool, board_query: str):
    """A deal on the board (``crm.records.cards``): name, organization, the reason it was
    lost, amount, time in the step, assignee."""
    lines = []
    if deal.organization_id:
        lines.append(line("building", deal.organization.name))
    if deal.lost_reason:
        lines.append(
            line(
                "x-octagon",
                deal.lost_reason,
                css="text-danger-emphasis",
                title=f"Lost: {deal.lost_reason}",
            )
        )
    return write_card(
        deal,
        kind="deal",
        movable=movable,
        board_query=board_query,
        urls="deals:{}",
        reason_url="deals:lost",
        lines=lines,
        value=fmt.money(deal.amount, deal.currency),
        value_title="Amount",
    )


def _steps():
    steps = list(selectors.deal_steps())
    several = len({s.workflow_id for s in steps}) > 1
    return [(s.pk, f"{s.workflow.name} · {s.name}" if several else s.name) for s in steps]


def _writes_deals(user) -> bool:
    return permissions.works_on(user, Deal)


def _delete_deal(by, deal):
    return services.deal_delete(by=by, deal=deal)


COLUMNS = (
    Column("name", "Deal", _name, ordering="name", wide=True),
    Column("organization", "Organization", _organization, "organization"),
    Column("amount", "Amount", lambda d: fmt.money(d.amount, d.currency), "amount", numeric=True),
    Column("step", "Step", lambda d: fmt.step_badge(d.wfm_project.current_step), "step"),
    Column("probability", "Prob.", lambda d: f"{d.probability}%", "probability", numeric=True),
    Column(
        "weighted",
        "Weighted",
        lambda d: fmt.money(d.weighted_amount, d.currency),
        "weighted_amount",
        numeric=True,
    ),
    Column(
        "close", "Expected close", lambda d: fmt.when(d.expected_close_date), "expected_close_date"
    ),
    Column("assignee", "Assignee", lambda d: fmt.person_name(d.assigned_to), "assigned_to"),
    Column("owner", "Owner", lambda d: fmt.person_name(d.owner), "owner", default=False),
    Column("created", "Created", lambda d: fmt.ago(d.created_at), "created_at", default=False),
)


def _lead_sources():
    return Deal._meta.get_field("source_lead").related_model.Source.choices


FILTERS = (
    Filter("step", "Step", "select", choices=_steps),
    Filter("outcome", "Status", "select", choices=lambda: OUTCOME_CHOICES),
    Filter("assigned_to", "Assignee", "user", none_value="none"),
    Filter("owner", "Owner", "user"),
    Filter("owner_or_assignee", "Owner or assignee", "user", more=True),
    Filter("amount_min", "Amount from", "number", more=True),
    Filter("amount_max", "Amount to", "number", more=True),
    Filter("expected_close_after", "Close from", "date", more=True),
    Filter("expected_close_before", "Close to", "date", more=True),
    Filter("created_after", "Created from", "date", more=True),
    Filter("created_before", "Created to", "date", more=True),
    Filter("won_after", "Won from", "date", more=True),
    Filter("won_before", "Won to", "date", more=True),
    Filter("lost_after", "Lost from", "date", more=True),
    Filter("lost_before", "Lost to", "date", more=True),
    Filter("lead_source", "Lead source", "select", choices=_lead_sources, more=True),
)


def _close_month(month, card) -> str:
    return date_format(month, "F Y") if month else "No close date"


def _months_then_undated(group) -> tuple:
    return (group.key is None, group.key.toordinal() if group.key else 0)


_Outcome = WorkflowStep.Outcome

# The board's "Columns by" switch, for a sales manager: who carries the pipeline (assignee),
# when it should close (the forecast by month: filter Status "Open" for what is still to win),
# and how it ended across every pipeline (the step board shows one pipeline at a time).
# Organizations are left out: one column per customer is a list, not a board.
GROUPINGS = {
    "assignee": by_assignee(),
    "close_month": Grouping(
        "Close month",
        TruncMonth("expected_close_date"),
        describe=_close_month,
        order=_months_then_undated,
        order_by=("expected_close_date", "-created_at"),
    ),
    "status": Grouping(
        "Status",
        "wfm_project__current_step__outcome",
        columns=lambda: [(_Outcome.NONE, "Open"), (_Outcome.WON, "Won"), (_Outcome.LOST, "Lost")],
    ),
}

EXPORT_COLUMNS = (
    *field_columns(Deal, ("id", *EDITABLE_FIELDS)),
    ExportColumn("step", lambda d: d.wfm_project.current_step.name),
    ExportColumn("probability", lambda d: d.probability),
    ExportColumn("weighted_amount", lambda d: d.weighted_amount),
    *field_columns(
        Deal, ("owner", "assigned_to", "won_at", "lost_at", "lost_reason", "created_at")
    ),
)

DEAL_IMPORT = Importing(
    fields=(*EDITABLE_FIELDS, "owner", "assigned_to"),
    create=lambda by, data: services.deal_create(by=by, **data),
    update=lambda by, deal, data: services.deal_update(by=by, deal=deal, data=data),
    synonyms={
        "deal": "name",
        "deal name": "name",
        "title": "name",
        "value": "amount",
        "deal value": "amount",
        "close date": "expected_close_date",
        "expected close": "expected_close_date",
        "company": "organization",
        "contact": "person",
        "contact email": "person",
    },
    required=("name",),
    defaults=("owner", "step"),
    step_choices=lambda: [(s.pk, s.name) for s in selectors.deal_steps()],
    move=lambda by, deal, step: services.deal_transition(by=by, deal=deal, to_step=step),
)


def _form_kwargs(user) -> dict:
    """The pickers of the deal form: the organizations and people the user sees, the users a
    deal may be assigned to; the owner only for those who may change every deal."""
    kwargs = {
        "organizations": crm_selectors.organization_list(user=user).order_by("name"),
        "people": crm_selectors.person_list(user=user).order_by("last_name", "first_name"),
        "assignees": crm_selectors.assignable_users(model=Deal),
    }
    if permissions.has_all_access(user, Deal, "change"):
        kwargs["owners"] = crm_selectors.assignable_users(model=Deal)
    return kwargs


def _new_deal_initial(request) -> dict:
    """A new deal in the default currency, for the organization or person whose page offered
    "New deal" (``?organization=<id>``, ``?person=<id>``)."""
    initial = {"currency": settings.DEFAULT_CURRENCY}
    for key in ("organization", "person"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    return initial


DEALS = RecordType(
    key="deal",
    model=Deal,
    plural="Deals",
    url_names="deals:{}",
    saved_view_screen="deals",
    icon="briefcase",
    filterset=DealFilter,
    columns=COLUMNS,
    filters=FILTERS,
    list_selector=lambda user: selectors.deal_list(user=user),
    get_selector=lambda user, pk, action="view": selectors.deal_get(
        user=user, deal_id=pk, action=action
    ),
    default_ordering=("-created_at", "pk"),
    export_columns=EXPORT_COLUMNS,
    search_placeholder="Deal, organization, person…",
    bulk_actions=standard_bulk_actions(
        allowed=_writes_deals,
        assign=lambda by, deal, user: services.deal_assign(by=by, deal=deal, assignee=user),
        move=lambda by, deal, step: services.deal_transition(by=by, deal=deal, to_step=step),
        delete=_delete_deal,
    ),
    bulk_steps=selectors.deal_steps,
    board=Board(
        steps=lambda: list(selectors.deal_steps()),
        value_field="amount",
        transition=lambda *, by, obj, to_step, reason="": services.deal_transition(
            by=by, deal=obj, to_step=to_step, reason=reason
        ),
        card_template="deals/_card.html",
        card=deal_card,
        weighted=True,
        reason_outcomes=("lost",),
        groupings=GROUPINGS,
    ),
    editing=Editing(
        form=DealForm,
        create=lambda by, data: services.deal_create(by=by, **data),
        update=lambda by, deal, data: services.deal_update(by=by, deal=deal, data=data),
        form_kwargs=lambda user: _form_kwargs(user),
        initial=lambda request: _new_deal_initial(request),
    ),
    importing=DEAL_IMPORT,
    delete=_delete_deal,
    add_permission="deals.add_deal",
    empty_hint="Deals come from converted leads, or add one by hand.",
)
