from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.inclusion_tag("crm/_sort_header.html", takes_context=True)
def sort_header(context, key: str, label: str):
    """A column header that toggles ascending/descending ordering on ``key``."""
    current = context.get("ordering", "")
    if current == key:
        next_ordering, direction = f"-{key}", "asc"
    elif current == f"-{key}":
        next_ordering, direction = key, "desc"
    else:
        next_ordering, direction = key, ""
    query = context.get("sort_query", "")
    href = f"?{query}&ordering={next_ordering}" if query else f"?ordering={next_ordering}"
    return {"href": href, "label": label, "direction": direction}


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
