"""The one place that decides who may see, change and delete a record (SPEC §9).

Every surface (HTML views, API, websockets, exports, search, analytics, AI tools) asks here.
This module is the only caller of guardian's shortcuts.

Rules:
- superusers and holders of ``<app>.view_all_<plural>`` see every row of that model; holders of
  ``change_all_`` / ``delete_all_`` may change / delete every row;
- everyone else sees, changes and deletes exactly the rows on which they (or one of their
  groups) hold the object permission ``view_<model>`` / ``change_<model>`` / ``delete_<model>``.
  Owners get all three when a record is created; assignees get view and change;
- what a user may *do* is the intersection of the role's capability and that access: changing
  or deleting a record also needs a role that works on its model (``works_on``), so holding an
  object permission (being owner or assignee, however it came about) never grants a
  capability the role lacks. Records are only given (as owner or assignee) to users who
  ``may_own`` them, and the pickers list exactly those users (``owner_filter``).

Model-level ``view_<model>`` is deliberately ignored (``accept_global_perms=False``): guardian
would otherwise treat it as access to every row.
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Model, Q, QuerySet, Subquery
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm
from guardian.utils import get_user_obj_perms_model

from crm import db
from crm.roles import SETTING_GRANTS

Action = Literal["view", "change", "delete"]

OWNER_ACTIONS: tuple[Action, ...] = ("view", "change", "delete")
ASSIGNEE_ACTIONS: tuple[Action, ...] = ("view", "change")
SHARE_ACTIONS: tuple[Action, ...] = ("view",)


def _all_perm(model: type[Model], action: Action) -> str:
    opts = model._meta
    plural = str(opts.verbose_name_plural).replace(" ", "_").lower()
    return f"{opts.app_label}.{action}_all_{plural}"


def _object_perm(model: type[Model], action: Action) -> str:
    opts = model._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


def _permission(model: type[Model], action: Action) -> QuerySet[Permission]:
    opts = model._meta
    return Permission.objects.filter(
        codename=f"{action}_{opts.model_name}", content_type__app_label=opts.app_label
    )


def permission_id(model: type[Model], action: Action) -> int | None:
    """The id of ``model``'s object permission for ``action`` (reference data: cached until
    permissions change)."""
    from crm import reference

    return reference.cached(
        f"permission-id:{model._meta.label_lower}:{action}",
        lambda: _permission(model, action).values_list("pk", flat=True).first(),
    )


def user_permission_model(model: type[Model]) -> type[Model]:
    """``model``'s own table of user object permissions (a direct foreign key, as every
    record model here has): guardian's ``get_user_obj_perms_model``, found without a query
    (that one reads content types, which ``AppConfig.ready`` may not)."""
    from guardian.models import UserObjectPermissionBase

    for relation in model._meta.related_objects:
        related = relation.related_model
        if issubclass(related, UserObjectPermissionBase) and relation.field.name == (
            "content_object"
        ):
            return related
    raise LookupError(f"{model.__name__} has no user object permission model.")


def owned_or_assigned(user_id) -> Q:
    """Records the user owns or is assigned: what My day counts as "mine", and the tables'
    ``owner_or_assignee`` filter."""
    return Q(owner_id=user_id) | Q(assigned_to_id=user_id)


def has_all_access(user, model: type[Model], action: Action = "view") -> bool:
    """True when the user may act on every row of ``model`` (role-wide permission)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(_all_perm(model, action))


def visible(user, queryset: QuerySet, action: Action = "view") -> QuerySet:
    """The rows of ``queryset`` that ``user`` may ``action``."""
    model = queryset.model
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    if not role_allows(user, model, action):
        return queryset.none()
    if has_all_access(user, model, action):
        return queryset
    if not _has_direct_perm_models(model):
        return get_objects_for_user(
            user,
            _object_perm(model, action),
            klass=queryset,
            accept_global_perms=False,
            with_superuser=False,
        )
    # Direct foreign-key permission table: one ``pk IN (…)`` semi-join, with no content-type
    # lookup or key casting. Object permissions are only ever granted to users (``grant``
    # below), never to groups, so the group table is not consulted: an ``OR`` with a second
    # subquery would stop PostgreSQL from planning the semi-join (measured: the count of a
    # rep's 25,000 of 100,000 leads went from a hashed-subplan sequential scan to an index
    # driven join).
    # The permission id is a scalar subquery (an InitPlan): PostgreSQL then estimates the
    # user's rows from the (user, permission) statistics instead of guessing a handful.
    rows = get_user_obj_perms_model(model).objects.filter(
        user=user, permission_id=Subquery(_permission(model, action).values("pk")[:1])
    )
    return queryset.filter(pk__in=rows.values("content_object_id"))


def _has_direct_perm_models(model: type[Model]) -> bool:
    from guardian.models import UserObjectPermission

    return get_user_obj_perms_model(model) is not UserObjectPermission


