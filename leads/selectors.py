"""Reads of leads. Every queryset starts from what the user may see (crm.permissions)."""

from __future__ import annotations

from functools import lru_cache

from django.db.models import QuerySet

from crm import permissions
from crm.models import User
from crm.selectors import get_visible
from leads.models import Lead
from wfm.models import ProjectType, StatusHistory, Workflow, WorkflowStep

LIST_RELATED = (
    "owner",
    "assigned_to",
    "organization",
    "wfm_project__current_step__status",
)


def lead_list(*, user: User, include_converted: bool = True) -> QuerySet[Lead]:
    qs = Lead.objects.select_related(*LIST_RELATED)
    if not include_converted:
        qs = qs.filter(converted_at__isnull=True)
    return permissions.visible(user, qs)


def lead_get(*, user: User, lead_id, action: permissions.Action = "view") -> Lead:
    return get_visible(
        user=user,
        queryset=Lead.objects.select_related(
            *LIST_RELATED,
            "person",
            "qualified_by",
            "converted_by",
            "converted_to_person",
            "converted_to_organization",
            "converted_to_deal",
            "wfm_project__workflow",
        ),
        pk=lead_id,
        action=action,
    )


def lead_duplicates(*, user: User, email: str, exclude_id=None) -> QuerySet[Lead]:
    """Visible open leads with this contact email (flagged on create)."""
    email = (email or "").strip().lower()
    if not email:
        return Lead.objects.none()
    qs = lead_list(user=user, include_converted=False).filter(contact_email=email)
    return qs.exclude(pk=exclude_id) if exclude_id else qs


def lead_history(*, lead: Lead) -> QuerySet[StatusHistory]:
    return (
        StatusHistory.objects.filter(project_id=lead.wfm_project_id)
        .select_related("from_step__status", "to_step__status", "changed_by")
        .order_by("-at", "-pk")
    )


def lead_steps() -> list[WorkflowStep]:
    """The steps of the workflow new leads start in (one query), in order."""
    return list(
        WorkflowStep.objects.select_related("status", "workflow")
        .filter(workflow__project_types__entity_type="lead")
        .order_by("order")
    )


def lead_project_type() -> ProjectType:
    from wfm.selectors import project_type_for

    return project_type_for(entity_type="lead")


# Steps with a role in the lead lifecycle, found by outcome (converted: won, disqualified:
# lost) or, for "qualified", by ``metadata.role`` or the default step name.
def converted_step(workflow: Workflow) -> WorkflowStep | None:
    return _outcome_step(workflow.pk, WorkflowStep.Outcome.WON)


def disqualified_step(workflow: Workflow) -> WorkflowStep | None:
    return _outcome_step(workflow.pk, WorkflowStep.Outcome.LOST)


def qualified_step(workflow: Workflow) -> WorkflowStep | None:
    from wfm.defaults import LeadStep

    steps = list(
        WorkflowStep.objects.select_related("status").filter(workflow=workflow, is_final=False)
    )
    return next((s for s in steps if (s.metadata or {}).get("role") == "qualified"), None) or next(
        (s for s in steps if s.name == LeadStep.QUALIFIED), None
    )


def _outcome_step(workflow_id: int, outcome: str) -> WorkflowStep | None:
    return (
        WorkflowStep.objects.select_related("status")
        .filter(workflow_id=workflow_id, outcome=outcome, is_final=True)
        .order_by("order")
        .first()
    )


@lru_cache(maxsize=1)
def _free_mail_domains() -> frozenset[str]:
    return frozenset(
        {
            "gmail.com",
            "googlemail.com",
            "yahoo.com",
            "hotmail.com",
            "outlook.com",
            "live.com",
            "icloud.com",
            "me.com",
            "aol.com",
            "gmx.de",
            "gmx.net",
            "web.de",
            "proton.me",
            "protonmail.com",
            "mail.com",
            "yandex.ru",
        }
    )


def email_domain(email: str) -> str:
    """The company domain of an email address; empty for free-mail providers."""
    domain = (email or "").rpartition("@")[2].strip().lower()
    return "" if domain in _free_mail_domains() else domain


def lead_timeline_history(*, lead: Lead, limit: int = 100) -> list[dict]:
    """Field changes and step moves of a lead, newest first, with who and when."""
    entries: list[dict] = []
    for move in lead_history(lead=lead)[:limit]:
        entries.append(
            {
                "at": move.at,
                "kind": "step",
                "user": move.changed_by.display_name if move.changed_by else None,
                "from_step": move.from_step.name if move.from_step else None,
                "to_step": move.to_step.name,
                "reason": move.reason,
            }
        )
    records = list(lead.history.select_related("history_user").order_by("-history_date")[:limit])
    for record, older in zip(records, [*records[1:], None], strict=True):
        changes = []
        if record.history_type == "~" and older is not None:
            changes = [
                {"field": c.field, "old": _plain(c.old), "new": _plain(c.new)}
                for c in record.diff_against(older).changes
            ]
            if not changes:
                continue
        entries.append(
            {
                "at": record.history_date,
                "kind": {"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
                "user": record.history_user.display_name if record.history_user else None,
                "changes": changes,
            }
        )
    entries.sort(key=lambda e: e["at"], reverse=True)
    return entries[:limit]


def _plain(value):
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)
