"""Handing an owned record (a lead, a deal) to a user: one rule for every record type.

Anyone who may change a record may take it or unassign it; giving it to someone else takes
the record's owner, a superuser or the ``<app>.reassign_<model>`` permission (Manager and
Admin roles). Whoever receives a record (owner or assignee, of leads, deals, activities,
people and organizations alike) must be a user who may own it (``crm.permissions.may_own``):
``check_assignable`` refuses anyone else with a 400 naming the field. Object permissions follow
the assignee (``crm.permissions.move_assignee``), and ``<entity>.assigned`` is emitted.
"""

from __future__ import annotations

from django.db.models import Model
from django.utils import timezone

from crm import permissions
from crm.errors import PermissionDenied, ValidationFailed
from crm.events import emit
from crm.models import User


def can_assign(by: User, record_model: type[Model], owner: User | None, assignee: User | None):
    if assignee is None or assignee == by:
        return True
    meta = record_model._meta
    return (
        by.is_superuser
        or by == owner
        or by.has_perm(f"{meta.app_label}.reassign_{meta.model_name}")
    )


def check_assignable(user: User | None, model: type[Model], *, field: str = "assigned_to") -> None:
    """Refuse (400, naming ``field``) to give a record of ``model`` to ``user``: an inactive
    user, or one whose role may not own such records (``crm.permissions.may_own``)."""
    if user is None:
        return
    if not user.is_active:
        role = "owner" if field == "owner" else "assignee"
        raise ValidationFailed(
            f"The {role} must be an active user.", details={field: ["Inactive user."]}
        )
    if not permissions.may_own(user, model):
        plural = model._meta.verbose_name_plural
        raise ValidationFailed(
            f"{user.display_name} cannot be given {plural}: their role does not work on them.",
            details={field: [f"This user's role may not own {plural}."]},
        )


def eligible(user: User | None, model: type[Model]) -> User | None:
    """``user`` if records of ``model`` may be given to them, else None: for automated work
    that hands a record to whoever a rule or a linked record names."""
    return user if user is not None and permissions.may_own(user, model) else None


def check_assignee(
    by: User, record_model: type[Model], owner: User | None, assignee: User | None
) -> None:
    """Refuse an assignee who may not own the record (400) or a hand-over ``by`` may not
    make (403)."""
    check_assignable(assignee, record_model)
    if not can_assign(by, record_model, owner, assignee):
        noun = record_model._meta.verbose_name
        raise PermissionDenied(f"Only the owner or a manager can give a {noun} to someone else.")


def assign(*, by: User, record: Model, assignee: User | None) -> bool:
    """Set ``record.assigned_to`` (the caller checked ``by`` may change it, inside its
    transaction), move the object permissions and emit ``<entity>.assigned``. Returns
    whether anything changed."""
    from crm.services import save

    previous = record.assigned_to
    if previous == assignee:
        return False
    check_assignee(by, type(record), record.owner, assignee)
    record.assigned_to = assignee
    record.assigned_at = timezone.now() if assignee else None
    save(record, by=by, update_fields=["assigned_to", "assigned_at", "updated_at"])
    permissions.move_assignee(record, previous=previous, new=assignee, owner=record.owner)
    entity = record._meta.model_name
    emit(
        f"{entity}.assigned",
        actor=by,
        **{f"{entity}_id": record.pk},
        assignee_id=assignee.pk if assignee else None,
        previous_id=previous.pk if previous else None,
    )
    return True
