"""Writes of leads: lifecycle, assignment, workflow moves, qualification and conversion.

Every function takes the acting user as ``by``, checks permission through ``crm.permissions``,
runs in one transaction and emits its events through the outbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm import assignment, db, permissions
from crm import services as crm_services
from crm.errors import Conflict, DomainError, ValidationFailed
from crm.events import emit, emit_many
from crm.models import Organization, Person, User
from crm.records import merge as merging
from customfields import selectors as cf_selectors
from customfields.services import carried_values, validate_values
from leads import selectors
from leads.errors import AlreadyConverted
from leads.models import (
    ATTRIBUTION_FIELDS,
    EDITABLE_FIELDS,
    CaptureForm,
    Lead,
    TouchPoint,
)
from leads.scoring import services as scoring_services
from wfm import services as wfm_services
from wfm.models import Workflow, WorkflowStep


def _check_links(by: User, *, person: Person | None, organization: Organization | None) -> None:
    for field, obj in (("person", person), ("organization", organization)):
        if obj is not None and not permissions.can_view(by, obj):
            raise ValidationFailed(
                f"{field}: unknown {obj._meta.verbose_name}.",
                details={field: [f"Unknown {obj._meta.verbose_name}."]},
            )


@transaction.atomic
def lead_create(
    *,
    by: User,
    name: str,
    source: str = Lead.Source.OTHER,
    owner: User | None = None,
    assigned_to: User | None = None,
    custom_field_values: Mapping[str, Any] | None = None,
    workflow: Workflow | None = None,
    channel: str = TouchPoint.Channel.MANUAL,
    touch: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Lead:
    """Create a lead at the initial step of ``workflow`` (default: the lead project type's,
    Lead Qualification).

    ``fields`` are any of ``EDITABLE_FIELDS``; attribution fields set here are the first touch,
    which is also recorded as the lead's first ``TouchPoint`` (``channel``, plus ``touch``:
    ``form``, ``client_ip``, ``user_agent``, ``note``) when there is any attribution or
    ``touch`` is given.
    """
    crm_services.require_perm(by, "leads.add_lead", "You may not create leads.")
    crm_services.require_known_fields(fields, EDITABLE_FIELDS, "lead")
    owner = crm_services.check_owner_choice(by=by, owner=owner, model=Lead)
    _check_links(by, person=fields.get("person"), organization=fields.get("organization"))
    assignment.check_assignee(by, Lead, owner, assigned_to)
    values = validate_values(entity_type="lead", values=dict(custom_field_values or {}))

    project = wfm_services.project_start(
        by=by, project_type=selectors.lead_project_type(), workflow=workflow, reason="Lead created"
    )
    lead = Lead(
        name=(name or "").strip(),
        source=source,
        owner=owner,
        created_by=by,
        wfm_project=project,
        custom_field_values=values,
        **fields,
    )
    if lead.contact_email:
        lead.contact_email = lead.contact_email.strip().lower()
    if assigned_to is not None:
        lead.assigned_to = assigned_to
        lead.assigned_at = timezone.now()
    attribution = attribution_values(fields)
    if attribution or touch:
        lead.last_touch_source = attribution.get("utm_source", "")
        lead.last_touch_campaign = attribution.get("utm_campaign", "")
        lead.last_touch_at = timezone.now()
    crm_services.full_clean_or_raise(lead, exclude=["wfm_project"])
    crm_services.save(lead, by=by)
    permissions.grant_owner(owner, lead)
    if attribution or touch:
        _touch_point(lead=lead, channel=channel, attribution=attribution, **dict(touch or {}))
    emit("lead.created", actor=by, lead_id=lead.pk)
    if assigned_to is not None:
        permissions.move_assignee(lead, previous=None, new=assigned_to, owner=owner)
        emit(
            "lead.assigned", actor=by, lead_id=lead.pk, assignee_id=assigned_to.pk, previous_id=None
        )
    return lead


def lead_create_many(
    *, by: User, rows: Sequence[Mapping[str, Any]], channel: str = TouchPoint.Channel.MANUAL
) -> list[Lead | DomainError]:
    """Create many leads by the rules of ``lead_create`` (a spreadsheet import's batch).

    Each row holds ``lead_create``'s arguments (``name``, ``source``, ``owner``,
    ``assigned_to``, ``custom_field_values`` and ``EDITABLE_FIELDS``) and is checked as it
    checks one; a refused row comes back as its error, in its place, and the others are
    created. The writes are a few INSERTs for the whole batch: workflow projects and their
    first history rows, the leads and their history rows, object permissions, the
    ``lead.created`` / ``lead.assigned`` events. The leads are scored before they are
    inserted, and their events say so (``scored``): the rescoring handler leaves them alone.
    A row with attribution gets its first ``TouchPoint`` (``channel``) and last touch, as in
    ``lead_create``.
    """
    crm_services.require_perm(by, "leads.add_lead", "You may not create leads.")
    definitions = cf_selectors.definitions_for("lead")
    owners: dict[Any, User | DomainError] = {}
    assignees: dict[tuple, DomainError | None] = {}
    results: list[Lead | DomainError] = []
    leads: list[Lead] = []
    now = timezone.now()
    for row in rows:
        data = dict(row)
        try:
            name = data.pop("name", "")
            source = data.pop("source", Lead.Source.OTHER)
            owner = data.pop("owner", None)
            assigned_to = data.pop("assigned_to", None)
            cf_values = data.pop("custom_field_values", None)
            crm_services.require_known_fields(data, EDITABLE_FIELDS, "lead")
            key = getattr(owner, "pk", None)
            if key not in owners:
                try:
                    owners[key] = crm_services.check_owner_choice(by=by, owner=owner, model=Lead)
                except DomainError as exc:
                    owners[key] = exc
            if isinstance(owners[key], DomainError):
                raise owners[key]
            owner = owners[key]
            _check_links(by, person=data.get("person"), organization=data.get("organization"))
            pair = (owner.pk, getattr(assigned_to, "pk", None))
            if pair not in assignees:
                try:
                    assignment.check_assignee(by, Lead, owner, assigned_to)
                    assignees[pair] = None
                except DomainError as exc:
                    assignees[pair] = exc
            if assignees[pair] is not None:
                raise assignees[pair]
            values = validate_values(
                entity_type="lead", values=dict(cf_values or {}), definitions=definitions
            )
            lead = Lead(
                name=(name or "").strip(),
                source=source,
                owner=owner,
                created_by=by,
                custom_field_values=values,
                **data,
            )
            if lead.contact_email:
                lead.contact_email = lead.contact_email.strip().lower()
            if assigned_to is not None:
                lead.assigned_to = assigned_to
                lead.assigned_at = now
            attribution = attribution_values(data)
            if attribution:  # the first touch, as lead_create records it
                lead.last_touch_source = attribution.get("utm_source", "")
                lead.last_touch_campaign = attribution.get("utm_campaign", "")
                lead.last_touch_at = now
            crm_services.full_clean_or_raise(
                lead,
                exclude=[
                    "wfm_project",
                    "owner",
                    "created_by",
                    "assigned_to",
                    "person",
                    "organization",
                ],
                validate_unique=False,  # a new UUID key
            )
        except DomainError as exc:
            results.append(exc)
            continue
        results.append(lead)
        leads.append(lead)
    if not leads:
        return results
    projects = wfm_services.project_start_many(
        by=by, project_type=selectors.lead_project_type(), count=len(leads), reason="Lead created"
    )
    for lead, project in zip(leads, projects, strict=True):
        lead.wfm_project = project
    scores = scoring_services.score_new_leads(leads, now=now)
    db.insert(Lead, leads)
    history = Lead.history.model
    tracked = [f.attname for f in history.tracked_fields]
    db.insert_rows(
        history,
        ["history_date", "history_user_id", "history_change_reason", "history_type", *tracked],
        ((now, by.pk, "", "+", *[getattr(lead, name) for name in tracked]) for lead in leads),
    )
    by_owner: dict[int, list[Lead]] = {}
    by_assignee: dict[int, list[Lead]] = {}
    for lead in leads:
        by_owner.setdefault(lead.owner_id, []).append(lead)
        if lead.assigned_to_id and lead.assigned_to_id != lead.owner_id:  # owners hold them
            by_assignee.setdefault(lead.assigned_to_id, []).append(lead)
    db.insert(
        TouchPoint,
        [
            TouchPoint(lead=lead, channel=channel, at=now, **attribution)
            for lead in leads
            if (
                attribution := attribution_values({k: getattr(lead, k) for k in ATTRIBUTION_FIELDS})
            )
        ],
    )
    for batch in by_owner.values():
        permissions.grant_new(batch[0].owner, batch, permissions.OWNER_ACTIONS)
    for batch in by_assignee.values():
        permissions.grant_new(batch[0].assigned_to, batch, permissions.ASSIGNEE_ACTIONS)
    emit_many(
        "lead.created", [{"lead_id": str(lead.pk), "scored": True} for lead in leads], actor=by
    )
    assigned = [lead for lead in leads if lead.assigned_to_id]
    if assigned:
        emit_many(
            "lead.assigned",
            [
                {"lead_id": str(x.pk), "assignee_id": x.assigned_to_id, "previous_id": None}
                for x in assigned
            ],
            actor=by,
        )
    scoring_services.record_new_scores(scores, by=by)
    return results


@transaction.atomic
def lead_update(*, by: User, lead: Lead, data: Mapping[str, Any]) -> Lead:
    """Change a lead's fields, its owner (as ``crm.services.change_owner`` allows) and custom
    field values (validated as a partial update).

    Attribution is first-touch: an attribution field that already has a value keeps it; the
    later value is reported as a touch in the ``lead.updated`` event instead.
    """
    crm_services.require_change(by, lead)
    _refuse_if_converted(lead, "edited")
    data = dict(data)
    owner = data.pop("owner", lead.owner)
    cf_values = data.pop("custom_field_values", None)
    if "contact_email" in data:
        data["contact_email"] = (data["contact_email"] or "").strip().lower()
    touch = {
        k: data.pop(k)
        for k in ATTRIBUTION_FIELDS
        if k in data and getattr(lead, k) and data[k] != getattr(lead, k)
    }
    _check_links(
        by,
        person=data.get("person") if data.get("person") != lead.person else None,
        organization=data.get("organization")
        if data.get("organization") != lead.organization
        else None,
    )
    changed = crm_services.apply_changes(lead, data, EDITABLE_FIELDS)
    if cf_values is not None:
        values = validate_values(
            entity_type="lead",
            values=dict(cf_values),
            partial=True,
            existing=lead.custom_field_values,
        )
        if values != lead.custom_field_values:
            lead.custom_field_values = values
            changed.append("custom_field_values")
    if owner != lead.owner:
        crm_services.change_owner(by=by, obj=lead, owner=owner)
        changed.append("owner")
    if not changed and not touch:
        return lead
    if changed:
        crm_services.full_clean_or_raise(lead, exclude=["wfm_project"])
        crm_services.save(lead, by=by, update_fields=[*changed, "updated_at"])
    emit("lead.updated", actor=by, lead_id=lead.pk, fields=changed, touch=touch)
    return lead


@transaction.atomic
def lead_delete(*, by: User, lead: Lead) -> None:
    crm_services.soft_delete(by=by, obj=lead)
    emit("lead.updated", actor=by, lead_id=lead.pk, fields=["deleted_at"], touch={})


@transaction.atomic
def lead_restore(*, by: User, lead: Lead) -> None:
    crm_services.restore(by=by, obj=lead)
    emit("lead.updated", actor=by, lead_id=lead.pk, fields=["deleted_at"], touch={})


@transaction.atomic
def lead_assign(*, by: User, lead: Lead, assignee: User | None) -> Lead:
    """Hand a lead to ``assignee`` (None: unassign). Object permissions follow the assignee."""
    crm_services.require_change(by, lead)
    _refuse_if_converted(lead, "reassigned")
    assignment.assign(by=by, record=lead, assignee=assignee)
    return lead


def adapter_for(lead: Lead):
    """The WFM adapter of a lead: its guards see fields, custom fields (by label) and score."""
    from customfields.selectors import definitions_for
    from wfm.adapters import ModelAdapter

    labels = {d.name: d.label for d in definitions_for("lead")}
    return ModelAdapter(lead, score_field="lead_score", custom_labels=labels)


@transaction.atomic
def lead_transition(*, by: User, lead: Lead, to_step: WorkflowStep | int, reason: str = "") -> Lead:
    """Move a lead along its workflow's transitions (the board, the API).

    Moving onto the qualified step qualifies it; the disqualified step needs a reason and
    disqualifies it; the converted step is reached only through ``lead_convert``.
    """
    crm_services.require_change(by, lead)
    _refuse_if_converted(lead, "moved")
    step = _step(to_step)
    if (
        step.workflow_id == lead.wfm_project.workflow_id
        and step.outcome == WorkflowStep.Outcome.WON
    ):
        raise Conflict(
            "Use Convert to turn a lead into a deal; it cannot be dragged to the converted step.",
            code="use_convert",
            details={"to_step": ["Use Convert."]},
        )
    if step.outcome == WorkflowStep.Outcome.LOST:
        if not (reason or "").strip():  # the move's condition, like a step's guard: 409
            raise Conflict(
                f"Moving the lead to “{step.name}” needs a reason.",
                code="reason_required",
                details={"reason": ["A reason is required."]},
            )
        return lead_disqualify(by=by, lead=lead, reason=reason, _step=step)
    wfm_services.project_transition(
        by=by, project=lead.wfm_project, to_step=step, reason=reason, adapter=adapter_for(lead)
    )
    if step == selectors.qualified_step(lead.wfm_project.workflow) and not lead.is_qualified:
        _mark_qualified(by=by, lead=lead, notes=reason)
    return lead


def _mark_qualified(*, by: User, lead: Lead, notes: str) -> None:
    lead.is_qualified = True
    lead.qualified_at = timezone.now()
    lead.qualified_by = by
    if notes:
        lead.qualification_notes = notes
    lead.disqualify_reason = ""
    crm_services.save(
        lead,
        by=by,
        update_fields=[
            "is_qualified",
            "qualified_at",
            "qualified_by",
            "qualification_notes",
            "disqualify_reason",
            "updated_at",
        ],
    )
    emit("lead.qualified", actor=by, lead_id=lead.pk)


@transaction.atomic
def lead_qualify(*, by: User, lead: Lead, notes: str = "", system: bool = False) -> Lead:
    """Qualify a lead (notes, who, when) and move it to the qualified step if it is before it.

    ``system``: the move is made by the system (auto-qualification), recorded as such.
    """
    if not system:
        crm_services.require_change(by, lead)
    _refuse_if_converted(lead, "qualified")
    if lead.is_qualified:
        raise Conflict("This lead is already qualified.", code="already_qualified")
    project = lead.wfm_project
    target = selectors.qualified_step(project.workflow)
    current = project.current_step
    if target is not None and not current.is_final and current.order < target.order:
        wfm_services.project_transition(
            by=by,
            project=project,
            to_step=target,
            reason=notes or "Qualified",
            adapter=adapter_for(lead),
            system=True,
        )
    elif current.is_final:
        raise Conflict(
            f"A lead in “{current.name}” cannot be qualified; reopen it first.",
            code="lead_closed",
        )
    _mark_qualified(by=by, lead=lead, notes=notes)
    return lead


@transaction.atomic
def lead_disqualify(
    *, by: User, lead: Lead, reason: str, _step: WorkflowStep | None = None
) -> Lead:
    """Disqualify a lead with a reason and move it to the workflow's disqualified step."""
    crm_services.require_change(by, lead)
    _refuse_if_converted(lead, "disqualified")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Give a reason for disqualifying the lead.",
            code="reason_required",
            details={"reason": ["A reason is required."]},
        )
    project = lead.wfm_project
    target = _step or selectors.disqualified_step(project.workflow)
    if target is None:
        raise Conflict(
            "This lead's workflow has no disqualified step.", code="no_disqualified_step"
        )
    wfm_services.project_transition(
        by=by,
        project=project,
        to_step=target,
        reason=reason,
        adapter=adapter_for(lead),
        system=_step is None,
    )
    lead.is_qualified = False
    lead.disqualify_reason = reason
    crm_services.save(
        lead, by=by, update_fields=["is_qualified", "disqualify_reason", "updated_at"]
    )
    emit("lead.disqualified", actor=by, lead_id=lead.pk, reason=reason)
    return lead


