"""Merging records of one type (SPEC §4 "one merge", issue 18): the rules every record type's
merge service (``lead_merge``, ``person_merge``, ``organization_merge``) shares.

A merge keeps one record, the *survivor*, and folds the others into it:

- each merged field takes the value of the record chosen for it; by default the newest
  non-empty value (the most recently updated record that has one), custom fields included;
- every row that points at a merged-away record points at the survivor afterwards. The
  relations are found from the model's meta (``relations``), so a relation added later is
  moved too, or listed in ``NOT_MOVED`` with the reason; ``tests/crm/test_merge_relations.py``
  fails until it is one or the other;
- a merged-away record is soft-deleted with a pointer to the survivor (``merged_into``): the
  default managers hide it everywhere, and its old addresses lead to the survivor.

This module knows nothing of the apps above ``crm``: what they need done besides moving a
foreign key (an enrollment that must stay unique, a conversation that names a lead by id) they
register with ``register_mover`` from their ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import ForeignObjectRel, Model
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from crm import permissions
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from customfields import selectors as cf_selectors

# (survivor, merged-away records) → None: moves what a plain foreign-key update cannot.
Mover = Callable[[Model, list[Model]], None]

CUSTOM_PREFIX = "cf_"
EMPTY_VALUES = (None, "", [], {})

_movers: dict[str, Mover] = {}
# Relations that point at a merged-away record and deliberately stay with it, with the reason.
NOT_MOVED: dict[str, str] = {
    "history": "History rows are the record's past states; they stay with the record they "
    "describe, and the survivor's own history records the merge.",
}

# The most records one merge takes (the screen and the API).
MAX_RECORDS = 20


def register_mover(key: str, mover: Mover) -> None:
    """Have ``mover`` move relation ``key`` (``"app_label.Model.field"``, see ``relation_key``)
    or, with a key of one's own, anything else that refers to a record without a foreign key."""
    _movers[key] = mover


def relation_key(rel: ForeignObjectRel) -> str:
    return f"{rel.related_model._meta.label}.{rel.field.name}"


def relations(model: type[Model]) -> list[ForeignObjectRel]:
    """Every foreign key and one-to-one that points at ``model``, hidden ones included
    (``related_name="+"``), its own ``merged_into`` too."""
    return [
        f
        for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and f.is_relation
    ]


def _is_history(model: type[Model]) -> bool:
    return any(f.name == "history_id" for f in model._meta.concrete_fields)


def how_moved(rel: ForeignObjectRel) -> str:
    """How a merge treats the rows of relation ``rel``: ``"mover"`` (a registered mover),
    ``"permissions"`` (object permissions, one per user and permission on the survivor),
    ``"one_to_one"`` (moved when the survivor has none), ``"foreign_key"`` (repointed), or
    ``"history"`` (not moved, see ``NOT_MOVED``)."""
    if relation_key(rel) in _movers:
        return "mover"
    related = rel.related_model
    if _is_history(related):
        return "history"
    if issubclass(related, UserObjectPermissionBase | GroupObjectPermissionBase):
        return "permissions"
    if rel.one_to_one:
        return "one_to_one"
    return "foreign_key"


# --- choosing the values ----------------------------------------------------------------------
@dataclass
class Plan:
    """A merge about to happen: the locked records and where each field's value comes from."""

    survivor: Model
    merged: list[Model]
    sources: dict[str, Model]  # field name (custom: cf_<name>) → the record it comes from
    changed: list[str] = field(default_factory=list)  # the survivor's fields that changed

    @property
    def records(self) -> list[Model]:
        return [self.survivor, *self.merged]

    def choices(self) -> dict[str, str]:
        """Field → the id of the record its value came from (the event and the audit log)."""
        return {name: str(obj.pk) for name, obj in self.sources.items()}


def newest_first(records: Iterable[Model]) -> list[Model]:
    """The records, most recently updated first: the order the default choice reads."""
    return sorted(records, key=lambda o: (o.updated_at, o.created_at), reverse=True)


def is_empty(value: Any) -> bool:
    return value in EMPTY_VALUES


