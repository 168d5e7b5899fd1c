"""Activities and the automation around them (SPEC §5 activities, §6 Activities and automation).

- ``Activity``: a task, call, meeting, email, deadline or note, on the timelines of the records
  it links (lead, deal, person, organization: several at once).
- ``AssignmentRule``: round robin of new unassigned leads over a set of users.
- ``AutomationRule`` (+ ``AutomationCondition``, ``AutomationAction``, ``AutomationRun``):
  trigger event, conditions on fields, ordered actions, run log.
- ``Sequence`` (+ ``SequenceStep``, ``SequenceEnrollment``): nurture cadences creating activities.
- ``WebhookSubscription`` (+ ``WebhookDelivery``): signed outbound webhooks with a delivery log.

Rows hold their own invariants (``clean``); the cross-record work lives in ``services``,
``automation`` and ``webhooks``.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from django.utils import timezone

from crm.events import EVENT_NAMES
from crm.models import TimestampedModel

MAX_DURATION_MINUTES = 7 * 24 * 60


class Activity(TimestampedModel):
    """Something done or to do about one or more records.

    ``metadata`` holds where an automated activity came from: ``automation_trigger`` (what
    made it: ``lead.assigned``, ``rule:<id>``, ``sequence``), ``source_event`` (the outbox
    event id), ``sequence_step`` … A database constraint lets one (source event, trigger) pair
    create at most one activity, so a re-run handler can never duplicate its task.
    """

    class Type(models.TextChoices):
        TASK = "task", "Task"
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        EMAIL = "email", "Email"
        DEADLINE = "deadline", "Deadline"
        NOTE = "note", "Note"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    # Interactions with the contact: these can be inbound or outbound.
    DIRECTED_TYPES = frozenset({Type.CALL, Type.EMAIL})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=20, choices=Type, default=Type.TASK)
    subject = models.CharField(max_length=255)
    notes = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    is_done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    direction = models.CharField(
        max_length=10,
        choices=Direction,
        blank=True,
        help_text="Calls and emails: who reached out.",
    )
    outcome = models.CharField(
        max_length=200, blank=True, help_text="What came of it, e.g. “Left a voicemail”."
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_activities",
        db_index=False,  # covered by act_assignee_open_idx
    )
    is_system_activity = models.BooleanField(
        default=False, help_text="Created by the system (automation), not typed by a person."
    )
    metadata = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    # Timelines: the same activity may sit on a lead, its deal, person and organization.
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        db_index=False,
    )
    deal = models.ForeignKey(
        "deals.Deal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        db_index=False,
    )
    person = models.ForeignKey(
        "crm.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        db_index=False,
    )
    organization = models.ForeignKey(
        "crm.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        db_index=False,
    )

    LINK_FIELDS = ("lead", "deal", "person", "organization")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "activities"
        permissions = [
            ("view_all_activities", "Can view all activities"),
            ("change_all_activities", "Can change all activities"),
            ("delete_all_activities", "Can delete all activities"),
        ]
        indexes = [
            models.Index(fields=["assigned_to", "is_done", "due_at"], name="act_assignee_open_idx"),
            models.Index(fields=["lead", "created_at"], name="act_lead_idx"),
            models.Index(fields=["deal", "created_at"], name="act_deal_idx"),
            models.Index(fields=["person", "created_at"], name="act_person_idx"),
            models.Index(fields=["organization", "created_at"], name="act_org_idx"),
            # Overdue detection scans open activities by due date only.
            models.Index(fields=["due_at"], condition=Q(is_done=False), name="act_open_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                KT("metadata__source_event"),
                KT("metadata__automation_trigger"),
                condition=Q(metadata__has_key="source_event"),
                name="act_once_per_source_event",
            )
        ]

    def __str__(self) -> str:
        return self.subject

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.direction and self.type not in self.DIRECTED_TYPES:
            errors["direction"] = ["Only calls and emails have a direction."]
        if self.is_done and self.done_at is None:
            errors["done_at"] = ["A done activity needs the time it was done."]
        if not self.is_done and self.done_at is not None:
            errors["done_at"] = ["An open activity has no done time."]
        if not isinstance(self.metadata, dict):
            errors["metadata"] = ["Must be a JSON object."]
        if errors:
            raise ValidationError(errors)

    @property
    def is_overdue(self) -> bool:
        return not self.is_done and self.due_at is not None and self.due_at < timezone.now()

    @property
    def links(self) -> dict[str, models.Model]:
        """The linked records, by kind (only those set)."""
        return {
            name: getattr(self, name)
            for name in self.LINK_FIELDS
            if getattr(self, f"{name}_id") is not None
        }


# --- assignment rules ---------------------------------------------------------------------------
class AssignmentRule(TimestampedModel):
    """Round robin of new unassigned leads over ``users`` (SPEC §6).

    The first active rule (by ``order``) whose sources match the lead and that has an available
    user assigns it. Inactive users and users marked away are skipped. The rotation position is
    ``last_assigned``: the next lead goes to the first available user after it (by id), so the
    position survives restarts and changes of the user set; it is advanced under a row lock.
    """

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0, help_text="Rules are tried lowest first.")
    sources = models.JSONField(
        default=list,
        blank=True,
        help_text="Lead sources this rule handles; none ticked: every source.",
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="assignment_rules",
        help_text="The team the leads rotate over.",
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="Where the rotation stands.",
    )
    assigned_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from leads.models import Lead

        if not isinstance(self.sources, list):
            raise ValidationError({"sources": "Must be a list of lead sources."})
        known = set(Lead.Source.values)
        unknown = [s for s in self.sources if s not in known]
        if unknown:
            raise ValidationError({"sources": f"Unknown lead sources: {', '.join(unknown)}."})

    def matches(self, source: str) -> bool:
        return not self.sources or source in self.sources


# --- automation rules ----------------------------------------------------------------------------
# Events a rule can be triggered by: those about one lead, deal, activity, person or organization.
TRIGGER_EVENTS = tuple(sorted(n for n in EVENT_NAMES if n.split(".")[0] != "wfm"))
# Events named after something that is not a record kind, and the kind of record they are
# about: ``email.received`` carries its email activity (which links the lead, person, deal).
EVENT_SUBJECT_KINDS = {"email": "activity"}


def subject_kind_of(event_name: str) -> str:
    """The kind of record an event is about: ``lead``, ``deal``, ``activity``, ``person`` or
    ``organization`` (its name's first word, or what ``EVENT_SUBJECT_KINDS`` maps it to)."""
    kind = event_name.split(".")[0]
    return EVENT_SUBJECT_KINDS.get(kind, kind)


class AutomationRule(TimestampedModel):
    """When ``trigger`` happens and every condition holds, run the actions in order.

    The actions of one run are all-or-nothing; a failing run is logged with its error
    (``AutomationRun``) and does not stop other rules or the event.
    """

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # No model choices: the event list grows with the product (crm.events.EVENT_NAMES) and must
    # not need a migration here; ``clean`` and the admin form check it.
    trigger = models.CharField(
        max_length=50,
        help_text="The event that starts the rule. Conditions see the record it is about.",
    )
    is_active = models.BooleanField("enabled", default=True)
    order = models.PositiveIntegerField(default=0, help_text="Rules of one event run lowest first.")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.trigger not in TRIGGER_EVENTS:
            raise ValidationError(
                {
                    "trigger": [
                        f"Unknown event “{self.trigger}”. Events: {', '.join(TRIGGER_EVENTS)}."
                    ]
                }
            )

    @property
    def subject_kind(self) -> str:
        """``lead``, ``deal``, ``activity``, ``person`` or ``organization``."""
        return subject_kind_of(self.trigger)


class AutomationCondition(models.Model):
    class Operator(models.TextChoices):
        EQ = "eq", "equals"
        NE = "ne", "does not equal"
        GT = "gt", "greater than"
        LT = "lt", "less than"
        CONTAINS = "contains", "contains"
        IN = "in", "is one of"

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="conditions")
    field = models.CharField(
        max_length=100,
        help_text=(
            "A field of the record (e.g. <code>source</code>, <code>lead_score</code>, "
            "<code>step</code>, <code>assigned_to</code>), a custom field "
            "(<code>cf_budget</code>) or an event detail (<code>event.reason</code>)."
        ),
    )
    operator = models.CharField(max_length=10, choices=Operator, default=Operator.EQ)
    value = models.CharField(
        max_length=500,
        blank=True,
        help_text="Typed as the field: 75, 2025-01-31, true, web. “is one of”: comma-separated.",
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.value}"

    def clean(self) -> None:
        from activities.automation import check_condition

        check_condition(self)


