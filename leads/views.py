"""HTML views of leads: table, detail, modals for create/edit/qualify/disqualify/assign/convert,
CSV export and saved views. Thin: parse → selector → service → render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from crm import permissions
from crm import selectors as crm_selectors
from crm.errors import DomainError, NotFound
from crm.forms import add_domain_errors
from crm.htmx import saved
from crm.records import details
from crm.records import privacy as privacy_hooks
from leads import selectors, services
from leads.forms import AssignForm, ConvertForm, NotesForm, ReasonForm
from leads.models import Lead
from leads.records import LEADS
from wfm.selectors import available_transitions, step_list

SCREEN = "leads"


@login_required
@require_GET
def lead_detail(request: HttpRequest, lead_id) -> HttpResponse:
    user = request.user
    try:
        lead = selectors.lead_get(user=user, lead_id=lead_id)
    except NotFound:
        moved = details.merged_redirect(request, Lead, lead_id, "leads:detail")
        if moved is None:
            raise
        return moved
    url = reverse("leads:detail", args=[lead.pk])
    return details.detail_page(
        request,
        LEADS,
        lead,
        template="leads/detail.html",
        actions=_detail_actions(user, lead),
        history=selectors.lead_history_view(
            lead=lead, show_system=details.show_system(request), url=url
        ),
        context={
            "lead": lead,
            "can_change": permissions.can_change(user, lead),  # the score panel's Recalculate
            "suggested": _score_suggestion(lead),
        },
    )


def _detail_actions(user, lead: Lead) -> details.Actions:
    """The next step as the one primary action, the other moves (and Qualify / Convert when no
    transition leads there) in "Move to…"; nothing a role may not do."""
    actions = details.Actions()
    step = lead.wfm_project.current_step
    if selectors.lead_writable(user, lead):
        transitions = available_transitions(project=lead.wfm_project, user=user)
        qualified = selectors.qualified_step(lead.wfm_project.workflow)
        primary, others = details.split_moves(transitions, current=step)
        if primary is not None:
            actions.primary = _move_action(lead, primary, qualified, main=True)
        actions.moves = [_move_action(lead, t, qualified) for t in others]
        if not step.is_final:
            targets = {t.to_step_id for t in transitions}
            if qualified and qualified.pk not in targets and not lead.is_qualified:
                actions.moves.insert(0, _lead_action(lead, "qualify"))
            if not any(t.to_step.outcome == "won" for t in transitions):
                actions.moves.insert(0, _lead_action(lead, "convert"))
        actions.buttons = [_lead_action(lead, "assign"), _lead_action(lead, "edit")]
    actions.more = [
        *details.merge_actions(user, lead, reverse("leads:merge")),
        *privacy_hooks.more_actions(user, lead),
        *details.delete_actions(user, lead, reverse("leads:delete", args=[lead.pk])),
    ]
    return actions


# The lead actions that open a form in the modal: (label, icon, style, test id).
LEAD_ACTIONS = {
    "qualify": ("Qualify", "patch-check", "primary", "qualify-lead"),
    "convert": ("Convert", "arrow-right-circle", "success", "convert-lead"),
    "disqualify": ("Disqualify", "slash-circle", "secondary", "disqualify-lead"),
    "assign": ("Assign", "person-check", "secondary", ""),
    "edit": ("Edit", "pencil", "secondary", ""),
}


def _lead_action(lead: Lead, name: str, *, label: str = "") -> details.Action:
    default_label, icon, style, testid = LEAD_ACTIONS[name]
    return details.Action(
        label or default_label,
        reverse(f"leads:{name}", args=[lead.pk]),
        icon=icon,
        style=style,
        testid=testid,
    )


def _move_action(lead: Lead, transition, qualified, *, main: bool = False) -> details.Action:
    """A transition as the page offers it: converting, disqualifying and qualifying ask for
    details in their modal; any other move happens at once."""
    label = details.move_label(transition)
    outcome = transition.to_step.outcome
    if outcome == "won":
        return _lead_action(lead, "convert", label=label)
    if outcome == "lost":
        return _lead_action(lead, "disqualify", label=label)
    if qualified and transition.to_step_id == qualified.pk and not lead.is_qualified:
        return _lead_action(lead, "qualify", label=label)
    return details.transition_action(
        lead, transition, reverse("leads:move", args=[lead.pk]), main=main
    )


def _score_suggestion(lead: Lead) -> str:
    """The workflow's score thresholds as a hint ("score 52: ready to qualify?")."""
    if lead.is_converted or lead.wfm_project.current_step.is_final:
        return ""
    current = lead.wfm_project.current_step
    for step in sorted(step_list(workflow=lead.wfm_project.workflow), key=lambda s: -s.order):
        threshold = (step.metadata or {}).get("suggested_min_score")
        if threshold is not None and step.order > current.order and lead.lead_score >= threshold:
            return f"Score {lead.lead_score}: ready for “{step.name}”?"
    return ""