# --- conversion -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConversionResult:
    lead: Lead
    person: Person | None
    organization: Organization | None
    deal: Any  # deals.models.Deal | None
    created: dict[str, bool]


@transaction.atomic
def lead_convert(
    *,
    by: User,
    lead: Lead,
    person: bool | Person = True,
    organization: bool | Organization = True,
    deal: bool | Mapping[str, Any] = True,
) -> ConversionResult:
    """Convert a lead, in one transaction, into a person, an organization and a deal.

    ``person`` / ``organization``: True creates one from the lead's contact/company data (or
    links the lead's own linked record), an instance links that existing record, False skips.
    ``deal``: True creates one from the lead, a mapping overrides its fields
    (``name``, ``amount``, ``expected_close_date``, ``currency``), False skips.
    The records it creates take over the lead's custom field values whose names are their
    own active fields (``customfields.services.carried_values``); one that still misses a
    required value refuses the conversion, naming the record and the field. The lead moves
    to its converted step as a recorded system move. A converted lead cannot be converted
    again. If any part fails, nothing is left behind.
    """

    # Lock first: two simultaneous conversions of one lead serialize; the second sees the first.
    lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related(
            "wfm_project__workflow", "wfm_project__current_step", "owner", "person", "organization"
        )
        .get(pk=lead.pk)
    )
    crm_services.require_change(by, lead)
    if lead.is_converted:
        raise AlreadyConverted(
            f"“{lead}” was already converted on {lead.converted_at:%Y-%m-%d}.",
            details={"lead": ["Already converted."]},
        )
    if lead.is_deleted:
        raise Conflict("A deleted lead cannot be converted.", code="record_deleted")
    current = lead.wfm_project.current_step
    if current.is_final:
        raise Conflict(
            f"A lead in “{current.name}” cannot be converted; reopen it first.",
            code="lead_closed",
        )
    if not (person or organization or deal):
        raise ValidationFailed(
            "Choose at least one of person, organization or deal.",
            details={"non_field_errors": ["Choose at least one record to create or link."]},
        )
    created = {"person": False, "organization": False, "deal": False}
    definitions = cf_selectors.definitions_for("lead", "person", "organization", "deal")

    org_obj = _conversion_organization(by, lead, organization, created, definitions)
    person_obj = _conversion_person(by, lead, person, org_obj, created, definitions)
    deal_obj = _conversion_deal(by, lead, deal, person_obj, org_obj, created, definitions)

    target = selectors.converted_step(lead.wfm_project.workflow)
    if target is None:
        raise Conflict("This lead's workflow has no converted step.", code="no_converted_step")
    wfm_services.project_transition(
        by=by,
        project=lead.wfm_project,
        to_step=target,
        reason="Converted",
        adapter=adapter_for(lead),
        system=True,
    )
    lead.converted_at = timezone.now()
    lead.converted_by = by
    lead.converted_to_person = person_obj
    lead.converted_to_organization = org_obj
    lead.converted_to_deal = deal_obj
    if person_obj is not None and lead.person_id is None:
        lead.person = person_obj
    if org_obj is not None and lead.organization_id is None:
        lead.organization = org_obj
    crm_services.save(
        lead,
        by=by,
        update_fields=[
            "converted_at",
            "converted_by",
            "converted_to_person",
            "converted_to_organization",
            "converted_to_deal",
            "person",
            "organization",
            "updated_at",
        ],
    )
    emit(
        "lead.converted",
        actor=by,
        lead_id=lead.pk,
        person_id=person_obj.pk if person_obj else None,
        organization_id=org_obj.pk if org_obj else None,
        deal_id=deal_obj.pk if deal_obj else None,
        created=created,
    )
    return ConversionResult(lead, person_obj, org_obj, deal_obj, created)


