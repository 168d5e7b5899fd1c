"""Writes of custom field definitions, and the one validation of custom field values.

Every app that stores ``custom_field_values`` (leads, deals, people, organizations) validates
through ``validate_values`` inside its own create/update service, and stores what it returns.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from crm.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from customfields import selectors
from customfields.filters import has_value_q, option_used_q
from customfields.models import (
    CHOICE_TYPES,
    CustomFieldDefinition,
    EntityType,
    normalize_options,
)
from customfields.permissions import ManageAction, can_manage_custom_fields
from customfields.registry import get_entity
from customfields.values import InvalidValue, clean_value, is_empty

VALUES_KEY = "custom_field_values"
ORDER_STEP = 10

# Attributes a definition may change after creation; the others describe what the stored
# values mean and are fixed for the definition's lifetime.
UPDATABLE = frozenset(
    {
        "label",
        "options",
        "is_required",
        "is_active",
        "display_order",
        "show_in_table",
        "help_text",
    }
)
IMMUTABLE = {
    "name": "The name of a custom field cannot be changed: stored values and saved filters "
    "use it. Create a new field instead.",
    "entity_type": "The entity type of a custom field cannot be changed. Create a new field "
    "on the other entity type instead.",
    "type": "The type of a custom field cannot be changed: stored values would no longer fit. "
    "Create a new field instead.",
}

_MISSING = object()


def detail_key(name: str) -> str:
    """The key of a value's errors in ``ValidationFailed.details``."""
    return f"{VALUES_KEY}.{name}"


# --- values ---------------------------------------------------------------------------------


