from datetime import date, datetime

from django import template
from django.utils.text import capfirst

from crm import formatting

register = template.Library()


@register.filter
def value_kind(value) -> str:
    """How the export page shows a value: as a table (dict), a list or a plain value."""
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, list | tuple):
        return "list"
    return "scalar"


# Words the export's keys abbreviate, as people write them.
ACRONYMS = {"ai": "AI", "utm": "UTM", "url": "URL", "id": "ID", "ip": "IP"}


@register.filter
def key_label(key) -> str:
    words = [ACRONYMS.get(word, word) for word in str(key).split("_")]
    return capfirst(" ".join(words))


@register.filter
def plain(value) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if isinstance(value, datetime | date):
        return formatting.exact_text(value) or formatting.day_text(value)
    return str(value)
