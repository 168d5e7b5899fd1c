"""Lead template tags: the score and step badges under the names lead templates use; the
badges themselves are drawn by ``crm.formatting`` (one look for every record type)."""

from django import template
from django.utils.safestring import SafeString

from crm import formatting

register = template.Library()

# Score bands shown as cold / warm / hot (SPEC §6 Scoring): crm.formatting decides.
WARM_FROM = formatting.WARM_FROM
HOT_FROM = formatting.HOT_FROM
DASH = formatting.DASH


@register.filter
def score_band(score) -> str:
    return formatting.temperature(score)


@register.simple_tag
def score_badge(score) -> SafeString:
    return formatting.score_badge(score)


@register.simple_tag
def step_badge(step) -> SafeString:
    return formatting.step_badge(step)
