"""Every write of activities, assignment rules, sequences and overdue detection (SPEC §6).

Keyword-only functions, one transaction each, the acting user first (``by=``). Automated work
runs as ``crm.services.system_user()`` through these same functions.

Permissions (``activities.selectors`` answers the questions):
- creating needs ``activities.add_activity`` and view permission on every linked record;
- changing, completing and reopening: the assignee, the creator, anyone who may change a
  linked record, and holders of ``activities.change_all_activities``;
- deleting: the creator of a non-system activity, and managers (``change_all_activities``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Min, OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import timezone

from activities import selectors
from activities.models import (
    Activity,
    AssignmentRule,
    Sequence,
    SequenceEnrollment,
    SequenceStep,
)
from activities.realtime import publish_activity_change
from crm import assignment, badges, permissions, realtime
from crm import services as crm_services
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from crm.events import emit
from crm.models import Organization, Person, User

WORKDAY_END = time(17, 0)

logger = logging.getLogger(__name__)


# --- dates -------------------------------------------------------------------------------------
def business_days_later(start: datetime, days: int = 1, *, at: time = WORKDAY_END) -> datetime:
    """``days`` business days (Monday to Friday) after ``start``'s local date, at ``at`` local
    time. 0 days: the same day if it is a business day, else the next one."""
    day = timezone.localtime(start).date()
    remaining = max(0, days)
    while remaining or day.weekday() >= 5:
        day += timedelta(days=1)
        if day.weekday() < 5:
            remaining = max(0, remaining - 1)
    return timezone.make_aware(datetime.combine(day, at))


def next_business_day(start: datetime) -> datetime:
    """End of the next business day after ``start`` (a Friday's is Monday)."""
    return business_days_later(start, 1)


# --- activities --------------------------------------------------------------------------------
EDITABLE_FIELDS = (
    "type",
    "subject",
    "notes",
    "due_at",
    "duration_minutes",
    "direction",
    "outcome",
    "assigned_to",
    "lead",
    "deal",
    "person",
    "organization",
)
OVERDUE_FLAG = "overdue_notified_at"


def _check_link(by: User, field: str, obj) -> None:
    """A linked record must exist, be live and be visible to ``by`` (else it is "unknown")."""
    if obj is None:
        return
    if getattr(obj, "deleted_at", None) is not None or not permissions.can_view(by, obj):
        raise ValidationFailed(
            f"{field}: unknown {obj._meta.verbose_name}.",
            details={field: [f"Unknown {obj._meta.verbose_name}."]},
        )


def _inherited_links(links: dict[str, Any]) -> dict[str, Any]:
    """Fill the empty links from the main record's own: a call logged on a deal also sits on
    its person's and organization's timelines; one on a lead, on its person, organization
    and (once converted) deal."""
    out = dict(links)
    lead, deal, person = out.get("lead"), out.get("deal"), out.get("person")
    if lead is not None:
        out["deal"] = out.get("deal") or lead.converted_to_deal
        out["person"] = out.get("person") or lead.person or lead.converted_to_person
        out["organization"] = (
            out.get("organization") or lead.organization or lead.converted_to_organization
        )
    if deal is not None:
        out["person"] = out.get("person") or deal.person
        out["organization"] = out.get("organization") or deal.organization
    if person is not None and out.get("organization") is None:
        out["organization"] = person.organization
    return out


def _default_done(type_: str, due_at: datetime | None) -> bool:
    """Notes are logged as done; tasks and deadlines are to do; calls, emails and meetings are
    done when logged without a date, or with one in the past (planned otherwise)."""
    if type_ == Activity.Type.NOTE:
        return True
    if type_ in (Activity.Type.TASK, Activity.Type.DEADLINE):
        return False
    return due_at is None or due_at <= timezone.now()


def _touch_lead(lead_id, at: datetime) -> None:
    """One UPDATE: the lead's last activity moves forward to ``at`` (never backwards)."""
    from leads.models import Lead

    Lead.all_objects.filter(pk=lead_id).filter(
        Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=at)
    ).update(last_activity_at=at)


def _first_activity(lead_id, at: datetime) -> None:
    """The lead's first activity: set once, by the first non-system activity logged on it."""
    from leads.models import Lead

    Lead.all_objects.filter(pk=lead_id, first_activity_at__isnull=True).update(first_activity_at=at)