class AutomationAction(models.Model):
    class Type(models.TextChoices):
        CREATE_ACTIVITY = "create_activity", "Create an activity"
        ASSIGN = "assign", "Assign"
        SET_FIELD = "set_field", "Set a field"
        MOVE_STEP = "move_step", "Move to a step"
        START_SEQUENCE = "start_sequence", "Start a sequence"
        CALL_WEBHOOK = "call_webhook", "Call a webhook"

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="actions")
    order = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=20, choices=Type)
    # create_activity
    activity_type = models.CharField(
        max_length=20, choices=Activity.Type, blank=True, help_text="Create an activity."
    )
    subject = models.CharField(
        max_length=255,
        blank=True,
        help_text="Create an activity: placeholders such as {lead.name} or {deal.amount}.",
    )
    body = models.TextField(blank=True, help_text="Create an activity: notes, with placeholders.")
    due_in_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Create an activity: due this many business days later."
    )
    # create_activity (assignee; blank: the record's assignee) and assign (the new assignee)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Assign: the new assignee. Create an activity: its assignee (blank: the "
        "record's assignee).",
    )
    assignment_rule = models.ForeignKey(
        AssignmentRule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Assign: rotate over this assignment rule's users instead of one user.",
    )
    # set_field
    field = models.CharField(max_length=100, blank=True, help_text="Set a field: its name.")
    value = models.CharField(max_length=500, blank=True, help_text="Set a field: the new value.")
    # move_step
    step = models.ForeignKey(
        "wfm.WorkflowStep",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Move to a step.",
    )
    # start_sequence
    sequence = models.ForeignKey(
        "activities.Sequence",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Start a sequence (leads only).",
    )
    # call_webhook
    webhook = models.ForeignKey(
        "activities.WebhookSubscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Call a webhook: its URL and secret (its event list is ignored here).",
    )

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return self.get_type_display()

    def clean(self) -> None:
        from activities.automation import check_action

        check_action(self)