DEAL_OVERRIDES = frozenset({"name", "amount", "currency", "expected_close_date"})


@contextmanager
def _creating(kind: str) -> Iterator[None]:
    """Say which new record a refusal is about. The person, organization and deal services
    report their fields (custom ones included) under the same names as the lead's own, so a
    bare "VAT id: this field is required." would read as a problem with the lead."""
    try:
        yield
    except ValidationFailed as exc:
        details = {
            f"{kind}.{key}": [f"New {kind}: {message}" for message in messages]
            for key, messages in exc.details.items()
        }
        hint = ""
        if any(key.startswith(f"{kind}.custom_field_values.") for key in details):
            other = "convert without a deal" if kind == "deal" else f"link an existing {kind}"
            hint = (
                " Give the lead a value in a custom field of the same name to carry over,"
                f" or {other}."
            )
        raise ValidationFailed(
            f"The new {kind} cannot be created: {exc.message}{hint}",
            details=details,
            code=exc.code,
        ) from exc


def _conversion_deal(by, lead: Lead, choice, person_obj, org_obj, created: dict, definitions):
    from deals import services as deal_services
    from deals.models import Deal

    if not choice:
        return None
    overrides = dict(choice) if isinstance(choice, Mapping) else {}
    unknown = set(overrides) - DEAL_OVERRIDES
    if unknown:
        raise ValidationFailed(
            f"Unknown deal fields: {', '.join(sorted(unknown))}.",
            details={f"deal.{k}": ["Unknown field."] for k in sorted(unknown)},
        )
    amount = overrides.get("amount")
    created["deal"] = True
    with _creating("deal"):
        return deal_services.deal_create(
            by=by,
            name=overrides.get("name") or lead.name,
            amount=amount if amount is not None else (lead.estimated_value or Decimal("0")),
            currency=overrides.get("currency") or lead.currency,
            expected_close_date=overrides.get("expected_close_date") or lead.estimated_close_date,
            person=person_obj,
            organization=org_obj,
            owner=_conversion_owner(by, lead, Deal),
            assigned_to=assignment.eligible(lead.assigned_to, Deal),
            custom_field_values=_carried(lead, "deal", definitions),
        )


