"""Template tags of the shared record table and board (crm.records.tables, crm.records.boards)."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from crm.formatting import esc
from crm.records import registry
from crm.records.types import record_url as _record_url

register = template.Library()


@register.simple_tag
def record_row(obj, columns, rt, bulk=False, oob=False) -> SafeString:
    """One ``<tr>`` of the table: the markup contract of records/list.html (``tr#row-<pk>
    [data-id][data-<type>-id]``), the bulk checkbox and the cells, written in one tag call
    per row (a page writes fifty; realtime renders it alone as ``list.html#row``)."""
    pk = esc(obj.pk)
    swap = ' hx-swap-oob="true"' if oob else ""
    check = (
        f'<td class="bulk-check"><input class="form-check-input" type="checkbox" name="ids" '
        f'value="{pk}" form="bulk-form" data-bulk-item aria-label="Select {esc(obj)}"></td>'
        if bulk
        else ""
    )
    return mark_safe(
        f'<tr id="row-{pk}" data-id="{pk}" data-{esc(rt.key)}-id="{pk}"{swap}>'
        f"{check}{record_cells(obj, columns)}</tr>"
    )


@register.simple_tag
def record_cells(obj, columns) -> SafeString:
    """All ``<td>`` cells of one row, in one tag call per row (not one include per cell)."""
    cells = []
    for column in columns:
        css = "num" if column.numeric else ("cell-wide" if column.wide else "")
        content = esc(column.cell(obj))
        cells.append(f'<td class="{css}">{content}</td>' if css else f"<td>{content}</td>")
    return mark_safe("".join(cells))


@register.filter
def record_url(pk, name: str) -> str:
    """``{{ card.pk|record_url:"leads:detail" }}``: ``{% url "leads:detail" card.pk %}`` at a
    fraction of its cost (``crm.records.types.record_url``); cards draw several per record."""
    return _record_url(name, pk)


@register.simple_tag
def board_card(kind: str, card, movable=(), board_query="") -> SafeString:
    """``{% board_card "lead" card movable board_query %}``: one card, as the board writes it
    (``templates/<app>/_card.html``, which realtime and a move's answer render)."""
    write = registry.get(kind).board.card
    return write(card, movable=card.pk in (movable or ()), board_query=board_query or "")


@register.simple_tag(takes_context=True)
def board_cards(context, rt, cards, movable=(), board_query="") -> SafeString:
    """A column's cards in one tag call (``crm.records.cards``); a type without a card
    writer renders its ``card_template`` per card."""
    board = rt.board
    movable = movable or ()
    if board.card is None:
        template = context.template.engine.get_template(board.card_template)
        parts = []
        for card in cards:
            with context.push(card=card):
                parts.append(template.render(context))
        return mark_safe("".join(parts))
    write, query = board.card, board_query or ""
    return mark_safe(
        "".join(write(card, movable=card.pk in movable, board_query=query) for card in cards)
    )


def _option(value, label, current) -> str:
    selected = " selected" if current == value else ""
    return f'<option value="{esc(value)}"{selected}>{esc(label)}</option>'


@register.simple_tag
def filter_input(f: dict) -> SafeString:
    """One input of the filter bar (``records/_filters.html``): ``f`` = {spec, id, value,
    choices} from ``crm.records.tables``. Written here, as rows and cards are: a table's
    twenty-odd inputs cost a millisecond as included templates."""
    spec, value = f["spec"], f["value"]
    ident, name = esc(f["id"]), esc(spec.param)
    kind = spec.kind
    if kind in ("select", "user"):
        anyone = f'<option value="">{"Anyone" if kind == "user" else "Any"}</option>'
        none = _option(spec.none_value, "Unassigned", value) if spec.none_value else ""
        choices = "".join(_option(v, label, value) for v, label in f["choices"])
        control = (
            f'<select class="form-select form-select-sm" id="{ident}" name="{name}">\n    '
            f"{anyone}\n    {none}\n    {choices}\n  </select>"
        )
    elif kind == "boolean":
        control = (
            f'<select class="form-select form-select-sm" id="{ident}" name="{name}">'
            f'<option value="">Any</option>{_option("true", "Yes", value)}'
            f"{_option('false', 'No', value)}</select>"
        )
    elif kind == "number":
        placeholder = f' placeholder="{esc(spec.placeholder)}"' if spec.placeholder else ""
        control = (
            f'<input type="number" step="any" class="form-control form-control-sm filter-narrow" '
            f'id="{ident}" name="{name}" value="{esc(value)}"{placeholder}>'
        )
    elif kind == "date":
        control = (
            f'<input type="date" class="form-control form-control-sm" id="{ident}" '
            f'name="{name}" value="{esc(value)}">'
        )
    else:
        control = (
            f'<input type="text" class="form-control form-control-sm" id="{ident}" '
            f'name="{name}" value="{esc(value)}" maxlength="200">'
        )
    return mark_safe(
        f'<div class="filter-item">\n  <label class="form-label small mb-0" for="{ident}">'
        f"{esc(spec.label)}</label>\n  {control}\n</div>\n"
    )