class AutomationRun(models.Model):
    """One rule on one event: at most once (unique), with the error of a failed run."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        SKIPPED = "skipped", "Conditions not met"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs")
    event = models.ForeignKey("crm.Event", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=Status)
    error = models.TextField(blank=True)
    details = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "event"], name="act_automationrun_once")
        ]

    def __str__(self) -> str:
        return f"{self.rule} on event #{self.event_id}: {self.status}"


# --- nurture sequences ----------------------------------------------------------------------------
class Sequence(TimestampedModel):
    """An ordered cadence of activities for a lead (SPEC §6 Nurture sequences).

    It stops when the lead converts, is disqualified or replies (an inbound call or email).
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive: no new enrolments.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    """One step of a sequence: plan an activity for the lead's assignee, or send an email from
    a template (run by the emails app: ``activities.services.register_step_runner``)."""

    class Kind(models.TextChoices):
        ACTIVITY = "activity", "Plan an activity"
        EMAIL = "email", "Send an email from a template"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField(default=0)
    delay_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(365)],
        help_text="Days after the previous step (the first: after enrolment).",
    )
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.ACTIVITY)
    activity_type = models.CharField(
        max_length=20, choices=Activity.Type, default=Activity.Type.TASK
    )
    subject = models.CharField(
        max_length=255,
        blank=True,
        help_text="Placeholders such as {lead.name}. An email step takes its template's.",
    )
    body = models.TextField(blank=True, help_text="The activity's notes; placeholders allowed.")
    email_template = models.ForeignKey(
        "emails.EmailTemplate",
        null=True,
        blank=True,
        # A deleted template leaves the step in place; it is skipped (and says why).
        on_delete=models.SET_NULL,
        related_name="sequence_steps",
        help_text="What an email step sends (marketing mail, to the lead's address).",
    )

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "order"], name="act_seqstep_order_unique")
        ]

    def __str__(self) -> str:
        what = self.subject
        if self.kind == self.Kind.EMAIL:
            what = f"email “{self.email_template}”" if self.email_template_id else "email"
        return f"{self.sequence} · step {self.order}: {what}"

    def clean(self) -> None:
        from activities.automation import check_template

        errors = {}
        if self.kind == self.Kind.EMAIL:
            # An email step contacts the lead as an email activity does (the consent gate of
            # contact steps reads the type).
            self.activity_type = Activity.Type.EMAIL
            if self.email_template_id is None:
                errors["email_template"] = ["Choose the template an email step sends."]
        elif not (self.subject or "").strip():
            errors["subject"] = ["This field is required."]
        for name in ("subject", "body"):
            if name in errors:
                continue
            try:
                check_template(getattr(self, name), kinds={"lead"})
            except ValidationError as exc:
                errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)


class SequenceEnrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="sequence_enrollments"
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)
    steps_done = models.PositiveIntegerField(
        default=0, help_text="How many steps have created their activity."
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-enrolled_at"]
        indexes = [models.Index(fields=["status", "next_run_at"], name="act_enrol_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "lead"],
                condition=Q(status="active"),
                name="act_enrol_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.lead} in {self.sequence}"


# --- outbound webhooks ----------------------------------------------------------------------------
def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookSubscription(TimestampedModel):
    """POST every chosen event, signed with ``secret`` (HMAC-SHA256), to ``url``."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=1000, help_text="An http:// or https:// address.")
    events = models.JSONField(
        default=list, blank=True, help_text="Event names to send, e.g. lead.created."
    )
    secret = models.CharField(
        max_length=128,
        default=new_secret,
        help_text="Shared secret: the receiver checks X-PipeCRM-Signature with it.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.url and not self.url.lower().startswith(("http://", "https://")):
            errors["url"] = ["Only http:// and https:// addresses can be called."]
        if not isinstance(self.events, list) or not all(isinstance(e, str) for e in self.events):
            errors["events"] = ["Must be a list of event names."]
        else:
            unknown = sorted(set(self.events) - EVENT_NAMES)
            if unknown:
                errors["events"] = [f"Unknown events: {', '.join(unknown)}."]
        if errors:
            raise ValidationError(errors)


class WebhookDelivery(models.Model):
    """One POST of one event to one subscription, with its attempts (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        "crm.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_name = models.CharField(max_length=100)
    source = models.CharField(
        max_length=50, blank=True, help_text="Blank: the subscription; rule:<id>: a rule action."
    )
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="act_delivery_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event", "source"], name="act_delivery_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.subscription}"
