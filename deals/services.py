"""Every write of deals (SPEC §4 services, §5 deals, §9 permissions).

Keyword-only functions, one transaction each, the acting user first (``by=``). They check
permission, validate (custom fields included), save with ``update_fields``, emit the
``deal.*`` events and move object permissions with the owner and the assignee.

A deal's place in its pipeline is its WFM project's step: moves go through
``wfm.services.project_transition`` (the workflow's transitions and the target step's guards
apply), and this module keeps ``won_at`` / ``lost_at`` / ``lost_reason`` in line with the
outcome of the step the deal lands on:

- a step with outcome *won* sets ``won_at`` (and clears the lost fields);
- a step with outcome *lost* needs a reason, sets ``lost_at`` and ``lost_reason``;
- any other step (reopening) clears all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm import assignment, permissions
from crm import services as crm_services
from crm.errors import Conflict, NotFound, ValidationFailed
from crm.events import emit
from crm.models import Organization, Person, User
from customfields.services import validate_values
from deals.models import EDITABLE_FIELDS, Deal
from wfm import selectors as wfm_selectors
from wfm import services as wfm_services
from wfm.adapters import ModelAdapter
from wfm.models import ProjectType, WorkflowStep

ENTITY_TYPE = "deal"


# --- checks -----------------------------------------------------------------------------------
def _check_links(by: User, *, person: Person | None, organization: Organization | None) -> None:
    """A linked person or organization the user may not see is reported as unknown."""
    for field, obj in (("person", person), ("organization", organization)):
        if obj is not None and (obj.is_deleted or not permissions.can_view(by, obj)):
            raise ValidationFailed(
                f"{field}: unknown {obj._meta.verbose_name}.",
                details={field: [f"Unknown {obj._meta.verbose_name}."]},
            )


def _require_live(deal: Deal, verb: str) -> None:
    if deal.is_deleted:
        raise Conflict(f"A deleted deal cannot be {verb}.", code="record_deleted")


def _clean_currency(currency: str | None) -> str:
    return (currency or settings.DEFAULT_CURRENCY).strip().upper()


def _deal_project_type(project_type: ProjectType | None) -> ProjectType:
    if project_type is None:
        return wfm_selectors.project_type_for(entity_type=ENTITY_TYPE)
    if project_type.entity_type != ProjectType.EntityType.DEAL:
        message = f"“{project_type}” is not a project type of deals."
        raise ValidationFailed(message, details={"project_type": [message]})
    return project_type


def adapter_for(deal: Deal) -> ModelAdapter:
    """The WFM adapter of a deal: its guards see the deal's fields and its custom fields (by
    their labels). Deals have no score, so a step's ``min_lead_score`` refuses them."""
    from customfields.selectors import definitions_for

    labels = {d.name: d.label for d in definitions_for(ENTITY_TYPE)}
    return ModelAdapter(deal, custom_labels=labels)


# --- create, update, delete -------------------------------------------------------------------
@transaction.atomic
def deal_create(
    *,
    by: User,
    owner: User | None = None,
    assigned_to: User | None = None,
    custom_field_values: dict | None = None,
    project_type: ProjectType | None = None,
    **fields: Any,
) -> Deal:
    """Create a deal at the initial step of its project type's workflow (Sales Pipeline).

    ``fields`` are any of ``EDITABLE_FIELDS`` (``name`` needed; no amount is 0). The owner
    (default: ``by``; someone else only for users who may change every deal) gets
    view/change/delete on it, the assignee view/change. Emits ``deal.created`` and, with an
    assignee, ``deal.assigned``.
    """
    crm_services.require_perm(by, "deals.add_deal", "You may not create deals.")
    crm_services.require_known_fields(fields, EDITABLE_FIELDS, "deal")
    owner = crm_services.check_owner_choice(by=by, owner=owner, model=Deal)
    _check_links(by, person=fields.get("person"), organization=fields.get("organization"))
    assignment.check_assignee(by, Deal, owner, assigned_to)
    values = validate_values(entity_type=ENTITY_TYPE, values=dict(custom_field_values or {}))
    project_type = _deal_project_type(project_type)

    fields = crm_services.trimmed(fields, ("name",))
    fields["currency"] = _clean_currency(fields.get("currency"))
    if fields.get("amount") is None:
        fields.pop("amount", None)  # the model's default
    deal = Deal(
        **fields,
        owner=owner,
        created_by=by,
        custom_field_values=values,
    )
    if assigned_to is not None:
        deal.assigned_to = assigned_to
        deal.assigned_at = timezone.now()
    # Validate before the project exists: a refused deal leaves no work behind.
    crm_services.full_clean_or_raise(deal, exclude=["wfm_project"])
    deal.wfm_project = wfm_services.project_start(
        by=by, project_type=project_type, reason="Deal created"
    )
    crm_services.save(deal, by=by)
    permissions.grant_owner(owner, deal)
    emit("deal.created", actor=by, deal_id=deal.pk)
    if assigned_to is not None:
        permissions.move_assignee(deal, previous=None, new=assigned_to, owner=owner)
        emit(
            "deal.assigned", actor=by, deal_id=deal.pk, assignee_id=assigned_to.pk, previous_id=None
        )
    return deal


