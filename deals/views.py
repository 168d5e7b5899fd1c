"""HTML views of deals: detail page, modals, pipeline actions (SPEC §6 Deals). The table and
the board are the shared ones (``crm.records.tables``, ``crm.records.boards``).

Thin: parse → selector → service → render. Regions HTMX refreshes are partials of the page
templates; a refused action raises a ``DomainError`` that ``crm.middleware`` turns into the
SPEC §7 JSON body (shown as a toast by ``static/js/app.js``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import permissions
from crm import selectors as crm_selectors
from crm.errors import DomainError
from crm.forms import add_domain_errors
from crm.htmx import saved
from crm.records import details
from deals import selectors, services
from deals.forms import AssignForm, LostForm
from deals.models import Deal
from deals.records import DEALS
from wfm import selectors as wfm_selectors


# --- helpers ----------------------------------------------------------------------------------
def _modal(request: HttpRequest, form, *, title: str, action: str, cancel_url: str, **extra):
    context = {"form": form, "title": title, "action": action, "cancel_url": cancel_url, **extra}
    template = "crm/_modal_form.html" if request.htmx else "crm/form_page.html"
    # 422 tells HTMX (static/js/app.js) to swap the form back in with its errors.
    return render(request, template, context, status=422 if form.errors else 200)


def _done(request: HttpRequest, message: str, deal: Deal) -> HttpResponse:
    if request.htmx:
        return saved(message)
    return redirect("deals:detail", pk=deal.pk)


# --- detail -----------------------------------------------------------------------------------
@login_required
@require_GET
def deal_detail(request: HttpRequest, pk) -> HttpResponse:
    user = request.user
    deal = selectors.deal_get(user=user, deal_id=pk)
    url = reverse("deals:detail", args=[deal.pk])
    moves = wfm_selectors.project_history(project=deal.wfm_project).reverse()[
        : details.HISTORY_LIMIT
    ]
    return details.detail_page(
        request,
        DEALS,
        deal,
        template="deals/detail.html",
        actions=_detail_actions(user, deal),
        history=details.history_for(
            deal, show_system=details.show_system(request), url=url, moves=moves
        ),
        context={"deal": deal},
    )


def _detail_actions(user, deal: Deal) -> details.Actions:
    """The next step as the one primary action; Won and Lost beside it; the other moves in
    "Move to…"; nothing a role may not do."""
    actions = details.Actions()
    if permissions.works_on(user, Deal) and permissions.can_change(user, deal):
        project = deal.wfm_project
        transitions = wfm_selectors.available_transitions(project=project, user=user)
        primary, others = details.split_moves(transitions, current=project.current_step)
        if primary is not None:
            actions.primary = _move_action(deal, primary, main=True)
        outcomes = [t for t in others if t.to_step.outcome != "none"]
        actions.buttons = [_move_action(deal, t) for t in outcomes]
        actions.moves = [_move_action(deal, t) for t in others if t not in outcomes]
        for name, label, icon in (("assign", "Assign", "person-check"), ("edit", "Edit", "pencil")):
            url = reverse(f"deals:{name}", args=[deal.pk])
            actions.buttons.append(details.Action(label, url, icon=icon))
    actions.more = details.delete_actions(user, deal, reverse("deals:delete", args=[deal.pk]))
    return actions


def _move_action(deal: Deal, transition, *, main: bool = False) -> details.Action:
    """Winning and moving happen at once; losing asks for the reason in the modal."""
    label = details.move_label(transition)
    outcome = transition.to_step.outcome
    if outcome == "won":
        url = reverse("deals:won", args=[deal.pk])
        return details.Action(label, url, method="post", icon="trophy", style="success")
    if outcome == "lost":
        url = reverse("deals:lost", args=[deal.pk])
        return details.Action(label, url, icon="x-circle", style="danger")
    return details.transition_action(
        deal, transition, reverse("deals:transition", args=[deal.pk]), main=main
    )


# --- pipeline actions -------------------------------------------------------------------------
@login_required
@require_POST
def deal_won(request: HttpRequest, pk) -> HttpResponse:
    deal = selectors.deal_get(user=request.user, deal_id=pk, action="change")
    services.deal_mark_won(by=request.user, deal=deal)
    return _done(request, f"“{deal}” won. Well done!", deal)


@login_required
@require_http_methods(["GET", "POST"])
def deal_lost(request: HttpRequest, pk) -> HttpResponse:
    """The lost-reason modal, for the detail page's "Mark lost" and for a card dropped on a
    lost column (``?to_step=`` names that column's step)."""
    user = request.user
    deal = selectors.deal_get(user=user, deal_id=pk, action="change")
    form = LostForm(
        request.POST or None,
        initial={"to_step": request.GET.get("to_step")},
        reasons=selectors.lost_reasons(),
    )
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        to_step = form.cleaned_data.get("to_step")
        try:
            if to_step:
                services.deal_transition(by=user, deal=deal, to_step=to_step, reason=reason)
            else:
                services.deal_mark_lost(by=user, deal=deal, reason=reason)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            return _done(request, f"“{deal}” marked lost.", deal)
    return _modal(
        request,
        form,
        title=f"Why was “{deal}” lost?",
        action=reverse("deals:lost", args=[deal.pk]),
        cancel_url=reverse("deals:detail", args=[deal.pk]),
    )


@login_required
@require_http_methods(["GET", "POST"])
def deal_assign(request: HttpRequest, pk) -> HttpResponse:
    user = request.user
    deal = selectors.deal_get(user=user, deal_id=pk, action="change")
    form = AssignForm(
        request.POST or None,
        initial={"assigned_to": deal.assigned_to_id},
        assignees=crm_selectors.assignable_users(model=Deal),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_assign(by=user, deal=deal, assignee=form.cleaned_data["assigned_to"])
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            who = deal.assigned_to.display_name if deal.assigned_to else "nobody"
            return _done(request, f"“{deal}” assigned to {who}.", deal)
    return _modal(
        request,
        form,
        title=f"Assign “{deal}”",
        action=reverse("deals:assign", args=[deal.pk]),
        cancel_url=reverse("deals:detail", args=[deal.pk]),
    )