def _conversion_organization(
    by, lead: Lead, choice, created: dict, definitions
) -> Organization | None:
    if choice is False or choice is None:
        return None
    if isinstance(choice, Organization):
        _check_links(by, person=None, organization=choice)
        return choice
    if lead.organization_id:
        return lead.organization
    if not lead.company_name:  # the lead's data, not the request: 409
        raise Conflict(
            "The lead has no company name to create an organization from.",
            code="no_company_name",
            details={"organization": ["No company name on the lead; link an existing one."]},
        )
    created["organization"] = True
    with _creating("organization"):
        return crm_services.organization_create(
            by=by,
            name=lead.company_name,
            domain=selectors.email_domain(lead.contact_email),
            owner=lead.owner
            if assignment.eligible(lead.owner, Organization)
            and lead.owner != by
            and permissions.has_all_access(by, Organization, "change")
            else None,
            custom_field_values=_carried(lead, "organization", definitions),
        )


def _conversion_person(
    by, lead: Lead, choice, org: Organization | None, created: dict, definitions
):
    if choice is False or choice is None:
        return None
    if isinstance(choice, Person):
        _check_links(by, person=choice, organization=None)
        return choice
    if lead.person_id:
        return lead.person
    if not (lead.contact_name or lead.contact_email):
        # The request is sound; the lead's state refuses it (409), as the schema says.
        raise Conflict(
            "The lead has no contact to create a person from.",
            code="no_contact",
            details={"person": ["No contact name or email on the lead; link an existing one."]},
        )
    first, _, last = (lead.contact_name or lead.contact_email.split("@")[0]).partition(" ")
    created["person"] = True
    with _creating("person"):
        return crm_services.person_create(
            by=by,
            first_name=first,
            last_name=last,
            email=lead.contact_email,
            phone=lead.contact_phone,
            organization=org,
            owner=_conversion_owner(by, lead, Person),
            custom_field_values=_carried(lead, "person", definitions),
        )