@transaction.atomic
def deal_update(*, by: User, deal: Deal, data: Mapping[str, Any]) -> Deal:
    """Change a deal's fields.

    ``data`` holds any of ``EDITABLE_FIELDS`` plus ``owner`` (managers), ``assigned_to`` (as
    ``deal_assign``) and ``custom_field_values`` (validated as a partial update: the names
    given change, ``None`` clears one, the others keep their values).
    """
    crm_services.require_change(by, deal)
    _require_live(deal, "edited")
    data = dict(data)
    has_assignee = "assigned_to" in data
    assignee = data.pop("assigned_to", None)
    owner = data.pop("owner", deal.owner)
    cf_values = data.pop("custom_field_values", None)
    if "currency" in data:
        data["currency"] = _clean_currency(data["currency"])
    _check_links(
        by,
        person=data.get("person") if data.get("person") != deal.person else None,
        organization=data.get("organization")
        if data.get("organization") != deal.organization
        else None,
    )
    changed = crm_services.apply_changes(deal, data, EDITABLE_FIELDS)
    if cf_values is not None:
        values = validate_values(
            entity_type=ENTITY_TYPE,
            values=dict(cf_values),
            partial=True,
            existing=deal.custom_field_values,
        )
        if values != deal.custom_field_values:
            deal.custom_field_values = values
            changed.append("custom_field_values")
    if owner is not None and owner != deal.owner:
        crm_services.change_owner(by=by, obj=deal, owner=owner)
        changed.append("owner")
    if changed:
        crm_services.full_clean_or_raise(deal, exclude=["wfm_project"])
        crm_services.save(deal, by=by, update_fields=[*changed, "updated_at"])
        emit("deal.updated", actor=by, deal_id=deal.pk, fields=changed)
    if has_assignee and assignee != deal.assigned_to:
        deal_assign(by=by, deal=deal, assignee=assignee)
    return deal


@transaction.atomic
def deal_delete(*, by: User, deal: Deal) -> None:
    """Soft delete: the deal disappears from every list; an administrator can restore it."""
    crm_services.soft_delete(by=by, obj=deal)
    emit("deal.updated", actor=by, deal_id=deal.pk, fields=["deleted_at"])


@transaction.atomic
def deal_restore(*, by: User, deal: Deal) -> None:
    crm_services.restore(by=by, obj=deal)
    emit("deal.updated", actor=by, deal_id=deal.pk, fields=["deleted_at"])


# --- assignment -------------------------------------------------------------------------------
@transaction.atomic
def deal_assign(*, by: User, deal: Deal, assignee: User | None) -> Deal:
    """Hand a deal to ``assignee`` (None: unassign).

    Object permissions follow the assignee: the new one gets view/change, the previous one
    loses them unless they own the deal. Emits ``deal.assigned``.
    """
    crm_services.require_change(by, deal)
    _require_live(deal, "reassigned")
    assignment.assign(by=by, record=deal, assignee=assignee)
    return deal


