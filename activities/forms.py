"""Activity forms: the shape of the input only; the services decide (STYLE)."""

from __future__ import annotations

from django import forms

from activities.models import Activity, Sequence
from crm.forms import SELECT, TEXT

QUICK_TYPES = [
    (Activity.Type.CALL, "Call"),
    (Activity.Type.EMAIL, "Email"),
    (Activity.Type.MEETING, "Meeting"),
    (Activity.Type.NOTE, "Note"),
    (Activity.Type.TASK, "Task"),
]
SMALL_SELECT = {"class": "form-select form-select-sm w-auto"}
SMALL_TEXT = {"class": "form-control form-control-sm"}


class QuickLogForm(forms.Form):
    """The timeline's one-line form: log a call, email, meeting or note, or plan a task."""

    type = forms.ChoiceField(choices=QUICK_TYPES, widget=forms.Select(attrs=SMALL_SELECT))
    subject = forms.CharField(
        max_length=255,
        widget=forms.TextInput(
            attrs={**SMALL_TEXT, "placeholder": "What happened, or what to do?"}
        ),
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={**SMALL_TEXT, "rows": 2}))
    due_at = forms.DateTimeField(
        label="Due",
        required=False,
        help_text="A date in the future plans the activity; empty logs it as done now.",
        widget=forms.DateTimeInput(attrs={**SMALL_TEXT, "type": "datetime-local"}),
    )
    direction = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *Activity.Direction.choices],
        help_text="Calls and emails.",
        widget=forms.Select(attrs=SMALL_SELECT),
    )
    outcome = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={**SMALL_TEXT, "placeholder": "e.g. Left a voicemail"}),
    )
    assigned_to = forms.ModelChoiceField(
        label="Assignee",
        queryset=None,
        required=False,
        empty_label="Me",
        widget=forms.Select(attrs=SMALL_SELECT),
    )

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        if users is None:
            del self.fields["assigned_to"]
        else:
            self.fields["assigned_to"].queryset = users


class ActivityForm(forms.Form):
    """Edit an activity (modal)."""

    type = forms.ChoiceField(choices=Activity.Type.choices, widget=forms.Select(attrs=SELECT))
    subject = forms.CharField(
        max_length=255, widget=forms.TextInput(attrs={**TEXT, "autofocus": True})
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={**TEXT, "rows": 4}))
    due_at = forms.DateTimeField(
        label="Due",
        required=False,
        widget=forms.DateTimeInput(
            attrs={**TEXT, "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)",
        required=False,
        min_value=0,
        widget=forms.NumberInput(attrs={**TEXT, "min": "0"}),
    )
    direction = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *Activity.Direction.choices],
        widget=forms.Select(attrs=SELECT),
        help_text="Calls and emails only.",
    )
    outcome = forms.CharField(max_length=200, required=False, widget=forms.TextInput(attrs=TEXT))
    assigned_to = forms.ModelChoiceField(
        label="Assignee",
        queryset=None,
        required=False,
        empty_label="— Nobody —",
        widget=forms.Select(attrs=SELECT),
    )

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assigned_to"].queryset = users


class EnrollForm(forms.Form):
    sequence = forms.ModelChoiceField(
        queryset=Sequence.objects.none(),
        empty_label=None,
        widget=forms.Select(attrs={**SELECT, "autofocus": True}),
        help_text="Its steps create activities for the lead's assignee on their days. It stops "
        "when the lead converts, is disqualified or replies.",
    )

    def __init__(self, *args, sequences, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sequence"].queryset = sequences


class ActivityFilterForm(forms.Form):
    """Filters of "My activities" (GET)."""

    RECORD_CHOICES = [
        ("", "Any record"),
        ("lead", "On a lead"),
        ("deal", "On a deal"),
        ("person", "On a person"),
        ("organization", "On an organization"),
        ("none", "Not on a record"),
    ]
    type = forms.ChoiceField(
        required=False,
        choices=[("", "All types"), *Activity.Type.choices],
        widget=forms.Select(attrs=SMALL_SELECT),
    )
    record = forms.ChoiceField(
        required=False, choices=RECORD_CHOICES, widget=forms.Select(attrs=SMALL_SELECT)
    )
    assignee = forms.ChoiceField(
        required=False, choices=[], widget=forms.Select(attrs=SMALL_SELECT)
    )

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        if users is None:
            del self.fields["assignee"]
        else:
            self.fields["assignee"].choices = [
                ("", "Me"),
                ("all", "Everyone"),
                ("none", "Unassigned"),
                *[(str(u.pk), u.display_name) for u in users],
            ]