def _action_modal(request, *, lead, form, title, action, submit, service, done, danger=False):
    if request.method == "POST" and form.is_valid():
        try:
            service()
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved(done)
            return redirect("leads:detail", lead_id=lead.pk)
    context = {
        "form": form,
        "lead": lead,
        "title": title,
        "action": action,
        "submit": submit,
        "danger": danger,
    }
    template = "leads/_action_modal.html" if request.htmx else "leads/action_page.html"
    return render(request, template, context, status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def lead_qualify(request: HttpRequest, lead_id) -> HttpResponse:
    lead = selectors.lead_get(user=request.user, lead_id=lead_id, action="change")
    form = NotesForm(request.POST or None)
    return _action_modal(
        request,
        lead=lead,
        form=form,
        title=f"Qualify {lead}",
        submit="Qualify",
        action=reverse("leads:qualify", args=[lead.pk]),
        service=lambda: services.lead_qualify(
            by=request.user, lead=lead, notes=form.cleaned_data["notes"]
        ),
        done=f"“{lead}” qualified.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def lead_disqualify(request: HttpRequest, lead_id) -> HttpResponse:
    lead = selectors.lead_get(user=request.user, lead_id=lead_id, action="change")
    form = ReasonForm(request.POST or None)
    return _action_modal(
        request,
        lead=lead,
        form=form,
        title=f"Disqualify {lead}",
        submit="Disqualify",
        danger=True,
        action=reverse("leads:disqualify", args=[lead.pk]),
        service=lambda: services.lead_disqualify(
            by=request.user, lead=lead, reason=form.cleaned_data["reason"]
        ),
        done=f"“{lead}” disqualified.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def lead_assign(request: HttpRequest, lead_id) -> HttpResponse:
    lead = selectors.lead_get(user=request.user, lead_id=lead_id, action="change")
    form = AssignForm(
        request.POST or None,
        users=crm_selectors.assignable_users(model=Lead),
        initial={"assignee": lead.assigned_to_id},
    )
    return _action_modal(
        request,
        lead=lead,
        form=form,
        title=f"Assign {lead}",
        submit="Assign",
        action=reverse("leads:assign", args=[lead.pk]),
        service=lambda: services.lead_assign(
            by=request.user, lead=lead, assignee=form.cleaned_data["assignee"]
        ),
        done=f"“{lead}” assigned.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def lead_convert(request: HttpRequest, lead_id) -> HttpResponse:
    """The convert modal: previews what will be created or linked, then converts."""
    lead = selectors.lead_get(user=request.user, lead_id=lead_id, action="change")
    people = crm_selectors.person_list(user=request.user)
    organizations = crm_selectors.organization_list(user=request.user)
    match_person = people.filter(email=lead.contact_email).first() if lead.contact_email else None
    domain = selectors.email_domain(lead.contact_email)
    match_org = organizations.filter(domain=domain).first() if domain else None
    if lead.company_name and match_org is None:
        match_org = organizations.filter(name__iexact=lead.company_name).first()
    initial = {
        "person_action": "link"
        if (lead.person_id or match_person)
        else ("create" if (lead.contact_name or lead.contact_email) else "skip"),
        "person": lead.person_id or (match_person.pk if match_person else None),
        "organization_action": "link"
        if (lead.organization_id or match_org)
        else ("create" if lead.company_name else "skip"),
        "organization": lead.organization_id or (match_org.pk if match_org else None),
        "create_deal": True,
        "deal_name": lead.name,
        "deal_amount": lead.estimated_value,
        "deal_close_date": lead.estimated_close_date,
    }
    # "Link this person / organization" among the look-alikes the modal lists (duplicates)
    # opens it again with that record chosen.
    for name in ("person", "organization"):
        if request.method == "GET" and request.GET.get(name):
            initial[f"{name}_action"] = "link"
            initial[name] = request.GET[name]
    form = ConvertForm(
        request.POST or None, initial=initial, people=people, organizations=organizations
    )
    if request.method == "POST" and form.is_valid():
        try:
            result = services.lead_convert(by=request.user, lead=lead, **form.service_kwargs())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            message = f"“{lead}” converted."
            if result.deal is not None:
                url = (
                    reverse("deals:detail", args=[result.deal.pk])
                    if _has_url("deals:detail")
                    else reverse("leads:detail", args=[lead.pk])
                )
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
            if request.htmx:
                return saved(message)
            return redirect("leads:detail", lead_id=lead.pk)
    context = {
        "form": form,
        "lead": lead,
        "match_person": match_person,
        "match_org": match_org,
        "action": reverse("leads:convert", args=[lead.pk]),
    }
    template = "leads/_convert_modal.html" if request.htmx else "leads/action_page.html"
    return render(request, template, context, status=422 if form.errors else 200)


def _has_url(name: str) -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse(name, args=["00000000-0000-0000-0000-000000000000"])
    except NoReverseMatch:
        return False
    return True