def can(user, obj: Model, action: Action = "view") -> bool:
    """May ``user`` ``action`` this record?"""
    model = type(obj)
    decided = _role_decides(user, model, action)
    if decided is not None:
        return decided
    codename = _object_perm(model, action).split(".", 1)[1]
    if _has_direct_perm_models(model):
        return codename in _direct_codenames(user, obj)
    return _checker(user).has_perm(codename, obj)


def _role_decides(user, model: type[Model], action: Action) -> bool | None:
    """``can``'s answer when the user and their role settle it (no record needed), None when
    the object permission on the record decides."""
    if not user.is_authenticated or not user.is_active:
        return False
    if not role_allows(user, model, action):
        return False
    if has_all_access(user, model, action):
        return True
    return None


def allowed_actions(
    users, obj: Model, actions: tuple[Action, ...] = OWNER_ACTIONS
) -> dict[int, frozenset[Action]]:
    """Which of ``actions`` each of ``users`` may take on ``obj``: ``{user.pk: {action, …}}``,
    those for which ``can`` holds, decided afresh (no per-user object-permission cache is read
    or filled) in at most one query for all of them, none when the roles decide. For the many
    connections that receive one realtime change."""
    model = type(obj)
    allowed: dict[int, set[Action]] = {}
    undecided: dict[int, list[Action]] = {}
    for user in users:
        granted = allowed.setdefault(user.pk, set())
        for action in actions:
            decided = _role_decides(user, model, action)
            if decided:
                granted.add(action)
            elif decided is None:
                undecided.setdefault(user.pk, []).append(action)
    if undecided and _has_direct_perm_models(model):
        rows = get_user_obj_perms_model(model).objects.filter(
            content_object_id=obj.pk, user_id__in=list(undecided)
        )
        held: dict[int, set[str]] = {}
        for user_id, codename in rows.values_list("user_id", "permission__codename"):
            held.setdefault(user_id, set()).add(codename)
        for user_id, pending in undecided.items():
            codenames = held.get(user_id, set())
            allowed[user_id].update(
                a for a in pending if _object_perm(model, a).split(".", 1)[1] in codenames
            )
    elif undecided:  # generic object permissions: guardian's checker, user by user
        by_pk = {user.pk: user for user in users}
        for user_id, pending in undecided.items():
            checker = ObjectPermissionChecker(by_pk[user_id])
            allowed[user_id].update(
                a for a in pending if checker.has_perm(_object_perm(model, a).split(".", 1)[1], obj)
            )
    return {user_id: frozenset(granted) for user_id, granted in allowed.items()}


def _direct_codenames(user, obj: Model) -> frozenset[str]:
    """The user's object permissions on ``obj`` (direct foreign-key table), one query per
    object, cached on the user object until ``_forget``. Like ``visible`` it reads only the
    user table: object permissions are never granted to groups (guardian's checker would
    also query the group table, a second query per record on every realtime delivery)."""
    cache = user.__dict__.setdefault("_pipecrm_direct_perms", {})
    key = (type(obj)._meta.label, obj.pk)
    if key not in cache:
        rows = get_user_obj_perms_model(type(obj)).objects.filter(user=user, content_object=obj)
        cache[key] = frozenset(rows.values_list("permission__codename", flat=True))
    return cache[key]


def can_view(user, obj: Model) -> bool:
    return can(user, obj, "view")


def can_change(user, obj: Model) -> bool:
    return can(user, obj, "change")


def can_delete(user, obj: Model) -> bool:
    return can(user, obj, "delete")


def works_on(user, model: type[Model]) -> bool:
    """Whether the user's role changes records of ``model`` at all: it may create them (and
    so own some) or change every one. Analysts and Viewers do neither, so the screens offer
    them no write actions (bulk bar, move, assign) instead of offering and refusing, and
    ``can`` refuses them every change and delete whatever object permissions they hold."""
    if not user.is_authenticated or not user.is_active:
        return False
    return any(has_capability(user, perm) for perm in _work_perms(model))


def _work_perms(model: type[Model]) -> tuple[str, str]:
    opts = model._meta
    return (_all_perm(model, "change"), f"{opts.app_label}.add_{opts.model_name}")


def may_create(user, model: type[Model]) -> bool:
    """May the user's role create records of ``model`` (``<app>.add_<model>``)? Asked before
    anything else by every create surface, so a role that may not is refused (403) rather
    than shown a form or told its input is invalid."""
    opts = model._meta
    return has_capability(user, f"{opts.app_label}.add_{opts.model_name}")


def role_allows(user, model: type[Model], action: Action) -> bool:
    """The role half of every decision: viewing needs no role capability (the object access
    decides), changing and deleting need a role that works on ``model``."""
    return action == "view" or works_on(user, model)