def lead_first_activity_refresh(*, lead_ids: Iterable) -> None:
    """Set the leads' ``first_activity_at`` again from their activities: after one was
    deleted or moved to another lead, or activities were written in bulk (demo data). One
    UPDATE."""
    from leads.models import Lead

    first = (
        Activity.objects.filter(lead_id=OuterRef("pk"), is_system_activity=False)
        .order_by()
        .values("lead_id")
        .annotate(at=Min("created_at"))
        .values("at")
    )
    Lead.all_objects.filter(pk__in=list(lead_ids)).update(first_activity_at=Subquery(first))


def _overdue_changed(*user_ids) -> None:
    """The navigation's remembered "N overdue" of these assignees is stale (``crm.badges``)."""
    for user_id in set(user_ids) - {None}:
        badges.forget(badges.OVERDUE, user_id)


def _duplicate() -> Conflict:
    return Conflict("This automation already created its activity.", code="duplicate_automation")


@transaction.atomic
def activity_create(
    *,
    by: User,
    type: str,
    subject: str,
    notes: str = "",
    due_at: datetime | None = None,
    duration_minutes: int | None = None,
    is_done: bool | None = None,
    direction: str = "",
    outcome: str = "",
    assigned_to: User | None = None,
    lead=None,
    deal=None,
    person: Person | None = None,
    organization: Organization | None = None,
    is_system_activity: bool | None = None,
    metadata: Mapping[str, Any] | None = None,
    inherit_links: bool = True,
) -> Activity:
    """Log or plan an activity on the given records (any of lead, deal, person, organization).

    ``is_done`` None: decided by the type (``_default_done``). ``assigned_to`` defaults to
    ``by`` for people (nobody for the system). Empty links are filled from the main record's
    (``inherit_links``). Logging a non-system activity on a lead moves its
    ``last_activity_at``. Emits ``activity.created``. ``is_system_activity`` None: whether
    ``by`` is the system user; False for what the system only records for a contact (a
    received email), which counts like anything the contact did.
    """
    crm_services.require_perm(by, "activities.add_activity", "You may not create activities.")
    links = {"lead": lead, "deal": deal, "person": person, "organization": organization}
    for field, obj in links.items():
        _check_link(by, field, obj)
    if inherit_links:
        links = _inherited_links(links)
    system = by.username == crm_services.SYSTEM_USERNAME
    if assigned_to is None and not system:
        assigned_to = by
    assignment.check_assignable(assigned_to, Activity)
    if is_done is None:
        is_done = _default_done(type, due_at)
    now = timezone.now()
    activity = Activity(
        type=type,
        subject=(subject or "").strip(),
        notes=notes or "",
        due_at=due_at,
        duration_minutes=duration_minutes,
        is_done=is_done,
        done_at=now if is_done else None,
        direction=direction or "",
        outcome=(outcome or "").strip(),
        assigned_to=assigned_to,
        is_system_activity=system if is_system_activity is None else is_system_activity,
        metadata=dict(metadata or {}),
        created_by=by,
        **links,
    )
    if (
        "source_event" in activity.metadata
        and Activity.objects.filter(
            metadata__source_event=activity.metadata["source_event"],
            metadata__automation_trigger=activity.metadata.get("automation_trigger"),
        ).exists()
    ):
        raise _duplicate()
    crm_services.full_clean_or_raise(activity)
    try:
        with transaction.atomic():
            activity.save()
    except IntegrityError:  # a concurrent twin won the race (act_once_per_source_event)
        raise _duplicate() from None
    if activity.lead_id and not activity.is_system_activity:
        _touch_lead(activity.lead_id, now)
        _first_activity(activity.lead_id, activity.created_at)
    _overdue_changed(activity.assigned_to_id)
    emit(
        "activity.created",
        actor=by,
        activity_id=activity.pk,
        type=activity.type,
        direction=activity.direction,
        is_done=activity.is_done,
        is_system_activity=activity.is_system_activity,
        assignee_id=activity.assigned_to_id,
        lead_id=activity.lead_id,
        deal_id=activity.deal_id,
        person_id=activity.person_id,
        organization_id=activity.organization_id,
    )
    return activity


