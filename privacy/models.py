"""Personal data: who looked at it (the access log) and what the data subject agreed to
(consents). Issue 18; the erasing and exporting live in ``privacy.services``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RecordType(models.TextChoices):
    LEAD = "lead", "Lead"
    PERSON = "person", "Person"


class AccessLogEntry(models.Model):
    """One look at, export or erasure of a lead's or a person's personal data: who, when,
    through what and why. Written by ``privacy.services``; pruned after
    ``PRIVACY_ACCESS_LOG_DAYS`` days; read-only in the admin."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        EXPORT = "export", "Exported"
        ANONYMIZE = "anonymize", "Anonymized"
        RETENTION = "retention", "Anonymized by the retention policy"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: the system (the retention task).",
    )
    action = models.CharField(max_length=20, choices=Action)
    record_type = models.CharField(max_length=20, choices=RecordType)
    record_id = models.UUIDField()
    channel = models.CharField(
        max_length=20, blank=True, help_text="page, api, download or system."
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "personal data access"
        verbose_name_plural = "personal data access log"
        indexes = [
            models.Index(
                fields=["record_type", "record_id", "-at"], name="privacy_access_record_idx"
            )
        ]
        permissions = [
            ("manage_personal_data", "Can export and anonymize the personal data of a record"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.record_type} {self.record_id}"


class Consent(models.Model):
    """One consent given or withdrawn by a lead or a person for one purpose. Records are never
    changed: the newest one of a subject and purpose is the one that holds
    (``privacy.selectors.has_consent``)."""

    class Purpose(models.TextChoices):
        MARKETING = "marketing", "Marketing (newsletters, nurture sequences, offers)"
        PROFILING = "profiling", "Profiling (scoring from behaviour)"

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Source(models.TextChoices):
        CAPTURE_FORM = "capture_form", "Web form"
        MANUAL = "manual", "Recorded by a user"
        API = "api", "API"
        IMPORT = "import", "Import"
        EMAIL = "email", "Email (unsubscribe)"

    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="consents"
    )
    person = models.ForeignKey(
        "crm.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="consents"
    )
    purpose = models.CharField(max_length=20, choices=Purpose, default=Purpose.MARKETING)
    status = models.CharField(max_length=10, choices=Status)
    source = models.CharField(max_length=20, choices=Source, default=Source.MANUAL)
    form = models.ForeignKey(
        "leads.CaptureForm",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The capture form the consent was given on.",
    )
    evidence = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What proves it, e.g. the form, the page and the wording the visitor ticked.",
    )
    at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["lead", "purpose", "-at"], name="privacy_consent_lead_idx"),
            models.Index(fields=["person", "purpose", "-at"], name="privacy_consent_person_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(person__isnull=False),
                name="privacy_consent_has_subject",
                violation_error_message="A consent belongs to a lead or a person.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()}: {self.get_status_display()}"

    def clean(self) -> None:
        if self.lead_id is None and self.person_id is None:
            raise ValidationError("A consent belongs to a lead or a person.")
        if not isinstance(self.evidence, dict):
            raise ValidationError({"evidence": ["Must be a JSON object."]})

    @property
    def granted(self) -> bool:
        return self.status == self.Status.GRANTED
