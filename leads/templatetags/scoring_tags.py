"""The score panel of a lead's detail page, rendered where the page includes it."""

from django import template

from leads.scoring.selectors import score_panel as score_panel_context

register = template.Library()


@register.inclusion_tag("leads/_score_panel.html")
def score_panel(lead, can_change: bool = False) -> dict:
    """``{% score_panel lead can_change %}``: the lead is one the page's view already checked
    the user may see; ``can_change`` shows the Recalculate button."""
    return {**score_panel_context(lead=lead), "can_change": can_change}