# --- the pipeline -----------------------------------------------------------------------------
def _resolve_step(deal: Deal, to_step: WorkflowStep | int | str) -> WorkflowStep:
    if isinstance(to_step, WorkflowStep):
        return to_step
    try:
        step_id = int(to_step)
    except (TypeError, ValueError):
        step_id = None
    step = (
        WorkflowStep.objects.select_related("status").filter(pk=step_id).first()
        if step_id is not None
        else None
    )
    if step is None:
        message = f"There is no step {to_step!r}."
        raise ValidationFailed(message, details={"to_step": [message]})
    return step


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Give a reason for losing the deal.",
            code="reason_required",
            details={"reason": ["A reason is required."]},
        )
    max_length = Deal._meta.get_field("lost_reason").max_length
    if len(reason) > max_length:
        message = f"Keep the reason under {max_length} characters."
        raise ValidationFailed(message, details={"reason": [message]})
    return reason


@transaction.atomic
def deal_transition(*, by: User, deal: Deal, to_step: WorkflowStep | int, reason: str = "") -> Deal:
    """Move a deal to ``to_step`` along its workflow's transitions (board, detail page, API).

    Refused moves raise the WFM errors (``TransitionNotAllowed``, ``GuardFailed`` … → 409;
    a step of another workflow too). A lost step needs ``reason`` (409 ``reason_required``).
    Emits ``deal.won`` / ``deal.lost`` on those outcomes, ``deal.updated`` otherwise.
    """
    crm_services.require_change(by, deal)
    step = _resolve_step(deal, to_step)
    if step.outcome == WorkflowStep.Outcome.LOST:
        if not (reason or "").strip():  # the move's condition, like a step's guard: 409
            raise Conflict(
                f"Moving the deal to “{step.name}” needs a reason.",
                code="reason_required",
                details={"reason": ["A reason is required."]},
            )
        reason = _require_reason(reason)
    wfm_services.project_transition(
        by=by,
        project=deal.wfm_project,
        to_step=step,
        reason=reason,
        adapter=adapter_for(deal),
    )
    now = timezone.now()
    if step.outcome == WorkflowStep.Outcome.WON:
        outcome_fields = {"won_at": now, "lost_at": None, "lost_reason": ""}
    elif step.outcome == WorkflowStep.Outcome.LOST:
        outcome_fields = {"won_at": None, "lost_at": now, "lost_reason": reason}
    else:  # an open step: reopening clears the outcome
        outcome_fields = {"won_at": None, "lost_at": None, "lost_reason": ""}
    changed = crm_services.apply_changes(deal, outcome_fields, outcome_fields)
    if changed:
        crm_services.save(deal, by=by, update_fields=[*changed, "updated_at"])
    if step.outcome == WorkflowStep.Outcome.WON:
        emit("deal.won", actor=by, deal_id=deal.pk, step_id=step.pk, amount=deal.amount)
    elif step.outcome == WorkflowStep.Outcome.LOST:
        emit("deal.lost", actor=by, deal_id=deal.pk, step_id=step.pk, reason=reason)
    else:
        emit("deal.updated", actor=by, deal_id=deal.pk, fields=["step"], step_id=step.pk)
    return deal


def _outcome_step(deal: Deal, outcome: str) -> WorkflowStep:
    try:
        return wfm_selectors.outcome_step(workflow=deal.wfm_project.workflow, outcome=outcome)
    except NotFound as exc:
        raise Conflict(exc.message, code=f"no_{outcome}_step") from None


@transaction.atomic
def deal_mark_won(*, by: User, deal: Deal) -> Deal:
    """Move the deal to its workflow's won step (a transition must lead there)."""
    crm_services.require_change(by, deal)
    return deal_transition(by=by, deal=deal, to_step=_outcome_step(deal, "won"))


@transaction.atomic
def deal_mark_lost(*, by: User, deal: Deal, reason: str) -> Deal:
    """Move the deal to its workflow's lost step with a reason (from the list or free text)."""
    crm_services.require_change(by, deal)
    reason = _require_reason(reason)
    return deal_transition(by=by, deal=deal, to_step=_outcome_step(deal, "lost"), reason=reason)