@transaction.atomic
def activity_update(*, by: User, activity: Activity, data: Mapping[str, Any]) -> Activity:
    """Change an activity's fields (``is_done`` goes through complete/reopen). A new due date
    re-arms the overdue notification."""
    if not selectors.can_change_activity(by, activity):
        raise PermissionDenied("You may not change this activity.")
    activity = _locked(activity)
    data = dict(data)
    done = data.pop("is_done", None)
    for field in Activity.LINK_FIELDS:
        if field in data and data[field] != getattr(activity, field):
            _check_link(by, field, data[field])
    if "assigned_to" in data and data["assigned_to"] != activity.assigned_to:
        assignment.check_assignable(data["assigned_to"], Activity)
    if "subject" in data:
        data["subject"] = (data["subject"] or "").strip()
    _check_direction(activity, data)
    lead_before, assignee_before = activity.lead_id, activity.assigned_to_id
    changed = crm_services.apply_changes(activity, data, EDITABLE_FIELDS)
    if "due_at" in changed and OVERDUE_FLAG in activity.metadata:
        activity.metadata = {k: v for k, v in activity.metadata.items() if k != OVERDUE_FLAG}
        changed.append("metadata")
    if changed:
        crm_services.full_clean_or_raise(activity)
        activity.save(update_fields=[*changed, "updated_at"])
        publish_activity_change(activity.pk, "updated")
        _overdue_changed(assignee_before, activity.assigned_to_id)
    if activity.lead_id != lead_before and not activity.is_system_activity:
        lead_first_activity_refresh(lead_ids={lead_before, activity.lead_id} - {None})
    if done is True and not activity.is_done:
        activity = activity_complete(by=by, activity=activity)
    elif done is False and activity.is_done:
        activity = activity_reopen(by=by, activity=activity)
    return activity


def _check_direction(activity: Activity, data: dict[str, Any]) -> None:
    """Only calls and emails have a direction. A new type without one drops the stored
    direction (unless ``data`` gives one: then the model refuses the pair, 400); a direction
    for an activity whose stored type has none is a 409."""
    directed = Activity.DIRECTED_TYPES
    if "type" in data:
        if data["type"] not in directed and "direction" not in data:
            data["direction"] = ""
    elif data.get("direction") and activity.type not in directed:
        raise Conflict(
            f"A {activity.get_type_display().lower()} has no direction: only calls and emails "
            "have one.",
            code="no_direction",
            details={"direction": ["Only calls and emails have a direction."]},
        )


def _locked(activity: Activity) -> Activity:
    locked = Activity.objects.select_for_update().get(pk=activity.pk)
    for name in ("is_done", "done_at", "outcome", "metadata", "updated_at"):
        setattr(activity, name, getattr(locked, name))
    return activity


@transaction.atomic
def activity_complete(*, by: User, activity: Activity, outcome: str | None = None) -> Activity:
    """Mark done (idempotent: completing a done activity changes nothing). Emits
    ``activity.completed`` and moves the lead's ``last_activity_at``."""
    if not selectors.can_change_activity(by, activity):
        raise PermissionDenied("You may not complete this activity.")
    activity = _locked(activity)
    if activity.is_done:
        return activity
    now = timezone.now()
    activity.is_done = True
    activity.done_at = now
    fields = ["is_done", "done_at", "updated_at"]
    if outcome:
        activity.outcome = outcome.strip()[:200]
        fields.append("outcome")
    activity.save(update_fields=fields)
    if activity.lead_id:
        _touch_lead(activity.lead_id, now)
    _overdue_changed(activity.assigned_to_id)
    emit(
        "activity.completed",
        actor=by,
        activity_id=activity.pk,
        type=activity.type,
        assignee_id=activity.assigned_to_id,
        lead_id=activity.lead_id,
        deal_id=activity.deal_id,
        person_id=activity.person_id,
        organization_id=activity.organization_id,
    )
    return activity


@transaction.atomic
def activity_reopen(*, by: User, activity: Activity) -> Activity:
    """Mark not done again (idempotent). No event: nothing downstream depends on it."""
    if not selectors.can_change_activity(by, activity):
        raise PermissionDenied("You may not reopen this activity.")
    activity = _locked(activity)
    if not activity.is_done:
        return activity
    activity.is_done = False
    activity.done_at = None
    activity.save(update_fields=["is_done", "done_at", "updated_at"])
    publish_activity_change(activity.pk, "reopened")
    _overdue_changed(activity.assigned_to_id)
    return activity


