"""Writes of the crm core: people, organizations, and the shared record helpers that leads and
deals reuse (field updates, soft delete, ownership). Every function takes the acting user."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from crm import assignment, permissions
from crm.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from crm.events import emit
from crm.models import (
    ORGANIZATION_FIELDS,
    PERSON_FIELDS,
    AuditLog,
    ImportJob,
    ImportMapping,
    Organization,
    Person,
    SavedView,
    User,
)
from crm.records import imports
from crm.records import merge as merging
from customfields.services import validate_values


# --- shared record helpers -------------------------------------------------------------------
def full_clean_or_raise(
    obj: Model, *, exclude: Iterable[str] | None = None, validate_unique: bool = True
) -> None:
    """``full_clean`` that raises our ValidationFailed with per-field details
    (``validate_unique=False``: the caller knows the row is new, e.g. a fresh UUID key)."""
    try:
        obj.full_clean(exclude=list(exclude or []), validate_unique=validate_unique)
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
    if getattr(obj, "merged_into_id", None) is not None:
        # Its activities, deals and permissions live on the survivor now.
        raise Conflict(
            f"This {obj._meta.verbose_name} was merged into another one and cannot be restored.",
            code="already_merged",
        )
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
    emit("organization.updated", actor=by, organization_id=organization.pk, fields=["deleted_at"])


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
    emit("person.updated", actor=by, person_id=person.pk, fields=["deleted_at"])


# --- merge (issue 18) ---------------------------------------------------------------------------
def record_merge(
    *,
    by: User,
    model: type[Model],
    survivor: Model,
    merged: list[Model],
    fields: Mapping[str, Any] | None,
    standard_fields: tuple[str, ...],
    check: Callable[[Model, list[Model]], None] | None = None,
    finish: Callable[[merging.Plan], None] | None = None,
    clean_exclude: Sequence[str] = (),
) -> Model:
    """Merge ``merged`` into ``survivor`` (records of ``model``) by the rules of
    ``crm.records.merge``; the caller holds the transaction. ``clean_exclude``: fields the
    survivor's validation leaves out (ones the merge does not set). ``check(survivor, merged)`` (the
    rows locked) may refuse; ``finish(plan)`` runs after the relations moved and before the
    survivor is saved: it may set derived fields, adding their names to ``plan.changed``.
    Emits one ``<kind>.merged`` event with the survivor's id under ``<kind>_id`` (what
    automation and realtime read), ``merged_ids`` and the field choices, and writes the audit
    log."""
    kind = model._meta.model_name
    noun = str(model._meta.verbose_name)
    survivor, merged = merging.lock(by=by, model=model, survivor=survivor, merged=merged, noun=noun)
    if check is not None:
        check(survivor, merged)
    names = merging.field_names(kind, standard_fields)
    plan = merging.plan(survivor=survivor, merged=merged, names=names, fields=fields)
    if plan.changed:
        full_clean_or_raise(survivor, exclude=list(clean_exclude) or None)
    merging.move_related(plan)
    merging.mark_merged(
        plan, save=lambda obj, update_fields: save(obj, by=by, update_fields=update_fields)
    )
    if finish is not None:
        finish(plan)
    names_merged = ", ".join(f"“{o}”" for o in merged)
    survivor._change_reason = merging.change_reason(f"Merged with {names_merged}")
    save(survivor, by=by, update_fields=[*dict.fromkeys(plan.changed), "updated_at"])
    merged_ids = [str(o.pk) for o in merged]
    emit(
        f"{kind}.merged",
        actor=by,
        **{f"{kind}_id": survivor.pk},
        merged_ids=merged_ids,
        fields=plan.choices(),
        changed=plan.changed,
    )
    audit(
        by=by, action=f"{kind}.merged", obj=survivor, merged_ids=merged_ids, fields=plan.choices()
    )
    return survivor


@transaction.atomic
def person_merge(
    *, by: User, survivor: Person, merged: list[Person], fields: Mapping[str, Any] | None = None
) -> Person:
    """Merge people into ``survivor``: per-field choice (``fields``: field or ``cf_<name>`` →
    the id of the person to take it from; default the newest non-empty value); their leads,
    deals, activities, conversions and permissions move to it; they are soft-deleted with a
    pointer to it. ``person.merged`` event."""
    return record_merge(
        by=by,
        model=Person,
        survivor=survivor,
        merged=merged,
        fields=fields,
        standard_fields=PERSON_FIELDS,
    )


@transaction.atomic
def organization_merge(
    *,
    by: User,
    survivor: Organization,
    merged: list[Organization],
    fields: Mapping[str, Any] | None = None,
) -> Organization:
    """Merge organizations into ``survivor`` (as ``person_merge``; their people move too).
    ``organization.merged`` event."""
    return record_merge(
        by=by,
        model=Organization,
        survivor=survivor,
        merged=merged,
        fields=fields,
        standard_fields=ORGANIZATION_FIELDS,
    )


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


# --- spreadsheet imports (crm.records.imports) -----------------------------------------------
def _import_type(by: User, record_type: str):
    from crm.records import registry

    try:
        rt = registry.get(record_type)
    except KeyError:
        raise ValidationFailed(
            f"“{record_type}” is not a record type that can be imported.",
            details={"record_type": ["Choose lead, person, organization or deal."]},
        ) from None
    if rt.importing is None:
        raise ValidationFailed(
            f"{rt.plural} cannot be imported.", details={"record_type": ["Cannot be imported."]}
        )
    if not rt.can_import(by):
        raise PermissionDenied(f"You may not import {rt.noun_plural}.")
    return rt


def _require_import_access(by: User, job: ImportJob) -> None:
    from crm.selectors import sees_user_roles

    if job.created_by_id != by.pk and not sees_user_roles(by):
        raise PermissionDenied("Only who started an import, a manager or an admin may do this.")


@transaction.atomic
def import_create(*, by: User, record_type: str, file_name: str, content: bytes) -> ImportJob:
    """Read an uploaded file and keep it as a draft import, its columns mapped to the fields
    they most likely are (the user's earlier choices for the same headers first)."""
    rt = _import_type(by, record_type)
    sheet = imports.read_sheet(content, file_name)
    return ImportJob.objects.create(
        record_type=rt.key,
        created_by=by,
        file_name=(file_name or "import.csv")[:255],
        content=content,
        file_format=sheet.file_format,
        encoding=sheet.encoding,
        delimiter=sheet.delimiter,
        headers=sheet.headers,
        mapping=imports.guess_mapping(rt, sheet.headers, _remembered_mapping(by, rt.key)),
        total_rows=len(sheet.rows),
    )


def _remembered_mapping(user: User, record_type: str) -> dict:
    """The user's mapping template for the type (header → field), empty without one."""
    found = ImportMapping.objects.filter(user=user, record_type=record_type)
    return found.values_list("mapping", flat=True).first() or {}


def _import_defaults(by: User, rt, defaults: Mapping[str, Any]) -> dict:
    clean, errors = {}, {}
    allowed = rt.importing.defaults
    for key, value in (defaults or {}).items():
        if value in (None, ""):
            continue
        if key not in allowed:
            errors[key] = [f"{rt.plural} take no default {key}."]
        elif key == "owner":
            owner = User.objects.filter(pk=_int_or_none(value), is_active=True).first()
            if owner is None:
                errors[key] = ["Unknown user."]
                continue
            try:
                check_owner_choice(by=by, owner=owner, model=rt.model)
            except DomainError as exc:
                errors[key] = [exc.message]
                continue
            clean[key] = owner.pk
        elif key == "source":
            choices = dict(rt.importing.source_choices())
            if value not in choices:
                errors[key] = [f"Choose one of: {', '.join(map(str, choices.values()))}."]
            else:
                clean[key] = value
        elif key == "step":
            steps = dict(rt.importing.step_choices())
            step = _int_or_none(value)
            if step not in steps:
                errors[key] = ["Unknown step."]
            else:
                clean[key] = step
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, details={f"defaults.{k}": v for k, v in errors.items()})
    return clean


