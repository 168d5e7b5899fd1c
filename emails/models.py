"""Email sent from and received on records (issue 20).

- ``EmailTemplate``: a reusable subject and body with merge fields, managed by Managers.
- ``EmailThread``: messages of one conversation, on the one record it belongs to.
- ``EmailMessage``: one sent or received message; every one has an email ``Activity`` so the
  timeline, ``last_activity_at`` and scoring see it.
- ``EmailAttachment``: a file of a message, stored through the storage API.
- ``EmailAddressStatus``: addresses that must not get (some) mail: bounced, complained,
  unsubscribed (``emails.selectors.address_blocked``).

Rows hold their own invariants; sending, receiving and threading live in ``services`` and
``inbound``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import TimestampedModel


class EmailTemplate(TimestampedModel):
    """Subject and body with merge fields such as ``{{ lead.name }}`` or ``{{ cf.budget }}``."""

    name = models.CharField(max_length=100, unique=True)
    subject = models.CharField(max_length=255)
    body = models.TextField(
        help_text="Plain text: blank lines separate paragraphs, **bold**, *italic*, "
        "[links](https://…). Merge fields: {{ lead.name }}, {{ person.first_name }}, "
        "{{ sender.first_name }}, {{ cf.<name> }}."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive: not offered when writing.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EmailThread(models.Model):
    """The messages of one conversation, on one record (the one it was started from or
    matched to)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.CharField(max_length=998, blank=True)
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_threads",
        db_index=False,  # covered by emails_thread_lead_idx
    )
    person = models.ForeignKey(
        "crm.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_threads",
        db_index=False,
    )
    deal = models.ForeignKey(
        "deals.Deal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_threads",
        db_index=False,
    )
    last_message_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    RECORD_FIELDS = ("lead", "person", "deal")

    class Meta:
        ordering = ["-last_message_at"]
        indexes = [
            models.Index(fields=["lead", "-last_message_at"], name="emails_thread_lead_idx"),
            models.Index(fields=["person", "-last_message_at"], name="emails_thread_person_idx"),
            models.Index(fields=["deal", "-last_message_at"], name="emails_thread_deal_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    @property
    def record(self) -> models.Model | None:
        """The lead, person or deal the thread belongs to (the first one set)."""
        for name in self.RECORD_FIELDS:
            if getattr(self, f"{name}_id") is not None:
                return getattr(self, name)
        return None


class EmailMessage(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"
        DELIVERED = "delivered", "Delivered"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Marked as spam"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread = models.ForeignKey(EmailThread, on_delete=models.CASCADE, related_name="messages")
    activity = models.OneToOneField(
        "activities.Activity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_message",
    )
    direction = models.CharField(max_length=10, choices=Direction)
    status = models.CharField(max_length=12, choices=Status, default=Status.DRAFT)
    # RFC 5322 Message-ID without its angle brackets. NULL (not "") when there is none (an
    # inbound message without the header): unique, and many messages may lack one.
    message_id = models.CharField(max_length=998, unique=True, null=True, blank=True)  # noqa: DJ001
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True, help_text="Message-IDs, space separated.")
    from_address = models.EmailField(max_length=254, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True, help_text="Sanitised HTML.")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sent_email_messages",
    )
    template = models.ForeignKey(
        EmailTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    is_marketing = models.BooleanField(
        default=False,
        help_text="Sequences and bulk mail: carries List-Unsubscribe; one-to-one mail does not.",
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # When it was handed to the sending task: a message left queued long after (its task lost
    # with the broker) is handed over again by the scheduled-mail sweep.
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["thread", "created_at"], name="emails_msg_thread_idx"),
            # The scheduled-mail sweep reads only the mail still waiting.
            models.Index(
                fields=["scheduled_at"],
                condition=Q(status="scheduled"),
                name="emails_msg_scheduled_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        for name in ("to", "cc", "bcc"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                errors[name] = ["Must be a list of addresses."]
        if self.message_id and (self.message_id.startswith("<") or self.message_id.endswith(">")):
            errors["message_id"] = ["Stored without its angle brackets."]
        if errors:
            raise ValidationError(errors)

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class EmailAttachment(models.Model):
    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="email/%Y/%m/", max_length=500)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.filename


class EmailAddressStatus(models.Model):
    """An address that must not get (some) mail. Bounced and complained block all mail;
    unsubscribed blocks marketing mail only."""

    class Status(models.TextChoices):
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Marked as spam"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    address = models.EmailField(max_length=254, unique=True)
    status = models.CharField(max_length=12, choices=Status)
    reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "email address statuses"

    def __str__(self) -> str:
        return f"{self.address}: {self.get_status_display()}"

    def save(self, *args, **kwargs) -> None:
        # The unique key is the lowercased address: normalising here (not in each caller)
        # keeps "Ann@X.com" and "ann@x.com" from becoming two rows.
        self.address = (self.address or "").strip().lower()
        super().save(*args, **kwargs)
