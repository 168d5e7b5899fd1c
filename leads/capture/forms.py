"""Forms of web-to-lead capture: a visitor's submission (the hosted page and the endpoint) and
a capture form's settings (the settings page). Shape only; the services decide."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from crm.errors import ValidationFailed
from crm.forms import SELECT, TEXT, add_domain_errors
from customfields.forms import form_field, values_from_cleaned_data
from leads.capture import selectors
from leads.capture.selectors import CaptureField
from leads.models import ATTRIBUTION_FIELDS, CaptureForm, Lead

# The longest message a visitor may type (the lead's description); the body limit
# (CAPTURE_MAX_BODY_BYTES) leaves room for it in any encoding.
MESSAGE_MAX_LENGTH = 5000
ATTRIBUTION_MAX_LENGTH = {"referrer_url": 1000, "landing_page": 1000}
URL_FIELDS = ("referrer_url", "landing_page")
CONSENT_FIELD = "marketing_consent"

# What a visitor's browser fills in for each lead field (autocomplete tokens).
AUTOCOMPLETE = {
    "contact_name": "name",
    "contact_email": "email",
    "contact_phone": "tel",
    "company_name": "organization",
}


def _standard_field(name: str, label: str, required: bool) -> forms.Field:
    attrs = {**TEXT, "autocomplete": AUTOCOMPLETE.get(name, "off")}
    if name == "contact_email":
        return forms.EmailField(
            label=label,
            required=True,
            max_length=254,
            widget=forms.EmailInput(attrs={**attrs, "inputmode": "email"}),
        )
    if name == "description":
        return forms.CharField(
            label=label,
            required=required,
            max_length=MESSAGE_MAX_LENGTH,
            widget=forms.Textarea(attrs={**attrs, "rows": 4}),
        )
    max_length = Lead._meta.get_field(name).max_length
    widget = forms.TextInput(attrs=attrs)
    if name == "contact_phone":
        widget = forms.TextInput(attrs={**attrs, "type": "tel"})
    return forms.CharField(label=label, required=required, max_length=max_length, widget=widget)


class CaptureSubmissionForm(forms.Form):
    """A visitor's submission of one capture form: the inputs it shows (``capture_fields``)."""

    def __init__(
        self, *args, inputs: list[CaptureField], definitions=None, consent_text: str = "", **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.inputs = inputs
        self._definitions = definitions
        for item in inputs:
            if item.definition is None:
                field = _standard_field(item.name, item.label, item.required)
            else:
                field = form_field(item.definition)
                field.required = item.required and not isinstance(field, forms.BooleanField)
            self.fields[item.key] = field
        if consent_text:  # optional, never pre-ticked: consent is given, not assumed
            self.fields[CONSENT_FIELD] = forms.BooleanField(
                required=False,
                label=consent_text,
                widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
            )

    def marketing_consent(self) -> bool:
        return bool(self.cleaned_data.get(CONSENT_FIELD))

    def lead_values(self) -> dict[str, Any]:
        return {i.name: self.cleaned_data.get(i.key) for i in self.inputs if i.definition is None}

    def custom_field_values(self) -> dict[str, Any]:
        values = values_from_cleaned_data("lead", self.cleaned_data, definitions=self._definitions)
        return {k: v for k, v in values.items() if v is not None}

    def add_domain_errors(self, exc: ValidationFailed) -> None:
        add_domain_errors(self, exc)


def lenient_attribution(data: Mapping[str, Any]) -> dict[str, str]:
    """The hosted page's attribution: what is a valid value is kept, anything else dropped (a
    visitor's submission never fails over a mangled referrer)."""
    out = {}
    validate = URLValidator()
    for name in ATTRIBUTION_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            continue
        value = value.strip()
        if name in URL_FIELDS:
            if len(value) > ATTRIBUTION_MAX_LENGTH[name]:
                continue
            try:
                validate(value)
            except ValidationError:
                continue
        out[name] = value[:200] if name not in URL_FIELDS else value
    return out


# --- the settings page ---------------------------------------------------------------------------
class OriginsField(forms.CharField):
    """Allowed origins, one per line."""

    widget = forms.Textarea

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [line.strip().rstrip("/") for line in text.splitlines() if line.strip()]

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value


class CaptureFormSettingsForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs=TEXT))
    slug = forms.SlugField(
        max_length=60,
        required=False,
        label="Address",
        help_text="The hosted page is /f/<address>/. Empty: made from the name.",
        widget=forms.TextInput(attrs=TEXT),
    )
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="Active (accepts submissions)",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    default_source = forms.ChoiceField(
        choices=Lead.Source.choices,
        initial=Lead.Source.WEB,
        label="Source",
        widget=forms.Select(attrs=SELECT),
    )
    default_sub_source = forms.CharField(
        max_length=100,
        required=False,
        label="Sub-source",
        help_text="E.g. “Pricing page”. Empty: the form's name.",
        widget=forms.TextInput(attrs=TEXT),
    )
    owner = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="— Assignment rules decide —",
        help_text="Who gets the new leads. Empty: the assignment rules, as for any new lead.",
        widget=forms.Select(attrs=SELECT),
    )
    workflow = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="— The default lead workflow —",
        widget=forms.Select(attrs=SELECT),
    )
    thank_you_message = forms.CharField(
        max_length=1000,
        required=False,
        label="Thank-you message",
        widget=forms.Textarea(attrs={**TEXT, "rows": 2}),
    )
    redirect_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        label="Redirect URL",
        help_text="Send visitors to this page after they submit, instead of the message.",
        widget=forms.URLInput(attrs={**TEXT, "placeholder": "https://"}),
    )
    consent_text = forms.CharField(
        max_length=500,
        required=False,
        label="Consent checkbox",
        help_text="E.g. “Send me news and offers by email”. Shown unticked below the fields; "
        "a ticked box is recorded as the lead's marketing consent. Empty: no checkbox.",
        widget=forms.TextInput(attrs=TEXT),
    )
    allowed_origins = OriginsField(
        required=False,
        label="Allowed origins",
        help_text="Sites that may embed the form, one per line, e.g. https://www.example.com. "
        "Empty: only the hosted page.",
        widget=forms.Textarea(attrs={**TEXT, "rows": 2, "spellcheck": "false"}),
    )

    def __init__(self, *args, owners, workflows, definitions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["workflow"].queryset = workflows
        self.field_rows = []
        for name, label, definition in selectors.field_choices(definitions):
            # In a table row, labelled by their aria-label (the row says which field).
            show = forms.BooleanField(
                required=False,
                label=f"Show {label}",
                widget=forms.CheckboxInput(
                    attrs={"class": "form-check-input", "aria-label": f"Show {label}"}
                ),
            )
            required = forms.BooleanField(
                required=False,
                label=f"{label} is required",
                widget=forms.CheckboxInput(
                    attrs={"class": "form-check-input", "aria-label": f"{label} is required"}
                ),
            )
            locked = bool(definition and definition.is_required)
            if locked:  # a required lead custom field: always shown, always required
                for field in (show, required):
                    field.disabled = True
                    field.initial = True
            self.fields[f"show_{name}"] = show
            self.fields[f"required_{name}"] = required
            self.field_rows.append(
                {
                    "name": name,
                    "label": label,
                    "custom": definition is not None,
                    "locked": locked,
                    "show": f"show_{name}",
                    "required": f"required_{name}",
                }
            )

    @staticmethod
    def initial_for(form: CaptureForm) -> dict[str, Any]:
        initial = {
            "name": form.name,
            "slug": form.slug,
            "is_active": form.is_active,
            "default_source": form.default_source,
            "default_sub_source": form.default_sub_source,
            "owner": form.owner_id,
            "workflow": form.workflow_id,
            "thank_you_message": form.thank_you_message,
            "redirect_url": form.redirect_url,
            "allowed_origins": form.allowed_origins,
            "consent_text": form.consent_text,
        }
        for item in form.fields or []:
            initial[f"show_{item['name']}"] = True
            initial[f"required_{item['name']}"] = bool(item.get("required"))
        return initial

    def rows(self):
        """The field choices with their bound checkboxes, for the template."""
        return [
            {**row, "show_field": self[row["show"]], "required_field": self[row["required"]]}
            for row in self.field_rows
        ]

    def service_data(self) -> dict[str, Any]:
        data = {
            k: v for k, v in self.cleaned_data.items() if not k.startswith(("show_", "required_"))
        }
        data["fields"] = [
            {"name": row["name"], "required": bool(self.cleaned_data.get(row["required"]))}
            for row in self.field_rows
            if self.cleaned_data.get(row["show"]) and not row["locked"]
        ]
        return data