def _conversion_owner(by: User, lead: Lead, model) -> User:
    """New records belong to the lead's owner when the converter may give records to others
    (a manager converting a rep's lead), otherwise to the converter."""
    owner = assignment.eligible(lead.owner, model)
    if owner and owner != by and permissions.has_all_access(by, model, "change"):
        return owner
    return by


def _carried(lead: Lead, entity_type: str, definitions) -> dict:
    return carried_values(
        lead.custom_field_values, from_type="lead", to_type=entity_type, definitions=definitions
    )


def _refuse_if_converted(lead: Lead, verb: str) -> None:
    """Lock the lead's row and refuse if it is converted.

    The caller's instance may be stale (another request converted the lead meanwhile): the
    state is re-read under the row lock, which also serializes concurrent writes to the lead.
    """
    converted_at, deleted_at = (
        Lead.all_objects.select_for_update()
        .filter(pk=lead.pk)
        .values_list("converted_at", "deleted_at")
        .get()
    )
    lead.converted_at, lead.deleted_at = converted_at, deleted_at
    if lead.is_converted:
        raise AlreadyConverted(f"A converted lead cannot be {verb}.")


def _step(to_step: WorkflowStep | int) -> WorkflowStep:
    if isinstance(to_step, WorkflowStep):
        return to_step
    step = WorkflowStep.objects.select_related("status").filter(pk=to_step).first()
    if step is None:
        raise ValidationFailed("Unknown step.", details={"to_step": ["Unknown step."]})
    return step


