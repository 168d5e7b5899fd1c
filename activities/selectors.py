"""Reads of activities, built on ``crm.permissions`` (SPEC §9).

An activity is visible to whoever may view any record it is linked to, to its assignee and its
creator, and to holders of ``activities.view_all_activities`` (managers, analysts, admins).
``visible_activities`` expresses that as one filter: the visible rows of each linked model as
a subquery from the permission helper, OR-ed with the assignee and creator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, Q, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from activities.models import Activity, Sequence, SequenceEnrollment, WebhookSubscription
from crm import permissions
from crm.errors import NotFound, PermissionDenied
from crm.models import Organization, Person, User
from crm.subqueries import pk_in_any

LIST_RELATED = ("assigned_to", "created_by")


def _link_models() -> dict[str, type]:
    from deals.models import Deal
    from leads.models import Lead

    return {"lead": Lead, "deal": Deal, "person": Person, "organization": Organization}


def visible_activities(user: User, queryset: QuerySet[Activity]) -> QuerySet[Activity]:
    """The rows of ``queryset`` that ``user`` may see."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    if permissions.has_all_access(user, Activity):
        return queryset
    condition = Q(assigned_to=user) | Q(created_by=user)
    for field, model in _link_models().items():
        if permissions.has_all_access(user, model):
            condition |= Q(**{f"{field}__isnull": False})
        else:
            records = permissions.visible(user, model.all_objects.all()).values("pk")
            condition |= Q(**{f"{field}__in": records})
    return queryset.filter(condition)


def activity_list(*, user: User) -> QuerySet[Activity]:
    return visible_activities(user, Activity.objects.select_related(*LIST_RELATED))


def assigned_activities(*, user: User) -> QuerySet[Activity]:
    """The activities assigned to ``user`` (My day, the navigation badge's kind of read).

    ``visible_activities`` admits every activity assigned to its user, so this is a subset
    of what the user may see; read without its OR of link subqueries, which PostgreSQL cannot
    narrow to the assignee index (measured: 0.4 s for a rep's 60,000 activities)."""
    if not user.is_authenticated or not user.is_active:
        return Activity.objects.none()
    return Activity.objects.select_related(*LIST_RELATED).filter(assigned_to=user)


def activity_get(*, user: User, activity_id, action: permissions.Action = "view") -> Activity:
    """One activity: 404 when missing or invisible, 403 when visible but not changeable /
    deletable."""
    qs = Activity.objects.select_related(*LIST_RELATED, "lead", "deal", "person", "organization")
    try:
        activity = visible_activities(user, qs).filter(pk=activity_id).first()
    except (ValueError, TypeError, ValidationError):
        activity = None
    if activity is None:
        raise NotFound("Activity not found.")
    if action == "change" and not can_change_activity(user, activity):
        raise PermissionDenied("You may not change this activity.")
    if action == "delete" and not can_delete_activity(user, activity):
        raise PermissionDenied("You may not delete this activity.")
    return activity


def can_change_activity(user: User, activity: Activity) -> bool:
    """Assignee, creator, anyone who may change a linked record, ``change_all_activities``;
    always within the role's capability (``crm.permissions.role_allows``): an Analyst or a
    Viewer named as assignee still may not change or complete it."""
    if not permissions.role_allows(user, Activity, "change"):
        return False
    if user.pk in (activity.assigned_to_id, activity.created_by_id):
        return True
    if permissions.has_all_access(user, Activity, "change"):
        return True
    return any(permissions.can_change(user, record) for record in activity.links.values())


def can_delete_activity(user: User, activity: Activity) -> bool:
    """The creator of a non-system activity, and managers (``change_all_activities``);
    within the role's capability, like ``can_change_activity``."""
    if not permissions.role_allows(user, Activity, "delete"):
        return False
    if permissions.has_all_access(user, Activity, "delete") or permissions.has_all_access(
        user, Activity, "change"
    ):
        return True
    return activity.created_by_id == user.pk and not activity.is_system_activity


def mark_changeable(user: User, activities, *, record_changeable: bool = False) -> list:
    """Set ``.can_change`` on each activity without queries, for the complete/reopen buttons.

    ``record_changeable``: the user may change the record whose timeline this is (then every
    activity on it is theirs to change).
    """
    capable = permissions.role_allows(user, Activity, "change")
    everything = record_changeable or permissions.has_all_access(user, Activity, "change")
    out = list(activities)
    for activity in out:
        activity.can_change = capable and (
            everything or user.pk in (activity.assigned_to_id, activity.created_by_id)
        )
    return out


# --- timelines -----------------------------------------------------------------------------------
TIMELINE_LIMIT = 100


