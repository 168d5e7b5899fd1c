"""Forms of the deal screens: they parse input shape; the services decide (STYLE)."""

from __future__ import annotations

from django import forms

from crm.forms import SELECT, TEXT, RecordForm, model_fields_form
from crm.models import Person, User
from deals.models import EDITABLE_FIELDS, Deal, LostReason


class DealForm(
    RecordForm, model_fields_form(Deal, EDITABLE_FIELDS, labels={"person": "Contact person"})
):
    """Create/edit a deal, with the active deal custom fields after the standard ones."""

    cf_entity_type = "deal"

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
        self.links(organization=organizations, person=people, owner=owners, assigned_to=assignees)
        if "person" in self.fields:
            self.fields["person"].label_from_instance = _person_label
        for name in ("owner", "assigned_to"):
            if name in self.fields:
                self.fields[name].label_from_instance = _user_label


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
