"""Forms parse and validate input shape; the services decide (STYLE: no logic in forms)."""

from django import forms

from crm.errors import ValidationFailed
from crm.models import Organization, User
from customfields.forms import CustomFieldFormMixin, add_value_errors
from customfields.services import VALUES_KEY

TEXT = {"class": "form-control"}
SELECT = {"class": "form-select"}


class RecordForm(CustomFieldFormMixin, forms.Form):
    """A person or organization form: its own fields, then the active custom fields."""

    def service_data(self) -> dict:
        """The cleaned data as the services take it (custom fields under their names; no owner
        means "keep the current one")."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.custom_field_names()}
        if data.get("owner") is None:
            data.pop("owner", None)
        data["custom_field_values"] = self.custom_field_values()
        return data


class OrganizationForm(RecordForm):
    cf_entity_type = "organization"

    name = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={**TEXT, "autofocus": True})
    )
    domain = forms.CharField(
        max_length=200,
        required=False,
        help_text="Web domain, e.g. acme.com; used to match leads at conversion.",
        widget=forms.TextInput(attrs=TEXT),
    )
    industry = forms.CharField(max_length=100, required=False, widget=forms.TextInput(attrs=TEXT))
    size = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *[(s, s) for s in ("1-10", "11-50", "51-200", "201-1000", "1000+")]],
        widget=forms.Select(attrs=SELECT),
    )
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={**TEXT, "rows": 2}))
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.Select(attrs=SELECT)
    )

    def __init__(self, *args, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners


class PersonForm(RecordForm):
    cf_entity_type = "person"

    first_name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={**TEXT, "autofocus": True})
    )
    last_name = forms.CharField(max_length=100, required=False, widget=forms.TextInput(attrs=TEXT))
    email = forms.EmailField(required=False, widget=forms.EmailInput(attrs=TEXT))
    phone = forms.CharField(max_length=50, required=False, widget=forms.TextInput(attrs=TEXT))
    job_title = forms.CharField(max_length=150, required=False, widget=forms.TextInput(attrs=TEXT))
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, widget=forms.Select(attrs=SELECT)
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.Select(attrs=SELECT)
    )

    def __init__(self, *args, organizations=None, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations or Organization.objects.none()
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners


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
