"""Duplicate candidates and the keys they are found by.

Records are named by type and id (leads, people and organizations all have UUID keys) rather
than by foreign keys: a pair may join two types, and the keys of one record type are kept by
this app without touching the records' own tables.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

RECORD_TYPE_CHOICES = [
    ("lead", "Lead"),
    ("person", "Person"),
    ("organization", "Organization"),
]


class DuplicateKey(models.Model):
    """One blocking key of one record (its normalised email, E.164 phone, domain, name or
    company key): records are only compared with records that share a key, so finding
    duplicates never compares every record with every other one."""

    record_type = models.CharField(max_length=20, choices=RECORD_TYPE_CHOICES)
    record_id = models.UUIDField()
    rule = models.CharField(max_length=20)
    value = models.CharField(max_length=255)

    class Meta:
        indexes = [
            models.Index(fields=["rule", "value"], name="dupkey_lookup_idx"),
            models.Index(fields=["record_type", "record_id"], name="dupkey_record_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.record_type} {self.record_id}: {self.rule}={self.value}"


class DuplicateCandidate(models.Model):
    """Two records that may be one: found by ``duplicates.services.duplicates_find``."""

    class Kind(models.TextChoices):
        LEAD = "lead", "Leads"
        PERSON = "person", "People"
        ORGANIZATION = "organization", "Organizations"
        LEAD_PERSON = "lead_person", "Lead and person"
        LEAD_ORGANIZATION = "lead_organization", "Lead and organization"

    kind = models.CharField(max_length=20, choices=Kind)
    first_type = models.CharField(max_length=20, choices=RECORD_TYPE_CHOICES)
    first_id = models.UUIDField(
        help_text="Of two records of one type, the smaller id; else the lead."
    )
    second_type = models.CharField(max_length=20, choices=RECORD_TYPE_CHOICES)
    second_id = models.UUIDField()
    score = models.PositiveSmallIntegerField(help_text="How alike the two records are, 0–100.")
    reasons = models.JSONField(
        default=list,
        blank=True,
        help_text='The rules that matched, strongest first: [{"rule", "label", "score", …}].',
    )
    found_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Marked “not a duplicate”: later runs keep the pair but show it no more.",
    )
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-score", "-found_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "first_id", "second_id"], name="duplicate_candidate_unique_pair"
            )
        ]
        indexes = [
            models.Index(fields=["kind", "-score"], name="dupcand_kind_score_idx"),
            models.Index(fields=["first_id"], name="dupcand_first_idx"),
            models.Index(fields=["second_id"], name="dupcand_second_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.first_id} ~ {self.second_id} ({self.score})"

    @property
    def is_dismissed(self) -> bool:
        return self.dismissed_at is not None


class DuplicateRun(models.Model):
    """One run of the finder: the next run looks only at records changed since this one
    started."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_checked = models.PositiveIntegerField(default=0)
    pairs_found = models.PositiveIntegerField(default=0)
    full = models.BooleanField(default=False, help_text="Every record was checked.")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Duplicate run {self.started_at:%Y-%m-%d %H:%M}"
