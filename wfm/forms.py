"""Forms shared by the screens of records that move through a workflow (leads, deals)."""

from django import forms

from crm.models import User
from wfm.models import WorkflowStep


class BulkForm(forms.Form):
    """The table's bulk bar: ids of the checked rows and one action."""

    ACTIONS = (("assign", "Assign"), ("move", "Move"), ("delete", "Delete"))

    ids = forms.MultipleChoiceField(required=True)
    action = forms.ChoiceField(choices=ACTIONS)
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    to_step = forms.ModelChoiceField(queryset=WorkflowStep.objects.none(), required=False)

    def __init__(self, *args, assignees=None, steps=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Ids are checked by the selector (what the user may see), not by a choice list.
        self.fields["ids"].valid_value = lambda value: True
        if assignees is not None:
            self.fields["assignee"].queryset = assignees
        if steps is not None:
            self.fields["to_step"].queryset = steps

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "move" and not cleaned.get("to_step"):
            self.add_error("to_step", "Choose the step to move the records to.")
        return cleaned
