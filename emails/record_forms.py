"""Forms of the mail a rep writes from a record (``emails.record_views``): they parse the input
shape; ``emails.services`` decides (recipients, merge fields, attachments, blocked addresses)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from emails.models import EmailTemplate

TEXT = {"class": "form-control"}
SEND, SCHEDULE = "send", "schedule"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); the size limit is the
    service's, so its message is the one shown."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"class": "form-control"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ComposeForm(forms.Form):
    """A message from a record, or a reply on one of its threads (``reply_to``)."""

    to = forms.CharField(
        max_length=5000,
        required=False,  # the service says "Add at least one recipient" (a reply defaults it)
        widget=forms.TextInput(attrs={**TEXT, "autocomplete": "off"}),
        help_text="Addresses separated by commas.",
    )
    cc = forms.CharField(
        max_length=5000, required=False, label="Cc", widget=forms.TextInput(attrs=TEXT)
    )
    bcc = forms.CharField(
        max_length=5000, required=False, label="Bcc", widget=forms.TextInput(attrs=TEXT)
    )
    template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.none(),
        required=False,
        empty_label="No template",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    subject = forms.CharField(max_length=998, required=False, widget=forms.TextInput(attrs=TEXT))
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={**TEXT, "rows": 10, "spellcheck": "true"}),
        help_text="Plain text: blank lines separate paragraphs, **bold**, *italic*, links.",
    )
    attachments = MultipleFileField(required=False)
    scheduled_at = forms.DateTimeField(
        required=False,
        label="Send at",
        widget=forms.DateTimeInput(
            attrs={**TEXT, "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    reply_to = forms.UUIDField(required=False, widget=forms.HiddenInput)
    send = forms.ChoiceField(
        choices=((SEND, "Send"), (SCHEDULE, "Schedule")), required=False, initial=SEND
    )

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        if templates is not None:
            self.fields["template"].queryset = templates
        limit = filesizeformat(settings.EMAIL_MAX_ATTACHMENT_BYTES)
        self.fields["attachments"].help_text = f"Up to {limit} per file."
        zone = timezone.get_current_timezone_name()
        self.fields["scheduled_at"].help_text = f"Only with “Schedule” ({zone} time)."

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("send") == SCHEDULE:
            when = cleaned.get("scheduled_at")
            if when is None and "scheduled_at" not in self.errors:
                self.add_error("scheduled_at", "Choose when to send it.")
            elif when is not None and when <= timezone.now():
                self.add_error("scheduled_at", "Choose a time in the future.")
        else:
            cleaned["scheduled_at"] = None  # "Send" sends now, whatever the picker holds
        return cleaned


class BulkEmailForm(forms.Form):
    """Marketing mail from a template to leads of the table: the checked ones, or all those
    matching its filters (``query``)."""

    SCOPES = (("selected", "The selected leads"), ("filtered", "Every lead matching the filters"))

    template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.none(),
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"required": "Choose the template to send."},
    )
    scope = forms.ChoiceField(choices=SCOPES, widget=forms.RadioSelect, initial="filtered")
    ids = forms.CharField(required=False, widget=forms.HiddenInput)  # comma separated
    query = forms.CharField(required=False, widget=forms.HiddenInput)  # the table's filters

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        if templates is not None:
            self.fields["template"].queryset = templates