def may_own(user, model: type[Model]) -> bool:
    """May records of ``model`` be given to ``user``, as owner or assignee? Only to an active
    user whose role works on them: an owner or assignee who could not act on the record
    would hold object permissions the role does not grant."""
    return user is not None and works_on(user, model)


def owner_filter(model: type[Model]) -> Q:
    """``may_own`` as a filter on users (for pickers and assignment rules): active, and a
    superuser or holding one of the model's work permissions through a group or directly."""
    keys = [perm.split(".", 1) for perm in _work_perms(model)]
    perms = Permission.objects.filter(
        Q(content_type__app_label=keys[0][0], codename=keys[0][1])
        | Q(content_type__app_label=keys[1][0], codename=keys[1][1])
    ).values("pk")
    user_model = get_user_model()
    memberships = user_model.groups.through.objects
    groups = Group.permissions.through.objects.filter(permission_id__in=perms).values("group_id")
    direct = user_model.user_permissions.through.objects.filter(permission_id__in=perms)
    granted = (
        Q(is_superuser=True)
        | Q(pk__in=memberships.filter(group_id__in=groups).values("user_id"))
        | Q(pk__in=direct.values("user_id"))
    )
    for setting, (role, role_perms) in SETTING_GRANTS.items():
        if getattr(settings, setting, False) and set(role_perms) & set(_work_perms(model)):
            members = memberships.filter(group__name=role.value).values("user_id")
            granted |= Q(pk__in=members)
    return Q(is_active=True) & granted


def has_capability(user, perm: str) -> bool:
    """Does the user's role grant ``perm`` (``"app_label.codename"``)? Superusers hold every
    one; the grants a setting switches on for a role (``crm.roles.SETTING_GRANTS``) count as
    the role's own."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.has_perm(perm):
        return True
    for setting, (role, perms) in SETTING_GRANTS.items():
        if perm in perms and getattr(settings, setting, False):
            return user.groups.filter(name=role.value).exists()
    return False


def _checker(user) -> ObjectPermissionChecker:
    # One checker per user object caches object permissions for the request.
    checker = getattr(user, "_pipecrm_perm_checker", None)
    if checker is None:
        checker = ObjectPermissionChecker(user)
        user._pipecrm_perm_checker = checker
    return checker


def _forget(user) -> None:
    user.__dict__.pop("_pipecrm_perm_checker", None)
    user.__dict__.pop("_pipecrm_direct_perms", None)


def grant(user, obj: Model, actions: tuple[Action, ...]) -> None:
    """Give ``user`` object permissions on ``obj``."""
    if user is None:
        return
    for action in actions:
        assign_perm(_object_perm(type(obj), action), user, obj)
    _forget(user)


def grant_new(user, objs: list[Model], actions: tuple[Action, ...]) -> None:
    """Give ``user`` object permissions on ``objs``: records of one model created in this
    transaction, which nobody holds any permission on yet. The rows guardian's
    ``assign_perm`` would write, written at once (guardian's bulk assignment first reads what
    the user already holds on each object: a check new records never need). The records'
    model has its own object permission model (direct keys), as every record model here."""
    if user is None or not objs:
        return
    model = type(objs[0])
    rows_model = get_user_obj_perms_model(objs[0])
    codenames = [f"{action}_{model._meta.model_name}" for action in actions]
    found = Permission.objects.filter(
        content_type__app_label=model._meta.app_label, codename__in=codenames
    )
    ids = list(found.values_list("pk", flat=True))
    db.insert_rows(
        rows_model,
        ["permission_id", "user_id", "content_object_id"],
        ((p, user.pk, obj.pk) for p in ids for obj in objs),
    )
    _forget(user)


def revoke(user, obj: Model, actions: tuple[Action, ...]) -> None:
    if user is None:
        return
    for action in actions:
        remove_perm(_object_perm(type(obj), action), user, obj)
    _forget(user)


def grant_owner(user, obj: Model) -> None:
    grant(user, obj, OWNER_ACTIONS)


def move_assignee(obj: Model, *, previous, new, owner) -> None:
    """Object permissions follow the assignee: the previous one loses them unless owner."""
    if previous is not None and previous != new and previous != owner:
        revoke(previous, obj, ASSIGNEE_ACTIONS)
    if new is not None:
        grant(new, obj, ASSIGNEE_ACTIONS)


def share(user, obj: Model) -> None:
    """Let a user (a Viewer, typically) read one record."""
    grant(user, obj, SHARE_ACTIONS)


def changeable_ids(user, objs) -> set:
    """The primary keys of ``objs`` (instances of one model) that ``user`` may change, in at
    most one query (none for users who may change every row)."""
    objs = list(objs)
    if not objs:
        return set()
    model = type(objs[0])
    if has_all_access(user, model, "change"):
        return {o.pk for o in objs}
    rows = visible(user, model._default_manager.filter(pk__in=[o.pk for o in objs]), "change")
    return set(rows.values_list("pk", flat=True))
