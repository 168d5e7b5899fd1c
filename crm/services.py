"""Writes of the crm core: people, organizations, and the shared record helpers that leads and
deals reuse (field updates, soft delete, ownership). Every function takes the acting user."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from crm import assignment, permissions
from crm.errors import PermissionDenied, ValidationFailed
from crm.events import emit
from crm.models import (
    ORGANIZATION_FIELDS,
    PERSON_FIELDS,
    AuditLog,
    Organization,
    Person,
    SavedView,
    User,
)
from customfields.services import validate_values


# --- shared record helpers -------------------------------------------------------------------
def full_clean_or_raise(obj: Model, *, exclude: Iterable[str] | None = None) -> None:
    """``full_clean`` that raises our ValidationFailed with per-field details."""
    try:
        obj.full_clean(exclude=list(exclude or []), validate_unique=True)
    except ValidationError as exc:
        details = {
            ("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()
        }
        first_field, first_msgs = next(iter(details.items()))
        message = (
            first_msgs[0]
            if first_field == "non_field_errors"
            else (f"{first_field}: {first_msgs[0]}")
        )
        raise ValidationFailed(message, details=details) from exc


def save(obj: Model, *, by: User | None, update_fields: list[str] | None = None) -> None:
    """Save, recording ``by`` as the author of the history row (the request middleware only
    knows session users; API tokens and tasks authenticate later or not at all)."""
    obj._history_user = by
    if update_fields is None:
        obj.save()
    else:
        obj.save(update_fields=update_fields)


def apply_changes(obj: Model, data: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    """Set the allowed fields that differ; return the names of those that changed."""
    allowed = set(allowed)
    unknown = set(data) - allowed
    if unknown:
        raise ValidationFailed(
            f"These fields cannot be changed here: {', '.join(sorted(unknown))}.",
            details={name: ["This field cannot be changed here."] for name in sorted(unknown)},
        )
    changed = []
    for name, value in data.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def require_known_fields(fields: Mapping[str, Any], known: Iterable[str], noun: str) -> None:
    """Refuse a create call naming a field that is not one of the record type's ``known``."""
    unknown = set(fields) - set(known)
    if unknown:
        raise ValidationFailed(
            f"Unknown {noun} fields: {', '.join(sorted(unknown))}.",
            details={f: ["Unknown field."] for f in sorted(unknown)},
        )


def trimmed(
    data: Mapping[str, Any], names: Iterable[str], *, lower: Iterable[str] = ()
) -> dict[str, Any]:
    """``data`` with the texts of ``names`` stripped (and of ``lower`` also lower-cased)."""
    out = dict(data)
    lower = set(lower)
    for name in names:
        if name in out:
            out[name] = (out[name] or "").strip()
            if name in lower:
                out[name] = out[name].lower()
    return out


def require_perm(user: User, perm: str, message: str) -> None:
    if not (user.is_active and (user.is_superuser or user.has_perm(perm))):
        raise PermissionDenied(message)


def require_change(user: User, obj: Model) -> None:
    if not permissions.can_change(user, obj):
        raise PermissionDenied(f"You may not change this {obj._meta.verbose_name}.")


def check_owner_choice(*, by: User, owner: User | None, model: type[Model]) -> User:
    """Only users who may change every record may create or hand records to someone else."""
    if owner is None or owner == by:
        return by
    if not permissions.has_all_access(by, model, "change"):
        raise PermissionDenied(
            f"Only managers can give a {model._meta.verbose_name} to someone else."
        )
    assignment.check_assignable(owner, model, field="owner")
    return owner


def change_owner(*, by: User, obj: Model, owner: User) -> None:
    """Hand a record to a new owner: object permissions move with it."""
    previous = obj.owner
    if previous == owner:
        return
    check_owner_choice(by=by, owner=owner, model=type(obj))
    obj.owner = owner
    if previous is not None and previous != getattr(obj, "assigned_to", None):
        permissions.revoke(previous, obj, permissions.OWNER_ACTIONS)
    permissions.grant_owner(owner, obj)


def soft_delete(*, by: User, obj: Model) -> None:
    if not permissions.can_delete(by, obj):
        raise PermissionDenied(f"You may not delete this {obj._meta.verbose_name}.")
    obj.deleted_at = timezone.now()
    save(obj, by=by, update_fields=["deleted_at", "updated_at"])


def restore(*, by: User, obj: Model) -> None:
    if not permissions.can_delete(by, obj):
        raise PermissionDenied(f"You may not restore this {obj._meta.verbose_name}.")
    obj.deleted_at = None
    save(obj, by=by, update_fields=["deleted_at", "updated_at"])