def _int_or_none(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


@transaction.atomic
def import_configure(
    *,
    by: User,
    job: ImportJob,
    mapping: Mapping[str, str] | None = None,
    mode: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ImportJob:
    """Set a draft import's mapping (column → field, ``cf_<name>`` for custom fields;
    columns left out map to nothing), its mode for rows matching an existing record and the
    defaults of new rows."""
    _require_import_access(by, job)
    if job.status != ImportJob.Status.DRAFT:
        raise Conflict("This import has started; its settings no longer change.", code="started")
    rt = _import_type(by, job.record_type)
    if mapping is not None:
        job.mapping = imports.check_mapping(rt, job.headers, mapping)
    if mode is not None:
        if mode not in ImportJob.Mode.values:
            raise ValidationFailed(
                f"“{mode}” is not a mode.",
                details={"mode": [f"Choose one of: {', '.join(ImportJob.Mode.values)}."]},
            )
        job.mode = mode
    if defaults is not None:
        job.defaults = _import_defaults(by, rt, defaults)
    job.save(update_fields=["mapping", "mode", "defaults"])
    return job


@transaction.atomic
def import_start(*, by: User, job: ImportJob) -> ImportJob:
    """Queue a draft import; remembers its mapping as the user's template for the type."""
    _require_import_access(by, job)
    if job.status != ImportJob.Status.DRAFT:
        raise Conflict("This import has already started.", code="started")
    rt = _import_type(by, job.record_type)
    imports.check_mapping(rt, job.headers, job.mapping)
    template, _ = ImportMapping.objects.get_or_create(user=by, record_type=rt.key)
    learned = dict(template.mapping)
    for header, key in job.mapping.items():
        learned[imports.normalize_header(header)] = key
    template.mapping = learned
    template.save(update_fields=["mapping", "updated_at"])
    job.status = ImportJob.Status.PENDING
    job.save(update_fields=["status"])
    transaction.on_commit(lambda: _schedule("import_run", job.pk))
    return job


@transaction.atomic
def import_queue(
    *,
    by: User,
    record_type: str,
    file_name: str,
    content: bytes,
    mapping: Mapping[str, str] | None = None,
    mode: str = ImportJob.Mode.SKIP,
    defaults: Mapping[str, Any] | None = None,
) -> ImportJob:
    """Queue a file to import as it is (the API): the task reads it, completes ``mapping``
    with guesses for the columns it leaves out and checks everything as the wizard does;
    what it refuses fails the import with the reason in ``error``."""
    rt = _import_type(by, record_type)
    if mode not in ImportJob.Mode.values:
        raise ValidationFailed(f"“{mode}” is not a mode.", details={"mode": ["Unknown mode."]})
    job = ImportJob.objects.create(
        record_type=rt.key,
        created_by=by,
        file_name=(file_name or "import.csv")[:255],
        content=content,
        mapping=dict(mapping or {}),
        mode=mode,
        defaults=dict(defaults or {}),
        status=ImportJob.Status.PENDING,
    )
    transaction.on_commit(lambda: _schedule("import_run", job.pk))
    return job


def _prepare_queued(job: ImportJob) -> None:
    """Read a queued file (``import_queue``): headers, the mapping completed with guesses,
    checked with the defaults as ``import_configure`` checks them. Raises ``DomainError``."""
    rt = _import_type(job.created_by, job.record_type)
    sheet = imports.read_sheet(bytes(job.content), job.file_name)
    guessed = imports.guess_mapping(rt, sheet.headers, _remembered_mapping(job.created_by, rt.key))
    given = {h: k for h, k in job.mapping.items() if h in sheet.headers}
    unknown = [h for h in job.mapping if h not in sheet.headers]
    if unknown:
        raise ValidationFailed(
            f"The mapping names “{unknown[0]}”, which is not a column of the file."
        )
    chosen = set(given.values())
    mapping = {h: given.get(h, "" if guessed[h] in chosen else guessed[h]) for h in sheet.headers}
    job.headers = sheet.headers
    job.file_format, job.encoding, job.delimiter = (
        sheet.file_format,
        sheet.encoding,
        sheet.delimiter,
    )
    job.mapping = imports.check_mapping(rt, sheet.headers, mapping)
    job.defaults = _import_defaults(job.created_by, rt, job.defaults)
    job.total_rows = len(sheet.rows)
    job.save(
        update_fields=[
            "headers",
            "file_format",
            "encoding",
            "delimiter",
            "mapping",
            "defaults",
            "total_rows",
        ]
    )


def _schedule(task_name: str, job_id: int) -> None:
    """Run an import task: on a Celery worker, or, in the embedded default (eager Celery),
    in a thread of this process so that the page that started it shows it progress."""
    from crm import tasks  # tasks call these services: imported when a task is sent

    task = getattr(tasks, task_name)
    if settings.IMPORT_IN_THREAD:
        threading.Thread(target=tasks.run_in_thread, args=(task, job_id), daemon=True).start()
    else:
        task.delay(job_id)


@transaction.atomic
def import_cancel(*, by: User, job: ImportJob) -> ImportJob:
    """Stop an import after the batch it is in (the rows done so far stay: undo removes
    them). A draft is cancelled at once."""
    _require_import_access(by, job)
    if job.status == ImportJob.Status.DRAFT:
        return import_discard(job=job)
    if not job.is_active:
        raise Conflict(f"This import is {job.get_status_display().lower()}.", code="not_running")
    job.cancel_requested = True
    job.save(update_fields=["cancel_requested"])
    return job


def import_discard(*, job: ImportJob, reason: str = "") -> ImportJob:
    """Cancel a draft import and drop its file (``reason``, if given, is shown on it)."""
    job.status = ImportJob.Status.CANCELLED
    job.finished_at = timezone.now()
    job.content = b""
    job.error = reason
    job.save(update_fields=["status", "finished_at", "content", "error"])
    return job


@transaction.atomic
def import_undo(*, by: User, job: ImportJob) -> ImportJob:
    """Queue the undo of a finished (or cancelled) import: the records it created are
    removed and the fields it overwrote restored, each only if unchanged since."""
    _require_import_access(by, job)
    if job.status not in (ImportJob.Status.DONE, ImportJob.Status.CANCELLED):
        raise Conflict(
            f"Only a finished import can be undone; this one is "
            f"{job.get_status_display().lower()}.",
            code="not_finished",
        )
    if job.undo_summary.get("state") in ("queued", "running"):
        raise Conflict("This import is being undone.", code="undoing")
    job.undo_summary = {"state": "queued"}
    job.save(update_fields=["undo_summary"])
    transaction.on_commit(lambda: _schedule("import_undo", job.pk))
    return job


def import_run(*, job_id: int) -> ImportJob | None:
    """Write an import's rows in batches, each batch (records and its ``ImportRow`` lines)
    in one transaction, so that a worker that dies mid-import resumes after the last batch
    it committed. Publishes the progress to the importer's socket after every batch."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is not None and job.status == ImportJob.Status.PENDING and not job.headers:
        try:
            _prepare_queued(job)
        except DomainError as exc:
            job.status, job.error, job.finished_at = "failed", exc.message, timezone.now()
            job.save(update_fields=["status", "error", "finished_at"])
            imports.publish_progress(job)
            return job
    return imports.run(job_id)


def import_undo_run(*, job_id: int) -> ImportJob | None:
    """Undo an import (``import_undo`` queued it), reporting what was removed, restored and
    kept because it changed since."""
    return imports.undo(job_id)