@transaction.atomic
def activity_delete(*, by: User, activity: Activity) -> None:
    if not selectors.can_delete_activity(by, activity):
        raise PermissionDenied("You may not delete this activity.")
    activity_id, lead_id = activity.pk, activity.lead_id
    activity.delete()
    if lead_id and not activity.is_system_activity:
        lead_first_activity_refresh(lead_ids=[lead_id])
    publish_activity_change(activity_id, "deleted")
    _overdue_changed(activity.assigned_to_id)


# --- automation helpers: welcome tasks, conversion ---------------------------------------------
def _automation_exists(*, trigger: str, event_id: int, **links) -> bool:
    """Guard of the built-in handlers, on top of the outbox's once-per-handler guarantee: a
    manual re-run of a handler finds its activity and does nothing."""
    return Activity.objects.filter(
        metadata__source_event=event_id, metadata__automation_trigger=trigger, **links
    ).exists()


def welcome_task_create(*, event_id: int, trigger: str, record, assignee: User) -> Activity | None:
    """The "Welcome & review" task for a record's new assignee, due the next business day.

    Precondition: called by the outbox handler of ``trigger`` for event ``event_id``.
    """
    kind = record._meta.model_name
    if _automation_exists(trigger=trigger, event_id=event_id, **{f"{kind}_id": record.pk}):
        return None
    from crm.models import Event

    happened = Event.objects.filter(pk=event_id).values_list("created_at", flat=True).first()
    return activity_create(
        by=crm_services.system_user(),
        type=Activity.Type.TASK,
        subject=f"Welcome & review: {record}"[:255],
        notes=f"You were assigned this {kind}. Review it and plan the next step.",
        due_at=next_business_day(happened or timezone.now()),
        assigned_to=assignment.eligible(assignee, Activity),
        is_system_activity=True,
        metadata={"automation_trigger": trigger, "source_event": event_id},
        **{kind: record},
    )


def conversion_follow(*, event_id: int, lead, person_id, organization_id, deal_id, actor) -> None:
    """After a conversion: the lead's activities also sit on the new deal, person and
    organization (bulk updates; links already set are kept), and the lead gets a system
    "converted" activity. Its enrolments stop."""
    from deals.models import Deal

    activities = Activity.objects.filter(lead_id=lead.pk)
    for field, value in (
        ("deal_id", deal_id),
        ("person_id", person_id),
        ("organization_id", organization_id),
    ):
        if value is not None:
            activities.filter(**{field: None}).update(**{field: value})
    sequence_stop_for_lead(lead_id=lead.pk, reason="The lead was converted.")

    trigger = "lead.converted"
    if _automation_exists(trigger=trigger, event_id=event_id, lead_id=lead.pk):
        return
    deal = Deal.all_objects.filter(pk=deal_id).first() if deal_id else None
    person = Person.all_objects.filter(pk=person_id).first() if person_id else None
    organization = (
        Organization.all_objects.filter(pk=organization_id).first() if organization_id else None
    )
    made = [
        f"{label} “{obj}”"
        for label, obj in (("deal", deal), ("person", person), ("organization", organization))
        if obj is not None
    ]
    who = actor.display_name if actor is not None else "the system"
    activity_create(
        by=crm_services.system_user(),
        type=Activity.Type.NOTE,
        subject=f"Converted: {lead}"[:255],
        notes=f"Converted by {who}" + (f" into {', '.join(made)}." if made else "."),
        is_done=True,
        assigned_to=assignment.eligible(lead.assigned_to, Activity),
        is_system_activity=True,
        metadata={"automation_trigger": trigger, "source_event": event_id},
        lead=lead,
        deal=deal,
        person=person,
        organization=organization,
        inherit_links=False,
    )


# --- assignment rules ----------------------------------------------------------------------------
def _available(rule: AssignmentRule) -> list[User]:
    """The rule's users who may own leads now (``crm.permissions.may_own``), not away."""
    from leads.models import Lead

    users = rule.users.filter(permissions.owner_filter(Lead)).filter(is_away=False)
    return sorted(users, key=lambda u: u.pk)


