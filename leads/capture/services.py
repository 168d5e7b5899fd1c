"""Writes of web-to-lead capture: capture forms (Managers and Admins) and the capture itself.

``lead_capture`` is what the hosted page and the public endpoint call once the submission has
passed its abuse checks and its shape is valid. It runs as the system user through
``leads.services`` like any other lead write, so ``lead.created`` (or ``lead.touched``) goes
through the outbox: assignment rules, welcome tasks, scoring, webhooks and live boards react
as they do to any lead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import transaction
from django.utils.text import slugify

from crm import assignment
from crm import services as crm_services
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import User
from leads import services as lead_services
from leads.capture import selectors
from leads.models import (
    CAPTURE_ALWAYS_FIELD,
    CAPTURE_DEFAULT_FIELDS,
    CaptureForm,
    Lead,
    TouchPoint,
    new_capture_key,
)

SETTINGS_FIELDS = (
    "name",
    "slug",
    "fields",
    "default_source",
    "default_sub_source",
    "owner",
    "workflow",
    "thank_you_message",
    "redirect_url",
    "allowed_origins",
    "is_active",
    "consent_text",
)
# An origin as browsers send it: scheme, host and an optional port; nothing after.
ORIGIN_RE = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]{1,5})?")  # fullmatch
ORIGINS_MAX = 20
# Where visitors are sent after a submission: an http(s) URL in printable ASCII without square
# brackets (what a browser puts in a Location header as is; other characters percent-encoded,
# and a host named by name or IPv4 address, not IPv6, whose checks no schema pattern can state).
REDIRECT_URL_CHARS = "[!-Z^-~]"
REDIRECT_URL_VALIDATORS = (
    RegexValidator(
        rf"^{REDIRECT_URL_CHARS}*\Z",
        "Use printable ASCII without [ ] (percent-encode anything else).",
    ),
    URLValidator(schemes=["http", "https"]),
)


def clean_redirect_url(value: str) -> str:
    value = (value or "").strip()
    if value:
        try:
            for validator in REDIRECT_URL_VALIDATORS:
                validator(value)
        except DjangoValidationError as exc:
            message = f"Enter an http:// or https:// address. {' '.join(exc.messages)}".strip()
            raise ValidationFailed(message, details={"redirect_url": [message]}) from exc
    return value


def _require_manager(by: User) -> None:
    if not selectors.can_manage_capture_forms(by):
        raise PermissionDenied("Only managers and administrators manage capture forms.")


def clean_fields(value: Any, *, definitions=None) -> list[dict]:
    """A form's field list: ``[{"name", "required"}]`` of known fields, each once (the last
    mention wins), the email left out (always shown and required)."""
    message = 'Give a list of {"name": …, "required": true|false}.'
    if not isinstance(value, list):
        raise ValidationFailed(message, details={"fields": [message]})
    known = {name for name, _, _ in selectors.field_choices(definitions)}
    out: dict[str, bool] = {}
    errors = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            errors.append(message)
            continue
        name = item["name"]
        if name == CAPTURE_ALWAYS_FIELD:
            continue
        if name not in known:
            errors.append(f"Unknown field “{name}”.")
            continue
        out.pop(name, None)
        out[name] = bool(item.get("required", False))
    if errors:
        raise ValidationFailed(errors[0], details={"fields": errors})
    return [{"name": name, "required": required} for name, required in out.items()]


def clean_origins(value: Any) -> list[str]:
    """Allowed origins (scheme, host and optional port, nothing else), lower-cased, each once."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        message = 'Give a list of origins, e.g. ["https://www.example.com"].'
        raise ValidationFailed(message, details={"allowed_origins": [message]})
    out = []
    for raw in value:
        origin = raw.lower()
        if not ORIGIN_RE.fullmatch(origin):
            message = (
                f"“{raw}” is not an origin: give scheme and host, e.g. https://www.example.com."
            )
            raise ValidationFailed(message, details={"allowed_origins": [message]})
        if origin not in out:
            out.append(origin)
    if len(out) > ORIGINS_MAX:
        message = f"At most {ORIGINS_MAX} origins."
        raise ValidationFailed(message, details={"allowed_origins": [message]})
    return out


