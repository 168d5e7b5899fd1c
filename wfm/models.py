"""The generic workflow engine's data (SPEC §5 wfm).

A ``Workflow`` is an ordered set of ``WorkflowStep``s (each showing a ``Status``) and the
``WorkflowTransition``s between them, which are the only moves allowed. A ``Project`` is one
record's (a lead's, a deal's) place in a workflow; ``StatusHistory`` is its append-only trail.

Invariants that span several rows of a workflow (exactly one initial step, unique orders) are
checked by the admin's inline formsets, which see the whole workflow at once; the database
backs them up with constraints. Moves are made only by ``wfm.services.project_transition``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from crm.models import TimestampedModel

MAX_STEP_ORDER = 10_000

color_validator = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", "Enter a colour as #rrggbb, for example #3b82f6."
)


class Status(TimestampedModel):
    """A named state with a colour, shown by the steps of one or more workflows."""

    name = models.CharField(
        max_length=100,
        unique=True,
        help_text="What the step is called on the kanban board, in lists and in the API.",
    )
    color = models.CharField(
        max_length=7,
        default="#64748b",
        validators=[color_validator],
        help_text="Colour of the step's column, badge and diagram box (#rrggbb).",
    )
    description = models.TextField(
        blank=True, help_text="What a record in this status means; shown to users as a hint."
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "statuses"

    def __str__(self) -> str:
        return self.name


class Workflow(TimestampedModel):
    name = models.CharField(max_length=150, unique=True, help_text="Unique name of the workflow.")
    description = models.TextField(blank=True, help_text="What the workflow is for.")
    is_active = models.BooleanField(
        default=True,
        help_text=(
            "Only active workflows can be given to new records. Records already in an "
            "inactive workflow keep moving through it."
        ),
    )

    tallied_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=(
            "When the board's column counts and totals of this workflow were last rebuilt "
            "(manage.py board_tallies, and nightly). From then on large boards read them "
            "instead of counting every record; until then they count."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.is_active and self.pk:
            types = list(
                ProjectType.objects.filter(default_workflow=self).values_list("name", flat=True)
            )
            if types:
                raise ValidationError(
                    {
                        "is_active": (
                            f"This workflow is the default of {', '.join(types)}: choose "
                            "another default workflow there before deactivating it."
                        )
                    }
                )


class WorkflowStep(TimestampedModel):
    class Outcome(models.TextChoices):
        NONE = "none", "None (open)"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    status = models.ForeignKey(
        Status,
        on_delete=models.PROTECT,
        related_name="steps",
        help_text="The status this step shows; its name and colour are the step's.",
    )
    order = models.PositiveIntegerField(
        validators=[MaxValueValidator(MAX_STEP_ORDER)],
        help_text="Position of the step in the workflow (1 = first column). Unique per workflow.",
    )
    is_initial = models.BooleanField(
        default=False,
        help_text="New records start here. Exactly one step of a workflow is initial.",
    )
    is_final = models.BooleanField(
        default=False,
        help_text=(
            "A closing step (converted, won, lost): records here count as closed. A transition "
            "such as “Reopen” may still lead out of it."
        ),
    )
    probability = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(100)],
        help_text="Chance of success in this step, 0–100 %; deals use it for weighted amounts.",
    )
    outcome = models.CharField(
        max_length=10,
        choices=Outcome,
        default=Outcome.NONE,
        help_text="Won or lost for a final step that closes the record that way; none otherwise.",
    )
    min_lead_score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=(
            "Moves into this step are refused while the record's score is below this (0–100) "
            "or the record has no score. Leave empty to let reps move records whatever their "
            "score."
        ),
    )
    required_fields = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Names of fields that must be filled before a record enters this step, as a JSON "
            'list, e.g. ["contact_email", "budget"]. Custom fields are named by their name.'
        ),
    )
    metadata = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'Anything else about the step, as a JSON object, e.g. {"suggested_min_score": 50} '
            "(a score the UI shows as a suggestion; not enforced)."
        ),
    )

    class Meta:
        ordering = ["workflow_id", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "order"],
                name="wfm_step_unique_order",
                violation_error_message="Each step of a workflow needs its own order.",
            ),
            models.UniqueConstraint(
                fields=["workflow", "status"],
                name="wfm_step_unique_status",
                violation_error_message="A status can be used by only one step of a workflow.",
            ),
            models.UniqueConstraint(
                fields=["workflow"],
                condition=Q(is_initial=True),
                name="wfm_step_one_initial",
                violation_error_message="A workflow has exactly one initial step.",
            ),
            models.CheckConstraint(
                condition=Q(probability__gte=0, probability__lte=100),
                name="wfm_step_probability_range",
                violation_error_message="The probability is a percentage, 0–100.",
            ),
            models.CheckConstraint(
                condition=Q(min_lead_score__isnull=True)
                | Q(min_lead_score__gte=0, min_lead_score__lte=100),
                name="wfm_step_min_lead_score_range",
                violation_error_message="The minimum lead score is 0–100, or empty.",
            ),
            models.CheckConstraint(
                condition=Q(outcome="none") | Q(is_final=True),
                name="wfm_step_outcome_only_final",
                violation_error_message="Only a final step can have a won or lost outcome.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.status.name

    @property
    def color(self) -> str:
        return self.status.color

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.is_initial and self.is_final:
            errors["is_final"] = "The initial step cannot also be final."
        if self.outcome != self.Outcome.NONE and not self.is_final:
            errors["outcome"] = "Only a final step can have a won or lost outcome."
        if not isinstance(self.required_fields, list) or not all(
            isinstance(name, str) and name.strip() for name in self.required_fields
        ):
            errors["required_fields"] = 'Enter a JSON list of field names, e.g. ["contact_email"].'
        if not isinstance(self.metadata, dict):
            errors["metadata"] = 'Enter a JSON object, e.g. {"suggested_min_score": 50}.'
        if errors:
            raise ValidationError(errors)


class WorkflowTransition(TimestampedModel):
    """An allowed move from one step to another of the same workflow."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="transitions")
    from_step = models.ForeignKey(
        WorkflowStep,
        on_delete=models.CASCADE,
        related_name="outgoing_transitions",
        help_text="The step a record moves from.",
    )
    to_step = models.ForeignKey(
        WorkflowStep,
        on_delete=models.CASCADE,
        related_name="incoming_transitions",
        help_text="The step a record moves to (another step of the same workflow).",
    )
    name = models.CharField(
        max_length=100,
        blank=True,
        help_text='Label of the move on buttons and menus, e.g. "Qualify" or "Reopen".',
    )

    class Meta:
        ordering = ["workflow_id", "from_step__order", "to_step__order"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_step", "to_step"],
                name="wfm_transition_unique_move",
                violation_error_message="This move is already a transition of the workflow.",
            ),
            models.CheckConstraint(
                condition=~Q(from_step=F("to_step")),
                name="wfm_transition_not_to_itself",
                violation_error_message="A transition must lead to another step.",
            ),
        ]

    def __str__(self) -> str:
        label = f"{self.from_step} → {self.to_step}"
        return f"{self.name} ({label})" if self.name else label

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for field in ("from_step", "to_step"):
            step = getattr(self, field, None) if getattr(self, f"{field}_id") else None
            if step is not None and self.workflow_id and step.workflow_id != self.workflow_id:
                errors[field] = (
                    f"Step “{step}” belongs to workflow “{step.workflow}”, not to "
                    f"“{self.workflow}”: a transition must stay inside its workflow."
                )
        if self.from_step_id and self.from_step_id == self.to_step_id:
            errors["to_step"] = "A transition must lead to another step, not back to its own."
        if errors:
            raise ValidationError(errors)


