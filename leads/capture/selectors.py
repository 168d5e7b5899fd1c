"""Reads of capture forms: the settings page and API (Managers and Admins), and the public side
(a form by its slug or key, the open lead a returning visitor's email matches)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from crm import permissions
from crm.errors import NotFound
from crm.models import User
from customfields import selectors as cf_selectors
from customfields.forms import form_key
from customfields.models import CustomFieldDefinition
from leads.models import (
    CAPTURE_ALWAYS_FIELD,
    CAPTURE_STANDARD_FIELDS,
    CaptureForm,
    Lead,
    TouchPoint,
)
from wfm.models import Workflow

MANAGE_PERMISSION = "leads.change_captureform"


def can_manage_capture_forms(user) -> bool:
    """Managers and Admins (the Manager role holds ``leads.change_captureform``)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_perm(MANAGE_PERMISSION))
    )


def capture_form_list(*, user: User) -> QuerySet[CaptureForm]:
    if not can_manage_capture_forms(user):
        return CaptureForm.objects.none()
    return CaptureForm.objects.select_related("owner", "workflow").order_by("name", "pk")


def capture_form_get(*, user: User, form_id) -> CaptureForm:
    form = capture_form_list(user=user).filter(pk=form_id).first()
    if form is None:
        raise NotFound("Capture form not found.")
    return form


def capture_form_for_slug(slug: str) -> CaptureForm | None:
    """The form of a hosted page, active or not (the page says when it is closed)."""
    return CaptureForm.objects.filter(slug=slug).first()


def capture_form_for_key(key: str) -> CaptureForm | None:
    """The active form a capture key names; None for an unknown key or an inactive form (both
    are refused alike)."""
    if not key or len(key) > 64:
        return None
    return CaptureForm.objects.filter(key=key, is_active=True).first()


def origin_is_allowed_anywhere(origin: str) -> bool:
    """Whether any active form lets ``origin`` post to it (a CORS preflight names no form)."""
    forms = CaptureForm.objects.filter(is_active=True).exclude(allowed_origins=[])
    return any(origin in f.allowed_origins for f in forms.only("allowed_origins"))


def open_lead_for_email(email: str) -> Lead | None:
    """The newest open lead (not converted, deleted or in a final step) with this contact email:
    a returning visitor's lead, which gets a touch point instead of a duplicate."""
    if not email:
        return None
    return (
        Lead.objects.filter(
            contact_email=email.strip().lower(),
            converted_at__isnull=True,
            wfm_project__current_step__is_final=False,
        )
        .order_by("-created_at")
        .first()
    )


def lead_workflows() -> QuerySet[Workflow]:
    """Active workflows a lead may start in (any but the deals' default pipeline)."""
    return Workflow.objects.filter(is_active=True).exclude(project_types__entity_type="deal")


def touch_point_list(*, user: User, lead: Lead) -> QuerySet[TouchPoint]:
    """The lead's touch points, newest first, if the user may see the lead."""
    if not permissions.can_view(user, lead):
        return TouchPoint.objects.none()
    return lead.touch_points.select_related("form").order_by("-at", "-pk")


# --- the fields a form shows ---------------------------------------------------------------------
@dataclass(frozen=True)
class CaptureField:
    """One input of a capture form: a lead field or a lead custom field."""

    name: str  # the lead field name, or the custom field's name
    label: str
    required: bool
    definition: CustomFieldDefinition | None = None

    @property
    def key(self) -> str:
        """The input's name in a submission (``cf_<name>`` for custom fields)."""
        return form_key(self.name) if self.definition else self.name


def field_choices(definitions=None) -> list[tuple[str, str, CustomFieldDefinition | None]]:
    """Every field a form may show besides the email: (name, label, definition)."""
    choices = [
        (name, label, None)
        for name, label in CAPTURE_STANDARD_FIELDS.items()
        if name != CAPTURE_ALWAYS_FIELD
    ]
    for definition in cf_selectors.active_fields("lead", definitions=definitions):
        choices.append((definition.name, definition.label, definition))
    return choices


def capture_fields(form: CaptureForm, *, definitions=None) -> list[CaptureField]:
    """The inputs ``form`` shows, in order: its chosen fields with the email after the name
    (first when there is none), then any required active lead custom field it does not list
    (a lead cannot be created without it). Fields since removed or deactivated are skipped."""
    if definitions is None:
        definitions = cf_selectors.definitions_for("lead")
    known: dict[str, tuple[str, CustomFieldDefinition | None]] = {}
    for name, label, definition in field_choices(definitions):
        known.setdefault(name, (label, definition))  # a lead field wins over a namesake
    out: list[CaptureField] = []
    email = CaptureField(CAPTURE_ALWAYS_FIELD, CAPTURE_STANDARD_FIELDS[CAPTURE_ALWAYS_FIELD], True)
    for item in form.fields or []:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in known or any(f.name == name for f in out):
            continue
        label, definition = known[name]
        required = bool(item.get("required")) or bool(definition and definition.is_required)
        out.append(CaptureField(name, label, required, definition))
    at = next((i + 1 for i, f in enumerate(out) if f.name == "contact_name"), 0)
    out.insert(at, email)
    listed = {f.name for f in out}
    for name, (label, definition) in known.items():
        if definition is not None and definition.is_required and name not in listed:
            out.append(CaptureField(name, label, True, definition))
    return out
