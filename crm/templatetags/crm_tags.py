"""``{% load crm_tags %}``: the app's shared template tags, and the formatting of
``crm.formatting`` as filters, so money, ages, contact links and badges read the same on every
page (``{{ deal.amount|money:deal.currency }}``, ``{{ activity.done_at|ago }}``)."""

from django import template
from django.urls import NoReverseMatch, reverse

from crm import formatting

register = template.Library()

register.filter("money", formatting.money)
register.filter("age", formatting.age)
register.filter("ago", formatting.ago)
register.filter("since", formatting.since)
register.filter("when", formatting.when)
register.filter("tel", formatting.tel)
register.filter("mailto", formatting.mailto)
register.filter("temperature", formatting.temperature)
register.filter("score_badge", formatting.score_badge)
register.filter("step_badge", formatting.step_badge)


@register.filter
def state_badge(label: str, state: str = ""):
    """``{{ "Converted"|state_badge:"converted" }}``; the state defaults to the label."""
    return formatting.state_badge(label, state or str(label).lower())


@register.simple_tag
def score_temperatures() -> tuple[tuple[str, str], ...]:
    """The cold / warm / hot bands with their ranges, for the score legend."""
    return formatting.TEMPERATURES


@register.simple_tag
def url_or_none(name: str, *args):
    """Reverse a URL name, or None while the screen it names does not exist yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@register.filter
def widget_with_state(field):
    """Render a bound field's widget, marked ``is-invalid`` when it has errors."""
    if not field.errors:
        return field.as_widget()
    css = field.field.widget.attrs.get("class", "")
    return field.as_widget(attrs={"class": f"{css} is-invalid".strip(), "aria-invalid": "true"})