@transaction.atomic
def assignment_next_user(*, rule: AssignmentRule) -> User | None:
    """Advance ``rule``'s rotation and return the user whose turn it is (None: nobody is
    available: every user is away, inactive or no longer in a role that owns leads). The rule
    row is locked, so two workers never hand out the same turn."""
    locked = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
    candidates = _available(locked)
    if not candidates:
        return None
    last = locked.last_assigned_id or 0
    chosen = next((u for u in candidates if u.pk > last), candidates[0])
    locked.last_assigned = chosen
    locked.assigned_count += 1
    locked.save(update_fields=["last_assigned", "assigned_count", "updated_at"])
    rule.last_assigned, rule.assigned_count = chosen, locked.assigned_count
    return chosen


@transaction.atomic
def lead_auto_assign(*, lead) -> User | None:
    """Give an unassigned lead to the next user of the first matching assignment rule.

    Rules are tried by ``order``; one whose users are all away or inactive passes the lead on.
    The assignment is made by the system user through ``leads.services.lead_assign``.
    """
    from leads import services as lead_services
    from leads.models import Lead

    # Re-read under the lead's row lock: someone may have assigned it since it was created.
    state = (
        Lead.all_objects.select_for_update()
        .filter(pk=lead.pk)
        .values_list("assigned_to_id", "converted_at", "deleted_at")
        .first()
    )
    if state is None or any(value is not None for value in state):
        return None
    for rule in AssignmentRule.objects.filter(is_active=True).order_by("order", "pk"):
        if not rule.matches(lead.source):
            continue
        user = assignment_next_user(rule=rule)
        if user is not None:
            lead_services.lead_assign(by=crm_services.system_user(), lead=lead, assignee=user)
            return user
    return None


# --- sequences -----------------------------------------------------------------------------------
def _lead_closed(lead) -> str:
    """Why a lead cannot (or can no longer) be nurtured; empty when it can."""
    if lead.is_deleted:
        return "The lead was deleted."
    if lead.is_converted:
        return "The lead was converted."
    if lead.wfm_project.current_step.is_final:
        return f"The lead is closed ({lead.wfm_project.current_step.name})."
    return ""


@transaction.atomic
def sequence_enroll(
    *, by: User, sequence: Sequence, lead, skip_if_enrolled: bool = False
) -> SequenceEnrollment | None:
    """Start ``sequence`` for ``lead``: its first step runs after its delay (at once for 0).

    Needs change permission on the lead. A lead already in the sequence is refused (409), or
    left as it is with ``skip_if_enrolled`` (automation).
    """
    from leads.models import Lead

    crm_services.require_change(by, lead)
    # Re-read under a row lock: the caller's instance may be stale (converted meanwhile).
    lead = (
        Lead.all_objects.select_for_update(of=("self",))
        .select_related("wfm_project__current_step__status", "assigned_to", "owner")
        .get(pk=lead.pk)
    )
    if not sequence.is_active:
        raise Conflict(f"The sequence “{sequence}” is not active.", code="sequence_inactive")
    closed = _lead_closed(lead)
    if closed:
        raise Conflict(f"{closed} It cannot be enrolled.", code="lead_closed")
    first = sequence.steps.order_by("order", "pk").first()
    if first is None:
        raise Conflict(f"The sequence “{sequence}” has no steps.", code="sequence_empty")
    if SequenceEnrollment.objects.filter(
        sequence=sequence, lead=lead, status=SequenceEnrollment.Status.ACTIVE
    ).exists():
        if skip_if_enrolled:
            return None
        raise Conflict(f"“{lead}” is already in “{sequence}”.", code="already_enrolled")
    now = timezone.now()
    enrollment = SequenceEnrollment.objects.create(
        sequence=sequence,
        lead=lead,
        enrolled_by=by,
        enrolled_at=now,
        next_run_at=now + timedelta(days=first.delay_days),
    )
    if first.delay_days == 0:
        _advance(enrollment.pk, now=now)
        enrollment.refresh_from_db()
    return enrollment