class ProjectType(TimestampedModel):
    """The kind of record a project tracks, and the workflow such records start in."""

    class EntityType(models.TextChoices):
        LEAD = "lead", "Lead"
        DEAL = "deal", "Deal"

    name = models.CharField(max_length=100, unique=True, help_text="Name of the project type.")
    entity_type = models.CharField(
        max_length=20,
        choices=EntityType,
        unique=True,
        help_text="The kind of record this type tracks; one project type per kind.",
    )
    default_workflow = models.ForeignKey(
        Workflow,
        on_delete=models.PROTECT,
        related_name="project_types",
        help_text=(
            "New records of this kind start in this workflow. Changing it does not move "
            "existing records."
        ),
    )
    icon = models.CharField(
        max_length=50,
        blank=True,
        help_text='Name of an icon of the UI\'s icon set, e.g. "person-plus" or "briefcase".',
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.default_workflow_id and not self.default_workflow.is_active:
            raise ValidationError(
                {"default_workflow": "Choose an active workflow: new records start in it."}
            )


class Project(TimestampedModel):
    """One record's (a lead's or a deal's) place in a workflow. Moved only by the services."""

    project_type = models.ForeignKey(
        ProjectType,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="projects",
    )
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="projects")
    current_step = models.ForeignKey(
        WorkflowStep, on_delete=models.PROTECT, related_name="current_projects"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Boards: the projects of a workflow by step, with their ids, read from the index
            # alone (wfm.boards.column_totals says why).
            models.Index(fields=["workflow", "current_step", "id"], name="project_board_idx"),
        ]

    def __str__(self) -> str:
        return f"Project #{self.pk} in {self.workflow_id}"


class StatusHistory(models.Model):
    """One move of a project. Append-only: rows are never changed or deleted one by one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="history")
    from_step = models.ForeignKey(
        WorkflowStep, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_step = models.ForeignKey(WorkflowStep, on_delete=models.PROTECT, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    is_system = models.BooleanField(
        default=False, help_text="A system move (e.g. conversion), not subject to transitions."
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "status history"
        indexes = [models.Index(fields=["project", "at"], name="wfm_history_project_at")]

    def __str__(self) -> str:
        return f"{self.from_step_id} → {self.to_step_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Status history is append-only; a row cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Status history is append-only; a row cannot be deleted.")


class BoardTally(models.Model):
    """One board column's count and value total as one viewer sees it (issue 17).

    Kept current from the records' events by ``crm.records.tallies``, so that a large board
    reads a row per column instead of counting every record of the workflow. ``viewer`` is
    empty for the whole column (what users who see every record see); otherwise the column
    as far as that user holds a view permission on its records (a Sales Rep's own and shared
    ones)."""

    step = models.ForeignKey(WorkflowStep, on_delete=models.CASCADE, related_name="+")
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    count = models.IntegerField(default=0)
    total = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "viewer"], name="board_tally_unique"),
            models.UniqueConstraint(
                fields=["step"], condition=Q(viewer__isnull=True), name="board_tally_all_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"step {self.step_id}, viewer {self.viewer_id or 'all'}: {self.count}"


class BoardEntry(models.Model):
    """What ``BoardTally`` last counted of one record (its project) for one viewer: the step
    and value it was counted in, so a change moves exactly that much between columns."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step = models.ForeignKey(WorkflowStep, on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name_plural = "board entries"
        constraints = [
            models.UniqueConstraint(fields=["project", "viewer"], name="board_entry_unique"),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(viewer__isnull=True),
                name="board_entry_all_unique",
            ),
        ]
        indexes = [models.Index(fields=["step", "viewer"], name="board_entry_step_idx")]

    def __str__(self) -> str:
        return f"project {self.project_id}, viewer {self.viewer_id or 'all'}: step {self.step_id}"