def timeline(*, record, limit: int = TIMELINE_LIMIT) -> tuple[list[Activity], list[Activity], bool]:
    """Open and done activities of a record the caller has checked the user may view.

    One query. Open ones come by due date (undated last), done ones newest first. The third
    value tells whether older activities were left out.
    """
    field = record._meta.model_name
    rows = list(
        Activity.objects.filter(**{field: record})
        .select_related(*LIST_RELATED)
        .order_by("is_done", "-created_at")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    far = timezone.now() + timedelta(days=365 * 100)
    open_ = sorted((a for a in rows if not a.is_done), key=lambda a: a.due_at or far)
    done = sorted(
        (a for a in rows if a.is_done), key=lambda a: a.done_at or a.created_at, reverse=True
    )
    return open_, done, more


def lead_enrollments(*, lead) -> list[SequenceEnrollment]:
    """The lead's active enrolments and the last few finished ones (one query)."""
    return list(
        SequenceEnrollment.objects.filter(lead=lead)
        .select_related("sequence")
        .order_by(
            Case(When(status=SequenceEnrollment.Status.ACTIVE, then=Value(0)), default=Value(1)),
            "-enrolled_at",
        )[:5]
    )


def active_sequences() -> QuerySet[Sequence]:
    return Sequence.objects.filter(is_active=True).order_by("name")


# --- "my activities" ---------------------------------------------------------------------------
SECTIONS = ("overdue", "today", "upcoming", "done")
SECTION_LIMIT = 50
DONE_LIMIT = 20
DONE_WINDOW = timedelta(days=14)


@dataclass
class Section:
    key: str
    title: str
    activities: list
    total: int


def end_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def my_activities(
    *, user: User, queryset: QuerySet[Activity], now: datetime | None = None
) -> dict[str, Section]:
    """Overdue, today, upcoming (incl. undated) and done in the last two weeks, each the first
    ``SECTION_LIMIT`` with its total, in one query (a window per section).

    ``queryset`` is already filtered (assignee, type, record) and visible to ``user``.
    """
    now = now or timezone.now()
    tomorrow = end_of_today(now)
    bucket = Case(
        When(is_done=True, then=Value("done")),
        When(due_at__lt=now, then=Value("overdue")),
        When(due_at__lt=tomorrow, then=Value("today")),
        default=Value("upcoming"),
    )
    rows = (
        queryset.filter(Q(is_done=False) | Q(done_at__gte=now - DONE_WINDOW))
        .annotate(section=bucket)
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("section")],
                order_by=[
                    F("done_at").desc(nulls_last=True),
                    F("due_at").asc(nulls_last=True),
                    F("created_at").desc(),
                ],
            ),
            section_total=Window(Count("pk"), partition_by=[F("section")]),
        )
        .filter(position__lte=SECTION_LIMIT)
        .order_by("section", "position")
    )
    titles = {"overdue": "Overdue", "today": "Today", "upcoming": "Upcoming", "done": "Done"}
    sections = {key: Section(key, titles[key], [], 0) for key in SECTIONS}
    for activity in rows:
        section = sections[activity.section]
        section.total = activity.section_total
        if len(section.activities) < (DONE_LIMIT if section.key == "done" else SECTION_LIMIT):
            section.activities.append(activity)
    return sections


def due_activities(
    *, user: User, now: datetime | None = None, limit: int = SECTION_LIMIT
) -> dict[str, Section]:
    """The user's open activities overdue and due today (My day), each section's first
    ``limit`` in ``my_activities``' order (due first, then newest) with its total: one query.

    Each section's rows are a ``LIMIT`` subquery on the assignee index (assignee, open, due
    date) and its total a count over the same index; only the at most 2 × ``limit`` rows shown
    are read and joined. ``my_activities`` numbers every open activity in a window first, which
    for a rep with 7,000 overdue activities sorted them all on disk (190 ms)."""
    now = now or timezone.now()
    titles = {"overdue": "Overdue", "today": "Today"}
    sections = {key: Section(key, title, [], 0) for key, title in titles.items()}
    if not user.is_authenticated or not user.is_active:
        return sections
    bounds = {
        "overdue": Q(due_at__lt=now),
        "today": Q(due_at__gte=now, due_at__lt=end_of_today(now)),
    }
    open_ = Activity.objects.filter(assigned_to=user, is_done=False)

    def total(q: Q) -> Coalesce:
        # COUNT(*), not COUNT(id): the assignee index alone answers it (an index-only scan),
        # where counting ids read every row's page (1M leads: 71,692 overdue, 196 -> 8 ms).
        counted = open_.filter(q).order_by().values("assigned_to").annotate(n=Count("*"))
        return Coalesce(Subquery(counted.values("n")), 0)

    picks = [
        open_.filter(q).order_by("due_at", "-created_at", "pk").values("pk")[:limit]
        for q in bounds.values()
    ]
    rows = (
        Activity.objects.select_related(*LIST_RELATED, "lead", "deal", "person", "organization")
        .filter(pk_in_any(*picks))
        .annotate(**{f"{key}_total": total(q) for key, q in bounds.items()})
        .order_by("due_at", "-created_at", "pk")
    )
    for activity in rows:
        key = "overdue" if activity.due_at < now else "today"
        sections[key].activities.append(activity)
        for name, section in sections.items():
            section.total = getattr(activity, f"{name}_total")
    return sections


def overdue_count(*, user: User, now: datetime | None = None) -> int:
    """The user's open activities past due (the navigation badge): one indexed count."""
    if not user.is_authenticated:
        return 0
    return Activity.objects.filter(
        assigned_to=user, is_done=False, due_at__lt=now or timezone.now()
    ).count()


# --- webhooks ------------------------------------------------------------------------------------
def can_manage_automation(user: User) -> bool:
    """Managers and admins manage rules and webhooks (the Manager role holds the rule
    permissions, SPEC §9)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_perm("activities.change_automationrule"))
    )


def webhook_list(*, user: User) -> QuerySet[WebhookSubscription]:
    if not can_manage_automation(user):
        return WebhookSubscription.objects.none()
    return WebhookSubscription.objects.all().order_by("name")