@transaction.atomic
def sequence_unenroll(*, by: User, enrollment: SequenceEnrollment) -> SequenceEnrollment:
    crm_services.require_change(by, enrollment.lead)
    _stop(enrollment, reason=f"Stopped by {by.display_name}.")
    return enrollment


def _stop(enrollment: SequenceEnrollment, *, reason: str) -> None:
    if enrollment.status != SequenceEnrollment.Status.ACTIVE:
        return
    enrollment.status = SequenceEnrollment.Status.STOPPED
    enrollment.stop_reason = reason[:200]
    enrollment.finished_at = timezone.now()
    enrollment.next_run_at = None
    enrollment.save(update_fields=["status", "stop_reason", "finished_at", "next_run_at"])


@transaction.atomic
def sequence_stop_for_lead(*, lead_id, reason: str) -> int:
    """Stop every active enrolment of a lead (conversion, disqualification, a reply)."""
    return SequenceEnrollment.objects.filter(
        lead_id=lead_id, status=SequenceEnrollment.Status.ACTIVE
    ).update(
        status=SequenceEnrollment.Status.STOPPED,
        stop_reason=reason[:200],
        finished_at=timezone.now(),
        next_run_at=None,
    )


def enrollments_merge(survivor, merged: list) -> None:
    """A merge moves the merged-away leads' enrolments to the lead that stays (registered
    with ``crm.records.merge``). One lead is in a sequence once at a time: an active
    enrolment in a sequence the survivor is already active in is stopped first."""
    active = SequenceEnrollment.objects.filter(status=SequenceEnrollment.Status.ACTIVE)
    running = set(active.filter(lead=survivor).values_list("sequence_id", flat=True))
    for enrollment in active.filter(lead__in=merged).order_by("-enrolled_at", "-pk"):
        if enrollment.sequence_id in running:
            _stop(enrollment, reason=f"Merged into “{survivor}”, already in this sequence.")
        else:
            running.add(enrollment.sequence_id)
    SequenceEnrollment.objects.filter(lead__in=merged).update(lead=survivor)


# Checks a step must pass before its activity is created (a registry the apps above fill at
# start-up: the privacy app's marketing consent). ``gate(lead=, step=)`` returns why the step
# is skipped, or "" to run it; a skipped step counts as done.
_step_gates: list[Callable[..., str]] = []


def register_step_gate(gate: Callable[..., str]) -> None:
    if gate not in _step_gates:
        _step_gates.append(gate)


def _step_skip_reason(lead, step: SequenceStep) -> str:
    return next((reason for gate in _step_gates if (reason := gate(lead=lead, step=step))), "")


# How steps of another kind than "plan an activity" run (a registry the apps above fill at
# start-up: the emails app sends a template). ``runner(enrollment=, lead=, step=)`` does the
# step and returns "", or returns why it was skipped; a skipped step counts as done.
_step_runners: dict[str, Callable[..., str]] = {}


def register_step_runner(kind: str, runner: Callable[..., str]) -> None:
    _step_runners[kind] = runner


def _run_step(enrollment: SequenceEnrollment, lead, step: SequenceStep) -> str:
    runner = _step_runners.get(step.kind)
    if runner is None:
        return f"no runner for {step.get_kind_display().lower()} steps"
    return runner(enrollment=enrollment, lead=lead, step=step)


