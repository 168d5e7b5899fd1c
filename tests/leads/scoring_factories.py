"""Helpers for the scoring tests: activities written directly (the scoring engine reads them;
how they are logged is the activities app's business) and the active profile."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from activities.models import Activity
from leads.models import Lead, ScoringProfile


def activity(lead: Lead, *, type: str = "note", at: datetime | None = None, **fields) -> Activity:
    """An activity on ``lead`` created at ``at`` (default now); done unless told otherwise."""
    at = at or timezone.now()
    fields.setdefault("subject", f"{type} about {lead.name}")
    fields.setdefault("is_done", type not in ("task", "deadline"))
    if fields["is_done"]:
        fields.setdefault("done_at", at)
    return Activity.objects.create(
        type=type, lead=lead, created_by=lead.owner, created_at=at, **fields
    )


def active_profile(**changes) -> ScoringProfile:
    """The active (default) profile, changed and saved."""
    profile = ScoringProfile.objects.get(is_active=True)
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    return profile