# --- merge (issue 18) ---------------------------------------------------------------------------
def _refuse_converted_losers(survivor: Lead, merged: list[Lead]) -> None:
    converted = [lead for lead in merged if lead.is_converted]
    if converted:
        raise Conflict(
            f"“{converted[0]}” is converted: keep it as the lead to merge into, so its person, "
            "organization and deal stay linked.",
            code="merge_converted",
            details={"survivor": ["A converted lead can only be the one kept."]},
        )


def _merged_lead_fields(plan) -> None:
    """What the survivor derives from its activities, touches and analyses, which now include
    the merged-away leads'."""
    lead, records = plan.survivor, plan.records
    firsts = [r.first_activity_at for r in records if r.first_activity_at]
    lasts = [r.last_activity_at for r in records if r.last_activity_at]
    derived = {
        "first_activity_at": min(firsts) if firsts else None,
        "last_activity_at": max(lasts) if lasts else None,
    }
    touched = [r for r in records if r.last_touch_at]
    if touched:
        latest = max(touched, key=lambda r: r.last_touch_at)
        derived.update(
            last_touch_source=latest.last_touch_source,
            last_touch_campaign=latest.last_touch_campaign,
            last_touch_at=latest.last_touch_at,
        )
    if not lead.ai_insights:
        analysed = [r for r in merging.newest_first(plan.merged) if r.ai_insights]
        if analysed:
            derived["ai_insights"] = analysed[0].ai_insights
    for name, value in derived.items():
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            plan.changed.append(name)