def sequence_advance_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Run the due step of each active enrolment (beat, every 5 minutes). One step per
    enrolment per call: a late beat catches up step by step, never in a burst."""
    now = now or timezone.now()
    ids = list(
        SequenceEnrollment.objects.filter(
            status=SequenceEnrollment.Status.ACTIVE, next_run_at__lte=now
        )
        .order_by("next_run_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if _advance(pk, now=now))


@transaction.atomic
def _advance(enrollment_id: int, *, now: datetime) -> bool:
    """Run the due step (create its activity, or its kind's runner: send its email) and
    schedule the next one, under the enrolment's lock (so two workers never run one step
    twice)."""
    enrollment = (
        SequenceEnrollment.objects.select_for_update(of=("self",))
        .select_related("sequence", "lead__wfm_project__current_step__status", "lead__assigned_to")
        .filter(pk=enrollment_id, status=SequenceEnrollment.Status.ACTIVE)
        .first()
    )
    if enrollment is None or enrollment.next_run_at is None or enrollment.next_run_at > now:
        return False
    lead = enrollment.lead
    closed = _lead_closed(lead)
    if closed:
        _stop(enrollment, reason=closed)
        return False
    steps = list(enrollment.sequence.steps.select_related("email_template").order_by("order", "pk"))
    if enrollment.steps_done >= len(steps):
        _finish(enrollment, now)
        return False
    step = steps[enrollment.steps_done]
    from activities.automation import render_template

    context = {"lead": lead}
    assignee = lead.assigned_to or lead.owner
    skipped = _step_skip_reason(lead, step)
    if not skipped and step.kind != SequenceStep.Kind.ACTIVITY:
        skipped = _run_step(enrollment, lead, step)
    elif not skipped and not (
        Activity.objects.filter(
            lead_id=lead.pk,
            metadata__enrollment=enrollment.pk,
            metadata__sequence_step=step.order,
        ).exists()
    ):
        activity_create(
            by=crm_services.system_user(),
            type=step.activity_type,
            subject=render_template(step.subject, context)[:255],
            notes=render_template(step.body, context),
            due_at=_step_due(enrollment.next_run_at, now),
            is_done=False,
            assigned_to=assignment.eligible(assignee, Activity),
            is_system_activity=True,
            metadata={
                "automation_trigger": "sequence",
                "sequence": enrollment.sequence_id,
                "enrollment": enrollment.pk,
                "sequence_step": step.order,
            },
            lead=lead,
        )
    if skipped:
        logger.info(
            "Sequence %s, enrolment %s: step %s skipped (%s)",
            enrollment.sequence_id,
            enrollment.pk,
            step.order,
            skipped,
        )
    enrollment.steps_done += 1
    if enrollment.steps_done >= len(steps):
        _finish(enrollment, now)
    else:
        following = steps[enrollment.steps_done]
        enrollment.next_run_at = enrollment.next_run_at + timedelta(days=following.delay_days)
        enrollment.save(update_fields=["steps_done", "next_run_at"])
    return True


def _step_due(scheduled: datetime, now: datetime) -> datetime:
    """A step's activity is due at the end of its business day (a weekend day's: Monday's),
    or the next business day's when that has already passed (a late beat)."""
    due = business_days_later(scheduled, 0)
    return due if due > now else next_business_day(now)


def _finish(enrollment: SequenceEnrollment, now: datetime) -> None:
    enrollment.status = SequenceEnrollment.Status.COMPLETED
    enrollment.finished_at = now
    enrollment.next_run_at = None
    enrollment.save(update_fields=["steps_done", "status", "finished_at", "next_run_at"])


# --- overdue detection ---------------------------------------------------------------------------
def activity_notify_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """Tell each assignee, once per activity, that an open activity is past due (beat, every
    15 minutes): an ``activity.overdue`` event and a toast on their personal channel. A new
    due date (``activity_update``) re-arms it."""
    now = now or timezone.now()
    ids = list(
        Activity.objects.filter(is_done=False, due_at__lt=now, assigned_to__isnull=False)
        .exclude(metadata__has_key=OVERDUE_FLAG)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if _notify_overdue(pk, now=now))


@transaction.atomic
def _notify_overdue(activity_id, *, now: datetime) -> bool:
    activity = (
        Activity.objects.select_for_update(of=("self",))
        .select_related("assigned_to", "lead", "deal", "person", "organization")
        .filter(pk=activity_id, is_done=False, due_at__lt=now, assigned_to__isnull=False)
        .first()
    )
    if activity is None or OVERDUE_FLAG in activity.metadata:
        return False
    activity.metadata = {**activity.metadata, OVERDUE_FLAG: now.isoformat()}
    activity.save(update_fields=["metadata"])
    emit(
        "activity.overdue",
        actor=None,
        activity_id=activity.pk,
        assignee_id=activity.assigned_to_id,
        due_at=activity.due_at,
        lead_id=activity.lead_id,
        deal_id=activity.deal_id,
        person_id=activity.person_id,
        organization_id=activity.organization_id,
    )
    html = render_to_string("activities/_overdue_toast.html", {"activity": activity})
    realtime.publish(
        realtime.user_group(activity.assigned_to_id), {"type": "send_html", "html": html}
    )
    return True
