from django import forms
from django.utils.html import format_html

from crm.forms import SELECT, TEXT
from privacy.models import Consent
from privacy.services import REASON_MAX_LENGTH


class AnonymizeForm(forms.Form):
    """Anonymizing is irreversible: the user types the record's name to confirm."""

    confirm_name = forms.CharField(
        label="Type the name to confirm",
        max_length=300,
        widget=forms.TextInput(attrs={**TEXT, "autocomplete": "off", "spellcheck": "false"}),
    )
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={**TEXT, "rows": 3}),
        help_text="Why the data is erased, e.g. “Erasure request by email of 3 March”. "
        "Kept in the audit log (names in it are removed).",
    )

    def __init__(self, *args, expected_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected_name = expected_name
        # Form help texts are rendered as HTML (crm/_form_fields.html): the name is escaped.
        self.fields["confirm_name"].help_text = format_html(
            "Type <strong>{}</strong> exactly.", expected_name
        )

    def clean_confirm_name(self) -> str:
        typed = " ".join(self.cleaned_data["confirm_name"].split())
        if typed != " ".join(self.expected_name.split()):
            raise forms.ValidationError("This is not the name: type it exactly as shown.")
        return typed


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(choices=Consent.Purpose.choices, widget=forms.Select(attrs=SELECT))
    status = forms.ChoiceField(
        choices=Consent.Status.choices, label="Consent", widget=forms.Select(attrs=SELECT)
    )
    evidence = forms.CharField(
        label="Evidence",
        max_length=500,
        required=False,
        help_text="How it was given or withdrawn, e.g. “Phone call of 3 March, recorded”.",
        widget=forms.TextInput(attrs=TEXT),
    )