def _unique_slug(base: str, *, exclude=None) -> str:
    base = (slugify(base) or "form")[:50].strip("-") or "form"
    taken = set(
        CaptureForm.objects.filter(slug__startswith=base)
        .exclude(pk=getattr(exclude, "pk", None))
        .values_list("slug", flat=True)
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _check_settings(form: CaptureForm, data: dict) -> dict:
    if "fields" in data:
        data["fields"] = clean_fields(data["fields"])
    if "allowed_origins" in data:
        data["allowed_origins"] = clean_origins(data["allowed_origins"])
    for name in ("name", "default_sub_source", "thank_you_message", "consent_text"):
        if name in data:
            data[name] = (data[name] or "").strip()
    if "redirect_url" in data:
        data["redirect_url"] = clean_redirect_url(data["redirect_url"])
    if data.get("owner") is not None:
        assignment.check_assignable(data["owner"], Lead, field="owner")
    workflow = data.get("workflow")
    if workflow is not None and not selectors.lead_workflows().filter(pk=workflow.pk).exists():
        message = f"“{workflow}” is not an active lead workflow."
        raise ValidationFailed(message, details={"workflow": [message]})
    if "slug" in data:
        slug = slugify(data["slug"] or "")
        if data["slug"] and not slug:
            message = "Use letters, digits and hyphens."
            raise ValidationFailed(message, details={"slug": [message]})
        if slug and CaptureForm.objects.filter(slug=slug).exclude(pk=form.pk).exists():
            message = f"Another form already uses /f/{slug}/."
            raise ValidationFailed(message, details={"slug": [message]})
        data["slug"] = slug
    return data


@transaction.atomic
def capture_form_create(*, by: User, name: str, **settings: Any) -> CaptureForm:
    """A new capture form (active, with a fresh key). ``settings``: any of ``SETTINGS_FIELDS``;
    without a slug, one is made from the name; without fields, the usual contact fields
    (``CAPTURE_DEFAULT_FIELDS``: name required, company, phone and message optional)."""
    _require_manager(by)
    crm_services.require_known_fields(settings, SETTINGS_FIELDS, "capture form")
    settings.setdefault("fields", [dict(item) for item in CAPTURE_DEFAULT_FIELDS])
    form = CaptureForm(created_by=by)
    data = _check_settings(form, {"name": name, **settings})
    for key, value in data.items():
        setattr(form, key, value)
    if not form.slug:
        form.slug = _unique_slug(form.name)
    crm_services.full_clean_or_raise(form)
    form.save()
    return form


@transaction.atomic
def capture_form_update(*, by: User, form: CaptureForm, data: Mapping[str, Any]) -> CaptureForm:
    _require_manager(by)
    data = _check_settings(form, dict(data))
    if data.get("slug") == "":
        data["slug"] = _unique_slug(data.get("name") or form.name, exclude=form)
    changed = crm_services.apply_changes(form, data, SETTINGS_FIELDS)
    if changed:
        crm_services.full_clean_or_raise(form)
        form.save(update_fields=[*changed, "updated_at"])
    return form


@transaction.atomic
def capture_form_rotate_key(*, by: User, form: CaptureForm) -> CaptureForm:
    """Give the form a new key: snippets with the old one are refused from now on."""
    _require_manager(by)
    form.key = new_capture_key()
    form.save(update_fields=["key", "updated_at"])
    crm_services.audit(by=by, action="capture_form.rotate_key", obj=form)
    return form


@transaction.atomic
def capture_form_delete(*, by: User, form: CaptureForm) -> None:
    """Delete a form; its leads and touch points stay (the touch points lose the link)."""
    _require_manager(by)
    form.delete()


# --- the capture ---------------------------------------------------------------------------------
# Who records a visitor's ticked consent checkbox: the privacy app registers its recorder at
# start-up (leads knows nothing of it, SPEC §4). ``recorder(lead=, form=, evidence=)``.
_consent_recorders: list[Callable[..., None]] = []


def register_consent_recorder(recorder: Callable[..., None]) -> None:
    if recorder not in _consent_recorders:
        _consent_recorders.append(recorder)


def _record_consent(lead: Lead, form: CaptureForm, attribution: Mapping[str, str]) -> None:
    evidence = {
        "form": str(form.pk),
        "form_name": form.name,
        "wording": form.consent_text,
        "page": attribution.get("landing_page", ""),
    }
    for recorder in _consent_recorders:
        recorder(lead=lead, form=form, evidence=evidence)


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    touch_point: TouchPoint | None
    created: bool  # a new lead; False: a touch point on the visitor's open lead


def _lead_name(form: CaptureForm, values: Mapping[str, Any]) -> str:
    who = values.get("company_name") or values.get("contact_name") or values["contact_email"]
    return (values.get("name") or f"{who} ({form.name})")[:200]


@transaction.atomic
def lead_capture(
    *,
    form: CaptureForm,
    values: Mapping[str, Any],
    custom_field_values: Mapping[str, Any] | None = None,
    attribution: Mapping[str, str] | None = None,
    client_ip: str | None = None,
    user_agent: str = "",
    marketing_consent: bool = False,
) -> CaptureResult:
    """Turn a submission of ``form`` into a lead, or a touch point on the visitor's open lead.

    ``values``: the lead fields the form shows (``contact_email`` at least), already shaped by
    the form; ``custom_field_values`` by name; ``attribution`` any of ``ATTRIBUTION_FIELDS``.
    A new lead gets the form's source, sub-source (the form's name when none is set), owner
    (and assignee; none: the assignment rules decide on ``lead.created``) and workflow, the
    attribution as its first touch and a first ``TouchPoint``. An email that matches an open
    lead adds a ``TouchPoint`` to it instead (``lead.touched``); its fields are not changed
    by an anonymous visitor. Submissions of one form are serialized (its row is locked), so a
    double click does not make two leads. ``marketing_consent``: the visitor ticked the form's
    consent checkbox (ignored on a form without one), recorded on the lead (new or open).
    """
    form = CaptureForm.objects.select_for_update().get(pk=form.pk)
    if not form.is_active:
        raise PermissionDenied("This form does not accept submissions.")
    by = crm_services.system_user()
    email = (values.get("contact_email") or "").strip().lower()
    if not email:
        raise ValidationFailed(
            "An email address is required.", details={"contact_email": ["This field is required."]}
        )
    attribution = dict(attribution or {})
    touch = {"form": form, "client_ip": client_ip, "user_agent": user_agent}
    existing = selectors.open_lead_for_email(email)
    if existing is not None:
        touch_point = lead_services.touch_point_add(
            by=by,
            lead=existing,
            channel=TouchPoint.Channel.CAPTURE,
            attribution=attribution,
            note=f"Form submitted again: {form.name}",
            **touch,
        )
        if marketing_consent and form.consent_text:
            _record_consent(existing, form, attribution)
        return CaptureResult(existing, touch_point, created=False)
    # An owner who may no longer own leads (deactivated, role changed) is skipped: the
    # assignment rules decide, and the visitor never hears of it.
    owner = assignment.eligible(form.owner, Lead) if form.owner and form.owner.is_active else None
    fields = {k: v for k, v in values.items() if k != "name" and v not in (None, "")}
    fields["contact_email"] = email
    lead = lead_services.lead_create(
        by=by,
        name=_lead_name(form, values),
        source=form.default_source,
        sub_source=form.default_sub_source or form.name[:100],
        owner=owner,
        assigned_to=owner,
        custom_field_values=custom_field_values,
        workflow=form.workflow,
        channel=TouchPoint.Channel.CAPTURE,
        touch={**touch, "note": f"Form submitted: {form.name}"},
        **fields,
        **lead_services.attribution_values(attribution),
    )
    if marketing_consent and form.consent_text:
        _record_consent(lead, form, attribution)
    return CaptureResult(lead, lead.touch_points.first(), created=True)