def validate_values(
    *,
    entity_type: str,
    values: dict | None,
    partial: bool = False,
    existing: dict | None = None,
    definitions: selectors.Definitions | None = None,
) -> dict:
    """Validate ``values`` (keyed by field name) for one record and return the values to store.

    - ``partial=False`` (create, or a full replacement): ``values`` is the complete set of
      values of the active fields; an active field left out has no value afterwards.
    - ``partial=True`` (PATCH-like): only the submitted keys are validated and changed; the
      others keep their ``existing`` value.
    - In both modes the result must hold a value for every active required field.
    - ``None``, ``""`` or ``[]`` clears an optional field (its key is removed).
    - Unknown names are refused. Writing to an inactive field is refused, but submitting its
      stored value unchanged is accepted (round-trips), and the stored values of inactive
      fields are always carried over from ``existing`` untouched: deactivating a field hides
      it, it never deletes data.
    - Keys in ``existing`` without any definition are carried over as well.

    Raises ``ValidationFailed`` with ``details`` keyed ``custom_field_values.<name>``; each
    message starts with the field's label. See ``customfields.values`` for the stored form of
    each type.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        message = "Custom field values must be an object keyed by field name."
        raise ValidationFailed(message, details={VALUES_KEY: [message]})
    existing = dict(existing) if isinstance(existing, dict) else {}
    by_name = {d.name: d for d in selectors.all_fields(entity_type, definitions=definitions)}

    if partial:
        merged = dict(existing)
    else:
        merged = {
            key: value
            for key, value in existing.items()
            if not (key in by_name and by_name[key].is_active)
        }

    errors: dict[str, list[str]] = {}
    for key, raw in values.items():
        definition = by_name.get(key)
        if definition is None:
            errors[detail_key(str(key))] = [f"Unknown custom field '{key}'."]
            continue
        try:
            new = _MISSING if is_empty(raw) else clean_value(definition, raw)
        except InvalidValue as exc:
            errors[detail_key(key)] = [f"{definition.label}: {exc}"]
            continue
        if not definition.is_active:
            if new != existing.get(key, _MISSING):
                errors[detail_key(key)] = [
                    f"{definition.label}: this field is inactive, so its value cannot be "
                    "changed. Ask a manager to activate it first."
                ]
            continue
        if new is _MISSING:
            merged.pop(key, None)
        else:
            merged[key] = new

    for definition in by_name.values():
        if (
            definition.is_active
            and definition.is_required
            and definition.name not in merged
            and detail_key(definition.name) not in errors
        ):
            errors[detail_key(definition.name)] = [f"{definition.label}: this field is required."]

    if errors:
        messages = [m for msgs in errors.values() for m in msgs]
        message = (
            messages[0]
            if len(messages) == 1
            else f"{len(messages)} custom field values are not valid."
        )
        raise ValidationFailed(message, details=errors)

    # Stable key order: definitions in display order, then anything unknown to them.
    ordered = {name: merged[name] for name in by_name if name in merged}
    ordered.update((k, v) for k, v in merged.items() if k not in ordered)
    return ordered


def carried_values(
    values: dict | None,
    *,
    from_type: str,
    to_type: str,
    definitions: selectors.Definitions | None = None,
) -> dict:
    """The values of a ``from_type`` record that a new ``to_type`` record made from it takes
    over (lead conversion, SPEC §6): those whose name is an active ``to_type`` field of the
    same type and that are valid for it. A value the target cannot hold (an option it lacks,
    say) stays behind on the source record rather than failing the conversion.

    ``definitions``: preloaded definitions of both types, else one query.
    """
    values = values or {}
    if definitions is None:
        definitions = selectors.definitions_for(from_type, to_type)
    sources = {d.name: d for d in selectors.all_fields(from_type, definitions=definitions)}
    carried = {}
    for target in selectors.active_fields(to_type, definitions=definitions):
        source = sources.get(target.name)
        raw = values.get(target.name)
        if source is None or source.type != target.type or is_empty(raw):
            continue
        try:
            carried[target.name] = clean_value(target, raw)
        except InvalidValue:
            continue
    return carried


# --- definitions ----------------------------------------------------------------------------


def _check_permission(by, action: ManageAction) -> None:
    if not can_manage_custom_fields(by, action):
        raise PermissionDenied("You do not have permission to manage custom fields.")


def _full_clean(field: CustomFieldDefinition, *, validate_constraints: bool = True) -> None:
    try:
        field.full_clean(validate_constraints=validate_constraints)
    except ValidationError as exc:
        details = {
            ("non_field_errors" if key == "__all__" else key): [str(m) for m in msgs]
            for key, msgs in exc.message_dict.items()
        }
        first_key, first = next(iter(details.items()))
        message = first[0] if first_key == "non_field_errors" else f"{first_key}: {first[0]}"
        raise ValidationFailed(message, details=details) from None


def usage_count(*, field: CustomFieldDefinition, option: str | None = None) -> int | None:
    """How many records hold a value for ``field`` (or, with ``option``, use that option).

    Counts the rows of the model registered for the field's entity type
    (``customfields.registry``); ``None`` when none is registered yet.
    """
    entity = get_entity(field.entity_type)
    if entity is None:
        return None
    if option is None:
        condition = has_value_q(field.name, values_field=entity.values_field)
    else:
        condition = option_used_q(field, option, values_field=entity.values_field)
    return entity.queryset().filter(condition).count()


def _check_options_fit(field: CustomFieldDefinition, options) -> None:
    """Options for a field whose (unchangeable) type takes none, or none for one that needs
    them: the request conflicts with what the field is (409)."""
    if not isinstance(options, list) or (field.type in CHOICE_TYPES) == bool(options):
        return
    probe = CustomFieldDefinition(type=field.type, options=options)
    messages = probe.options_errors()
    raise Conflict(messages[0], code="options_do_not_fit", details={"options": messages})


def check_options_change(*, field: CustomFieldDefinition, options: list) -> None:
    """Refuse removing (or respelling) an option that stored values still use.

    Raises ``Conflict`` (the records' state, 409) on ``options`` naming the option and how
    many records use it.
    """
    if field.type not in CHOICE_TYPES or not isinstance(options, list):
        return
    removed = [o for o in field.options or [] if o not in options]
    if not removed:
        return
    entity = get_entity(field.entity_type)
    messages = []
    for option in removed:
        count = usage_count(field=field, option=option)
        if count:
            used_by = entity.describe(count) if entity else f"{count} records"
            messages.append(
                f"Option '{option}' is still used by {used_by}; change those records before "
                "removing it."
            )
    if messages:
        raise Conflict(messages[0], code="option_in_use", details={"options": messages})


def _next_display_order(entity_type: str) -> int:
    top = CustomFieldDefinition.objects.filter(entity_type=entity_type).aggregate(
        top=Max("display_order")
    )["top"]
    return (top or 0) + ORDER_STEP


@transaction.atomic
def custom_field_create(
    *,
    by,
    entity_type: str,
    name: str,
    label: str,
    type: str,
    options: list[str] | None = None,
    is_required: bool = False,
    help_text: str = "",
    show_in_table: bool = False,
    display_order: int | None = None,
) -> CustomFieldDefinition:
    """Define a new custom field, placed after the existing ones unless ``display_order``."""
    _check_permission(by, "add")
    field = CustomFieldDefinition(
        entity_type=entity_type,
        name=(name or "").strip() if isinstance(name, str) else name,
        label=(label or "").strip() if isinstance(label, str) else label,
        type=type,
        options=normalize_options(options if options is not None else []),
        is_required=is_required,
        help_text=(help_text or "").strip() if isinstance(help_text, str) else help_text,
        show_in_table=show_in_table,
        display_order=display_order
        if display_order is not None
        else (_next_display_order(entity_type) if entity_type in EntityType.values else 0),
        created_by=by if getattr(by, "pk", None) else None,
    )
    _full_clean(field, validate_constraints=False)
    if CustomFieldDefinition.objects.filter(entity_type=entity_type, name=field.name).exists():
        message = (
            f"A {field.get_entity_type_display().lower()} custom field named "
            f"'{field.name}' already exists."
        )
        raise Conflict(message, code="already_exists", details={"name": [message]})
    try:
        with transaction.atomic():
            field.save(force_insert=True)
    except IntegrityError:  # a concurrent create with the same name won
        message = f"A custom field named '{field.name}' already exists."
        raise Conflict(message, code="already_exists", details={"name": [message]}) from None
    return field


@transaction.atomic
def custom_field_update(*, by, field: CustomFieldDefinition, **changes) -> CustomFieldDefinition:
    """Change a definition. ``name``, ``entity_type`` and ``type`` are immutable: passing them
    with a different value is refused (the same value is accepted, for PUT round-trips).
    Removing an option that records still use is refused."""
    _check_permission(by, "change")
    errors: dict[str, list[str]] = {}
    for attr, message in IMMUTABLE.items():
        if attr in changes and changes.pop(attr) != getattr(field, attr):
            errors[attr] = [message]
    if errors:  # what the field is cannot change: the request conflicts with it (409)
        raise Conflict(next(iter(errors.values()))[0], code="immutable", details=errors)
    for attr in set(changes) - UPDATABLE:
        errors[attr] = [f"'{attr}' is not a custom field attribute that can be changed."]
        changes.pop(attr)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], details=errors)

    field = CustomFieldDefinition.objects.select_for_update().get(pk=field.pk)
    if "options" in changes:
        changes["options"] = normalize_options(
            changes["options"] if changes["options"] is not None else []
        )
        _check_options_fit(field, changes["options"])
    for attr in ("label", "help_text"):
        if isinstance(changes.get(attr), str):
            changes[attr] = changes[attr].strip()
    changed = [attr for attr, value in changes.items() if getattr(field, attr) != value]
    if not changed:
        return field
    old_options = list(field.options or [])
    for attr in changed:
        setattr(field, attr, changes[attr])
    _full_clean(field)
    if "options" in changed:
        new_options = field.options
        field.options = old_options
        check_options_change(field=field, options=new_options)
        field.options = new_options
    field.save(update_fields=[*changed, "updated_at"])
    return field


def custom_field_deactivate(*, by, field: CustomFieldDefinition) -> CustomFieldDefinition:
    """Hide a field everywhere. Stored values are kept and come back on activation."""
    return custom_field_update(by=by, field=field, is_active=False)


def custom_field_activate(*, by, field: CustomFieldDefinition) -> CustomFieldDefinition:
    return custom_field_update(by=by, field=field, is_active=True)


@transaction.atomic
def custom_field_reorder(*, by, entity_type: str, names: list[str]) -> list[CustomFieldDefinition]:
    """Put the named fields first, in this order; fields not named keep their relative order
    after them. Returns every definition of the entity type in the new order."""
    _check_permission(by, "change")
    if entity_type not in EntityType.values:
        message = f"Unknown entity type '{entity_type}'."
        raise ValidationFailed(message, details={"entity_type": [message]})
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        message = "Give the field names as a list."
        raise ValidationFailed(message, details={"names": [message]})
    fields = list(
        CustomFieldDefinition.objects.select_for_update()
        .filter(entity_type=entity_type)
        .order_by("display_order", "name")
    )
    by_name = {f.name: f for f in fields}
    duplicates = sorted({n for n in names if names.count(n) > 1})
    unknown = [n for n in names if n not in by_name]
    if duplicates:
        messages = [f"'{n}' is listed more than once." for n in duplicates]
        raise ValidationFailed(messages[0], details={"names": messages})
    if unknown:  # names no field of this type: like any missing record, not found
        messages = [f"Unknown custom field '{n}'." for n in unknown]
        raise NotFound(messages[0], details={"names": messages})
    ordered = [by_name[n] for n in names] + [f for f in fields if f.name not in set(names)]
    changed = []
    now = timezone.now()
    for position, field in enumerate(ordered, start=1):
        if field.display_order != position * ORDER_STEP:
            field.display_order = position * ORDER_STEP
            field.updated_at = now
            changed.append(field)
    CustomFieldDefinition.objects.bulk_update(changed, ["display_order", "updated_at"])
    return ordered


@transaction.atomic
def custom_field_move(
    *, by, field: CustomFieldDefinition, direction: str
) -> list[CustomFieldDefinition]:
    """Swap ``field`` with its neighbour among the fields of its entity type (active or not),
    ``direction`` being ``"up"`` (earlier) or ``"down"``. At either end nothing moves.
    Returns every definition of the entity type in the new order."""
    if direction not in ("up", "down"):
        message = "Move a field up or down."
        raise ValidationFailed(message, details={"direction": [message]})
    _check_permission(by, "change")
    names = list(
        CustomFieldDefinition.objects.select_for_update()
        .filter(entity_type=field.entity_type)
        .order_by("display_order", "name")
        .values_list("name", flat=True)
    )
    position = names.index(field.name)
    other = position - 1 if direction == "up" else position + 1
    if 0 <= other < len(names):
        names[position], names[other] = names[other], names[position]
    return custom_field_reorder(by=by, entity_type=field.entity_type, names=names)
