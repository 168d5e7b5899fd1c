"""Workflow configuration (SPEC §1: administrators configure workflows in the Django admin).

A workflow is edited on one page with its steps and transitions inline. The inline formsets
validate the workflow as a whole (exactly one initial step, unique orders and statuses,
transitions inside the workflow) because only they see every step at once.
"""

from __future__ import annotations

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, F, Q
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from wfm import services
from wfm.diagram import workflow_diagram
from wfm.models import (
    MAX_STEP_ORDER,
    Project,
    ProjectType,
    Status,
    StatusHistory,
    Workflow,
    WorkflowStep,
    WorkflowTransition,
)

# Changed steps are parked at order PARK_OFFSET + pk (beyond any real order) before the
# formset saves them, so that swapping two steps' orders or moving the initial flag never
# trips the unique constraints halfway through the save.
PARK_OFFSET = 1_000_000
assert PARK_OFFSET > MAX_STEP_ORDER


class ColorInput(forms.TextInput):
    input_type = "color"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(names: list[str]) -> str:
    names = [f"“{n}”" for n in names]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# --- Statuses --------------------------------------------------------------------------------


class StatusForm(forms.ModelForm):
    class Meta:
        model = Status
        fields = ["name", "color", "description"]
        widgets = {"color": ColorInput()}


@admin.register(Status)
class StatusAdmin(admin.ModelAdmin):
    form = StatusForm
    list_display = ["name", "swatch", "description", "steps_count"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_steps=Count("steps"))

    @admin.display(description="Colour", ordering="color")
    def swatch(self, obj: Status) -> str:
        return format_html(
            '<span style="display:inline-block;width:1.2em;height:1.2em;border-radius:3px;'
            'vertical-align:middle;background:{}"></span> {}',
            obj.color,
            obj.color,
        )

    @admin.display(description="Used by steps", ordering="_steps")
    def steps_count(self, obj: Status) -> int:
        return obj._steps


# --- Workflows -------------------------------------------------------------------------------


