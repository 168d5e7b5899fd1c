"""Reads of the crm core. Every queryset starts from what the user may see (crm.permissions)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Count, Model, Q, QuerySet

from crm import permissions
from crm.errors import NotFound, PermissionDenied
from crm.models import ImportJob, Organization, Person, SavedView, User
from crm.roles import Role

M = TypeVar("M", bound=Model)


def get_visible(*, user: User, queryset: QuerySet[M], pk, action: permissions.Action = "view") -> M:
    """One record by id: 404 when missing or invisible, 403 when visible but not ``action``-able."""
    try:
        obj = queryset.filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):  # a malformed id is simply not found
        obj = None
    if obj is None or not permissions.can_view(user, obj):
        raise NotFound(f"{queryset.model._meta.verbose_name.capitalize()} not found.")
    if action != "view" and not permissions.can(user, obj, action):
        raise PermissionDenied(f"You may not {action} this {queryset.model._meta.verbose_name}.")
    return obj


def person_list(*, user: User) -> QuerySet[Person]:
    qs = Person.objects.select_related("organization", "owner")
    return permissions.visible(user, qs)


def person_get(*, user: User, person_id, action: permissions.Action = "view") -> Person:
    return get_visible(
        user=user,
        queryset=Person.objects.select_related("organization", "owner"),
        pk=person_id,
        action=action,
    )


def organization_list(*, user: User) -> QuerySet[Organization]:
    qs = (
        Organization.objects.select_related("owner")
        .annotate(people_count=Count("people", filter=Q(people__deleted_at__isnull=True)))
        .order_by("name")
    )
    return permissions.visible(user, qs)


def organization_get(
    *, user: User, organization_id, action: permissions.Action = "view"
) -> Organization:
    return get_visible(
        user=user,
        queryset=Organization.objects.select_related("owner"),
        pk=organization_id,
        action=action,
    )


def organization_people(*, user: User, organization: Organization) -> QuerySet[Person]:
    return person_list(user=user).filter(organization=organization)


def assignable_users(
    *, model: type[Model] | None = None, with_roles: bool = True
) -> QuerySet[User]:
    """Active users with a role, for pickers (``with_roles`` prefetches the groups that
    ``User.role`` reads). With ``model``: only those records of it may be given to, as owner
    or assignee (``crm.permissions.may_own``); without: everyone, for filters."""
    members = User.groups.through.objects.filter(group__name__in=[r.value for r in Role])
    qs = User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(pk__in=members.values("user_id"))
    )
    if model is not None:
        qs = qs.filter(permissions.owner_filter(model))
    qs = qs.order_by("first_name", "last_name", "username")
    return qs.prefetch_related("groups") if with_roles else qs


def owner_choices(*, user: User, model: type[Model]) -> QuerySet[User] | None:
    """The users ``user`` may give records of ``model`` to as owner, or None when they may
    only keep them themselves (no role-wide change access)."""
    if not permissions.has_all_access(user, model, "change"):
        return None
    return assignable_users(model=model)


def sees_user_roles(user: User) -> bool:
    """Managers and administrators see every user and each one's role (they reassign records
    and manage the team); everyone else sees other users' names only."""
    # Read off the permissions every request loads anyway (managers and administrators are
    # the roles that change every record), not off ``user.role``, a query of its own.
    return user.is_superuser or permissions.has_all_access(user, Person, "change")


def user_directory(*, user: User, with_roles: bool = True) -> QuerySet[User]:
    """The users ``user`` may list (``/api/v1/users/``, the tables' user filters, the AI
    agent's ``list_users``), with the groups their role reads unless ``with_roles`` is false.

    - managers and administrators (``sees_user_roles``): every active user;
    - users whose role works on or reads records of some type (sales reps, analysts): the
      users the filters and assignment pickers offer (``assignable_users``), among whom they
      filter and pick;
    - anyone else (viewers, users without a role): themselves only.
    """
    if sees_user_roles(user):
        qs = User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")
        return qs.prefetch_related("groups") if with_roles else qs
    from crm.records import registry

    models = {rt.model for rt in registry.all_types()}
    if any(
        permissions.works_on(user, m) or permissions.has_all_access(user, m, "view") for m in models
    ):
        return assignable_users(with_roles=with_roles)
    qs = User.objects.filter(pk=user.pk, is_active=True)
    return qs.prefetch_related("groups") if with_roles else qs


def saved_views(*, user: User, screen: str) -> QuerySet[SavedView]:
    return SavedView.objects.filter(user=user, screen=screen)


def default_saved_view(*, user: User, screen: str) -> SavedView | None:
    """The view the user's table opens with; no query for users without one."""
    view_id = (user.preferences.get("default_views") or {}).get(screen)
    if view_id is None:
        return None
    return SavedView.objects.filter(pk=view_id, user=user, screen=screen).first()


def saved_view_get(*, user: User, view_id) -> SavedView:
    view = SavedView.objects.filter(pk=view_id, user=user).first()
    if view is None:
        raise NotFound("Saved view not found.")
    return view


def import_list(*, user: User) -> QuerySet:
    """The imports ``user`` may see: their own; managers and administrators see everyone's."""
    qs = ImportJob.objects.defer("content").select_related("created_by")
    return qs if sees_user_roles(user) else qs.filter(created_by=user)


def import_get(*, user: User, job_id) -> Any:
    """One import ``user`` may see (``NotFound`` otherwise, whether or not it exists)."""
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        raise NotFound("No such import.") from None
    job = import_list(user=user).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if job is None:
        raise NotFound("No such import.")
    return job
