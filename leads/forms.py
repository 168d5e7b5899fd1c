"""Lead forms: shape of the input only; the services decide."""

from django import forms

from crm.forms import SELECT, TEXT, RecordForm, model_fields_form
from leads.models import ATTRIBUTION_FIELDS, EDITABLE_FIELDS, Lead

# The lead's one field list, less the attribution: that is the first touch, recorded where the
# lead came in (web capture, import, API), not typed by a person.
FORM_FIELDS = tuple(f for f in EDITABLE_FIELDS if f not in ATTRIBUTION_FIELDS)


class LeadForm(
    RecordForm,
    model_fields_form(
        Lead,
        FORM_FIELDS,
        labels={
            "sub_source": "Sub-source",
            "contact_name": "Contact",
            "company_name": "Company",
            "estimated_close_date": "Expected close",
        },
        initial={"source": Lead.Source.WEB},
    ),
):
    cf_entity_type = "lead"

    def __init__(self, *args, people=None, organizations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.links(person=people, organization=organizations)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={**TEXT, "rows": 3, "autofocus": True}),
        help_text="Why is this lead not a fit? Reps and reports see this reason.",
    )


class NotesForm(forms.Form):
    notes = forms.CharField(
        required=False,
        label="Qualification notes",
        widget=forms.Textarea(attrs={**TEXT, "rows": 3, "autofocus": True}),
        help_text="Budget, authority, need, timeline: what made this lead qualified.",
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="— Unassigned —",
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = users


class ConvertForm(forms.Form):
    PERSON_CHOICES = [
        ("create", "Create a new person"),
        ("link", "Link an existing person"),
        ("skip", "No person"),
    ]
    ORG_CHOICES = [
        ("create", "Create a new organization"),
        ("link", "Link an existing organization"),
        ("skip", "No organization"),
    ]

    person_action = forms.ChoiceField(choices=PERSON_CHOICES, widget=forms.RadioSelect)
    person = forms.ModelChoiceField(
        queryset=None, required=False, widget=forms.Select(attrs=SELECT)
    )
    organization_action = forms.ChoiceField(choices=ORG_CHOICES, widget=forms.RadioSelect)
    organization = forms.ModelChoiceField(
        queryset=None, required=False, widget=forms.Select(attrs=SELECT)
    )
    create_deal = forms.BooleanField(required=False, initial=True, label="Create a deal")
    deal_name = forms.CharField(max_length=200, required=False, widget=forms.TextInput(attrs=TEXT))
    deal_amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        widget=forms.NumberInput(attrs={**TEXT, "step": "0.01"}),
    )
    deal_close_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={**TEXT, "type": "date"})
    )

    def __init__(self, *args, people, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people
        self.fields["organization"].queryset = organizations

    def clean(self):
        data = super().clean()
        for kind in ("person", "organization"):
            if data.get(f"{kind}_action") == "link" and not data.get(kind):
                self.add_error(kind, f"Choose the {kind} to link.")
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {}
        for kind in ("person", "organization"):
            action = data[f"{kind}_action"]
            kwargs[kind] = data[kind] if action == "link" else action == "create"
        if data.get("create_deal"):
            kwargs["deal"] = {
                k: v
                for k, v in {
                    "name": data.get("deal_name"),
                    "amount": data.get("deal_amount"),
                    "expected_close_date": data.get("deal_close_date"),
                }.items()
                if v not in (None, "")
            } or True
        else:
            kwargs["deal"] = False
        return kwargs
