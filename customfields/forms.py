"""Form fields generated from the definitions (Bootstrap 5 markup).

A record form adds ``form_fields(entity_type, initial=record.custom_field_values)`` to its
fields, turns the cleaned data back into values with ``values_from_cleaned_data`` and hands them
to its service, which calls ``services.validate_values``. ``add_value_errors`` puts the
service's errors back on the right inputs. ``CustomFieldFormMixin`` does all three.

The form fields check the shape of the input (a number is a number); the service decides.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils.html import escape

from crm.errors import ValidationFailed
from customfields import selectors
from customfields.models import (
    CHOICE_TYPES,
    NAME_MAX_LENGTH,
    CustomFieldDefinition,
    EntityType,
    FieldType,
)
from customfields.services import VALUES_KEY
from customfields.values import (
    DECIMAL_MAX_INTEGER_DIGITS,
    DECIMAL_MAX_PLACES,
    EMAIL_MAX_LENGTH,
    LONG_TEXT_MAX_LENGTH,
    NUMBER_LIMIT,
    TEXT_MAX_LENGTH,
    URL_MAX_LENGTH,
)

FORM_PREFIX = "cf_"


def form_key(name: str) -> str:
    return f"{FORM_PREFIX}{name}"


def _control(**attrs) -> dict:
    return {"class": "form-control", **attrs}


class CheckboxList(forms.CheckboxSelectMultiple):
    """Checkboxes one per line: the container is a ``cf-checkboxes`` list (static/css/app.css),
    each input a Bootstrap ``form-check-input`` (attrs would otherwise style both alike)."""

    def __init__(self, attrs=None, choices=()):
        super().__init__(attrs={"class": "cf-checkboxes", **(attrs or {})}, choices=choices)

    def create_option(self, *args, **kwargs):
        option = super().create_option(*args, **kwargs)
        option["attrs"]["class"] = "form-check-input"
        return option


def form_field(definition: CustomFieldDefinition, initial=None) -> forms.Field:
    """One Django form field for a definition, with the stored value as its initial value."""
    common = {
        "label": definition.label,
        # Typed by whoever manages the fields; Django renders form help texts unescaped.
        "help_text": escape(definition.help_text),
        "required": definition.is_required,
        "initial": initial,
    }
    kind = definition.type
    if kind == FieldType.TEXT:
        return forms.CharField(
            max_length=TEXT_MAX_LENGTH, widget=forms.TextInput(attrs=_control()), **common
        )
    if kind == FieldType.LONG_TEXT:
        return forms.CharField(
            max_length=LONG_TEXT_MAX_LENGTH,
            widget=forms.Textarea(attrs=_control(rows=4)),
            **common,
        )
    if kind == FieldType.NUMBER:
        return forms.IntegerField(
            min_value=-NUMBER_LIMIT,
            max_value=NUMBER_LIMIT,
            widget=forms.NumberInput(attrs=_control(step="1")),
            **common,
        )
    if kind == FieldType.DECIMAL:
        return forms.DecimalField(
            max_digits=DECIMAL_MAX_INTEGER_DIGITS + DECIMAL_MAX_PLACES,
            decimal_places=DECIMAL_MAX_PLACES,
            widget=forms.NumberInput(attrs=_control(step="any")),
            **common,
        )
    if kind == FieldType.DATE:
        return forms.DateField(
            input_formats=["%Y-%m-%d"],
            widget=forms.DateInput(attrs=_control(type="date"), format="%Y-%m-%d"),
            **common,
        )
    if kind == FieldType.BOOLEAN:
        # A checkbox always has a value (ticked or not), so a required yes/no field is
        # satisfied by an unticked box: it stores False. Django's required=True would
        # instead demand a tick.
        common["required"] = False
        return forms.BooleanField(
            widget=forms.CheckboxInput(attrs={"class": "form-check-input"}), **common
        )
    if kind == FieldType.DROPDOWN:
        choices = [("", "—")] + [(o, o) for o in definition.options or []]
        return forms.ChoiceField(
            choices=choices, widget=forms.Select(attrs={"class": "form-select"}), **common
        )
    if kind == FieldType.MULTI_SELECT:
        return forms.MultipleChoiceField(
            choices=[(o, o) for o in definition.options or []],
            widget=CheckboxList(),
            **common,
        )
    if kind == FieldType.URL:
        return forms.URLField(
            max_length=URL_MAX_LENGTH,
            assume_scheme="https",
            widget=forms.URLInput(attrs=_control(placeholder="https://")),
            **common,
        )
    if kind == FieldType.EMAIL:
        return forms.EmailField(
            max_length=EMAIL_MAX_LENGTH, widget=forms.EmailInput(attrs=_control()), **common
        )
    raise ValueError(f"Unknown custom field type {kind!r}")


def form_fields(
    entity_type: str,
    *,
    initial: dict | None = None,
    definitions: selectors.Definitions | None = None,
) -> dict[str, forms.Field]:
    """Form fields of the active fields, in display order, keyed ``cf_<name>``.

    ``initial`` is the record's stored ``custom_field_values`` (keyed by name).
    """
    initial = initial or {}
    return {
        form_key(d.name): form_field(d, initial.get(d.name))
        for d in selectors.active_fields(entity_type, definitions=definitions)
    }


def _to_value(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if value == "" or value == []:
        return None
    return value


def values_from_cleaned_data(
    entity_type: str,
    cleaned_data: dict,
    *,
    definitions: selectors.Definitions | None = None,
) -> dict:
    """The custom field values (keyed by name) in a form's ``cleaned_data``.

    Only fields present in the form are returned, so the result suits ``partial=True`` as well
    as a full form. An emptied input gives ``None``, which clears the value.
    """
    values = {}
    for definition in selectors.active_fields(entity_type, definitions=definitions):
        key = form_key(definition.name)
        if key in cleaned_data:
            values[definition.name] = _to_value(cleaned_data[key])
    return values


def add_value_errors(form: forms.Form, exc: ValidationFailed) -> None:
    """Show a ``ValidationFailed`` from ``validate_values`` on the form's ``cf_`` inputs."""
    prefix = f"{VALUES_KEY}."
    for key, messages in exc.details.items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        field = form_key(name) if name else None
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class CustomFieldFormMixin:
    """Adds the custom fields of ``cf_entity_type`` to a (Model)Form::

        class PersonForm(CustomFieldFormMixin, forms.ModelForm):
            cf_entity_type = "person"

    Initial values come from ``initial_custom_values=`` or ``instance.custom_field_values``;
    ``form.custom_field_values()`` returns the values to pass to the service, and
    ``form.add_value_errors(exc)`` shows the service's refusal inline.
    """

    cf_entity_type: str = ""

    def __init__(self, *args, initial_custom_values: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if initial_custom_values is None:
            instance = getattr(self, "instance", None)
            initial_custom_values = getattr(instance, "custom_field_values", None) or {}
        self._cf_definitions = selectors.definitions_for(self.cf_entity_type)
        self.fields.update(
            form_fields(
                self.cf_entity_type,
                initial=initial_custom_values,
                definitions=self._cf_definitions,
            )
        )

    def custom_field_values(self) -> dict:
        return values_from_cleaned_data(
            self.cf_entity_type, self.cleaned_data, definitions=self._cf_definitions
        )

    def custom_field_names(self) -> list[str]:
        """The form keys of the custom fields, in display order (for templates)."""
        return [k for k in self.fields if k.startswith(FORM_PREFIX)]

    def add_value_errors(self, exc: ValidationFailed) -> None:
        add_value_errors(self, exc)


# --- definitions (the management page and the admin) ---------------------------------------


class OptionsField(forms.CharField):
    """A JSON list of strings edited as a textarea, one option per line."""

    widget = forms.Textarea(attrs={"rows": 6, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value if str(v).strip()]
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial, data) -> bool:
        return self.to_python(initial or []) != self.to_python(data)


def _help(attr: str) -> str:
    return str(CustomFieldDefinition._meta.get_field(attr).help_text)


class CustomFieldEditForm(forms.Form):
    """What can change once a field exists. ``services.custom_field_update`` decides."""

    label = forms.CharField(
        max_length=100,
        help_text="What users see on forms, tables and error messages.",
        widget=forms.TextInput(attrs=_control(autofocus=True, **{"data-cf-label": ""})),
    )
    options = OptionsField(
        required=False,
        help_text="One option per line, in the order they should be offered. An option still "
        "used by records cannot be removed.",
        widget=forms.Textarea(attrs=_control(rows=5)),
    )
    help_text = forms.CharField(
        label="Help text",
        max_length=500,
        required=False,
        help_text=_help("help_text"),
        widget=forms.TextInput(attrs=_control()),
    )
    is_required = forms.BooleanField(
        label="Required",
        required=False,
        help_text="Every create and update must give a value.",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    show_in_table = forms.BooleanField(
        label="Show in table",
        required=False,
        help_text="Show the field as a column of the list table.",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def service_data(self) -> dict:
        return dict(self.cleaned_data)


class CustomFieldCreateForm(CustomFieldEditForm):
    """A new field: also its entity type, name and type, which are fixed from then on."""

    # Chosen by the tab the page shows; the modal's title names it.
    entity_type = forms.ChoiceField(
        label="Record type", choices=EntityType.choices, widget=forms.HiddenInput
    )
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        help_text="Lowercase letters, digits and underscores, e.g. budget_range. Used in filters "
        "and the API; it cannot be changed later.",
        widget=forms.TextInput(
            attrs=_control(autocomplete="off", spellcheck="false", **{"data-cf-name": ""})
        ),
    )
    type = forms.ChoiceField(
        choices=FieldType.choices,
        help_text="It cannot be changed later.",
        widget=forms.Select(attrs={"class": "form-select", "data-cf-type": ""}),
    )

    field_order = [
        "entity_type",
        "label",
        "name",
        "type",
        "options",
        "help_text",
        "is_required",
        "show_in_table",
    ]

    def clean(self):
        cleaned = super().clean()
        # The options input is hidden for the other types: what it may still hold is not
        # part of the submission.
        if cleaned.get("type") not in CHOICE_TYPES:
            cleaned["options"] = []
        return cleaned
