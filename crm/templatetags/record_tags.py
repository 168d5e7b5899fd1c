"""Template tags of the shared record table (crm.records.tables)."""

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def record_cells(obj, columns) -> SafeString:
    """All ``<td>`` cells of one row, in one tag call per row (not one include per cell)."""
    cells = []
    for column in columns:
        css = "num" if column.numeric else ("cell-wide" if column.wide else "")
        content = conditional_escape(column.cell(obj))
        cells.append(f'<td class="{css}">{content}</td>' if css else f"<td>{content}</td>")
    return mark_safe("".join(cells))
