"""HTML views of activities: "My activities", the record timeline (lazy-loaded into lead, deal,
person and organization pages) with its quick-log form, complete/reopen in place, the edit
modal and sequence enrolment. Thin: parse → selector → service → render."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activities import selectors, services
from activities.forms import QUICK_TYPES, ActivityFilterForm, ActivityForm, EnrollForm, QuickLogForm
from activities.models import Activity, SequenceEnrollment
from crm import badges, permissions
from crm import selectors as crm_selectors
from crm.errors import DomainError, NotFound, PermissionDenied
from crm.forms import add_domain_errors
from crm.htmx import render_page, trigger
from crm.models import Organization, Person

# What a timeline can belong to: the model and the related rows the quick log inherits links
# from (see services._inherited_links).
TIMELINE_KINDS = ("lead", "deal", "person", "organization")


def _timeline_queryset(kind: str):
    from deals.models import Deal
    from leads.models import Lead

    if kind == "lead":
        return Lead.objects.select_related(
            "person",
            "organization",
            "converted_to_deal",
            "converted_to_person",
            "converted_to_organization",
            "wfm_project__current_step",
        )
    if kind == "deal":
        return Deal.objects.select_related("person", "organization")
    if kind == "person":
        return Person.objects.select_related("organization")
    if kind == "organization":
        return Organization.objects.all()
    raise Http404("No such timeline.")


def _record(request: HttpRequest, kind: str, pk):
    """The record whose timeline this is: 404 when the user may not see it."""
    return crm_selectors.get_visible(user=request.user, queryset=_timeline_queryset(kind), pk=pk)


def _record_url(kind: str, record) -> str:
    if kind == "lead":
        return reverse("leads:detail", kwargs={"lead_id": record.pk})
    if kind == "deal":
        return reverse("deals:detail", kwargs={"pk": record.pk})
    return reverse(f"crm:{kind}_detail", kwargs={"pk": record.pk})


def _next_url(request: HttpRequest) -> str:
    """Where a form posted without HTMX goes back to (only a path of this site)."""
    target = request.POST.get("next", "")
    if (
        target
        and "/timeline/" not in target
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return reverse("activities:list")


def _can_log(user) -> bool:
    return permissions.may_create(user, Activity)


def _assignee_choices(user):
    """Managers pick the assignee of what they log; everyone else logs for themselves."""
    if permissions.has_all_access(user, Activity, "change"):
        return crm_selectors.assignable_users(model=Activity, with_roles=False)
    return None


def _timeline_response(request, kind: str, record, *, form=None, status: int = 200):
    user = request.user
    record_changeable = permissions.can_change(user, record)
    open_, done, more = selectors.timeline(record=record)
    can_log = _can_log(user)
    if can_log and form is None:
        form = QuickLogForm(users=_assignee_choices(user), auto_id=f"log-{kind}-%s")
    context = {
        "kind": kind,
        "record": record,
        "open_activities": selectors.mark_changeable(
            user, open_, record_changeable=record_changeable
        ),
        "done_activities": selectors.mark_changeable(
            user, done, record_changeable=record_changeable
        ),
        "more": more,
        "form": form if can_log else None,
        "log_url": reverse("activities:log", args=[kind, record.pk]),
        "list_url": f"{reverse('activities:list')}?assignee=all&{kind}={record.pk}",
        "now": timezone.now(),
    }
    if kind == "lead":
        closed = record.is_converted or record.wfm_project.current_step.is_final
        context["enrollments"] = selectors.lead_enrollments(lead=record)
        context["can_enroll"] = record_changeable and not closed
        context["can_stop"] = record_changeable
    return render(request, "activities/_timeline.html", context, status=status)


@login_required
@require_GET
def timeline(request: HttpRequest, kind: str, pk) -> HttpResponse:
    """The activity timeline of one record (``hx-get`` from its detail page). ``type`` and
    ``subject`` in the query fill in the quick-log form (a drafted email, for example)."""
    record = _record(request, kind, pk)
    form = None
    initial = {}
    if request.GET.get("type") in dict(QUICK_TYPES):
        initial["type"] = request.GET["type"]
    if request.GET.get("subject", "").strip():
        initial["subject"] = request.GET["subject"].strip()[:255]
    if initial and _can_log(request.user):
        form = QuickLogForm(
            initial=initial, users=_assignee_choices(request.user), auto_id=f"log-{kind}-%s"
        )
        form.fields["subject"].widget.attrs["autofocus"] = True  # htmx focuses it on swap
    return _timeline_response(request, kind, record, form=form)


@login_required
@require_POST
def quick_log(request: HttpRequest, kind: str, pk) -> HttpResponse:
    """Log (or plan) an activity from the timeline; answers with the refreshed timeline."""
    record = _record(request, kind, pk)
    if not _can_log(request.user):
        raise PermissionDenied("You may not log activities.")
    form = QuickLogForm(
        request.POST, users=_assignee_choices(request.user), auto_id=f"log-{kind}-%s"
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            activity = services.activity_create(
                by=request.user,
                type=data["type"],
                subject=data["subject"],
                notes=data["notes"],
                due_at=data["due_at"],
                direction=data["direction"],
                outcome=data["outcome"],
                assigned_to=data.get("assigned_to"),
                **{kind: record},
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            verb = "Logged" if activity.is_done else "Planned"
            if not request.htmx:
                return redirect(_record_url(kind, record))
            response = _timeline_response(request, kind, record)
            return trigger(
                response,
                activityChanged=True,
                showToast={"message": f"{verb}: {activity.subject}", "level": "success"},
            )
    return _timeline_response(request, kind, record, form=form, status=422)


def _entry_response(request, activity: Activity, message: str) -> HttpResponse:
    activity = selectors.activity_get(user=request.user, activity_id=activity.pk)
    activity.can_change = selectors.can_change_activity(request.user, activity)
    response = render(
        request,
        "activities/_entry.html",
        {"activity": activity, "now": timezone.now(), "show_record": request.POST.get("list")},
    )
    return trigger(
        response, activityChanged=True, showToast={"message": message, "level": "success"}
    )


@login_required
@require_POST
def complete(request: HttpRequest, pk) -> HttpResponse:
    activity = selectors.activity_get(user=request.user, activity_id=pk, action="change")
    services.activity_complete(by=request.user, activity=activity)
    if not request.htmx:
        return redirect(_next_url(request))
    return _entry_response(request, activity, f"Done: {activity.subject}")


@login_required
@require_POST
def reopen(request: HttpRequest, pk) -> HttpResponse:
    activity = selectors.activity_get(user=request.user, activity_id=pk, action="change")
    services.activity_reopen(by=request.user, activity=activity)
    if not request.htmx:
        return redirect(_next_url(request))
    return _entry_response(request, activity, f"Reopened: {activity.subject}")


def _changed(message: str) -> HttpResponse:
    """After a modal or a delete: close, toast, and let timelines and lists refresh."""
    return trigger(
        HttpResponse(status=204),
        closeModal=True,
        activitySaved=True,
        showToast={"message": message, "level": "success"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk) -> HttpResponse:
    activity = selectors.activity_get(user=request.user, activity_id=pk, action="change")
    users = crm_selectors.assignable_users(model=Activity, with_roles=False)
    initial = {name: getattr(activity, name) for name in ActivityForm.base_fields}
    if activity.due_at:
        initial["due_at"] = timezone.localtime(activity.due_at)
    form = ActivityForm(request.POST or None, initial=initial, users=users)
    if request.method == "POST" and form.is_valid():
        try:
            services.activity_update(by=request.user, activity=activity, data=form.cleaned_data)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return _changed(f"Saved: {activity.subject}")
            return redirect("activities:list")
    context = {
        "form": form,
        "action": reverse("activities:edit", args=[activity.pk]),
        "title": "Edit activity",
        "activity": activity,
        "can_delete": selectors.can_delete_activity(request.user, activity),
    }
    template = "activities/_edit_modal.html" if request.htmx else "activities/form_page.html"
    return render(request, template, context, status=422 if form.errors else 200)


@login_required
@require_POST
def delete(request: HttpRequest, pk) -> HttpResponse:
    activity = selectors.activity_get(user=request.user, activity_id=pk, action="delete")
    subject = activity.subject
    services.activity_delete(by=request.user, activity=activity)
    if request.htmx:
        return _changed(f"Deleted: {subject}")
    return redirect("activities:list")


# --- sequences -----------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def enroll(request: HttpRequest, lead_id) -> HttpResponse:
    """Enrol a lead in a nurture sequence (modal from the lead's timeline)."""
    from leads import selectors as lead_selectors

    lead = lead_selectors.lead_get(user=request.user, lead_id=lead_id, action="change")
    form = EnrollForm(request.POST or None, sequences=selectors.active_sequences())
    if request.method == "POST" and form.is_valid():
        try:
            services.sequence_enroll(
                by=request.user, sequence=form.cleaned_data["sequence"], lead=lead
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            message = f"“{lead}” enrolled in “{form.cleaned_data['sequence']}”."
            if request.htmx:
                return _changed(message)
            return redirect("leads:detail", lead_id=lead.pk)
    context = {
        "form": form,
        "lead": lead,
        "title": f"Start a sequence for {lead}",
        "action": reverse("activities:enroll", args=[lead.pk]),
        "submit": "Start sequence",
    }
    template = "leads/_action_modal.html" if request.htmx else "leads/action_page.html"
    return render(request, template, context, status=422 if form.errors else 200)


@login_required
@require_POST
def enrollment_stop(request: HttpRequest, pk: int) -> HttpResponse:
    from leads import selectors as lead_selectors

    enrollment = SequenceEnrollment.objects.select_related("sequence").filter(pk=pk).first()
    if enrollment is None:
        raise NotFound("Enrolment not found.")
    lead = lead_selectors.lead_get(user=request.user, lead_id=enrollment.lead_id, action="change")
    enrollment.lead = lead
    services.sequence_unenroll(by=request.user, enrollment=enrollment)
    if request.htmx:
        return _changed(f"Stopped “{enrollment.sequence}” for “{lead}”.")
    return redirect("leads:detail", lead_id=lead.pk)


# --- the navigation badge ---------------------------------------------------------------------
@login_required
@require_GET
def badge(request: HttpRequest) -> HttpResponse:
    """The "N overdue" badge of the navigation, loaded after the page (and again whenever an
    activity changes): one count query, remembered for the next pages (``crm.badges``)."""
    request._activities_overdue_count = badges.remember(
        badges.OVERDUE, request.user.pk, selectors.overdue_count(user=request.user)
    )
    return render(request, "activities/_nav_badge.html")


# --- my activities -------------------------------------------------------------------------------
def _filtered(request: HttpRequest, form: ActivityFilterForm):
    user = request.user
    data = form.cleaned_data if form.is_valid() else {}
    assignee = data.get("assignee", "")
    one_record = any(request.GET.get(kind) for kind in TIMELINE_KINDS)
    if not assignee and not one_record:
        # The user's own activities are theirs to see: no visibility subqueries needed.
        qs = Activity.objects.filter(assigned_to=user).select_related(*selectors.LIST_RELATED)
    else:
        qs = selectors.activity_list(user=user)
    if assignee == "none":
        qs = qs.filter(assigned_to__isnull=True)
    elif assignee and assignee != "all":
        qs = qs.filter(assigned_to_id=assignee)
    if data.get("type"):
        qs = qs.filter(type=data["type"])
    record = data.get("record")
    if record == "none":
        qs = qs.filter(**{f"{kind}__isnull": True for kind in TIMELINE_KINDS})
    elif record:
        qs = qs.filter(**{f"{record}__isnull": False})
    for kind in TIMELINE_KINDS:  # one record's activities (the timeline's "all" link)
        value = request.GET.get(kind)
        if value:
            try:
                qs = qs.filter(**{f"{kind}_id": uuid.UUID(value)})
            except ValueError:
                qs = qs.none()
    return qs.select_related("lead", "deal", "person", "organization")


@login_required
@require_GET
def activity_list(request: HttpRequest) -> HttpResponse:
    """My activities: overdue, today, upcoming and recently done, with filters."""
    user = request.user
    users = (
        crm_selectors.assignable_users(with_roles=False)
        if permissions.has_all_access(user, Activity)
        else None
    )
    form = ActivityFilterForm(request.GET or None, users=users)
    qs = _filtered(request, form)
    sections = selectors.my_activities(user=user, queryset=qs)
    unfiltered = not any(v for k, v in request.GET.items() if k != "page")
    if unfiltered:
        # The navigation badge shows the same number: no second query for it.
        request._activities_overdue_count = badges.remember(
            badges.OVERDUE, user.pk, sections["overdue"].total
        )
    for section in sections.values():
        selectors.mark_changeable(user, section.activities)
    own = not request.GET.get("assignee") and not any(request.GET.get(k) for k in TIMELINE_KINDS)
    context = {
        "heading": "My activities" if own else "Activities",
        "sections": list(sections.values()),
        "filter": form,
        "filtered": not unfiltered,
        "now": timezone.now(),
    }
    return render_page(request, "activities/list.html", context, partial="sections")