@transaction.atomic
def lead_merge(
    *, by: User, survivor: Lead, merged: list[Lead], fields: Mapping[str, Any] | None = None
) -> Lead:
    """Merge leads into ``survivor`` (issue 18).

    ``fields`` maps a field (``EDITABLE_FIELDS``, custom fields as ``cf_<name>``) to the id of
    the lead to take its value from; the others take the newest non-empty value. The merged
    leads' activities, touch points, score history, enrollments, analyses and object
    permissions move to the survivor, which keeps its own workflow step and history; they are
    soft-deleted with a pointer to it. ``by`` must be allowed to change every lead; a
    converted lead can only be the survivor. The survivor is rescored. ``lead.merged``.
    """
    lead = crm_services.record_merge(
        by=by,
        model=Lead,
        survivor=survivor,
        merged=merged,
        fields=fields,
        standard_fields=EDITABLE_FIELDS,
        check=_refuse_converted_losers,
        finish=_merged_lead_fields,
        clean_exclude=["wfm_project"],
    )
    return scoring_services.lead_rescore(by=by, lead=lead)


# --- touch points (issue 15) --------------------------------------------------------------------
def attribution_values(values: Mapping[str, Any]) -> dict[str, str]:
    """The non-empty attribution values of ``values``, as text, trimmed."""
    out = {}
    for key in ATTRIBUTION_FIELDS:
        value = values.get(key)
        if value not in (None, ""):
            out[key] = str(value).strip()
    return {k: v for k, v in out.items() if v}


