"""Forms of email templates: they parse the input shape; the services decide."""

from __future__ import annotations

from django import forms

from emails.models import EmailTemplate

TEXT = {"class": "form-control"}


class EmailTemplateForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={**TEXT, "autofocus": True})
    )
    subject = forms.CharField(
        max_length=255,
        widget=forms.TextInput(attrs=TEXT),
        help_text="Merge fields allowed, e.g. {{ lead.name }}.",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={**TEXT, "rows": 12, "spellcheck": "true"}),
        help_text=EmailTemplate._meta.get_field("body").help_text,
    )
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="Active (offered when writing)",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    @staticmethod
    def initial_for(template: EmailTemplate) -> dict:
        return {
            "name": template.name,
            "subject": template.subject,
            "body": template.body,
            "is_active": template.is_active,
        }


class PreviewForm(forms.Form):
    """The subject and body being edited, previewed before they are saved."""

    subject = forms.CharField(max_length=255, required=False)
    body = forms.CharField(required=False)
