"""Reads of leads. Every queryset starts from what the user may see (crm.permissions)."""

from __future__ import annotations

from django.db.models import QuerySet

from crm import permissions, reference
from crm.contacts import FREE_MAIL_DOMAINS
from crm.models import User
from crm.records import details
from crm.selectors import get_visible
from leads.models import Lead
from wfm.models import ProjectType, StatusHistory, Workflow, WorkflowStep

LIST_RELATED = (
    "owner",
    "assigned_to",
    "organization",
    "wfm_project__current_step__status",
)


# What the API's lead shows besides the lead's own columns (its step's name): the owner,
# assignee and organization are ids there, so their rows are not read (a third of a page's
# objects and JSON decoding).
API_RELATED = ("wfm_project__current_step__status",)


def lead_list(
    *, user: User, include_converted: bool = True, related: tuple[str, ...] = LIST_RELATED
) -> QuerySet[Lead]:
    qs = Lead.objects.select_related(*related)
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


def lead_writable(user: User, lead: Lead) -> bool:
    """Whether ``user`` may work the lead (move, qualify, convert, assign, edit): a role that
    works on leads, change access to this one, and not converted yet."""
    return (
        permissions.works_on(user, Lead)
        and not lead.is_converted
        and permissions.can_change(user, lead)
    )


def lead_convertible(user: User, lead: Lead) -> bool:
    """Whether ``user`` may convert the lead now: they may work it and it is not closed."""
    return lead_writable(user, lead) and not lead.wfm_project.current_step.is_final


def lead_history(*, lead: Lead) -> QuerySet[StatusHistory]:
    return (
        StatusHistory.objects.filter(project_id=lead.wfm_project_id)
        .select_related("from_step__status", "to_step__status", "changed_by")
        .order_by("-at", "-pk")
    )


def lead_steps() -> list[WorkflowStep]:
    """The steps of the workflow new leads start in, in order: one query, cached as reference
    data (``crm.reference``) until a workflow, step or status changes."""
    return reference.cached(
        "lead-steps",
        lambda: list(
            WorkflowStep.objects.select_related("status", "workflow")
            .filter(workflow__project_types__entity_type="lead")
            .order_by("order")
        ),
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


def email_domain(email: str) -> str:
    """The company domain of an email address; empty for free-mail providers."""
    domain = (email or "").rpartition("@")[2].strip().lower()
    return "" if domain in FREE_MAIL_DOMAINS else domain


# --- history ----------------------------------------------------------------------------------
# What only the system changes (besides timestamps, which crm.records.details counts as the
# system's): a rescore's score, and who qualified or converted it (the entry already says who).
HISTORY_SYSTEM_FIELDS = ("lead_score", "qualified_by", "converted_by")
HISTORY_LABELS = {
    "company_name": "Company",
    "contact_name": "Contact",
    "sub_source": "Sub-source",
    "estimated_close_date": "Expected close",
    "lead_score": "Score",
    "is_qualified": "Qualified",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "utm_content": "UTM content",
    "utm_term": "UTM term",
    "referrer_url": "Referrer URL",
}


def lead_history_view(
    *, lead: Lead, show_system: bool = False, limit: int = details.HISTORY_LIMIT, url: str = ""
) -> details.History:
    """Field changes (labelled, with display values) and step moves of a lead, newest first;
    the system's own changes only when ``show_system``."""
    return details.history_for(
        lead,
        show_system=show_system,
        url=url,
        labels=HISTORY_LABELS,
        system_fields=HISTORY_SYSTEM_FIELDS,
        moves=lead_history(lead=lead)[:limit],
        limit=limit,
    )


def lead_timeline_history(*, lead: Lead, limit: int = 100, show_system: bool = False) -> list[dict]:
    """``lead_history_view`` as plain data (the API's history): each change has its field,
    label, stored values (``old``/``new``) and display values."""
    rows = []
    for entry in lead_history_view(lead=lead, show_system=show_system, limit=limit).entries:
        row = {"at": entry.at, "kind": entry.kind, "user": entry.user or None}
        if entry.kind == "step":
            row.update(
                from_step=entry.from_step or None, to_step=entry.to_step, reason=entry.reason
            )
        else:
            row["changes"] = [
                {
                    "field": c.field,
                    "label": c.label,
                    "old": c.before,
                    "new": c.after,
                    "old_display": c.old,
                    "new_display": c.new,
                }
                for c in entry.changes
            ]
        rows.append(row)
    return rows
