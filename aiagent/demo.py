"""Demo qualification analyses: the reps ran the lead analysis on some of their qualified
leads (offline rules without an API key, as in the embedded default) and applied some of the
suggested field values, so the lead's AI insights, the AI-derived score factors and the
dashboard's AI section have something to show.

Idempotent: leads that already carry insights are left alone, and nothing runs once any
demo lead has them. Runs through ``aiagent.services`` as the lead's assignee.
"""

from __future__ import annotations

from aiagent import services
from crm.errors import DomainError
from crm.models import User
from leads.models import Lead
from wfm.defaults import LeadStep

ANALYSED = 14  # qualified leads analysed
APPLY_EVERY = 3  # one in three had its first suggestion applied


def seed(users: dict[str, User], out) -> None:
    demo_leads = Lead.objects.filter(created_by__in=[users[u] for u in ("rep1", "rep2", "manager")])
    if any(demo_leads.values_list("ai_insights", flat=True)):
        out.write("  analyses already run")
        return
    candidates = (
        demo_leads.filter(
            converted_at__isnull=True,
            assigned_to__isnull=False,
            wfm_project__current_step__status__name=LeadStep.QUALIFIED,
        )
        .select_related("assigned_to", "wfm_project__current_step")
        .order_by("created_at", "contact_email")[:ANALYSED]
    )
    analysed = applied = 0
    for n, lead in enumerate(candidates):
        outcome = services.lead_analyze(by=lead.assigned_to, lead=lead)
        analysed += outcome.stored
        suggestions = outcome.insights.get("suggested_fields") or []
        if n % APPLY_EVERY == 0 and suggestions:
            lead.refresh_from_db()
            try:
                services.lead_apply_suggestion(
                    by=lead.assigned_to, lead=lead, field=suggestions[0]["field"]
                )
                applied += 1
            except DomainError:
                continue  # the suggested value does not fit the lead any more
    out.write(f"  {analysed} lead analyses, {applied} suggestions applied")