def audit(*, by: User | None, action: str, obj: Model | None = None, **details) -> AuditLog:
    return AuditLog.objects.create(
        user=by,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details,
    )


def _visible_or_invalid(by: User, obj: Model | None, field: str) -> None:
    # A linked record the user may not see is reported as unknown, never as forbidden.
    if obj is not None and not permissions.can_view(by, obj):
        raise ValidationFailed(
            f"{field}: unknown {obj._meta.verbose_name}.",
            details={field: [f"Unknown {obj._meta.verbose_name}."]},
        )


def _as_dict(values):
    """``None`` means no values; anything else goes to ``validate_values`` as given, so that a
    value that is not an object is refused there with its message."""
    if values is None:
        return {}
    return dict(values) if isinstance(values, Mapping) else values


def _apply_custom_values(obj: Model, entity_type: str, values) -> list[str]:
    """Validate ``values`` as a partial update of ``obj``'s custom field values (the names
    given change, the others keep their value) and set the result; ``["custom_field_values"]``
    when they changed. ``None`` leaves them alone."""
    if values is None:
        return []
    merged = validate_values(
        entity_type=entity_type,
        values=_as_dict(values),
        partial=True,
        existing=obj.custom_field_values,
    )
    if merged == obj.custom_field_values:
        return []
    obj.custom_field_values = merged
    return ["custom_field_values"]


# --- the system user ----------------------------------------------------------------------------
SYSTEM_USERNAME = "pipecrm-system"


