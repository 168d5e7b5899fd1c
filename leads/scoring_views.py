"""HTML views of scoring: the Recalculate button of the score panel."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from crm.htmx import trigger
from leads import selectors
from leads.scoring import selectors as scoring_selectors
from leads.scoring import services as scoring_services


@login_required
@require_POST
def lead_rescore(request: HttpRequest, lead_id) -> HttpResponse:
    """Recompute the lead's score now; answer the refreshed score panel (HTMX) or go back to
    the lead. A moved score also refreshes the rest of the page (header badge, hints)."""
    lead = selectors.lead_get(user=request.user, lead_id=lead_id, action="change")
    old = lead.lead_score
    was_qualified = lead.is_qualified
    lead = scoring_services.lead_rescore(by=request.user, lead=lead)
    if not request.htmx:
        return redirect("leads:detail", lead_id=lead.pk)
    context = {**scoring_selectors.score_panel(lead=lead), "can_change": True}
    response = render(request, "leads/_score_panel.html", context)
    if lead.lead_score != old or lead.is_qualified != was_qualified:
        trigger(response, recordSaved=True)
    return response