def _touch_point(
    *,
    lead: Lead,
    channel: str,
    attribution: Mapping[str, str],
    form: CaptureForm | None = None,
    client_ip: str | None = None,
    user_agent: str = "",
    note: str = "",
    at=None,
) -> TouchPoint:
    touch = TouchPoint(
        lead=lead,
        channel=channel,
        form=form,
        client_ip=client_ip or None,
        user_agent=(user_agent or "")[:500],
        note=(note or "")[:500],
        at=at or timezone.now(),
        **attribution,
    )
    crm_services.full_clean_or_raise(touch, exclude=["lead", "form"])
    touch.save()
    return touch


@transaction.atomic
def touch_point_add(
    *,
    by: User,
    lead: Lead,
    channel: str,
    attribution: Mapping[str, str],
    form: CaptureForm | None = None,
    note: str = "",
    client_ip: str | None = None,
    user_agent: str = "",
) -> TouchPoint:
    """Record a later marketing touch of an existing lead and return its ``TouchPoint``.

    For a form submitted again, an import row or an API call that matches an open lead (by
    email, say) instead of creating a duplicate. ``by`` must be allowed to change the lead
    (capture runs as the system user). ``channel`` is a ``TouchPoint.Channel`` value
    ("capture", "import", "api", "manual", "email"); ``attribution`` holds any of
    ``ATTRIBUTION_FIELDS`` (utm_source … landing_page; unknown keys and empty values are
    ignored). The lead keeps its first touch (its own attribution fields are only filled when
    it has none yet) and gets this one as its last touch (``last_touch_*``). Emits
    ``lead.touched`` (lead_id, touch_point_id, channel, form_id, attribution, note), which the
    activities app turns into a note on the lead's timeline and automation can trigger on.
    """
    crm_services.require_change(by, lead)
    _refuse_if_converted(lead, "touched")
    if channel not in TouchPoint.Channel.values:
        raise ValidationFailed(
            f"Unknown touch channel “{channel}”.", details={"channel": ["Unknown channel."]}
        )
    clean = attribution_values(attribution)
    touch = _touch_point(
        lead=lead,
        channel=channel,
        attribution=clean,
        form=form,
        client_ip=client_ip,
        user_agent=user_agent,
        note=note,
    )
    changed = ["last_touch_source", "last_touch_campaign", "last_touch_at"]
    lead.last_touch_source = clean.get("utm_source", "")
    lead.last_touch_campaign = clean.get("utm_campaign", "")
    lead.last_touch_at = touch.at
    if clean and not any(getattr(lead, k) for k in ATTRIBUTION_FIELDS):
        for key, value in clean.items():  # a lead made by hand: this is its first touch
            setattr(lead, key, value)
            changed.append(key)
    crm_services.save(lead, by=by, update_fields=[*changed, "updated_at"])
    emit(
        "lead.touched",
        actor=by,
        lead_id=lead.pk,
        touch_point_id=touch.pk,
        channel=channel,
        form_id=str(form.pk) if form else None,
        form_name=form.name if form else "",
        attribution=clean,
        note=touch.note,
    )
    return touch


def lead_record_touch(*, by: User | None, lead: Lead, attribution: Mapping[str, str]) -> Lead:
    """Record a marketing touch through the API (kept for callers of issue 5; prefer
    ``touch_point_add``)."""
    touch_point_add(
        by=by or crm_services.system_user(),
        lead=lead,
        channel=TouchPoint.Channel.API,
        attribution=attribution,
    )
    return lead