class StepFormSet(BaseInlineFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        # One query for the status choices of every row, not one per row.
        if not hasattr(self, "_status_choices"):
            self._status_choices = [("", "---------")] + [
                (s.pk, s.name) for s in Status.objects.order_by("name")
            ]
        if "status" in form.fields:
            form.fields["status"].widget.choices = self._status_choices

    def clean(self):
        errors = [*self._deletion_errors(), *self._shape_errors()]
        if errors:
            raise ValidationError(errors)
        super().clean()

    def _kept_forms(self) -> list[forms.ModelForm]:
        return [
            f
            for f in self.forms
            if getattr(f, "cleaned_data", None) and not self._should_delete_form(f)
        ]

    def _deletion_errors(self) -> list[str]:
        ids = [f.instance.pk for f in self.initial_forms if self._should_delete_form(f)]
        if not ids:
            return []
        errors = []
        steps = (
            WorkflowStep.objects.filter(pk__in=ids)
            .select_related("status")
            .annotate(
                records=Count("current_projects", distinct=True),
            )
            .order_by("order")
        )
        for step in steps:
            if step.records:
                errors.append(
                    f"Cannot delete step “{step.name}”: "
                    f"{_plural(step.records, 'record')} stand on it. "
                    "Move them to another step first."
                )
                continue
            moves = StatusHistory.objects.filter(Q(from_step=step) | Q(to_step=step)).count()
            if moves:
                errors.append(
                    f"Cannot delete step “{step.name}”: the status history of records that "
                    f"passed through it ({_plural(moves, 'move')}) refers to it, and history "
                    "is kept complete. Deactivate the workflow and use a copy instead."
                )
        return errors

    def _shape_errors(self) -> list[str]:
        kept = self._kept_forms()
        errors = []
        initial = [f for f in kept if f.cleaned_data.get("is_initial")]
        if not kept:
            errors.append("A workflow needs steps; add at least one, marked as initial.")
        elif not initial:
            errors.append(
                "A workflow needs exactly one initial step (where new records start); "
                "none is marked initial."
            )
        elif len(initial) > 1:
            errors.append(
                "A workflow needs exactly one initial step (where new records start); "
                f"{len(initial)} are marked initial: {_names([_step_name(f) for f in initial])}."
            )
        orders = Counter(f.cleaned_data["order"] for f in kept if "order" in f.cleaned_data)
        for order, n in sorted(orders.items()):
            if n > 1:
                same = [_step_name(f) for f in kept if f.cleaned_data.get("order") == order]
                errors.append(
                    f"Each step needs its own order: {_names(same)} all have order {order}."
                )
        statuses = Counter(f.cleaned_data["status"] for f in kept if f.cleaned_data.get("status"))
        for status, n in statuses.items():
            if n > 1:
                errors.append(
                    f"Status “{status}” is used by {n} steps; each status can be used by "
                    "only one step of a workflow."
                )
        errors.extend(self._status_swap_errors(kept))
        return errors

    def _status_swap_errors(self, kept: list[forms.ModelForm]) -> list[str]:
        """Steps that trade statuses in one save would collide in the database halfway
        through (statuses, unlike orders, cannot be parked), so ask for two saves."""
        if not self.instance.pk:
            return []
        moving = {
            f.instance.pk: f.cleaned_data["status"].pk
            for f in kept
            if f.instance.pk and "status" in f.changed_data and f.cleaned_data.get("status")
        }
        if not moving:
            return []
        holders = dict(
            WorkflowStep.objects.filter(workflow=self.instance, pk__in=moving).values_list(
                "status_id", "pk"
            )
        )
        swapped = sorted(
            {pk for pk, status_id in moving.items() if holders.get(status_id, pk) != pk}
        )
        if not swapped:
            return []
        names = [str(f.cleaned_data["status"]) for f in kept if f.instance.pk in swapped]
        return [
            f"Steps cannot trade statuses ({_names(names)}) in one save: first give one of "
            "them a status no other step has, save, then finish the change."
        ]


def _step_name(form: forms.ModelForm) -> str:
    status = form.cleaned_data.get("status")
    return status.name if status else f"row {form.prefix.rsplit('-', 1)[-1]}"


class TransitionFormSet(BaseInlineFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        # Only the steps of this workflow are offered and accepted; a step of another
        # workflow is refused with a message that says why.
        if not hasattr(self, "_steps"):
            workflow = self.instance if self.instance.pk else None
            self._steps = WorkflowStep.objects.filter(workflow=workflow).select_related("status")
            self._step_choices = [("", "---------")] + [(s.pk, s.name) for s in self._steps]
        for name in ("from_step", "to_step"):
            if name in form.fields:
                field = form.fields[name]
                field.queryset = self._steps
                field.widget.choices = self._step_choices
                field.error_messages["invalid_choice"] = (
                    "That step is not part of this workflow: a transition must stay inside "
                    "its workflow. (A step added in this same save can be used once saved.)"
                )

    def clean(self):
        kept = [
            f
            for f in self.forms
            if getattr(f, "cleaned_data", None) and not self._should_delete_form(f)
        ]
        moves = Counter(
            (f.cleaned_data.get("from_step"), f.cleaned_data.get("to_step")) for f in kept
        )
        errors = [
            f"The move “{a}” → “{b}” is listed {n} times; list each move once."
            for (a, b), n in moves.items()
            if a and b and n > 1
        ]
        if errors:
            raise ValidationError(errors)
        super().clean()


class JsonTextarea(forms.Textarea):
    def __init__(self, attrs=None):
        super().__init__(attrs={"rows": 1, "cols": 28, **(attrs or {})})


class WorkflowStepInline(admin.TabularInline):
    model = WorkflowStep
    formset = StepFormSet
    fields = [
        "order",
        "status",
        "is_initial",
        "is_final",
        "outcome",
        "probability",
        "min_lead_score",
        "required_fields",
        "metadata",
    ]
    ordering = ["order"]
    formfield_overrides = {models.JSONField: {"widget": JsonTextarea}}

    def get_extra(self, request, obj=None, **kwargs) -> int:
        return 1 if obj else 4


class WorkflowTransitionInline(admin.TabularInline):
    model = WorkflowTransition
    fk_name = "workflow"
    formset = TransitionFormSet
    fields = ["from_step", "to_step", "name"]
    ordering = ["from_step__order", "to_step__order"]
    extra = 1


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "steps_count", "records_count", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    actions = ["duplicate_workflows"]
    inlines = [WorkflowStepInline, WorkflowTransitionInline]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "description", "is_active"],
                "description": (
                    "Steps are the columns records move through; transitions are the only "
                    "moves allowed between them. Save new steps before using them in "
                    "transitions."
                ),
            },
        )
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _steps=Count("steps", distinct=True), _records=Count("projects", distinct=True)
            )
        )

    @admin.display(description="Steps", ordering="_steps")
    def steps_count(self, obj: Workflow) -> int:
        return obj._steps

    @admin.display(description="Records", ordering="_records")
    def records_count(self, obj: Workflow) -> int:
        return obj._records

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workflow = self.get_object(request, unquote(object_id))
        if workflow is not None:
            extra_context = {
                **(extra_context or {}),
                "diagram": workflow_diagram(workflow),
                "records_count": workflow.projects.count(),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_formset(self, request, form, formset, change):
        if formset.model is WorkflowStep:
            changed = [
                f.instance.pk for f in formset.initial_forms if f.instance.pk and f.has_changed()
            ]
            if changed:
                WorkflowStep.objects.filter(pk__in=changed).update(
                    order=F("pk") + PARK_OFFSET, is_initial=False
                )
        objects = formset.save(commit=False)
        # Deletions first: a status or order a deleted step frees may be taken by another.
        for obj in formset.deleted_objects:
            obj.delete()
        for obj in objects:
            if obj.pk is None:
                obj.created_by = request.user
            obj.save()
        formset.save_m2m()

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Duplicate workflow (an inactive copy with its steps and transitions)",
        permissions=["add"],
    )
    def duplicate_workflows(self, request, queryset) -> None:
        copies = [
            services.workflow_duplicate(by=request.user, workflow=workflow)
            for workflow in queryset.order_by("name")
        ]
        self.message_user(
            request,
            f"Created {_names([c.name for c in copies])} (inactive): finish and activate "
            f"{'it' if len(copies) == 1 else 'them'} when ready.",
            messages.SUCCESS,
        )


