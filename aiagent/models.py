"""Conversations with the AI agent, every message and tool call of them, and proposals waiting
for the user's confirmation (SPEC §8).

A conversation belongs to one user and is only ever shown to that user. Messages are stored in
the order they happened: the user's text, the model's interim text and tool requests
(``assistant``), the tool results (``tool``, one message per round with its ``ToolCall`` rows)
and the final answer. That list is both what the chat shows and what is replayed to the model.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    class ContextType(models.TextChoices):
        NONE = "", "None"
        LEAD = "lead", "Lead"
        DEAL = "deal", "Deal"
        PERSON = "person", "Person"
        ORGANIZATION = "organization", "Organization"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    context_type = models.CharField(
        max_length=20,
        choices=ContextType,
        blank=True,
        default=ContextType.NONE,
        help_text="The record the conversation was started from, if any.",
    )
    context_id = models.CharField(max_length=64, blank=True)
    context_followed = models.BooleanField(
        default=False,
        help_text="The context is the record named last in the chat (not the page's record "
        "the conversation was opened from).",
    )
    source = models.CharField(
        max_length=10,
        default="chat",
        help_text="Where the conversation happens: chat (the UI or the API) or mcp.",
    )
    running_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while the agent works on the conversation: one run at a time.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="ai_conv_user_idx")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.created_at:%Y-%m-%d %H:%M}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool"

    class Kind(models.TextChoices):
        TEXT = "text", "Text"  # the user's message, or the model's final answer
        THOUGHT = "thought", "Thought"  # the model's text alongside tool requests
        NOTICE = "notice", "Notice"  # the system speaking: offline, limits, errors
        TOOLS = "tools", "Tool results"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.TEXT)
    content = models.TextField(blank=True)
    data = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="For the model's messages: its content blocks (replayed on the next turn), "
        "stop reason, token usage and whether it came from Claude or the offline parser.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="ai_msg_conv_idx")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


# Proposals of these tools open in the email composer, prefilled (``aiagent.tools.email_tools``).
EDITABLE_IN_COMPOSER = frozenset({"send_email"})


class Proposal(models.Model):
    """A confirm-only tool call (convert, delete, bulk change, new custom field) waiting for the
    user. It is bound to its exact arguments (``arguments_hash``) and runs only through
    ``aiagent.services.proposal_confirm`` with its secret ``token``, as the user who owns it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for confirmation"
        CONFIRMED = "confirmed", "Confirmed and done"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        # An email proposal the user opened in the composer to edit: it no longer runs as
        # proposed (the composer sends the edited message), and the composer can reopen it.
        EDITED = "edited", "Opened in the composer"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_proposals"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="proposals"
    )
    tool = models.CharField(max_length=100)
    arguments = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    arguments_hash = models.CharField(max_length=64)
    summary = models.TextField(help_text="What would happen, in the user's words.")
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.tool} ({self.get_status_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > timezone.now()

    @property
    def opens_in_composer(self) -> bool:
        """An email proposal: the composer can open it to edit (``services.proposal_edit``)."""
        return self.tool in EDITABLE_IN_COMPOSER


class ToolCall(models.Model):
    """One execution of a tool, whoever asked for it (the model, the offline parser, an MCP
    client, a confirmation). ``result`` is capped; ``result_size`` is the full size."""

    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="tool_calls"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, default="chat")
    tool = models.CharField(max_length=100)
    tool_use_id = models.CharField(max_length=100, blank=True)
    arguments = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    arguments_hash = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    result_size = models.PositiveIntegerField(default=0)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    records = models.JSONField(
        default=list,
        blank=True,
        help_text="The records the call returned or touched: type, id, name and link.",
    )
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    proposal = models.ForeignKey(
        Proposal, null=True, blank=True, on_delete=models.SET_NULL, related_name="tool_calls"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.tool} ({self.duration_ms} ms)"

    @property
    def proposal_token(self) -> str:
        return self.proposal.token if self.proposal_id else ""

    @property
    def proposal_status(self) -> str:
        return self.proposal.status if self.proposal_id else ""


class AnalysisRun(models.Model):
    """One qualification analysis of a lead (``aiagent.services.lead_analyze``), wherever it
    was asked for (the lead's AI panel, the API, the assistant's tool): what the dashboard
    counts as an analysis run, with the field values it offered to apply and how many were.
    The insights themselves live on the lead (``Lead.ai_insights``, with this row's id)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mode = models.CharField(max_length=10, help_text="claude, or rules (the offline analyser).")
    stored = models.BooleanField(
        default=False,
        help_text="Stored on the lead. A user who may not change the lead only sees the "
        "analysis: it offers nothing to apply.",
    )
    suggested = models.PositiveIntegerField(
        default=0, help_text="Field values the stored analysis offered to apply."
    )
    applied = models.PositiveIntegerField(
        default=0,
        help_text="Of those, how many were applied (aiagent.services.lead_apply_suggestion).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="ai_run_user_idx")]

    def __str__(self) -> str:
        return f"Analysis by {self.mode} at {self.created_at:%Y-%m-%d %H:%M}"


class NextActionSuggestion(models.Model):
    """A next best action (``aiagent.next_action``) shown to a user on a lead's intelligence
    panel, and whether that user applied it: what the dashboard counts as next best actions
    shown and applied. One row per user, lead, suggestion and day (a panel shown ten times
    in a day counts once); only users who may act on the lead are counted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.CharField(max_length=40, help_text="The rule that suggested it.")
    key = models.CharField(max_length=64, help_text="The rule and a digest of the subject.")
    subject = models.CharField(max_length=255)
    day = models.DateField(help_text="The local day it was shown.")
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_action = models.CharField(
        max_length=20, blank=True, help_text="task, draft, move or complete."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lead", "key", "day"], name="ai_next_action_once_a_day"
            )
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="ai_next_action_user_idx")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.rule}, {self.day})"