def value_of(obj: Model, name: str) -> Any:
    """A merged field's value on one record (custom fields: ``cf_<name>``)."""
    if name.startswith(CUSTOM_PREFIX):
        return (obj.custom_field_values or {}).get(name.removeprefix(CUSTOM_PREFIX))
    return getattr(obj, name)


def field_names(entity_type: str, standard: Sequence[str], *, definitions=None) -> list[str]:
    """The fields a merge chooses per field: ``standard`` and the active custom fields."""
    custom = cf_selectors.active_fields(entity_type, definitions=definitions)
    return [*standard, *(f"{CUSTOM_PREFIX}{d.name}" for d in custom)]


def default_sources(records: Sequence[Model], names: Iterable[str]) -> dict[str, Model]:
    """Each field's default source: the newest record with a value, else the first record
    given (the survivor), whose empty value stays."""
    ordered = newest_first(records)
    return {
        name: next((o for o in ordered if not is_empty(value_of(o, name))), records[0])
        for name in names
    }


def lock(
    *,
    by,
    model: type[Model],
    survivor: Model,
    merged: Sequence[Model],
    noun: str,
) -> tuple[Model, list[Model]]:
    """Check the records can be merged by ``by`` and return them re-read under row locks
    (in key order, so two merges over the same records queue instead of deadlocking)."""
    merged = list(merged)
    if not merged:
        raise ValidationFailed(
            f"Choose at least one other {noun} to merge.",
            code="merge_nothing",
            details={"merged": [f"Choose at least one other {noun}."]},
        )
    for obj in [survivor, *merged]:
        if not isinstance(obj, model):
            raise ValidationFailed(
                f"Only {model._meta.verbose_name_plural} can be merged with a {noun}.",
                code="merge_mixed_types",
                details={"merged": [f"Only {model._meta.verbose_name_plural} can be merged."]},
            )
    ids = [survivor.pk, *(o.pk for o in merged)]
    if survivor.pk in ids[1:]:
        raise ValidationFailed(
            f"A {noun} cannot be merged into itself.",
            code="merge_into_itself",
            details={"merged": [f"The {noun} to keep is also among those to merge."]},
        )
    if len(set(ids)) != len(ids):
        raise ValidationFailed(
            f"Each {noun} can be merged once.",
            code="merge_repeated",
            details={"merged": [f"A {noun} is listed twice."]},
        )
    rows = {
        o.pk: o for o in model._base_manager.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    survivor, merged = rows[survivor.pk], [rows[pk] for pk in ids[1:]]
    for obj in [survivor, *merged]:
        if obj.merged_into_id is not None:
            raise Conflict(
                f"“{obj}” was already merged into another {noun}.",
                code="already_merged",
                details={"merged": [f"“{obj}” was already merged."]},
            )
        if obj.deleted_at is not None:
            raise Conflict(
                f"“{obj}” is deleted; restore it before merging.",
                code="record_deleted",
                details={"merged": [f"“{obj}” is deleted."]},
            )
    allowed = permissions.changeable_ids(by, [survivor, *merged])
    for obj in [survivor, *merged]:
        if obj.pk not in allowed:
            raise PermissionDenied(
                f"You may not change “{obj}”, so it cannot be merged. A merge changes "
                f"every {noun} it involves.",
                code="merge_not_allowed",
            )
    return survivor, merged


def plan(
    *,
    survivor: Model,
    merged: list[Model],
    names: Sequence[str],
    fields: Mapping[str, Any] | None,
) -> Plan:
    """Where each of ``names`` comes from: ``fields`` (field → the id of one of the records),
    else the default (``default_sources``); sets the chosen values on the survivor."""
    records = [survivor, *merged]
    by_id = {str(o.pk): o for o in records}
    sources = default_sources(records, names)
    errors: dict[str, list[str]] = {}
    for name, record_id in dict(fields or {}).items():
        if name not in names:
            errors[f"fields.{name}"] = ["Not a field that can be merged."]
        elif str(record_id) not in by_id:
            errors[f"fields.{name}"] = ["Not one of the records being merged."]
        else:
            sources[name] = by_id[str(record_id)]
    if errors:
        raise ValidationFailed(
            "Some field choices are not valid: " + ", ".join(sorted(errors)) + ".",
            details=errors,
        )
    result = Plan(survivor=survivor, merged=merged, sources=sources)
    values = dict(survivor.custom_field_values or {})
    for name, source in sources.items():
        value = value_of(source, name)
        if name.startswith(CUSTOM_PREFIX):
            key = name.removeprefix(CUSTOM_PREFIX)
            if is_empty(value):
                values.pop(key, None)
            else:
                values[key] = value
        elif getattr(survivor, name) != value:
            setattr(survivor, name, value)
            result.changed.append(name)
    if values != (survivor.custom_field_values or {}):
        survivor.custom_field_values = values
        result.changed.append("custom_field_values")
    return result


# --- moving what points at the merged-away records -------------------------------------------
def move_related(plan: Plan) -> None:
    """Point every relation of the merged-away records at the survivor (see ``how_moved``),
    then run the movers registered for references without a foreign key."""
    survivor, merged = plan.survivor, plan.merged
    model = type(survivor)
    done: set[str] = set()
    for rel in relations(model):
        key, how = relation_key(rel), how_moved(rel)
        done.add(key)
        if how == "mover":
            _movers[key](survivor, merged)
        elif how == "permissions":
            _move_permissions(rel, survivor, merged)
        elif how == "one_to_one":
            _move_one_to_one(rel, survivor, merged)
        elif how == "foreign_key":
            manager = rel.related_model._base_manager
            manager.filter(**{f"{rel.field.name}__in": merged}).update(**{rel.field.name: survivor})
    prefix = f"{model._meta.label}:"
    for key, mover in _movers.items():
        if key.startswith(prefix) and key not in done:
            mover(survivor, merged)


def _move_permissions(rel: ForeignObjectRel, survivor: Model, merged: list[Model]) -> None:
    """Whoever held a permission on a merged-away record holds it on the survivor (a rep who
    could change one of the duplicates can change the record that replaces it)."""
    perm_model = rel.related_model
    owner_field = "user_id" if issubclass(perm_model, UserObjectPermissionBase) else "group_id"
    held = set(
        perm_model.objects.filter(content_object=survivor).values_list(owner_field, "permission_id")
    )
    rows = perm_model.objects.filter(content_object__in=merged)
    new = []
    for who, permission_id in rows.values_list(owner_field, "permission_id"):
        if (who, permission_id) not in held:
            held.add((who, permission_id))
            new.append(
                perm_model(
                    **{owner_field: who},
                    permission_id=permission_id,
                    content_object=survivor,
                )
            )
    perm_model.objects.bulk_create(new)
    rows.delete()


def _move_one_to_one(rel: ForeignObjectRel, survivor: Model, merged: list[Model]) -> None:
    """The survivor keeps its own; without one it takes the newest merged-away record's."""
    manager = rel.related_model._base_manager
    name = rel.field.name
    if manager.filter(**{name: survivor}).exists():
        return
    for obj in newest_first(merged):
        if manager.filter(**{name: obj}).update(**{name: survivor}):
            return


def change_reason(text: str) -> str:
    """``text`` as a history row's change reason (at most 100 characters)."""
    return text if len(text) <= 100 else text[:99] + "…"


def mark_merged(plan: Plan, *, save: Callable[..., None]) -> None:
    """Soft-delete the merged-away records with their pointer to the survivor."""
    now = timezone.now()
    for obj in plan.merged:
        obj.merged_into = plan.survivor
        obj.merged_at = now
        obj.deleted_at = now
        obj._change_reason = change_reason(f"Merged into “{plan.survivor}”")
        save(obj, update_fields=["merged_into", "merged_at", "deleted_at", "updated_at"])


def survivor_of(model: type[Model], pk) -> Model | None:
    """The record a merged-away record (``pk``) lives on as, following merges of merges;
    None when ``pk`` is not a merged-away record."""
    seen = set()
    target = None
    current = pk
    while current is not None and current not in seen:
        seen.add(current)
        try:
            nxt = (
                model._base_manager.filter(pk=current)
                .values_list("merged_into_id", flat=True)
                .first()
            )
        except (ValueError, TypeError, ValidationError):  # a malformed id: not merged
            return None
        if nxt is None:
            break
        target = current = nxt
    if target is None:
        return None
    return model.objects.filter(pk=target).first()