# --- Project types and projects ----------------------------------------------------------------


class ProjectTypeForm(forms.ModelForm):
    class Meta:
        model = ProjectType
        fields = ["name", "entity_type", "default_workflow", "icon"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_workflow"].queryset = Workflow.objects.filter(
            Q(is_active=True) | Q(pk=self.instance.default_workflow_id)
        )


@admin.register(ProjectType)
class ProjectTypeAdmin(admin.ModelAdmin):
    form = ProjectTypeForm
    list_display = ["name", "entity_type", "default_workflow", "icon"]
    list_select_related = ["default_workflow"]


class StatusHistoryInline(admin.TabularInline):
    model = StatusHistory
    fields = ["at", "from_step", "to_step", "changed_by", "is_system", "reason"]
    readonly_fields = fields
    ordering = ["at", "pk"]
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("from_step__status", "to_step__status", "changed_by")
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Read only: projects move through ``wfm.services.project_transition`` alone, from the
    screens of the records they track."""

    list_display = ["id", "project_type", "workflow", "current_step", "created_at", "updated_at"]
    list_filter = ["project_type", "workflow"]
    list_select_related = ["project_type", "workflow", "current_step__status"]
    fields = ["project_type", "workflow", "current_step", "created_at", "updated_at"]
    readonly_fields = fields
    inlines = [StatusHistoryInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
