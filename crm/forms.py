"""Forms parse and validate input shape; the services decide (STYLE: no logic in forms)."""

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.core.validators import MinValueValidator
from django.db.models import Model, QuerySet

from crm.errors import ValidationFailed
from crm.models import ORGANIZATION_FIELDS, PERSON_FIELDS, Organization, Person, User
from customfields.forms import CustomFieldFormMixin, add_value_errors
from customfields.services import VALUES_KEY

TEXT = {"class": "form-control"}
SELECT = {"class": "form-select"}


class CurrencyField(forms.CharField):
    """A three-letter ISO 4217 code, upper-cased (every record's ``currency``)."""

    def __init__(self, **kwargs):
        kwargs["help_text"] = kwargs.get("help_text") or "ISO 4217 code, e.g. EUR or USD."
        super().__init__(**{**kwargs, "min_length": 3, "max_length": 3})

    def to_python(self, value):
        return super().to_python(value).upper()

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "class": "text-uppercase"}


def model_fields_form(
    model: type[Model],
    names: Iterable[str],
    *,
    labels: Mapping[str, str] | None = None,
    help_texts: Mapping[str, str] | None = None,
    initial: Mapping[str, Any] | None = None,
) -> type[forms.Form]:
    """A plain form class with the model fields ``names`` (a record type's one field list),
    typed as a ModelForm types them and styled for Bootstrap; the first one has the focus.

    Not a ModelForm: the model's validation stays in the services. A link to another record
    offers nothing until the view gives the records the user may see (``RecordForm.links``).
    """
    names = list(names)
    fields = forms.fields_for_model(
        model,
        fields=names,
        labels=labels,
        help_texts=help_texts,
        field_classes={"currency": CurrencyField} if "currency" in names else None,
    )
    for name, field in fields.items():
        for validator in model._meta.get_field(name).validators:
            if isinstance(validator, MinValueValidator):
                field.validators.append(validator)
                field.widget.attrs["min"] = str(validator.limit_value)
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = field.queryset.none()
            field.empty_label = "—"
        if isinstance(field, forms.DateField):
            field.widget = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
        if isinstance(field.widget, forms.Textarea):
            field.widget.attrs.update(rows=3)
        style = SELECT if isinstance(field.widget, forms.Select) else TEXT
        extra = field.widget.attrs.get("class", "")
        field.widget.attrs["class"] = f"{style['class']} {extra}".strip()
        if initial and name in initial:
            field.initial = initial[name]
    if fields:
        next(iter(fields.values())).widget.attrs["autofocus"] = True
    return type(f"{model.__name__}FieldsForm", (forms.Form,), fields)


class RecordForm(CustomFieldFormMixin, forms.Form):
    """A record's form: its own fields, then the active custom fields."""

    def links(self, **querysets: QuerySet | None) -> None:
        """Offer the records (or users) the user may choose in each link field; a link the view
        gives none for is left out of the form (so that saving cannot clear it)."""
        for name, queryset in querysets.items():
            if queryset is None:
                del self.fields[name]
            else:
                self.fields[name].queryset = queryset

    @classmethod
    def initial_for(cls, obj: Model) -> dict[str, Any]:
        """The edit form's initial values: the record's value of each of the form's fields."""
        names = {f.name: f.attname for f in obj._meta.concrete_fields}
        return {name: getattr(obj, names[name]) for name in cls.base_fields if name in names}

    def service_data(self) -> dict:
        """The cleaned data as the services take it (custom fields under their names; no owner
        means "keep the current one")."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.custom_field_names()}
        if data.get("owner") is None:
            data.pop("owner", None)
        data["custom_field_values"] = self.custom_field_values()
        return data


class OrganizationForm(
    RecordForm,
    model_fields_form(
        Organization,
        ORGANIZATION_FIELDS,
        help_texts={"domain": "Web domain, e.g. acme.com; used to match leads at conversion."},
    ),
):
    cf_entity_type = "organization"

    size = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *[(s, s) for s in ("1-10", "11-50", "51-200", "201-1000", "1000+")]],
        widget=forms.Select(attrs=SELECT),
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label="—",
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(self, *args, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.links(owner=owners)


class PersonForm(RecordForm, model_fields_form(Person, PERSON_FIELDS)):
    cf_entity_type = "person"

    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label="—",
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(self, *args, organizations=None, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.links(organization=organizations, owner=owners)


def add_domain_errors(form: forms.Form, exc) -> None:
    """Show a DomainError's per-field details on the form, the rest as a form error.

    The one way every create/edit view shows a service's refusal: custom field errors
    (``custom_field_values.<name>``) go on their ``cf_<name>`` inputs, errors of the form's own
    fields on those fields, anything else (and a refusal without details) above the form."""
    details = exc.details or {}
    prefix = f"{VALUES_KEY}."
    custom = {k: v for k, v in details.items() if k.startswith(prefix)}
    if custom:
        add_value_errors(form, ValidationFailed(exc.message, details=custom))
    placed = bool(custom)
    for field, messages in details.items():
        if field in custom:
            continue
        name = field if field in form.fields else None
        for message in messages:
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def parse_int(value) -> int | None:
    """``value`` (a query or form parameter) as an integer; None when missing or not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def require_int(value, *, field: str, message: str) -> int:
    """``value`` as an integer, or a ``ValidationFailed`` on ``field`` saying ``message``."""
    number = parse_int(value)
    if number is None:
        raise ValidationFailed(message, details={field: [message]})
    return number


class ApiTokenForm(forms.Form):
    """A new API token's name (``crm.tokens.token_create``)."""

    name = forms.CharField(
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={**TEXT, "placeholder": "e.g. Reporting script"}),
        help_text="What the token is for; shown in this list.",
    )
