"""Forms of the deal screens: they parse input shape; the services decide (STYLE)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from crm.forms import SELECT, TEXT
from crm.models import Organization, Person, User
from customfields.forms import CustomFieldFormMixin
from deals.models import LostReason


class DealForm(CustomFieldFormMixin, forms.Form):
    """Create/edit a deal, with the active deal custom fields after the standard ones."""

    cf_entity_type = "deal"

    name = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={**TEXT, "autofocus": True})
    )
    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        initial=Decimal("0"),
        widget=forms.NumberInput(attrs={**TEXT, "step": "0.01", "min": "0"}),
    )
    currency = forms.CharField(
        max_length=3,
        min_length=3,
        help_text="ISO 4217 code, e.g. EUR or USD.",
        widget=forms.TextInput(attrs={**TEXT, "class": "form-control text-uppercase"}),
    )
    expected_close_date = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={**TEXT, "type": "date"}, format="%Y-%m-%d"),
    )
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(),
        required=False,
        empty_label="—",
        widget=forms.Select(attrs=SELECT),
    )
    person = forms.ModelChoiceField(
        queryset=Person.objects.none(),
        required=False,
        label="Contact person",
        empty_label="—",
        widget=forms.Select(attrs=SELECT),
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label="— me —",
        help_text="Who the deal belongs to. Managers can give it to someone else.",
        widget=forms.Select(attrs=SELECT),
    )
    assigned_to = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Assignee",
        empty_label="— nobody —",
        help_text="Who works the deal; they can see and change it.",
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(
        self,
        *args,
        organizations=None,
        people=None,
        owners=None,
        assignees=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = (
            organizations if organizations is not None else Organization.objects.none()
        )
        self.fields["person"].queryset = people if people is not None else Person.objects.none()
        self.fields["person"].label_from_instance = _person_label
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners
        if assignees is None:
            del self.fields["assigned_to"]
        else:
            self.fields["assigned_to"].queryset = assignees
            self.fields["assigned_to"].label_from_instance = _user_label
        if "owner" in self.fields:
            self.fields["owner"].label_from_instance = _user_label

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def service_data(self) -> dict:
        """The cleaned data as the service takes it (custom fields under their names)."""
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("cf_")}
        if data.get("owner") is None:
            data.pop("owner", None)
        data["custom_field_values"] = self.custom_field_values()
        return data


def _user_label(user: User) -> str:
    return user.display_name


def _person_label(person: Person) -> str:
    if person.organization_id and person.organization:
        return f"{person.full_name} ({person.organization.name})"
    return person.full_name


class LostForm(forms.Form):
    """Why a deal was lost: one of the admin's reasons, or free text (which wins if given)."""

    reason_choice = forms.ModelChoiceField(
        queryset=LostReason.objects.none(),
        required=False,
        label="Reason",
        empty_label="— choose a reason —",
        widget=forms.Select(attrs={**SELECT, "autofocus": True}),
    )
    reason_text = forms.CharField(
        max_length=300,
        required=False,
        label="Or in your own words",
        widget=forms.Textarea(attrs={**TEXT, "rows": 2}),
    )
    to_step = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, reasons=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason_choice"].queryset = (
            reasons if reasons is not None else LostReason.objects.none()
        )

    def clean(self):
        cleaned = super().clean()
        text = (cleaned.get("reason_text") or "").strip()
        choice = cleaned.get("reason_choice")
        reason = text or (choice.name if choice else "")
        if not reason and not self.errors:
            raise forms.ValidationError("Choose a reason or describe it.")
        cleaned["reason"] = reason
        return cleaned


class AssignForm(forms.Form):
    assigned_to = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Assignee",
        empty_label="— nobody —",
        widget=forms.Select(attrs={**SELECT, "autofocus": True}),
    )

    def __init__(self, *args, assignees=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = assignees if assignees is not None else User.objects
        self.fields["assigned_to"].label_from_instance = _user_label