def system_user() -> User:
    """The actor of automated work (assignment rules, automation rules, auto-qualification,
    sequences): services take it as ``by=`` like any user, and history shows it as the author.

    Created on first use. It is active (the permission helper only answers for active users)
    but can never log in (unusable password, no API token, not staff); it holds every model
    permission directly instead of through a role group or ``is_superuser``, so it never shows
    up in assignment pickers (``crm.selectors.assignable_users``). Permissions added by later
    migrations are granted the next time a process first asks for it.
    """
    from django.contrib.auth.models import Permission

    user, created = User.objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={"first_name": "PipeCRM", "last_name": "automation", "is_active": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if created or _system_perms_synced.get(user.pk) is None:
        all_perms = Permission.objects.count()
        if user.user_permissions.count() != all_perms:
            user.user_permissions.set(Permission.objects.all())
        _system_perms_synced[user.pk] = all_perms
        for cache_attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
            user.__dict__.pop(cache_attr, None)
    return user


_system_perms_synced: dict[int, int] = {}


# --- people and organizations ------------------------------------------------------------------
def _check_links(by: User, obj: Model, data: Mapping[str, Any]) -> None:
    """Each record ``data`` links ``obj`` to anew must be one ``by`` may see."""
    for name, value in data.items():
        field = obj._meta.get_field(name)
        if field.is_relation and value is not None and value != getattr(obj, name, None):
            _visible_or_invalid(by, value, name)


def _record_create(
    *,
    by: User,
    model: type[Model],
    known: tuple[str, ...],
    tidy: Callable[[Mapping[str, Any]], dict[str, Any]],
    owner: User | None,
    custom_field_values: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
) -> Model:
    kind = model._meta.model_name
    require_perm(by, f"crm.add_{kind}", f"You may not create {model._meta.verbose_name_plural}.")
    require_known_fields(fields, known, kind)
    owner = check_owner_choice(by=by, owner=owner, model=model)
    values = validate_values(entity_type=kind, values=_as_dict(custom_field_values))
    obj = model(owner=owner, custom_field_values=values, created_by=by)
    _check_links(by, obj, fields)
    for name, value in tidy(fields).items():
        setattr(obj, name, value)
    full_clean_or_raise(obj)
    save(obj, by=by)
    permissions.grant_owner(owner, obj)
    emit(f"{kind}.created", actor=by, **{f"{kind}_id": obj.pk})
    return obj


def _record_update(
    *,
    by: User,
    obj: Model,
    known: tuple[str, ...],
    tidy: Callable[[Mapping[str, Any]], dict[str, Any]],
    data: Mapping[str, Any],
) -> Model:
    kind = obj._meta.model_name
    require_change(by, obj)
    data = tidy(data)
    owner = data.pop("owner", obj.owner)
    cf_values = data.pop("custom_field_values", None)
    _check_links(by, obj, {name: value for name, value in data.items() if name in known})
    changed = apply_changes(obj, data, known)
    changed += _apply_custom_values(obj, kind, cf_values)
    if owner != obj.owner:
        change_owner(by=by, obj=obj, owner=owner)
        changed.append("owner")
    if not changed:
        return obj
    full_clean_or_raise(obj)
    save(obj, by=by, update_fields=[*changed, "updated_at"])
    emit(f"{kind}.updated", actor=by, **{f"{kind}_id": obj.pk}, fields=changed)
    return obj


def _organization_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return trimmed(data, ("name", "domain"), lower=("domain",))


def _person_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return trimmed(data, ("first_name", "last_name", "email"), lower=("email",))


@transaction.atomic
def organization_create(
    *,
    by: User,
    owner: User | None = None,
    custom_field_values: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Organization:
    """Create an organization; ``fields`` are any of ``ORGANIZATION_FIELDS`` (``name`` needed)."""
    return _record_create(
        by=by,
        model=Organization,
        known=ORGANIZATION_FIELDS,
        tidy=_organization_data,
        owner=owner,
        custom_field_values=custom_field_values,
        fields=fields,
    )


@transaction.atomic
def organization_update(
    *, by: User, organization: Organization, data: Mapping[str, Any]
) -> Organization:
    """Change any of ``ORGANIZATION_FIELDS``, the owner and custom field values (partial)."""
    return _record_update(
        by=by, obj=organization, known=ORGANIZATION_FIELDS, tidy=_organization_data, data=data
    )


@transaction.atomic
def organization_delete(*, by: User, organization: Organization) -> None:
    soft_delete(by=by, obj=organization)


@transaction.atomic
def person_create(
    *,
    by: User,
    owner: User | None = None,
    custom_field_values: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Person:
    """Create a person; ``fields`` are any of ``PERSON_FIELDS`` (``first_name`` needed)."""
    return _record_create(
        by=by,
        model=Person,
        known=PERSON_FIELDS,
        tidy=_person_data,
        owner=owner,
        custom_field_values=custom_field_values,
        fields=fields,
    )


@transaction.atomic
def person_update(*, by: User, person: Person, data: Mapping[str, Any]) -> Person:
    """Change any of ``PERSON_FIELDS``, the owner and custom field values (partial)."""
    return _record_update(by=by, obj=person, known=PERSON_FIELDS, tidy=_person_data, data=data)


@transaction.atomic
def person_delete(*, by: User, person: Person) -> None:
    soft_delete(by=by, obj=person)


# --- saved views -------------------------------------------------------------------------------
SAVED_VIEW_IGNORED_PARAMS = ("page", "csrfmiddlewaretoken", "view_name")


@transaction.atomic
def saved_view_save(*, by: User, screen: str, name: str, query: str) -> SavedView:
    """Save (or overwrite) the user's view of a table under ``name``."""
    from urllib.parse import parse_qsl, urlencode

    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the view a name.", details={"name": ["Required."]})
    params = [(k, v) for k, v in parse_qsl(query) if k not in SAVED_VIEW_IGNORED_PARAMS and v]
    view, _ = SavedView.objects.update_or_create(
        user=by, screen=screen, name=name[:100], defaults={"query": urlencode(params)}
    )
    return view


@transaction.atomic
def saved_view_delete(*, by: User, view: SavedView) -> None:
    _require_own_view(by, view)
    if default_view_id(by, view.screen) == view.pk:
        saved_view_set_default(by=by, view=view, is_default=False)
    view.delete()


def default_view_id(user: User, screen: str) -> int | None:
    return (user.preferences.get("default_views") or {}).get(screen)


def _require_own_view(by: User, view: SavedView) -> None:
    if view.user_id != by.pk:
        raise PermissionDenied("You can only change your own views.")


@transaction.atomic
def saved_view_rename(*, by: User, view: SavedView, name: str) -> SavedView:
    _require_own_view(by, view)
    name = (name or "").strip()[:100]
    if not name:
        raise ValidationFailed("Give the view a name.", details={"name": ["Required."]})
    clash = SavedView.objects.filter(user=by, screen=view.screen, name=name).exclude(pk=view.pk)
    if clash.exists():
        raise ValidationFailed(
            f"You already have a view called “{name}”.", details={"name": ["Already used."]}
        )
    view.name = name
    view.save(update_fields=["name"])
    return view


@transaction.atomic
def saved_view_set_default(*, by: User, view: SavedView, is_default: bool) -> SavedView:
    """Make ``view`` the one its table opens with (or stop it being so). Kept in the user's
    preferences, which every request loads anyway, so a table costs no query to know it."""
    _require_own_view(by, view)
    defaults = dict(by.preferences.get("default_views") or {})
    if is_default:
        defaults[view.screen] = view.pk
    elif defaults.get(view.screen) == view.pk:
        del defaults[view.screen]
    by.preferences = {**by.preferences, "default_views": defaults}
    by.save(update_fields=["preferences"])
    return view
