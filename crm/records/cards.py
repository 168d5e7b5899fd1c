"""A record's card on the board (``crm.records.boards``), written in Python.

A board draws a hundred cards or more per request. As a template a card cost about 100 µs
(a dozen variable lookups, each through the engine's resolving, localizing and escaping);
written here it costs about a third (best of 30 per card on the 100,000-lead dataset), as
table cells already are (``crm.formatting``). Each record type says what its card shows
(``Board.card``, e.g. ``leads.records.lead_card``) and ``write_card`` writes the markup all
cards share. ``templates/<app>/_card.html`` renders the same card through ``{% board_card %}``
for realtime (``crm.records.realtime``) and the board's partials, so a card has one writer.

Markup contract (``templates/records/board.html``, ``static/js/board.js``, realtime):
``article#card-<pk>.board-card[data-card-id][data-<type>-id]``, with ``data-move-url`` and
``data-reason-url`` when the user may move it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from crm.formatting import age, day_text, esc
from crm.records.types import record_urls

_UNASSIGNED = '<i class="bi bi-person-dash" aria-hidden="true"></i> Unassigned'


def line(icon: str, text, *, css: str = "", title: str = "") -> str:
    """One line of a card: a Bootstrap icon and text (escaped)."""
    title_attr = f' title="{esc(title)}"' if title else ""
    css = f" {css}" if css else ""
    return (
        f'<div class="board-card-line{css} text-truncate"{title_attr}>'
        f'<i class="bi bi-{icon}" aria-hidden="true"></i> {esc(text)}</div>'
    )


def write_card(
    obj,
    *,
    kind: str,
    movable: bool,
    board_query: str,
    urls: str,
    reason_url: str,
    title_badge: str = "",
    lines: Iterable[str] = (),
    value: str,
    value_title: str,
) -> SafeString:
    """The card of ``obj`` (a record read for the board: ``step_entered_at`` stamped by
    ``wfm.boards``, ``assigned_to`` joined). ``urls``: the URL names' prefix (``"leads:{}"``,
    for ``detail`` and ``board_move``); ``reason_url``: the URL name of the form that asks a
    lost move's reason. ``title_badge``, ``lines`` and ``value``: safe HTML, text and text."""
    key = obj.pk
    pk = esc(key)
    if movable:
        detail, move_url, reason = map(
            esc, record_urls(key, urls.format("detail"), urls.format("board_move"), reason_url)
        )
        query = f"?{esc(board_query)}" if board_query else ""
        move = f'\n         data-move-url="{move_url}{query}" data-reason-url="{reason}"'
    else:
        detail, move = esc(record_urls(key, urls.format("detail"))[0]), ""
    title = f'<a class="board-card-title{" me-auto" if title_badge else ""}" href="{detail}">'
    title += f"{esc(obj.name)}</a>"
    if title_badge:
        title = f'<div class="d-flex gap-2 align-items-start">{title}{title_badge}</div>'
    entered = obj.step_entered_at
    since = day_text(timezone.template_localtime(entered)) if entered else ""
    assignee = obj.assigned_to
    who = (
        f'<i class="bi bi-person" aria-hidden="true"></i> {esc(assignee.display_name)}'
        if assignee
        else _UNASSIGNED
    )
    return mark_safe(
        f'<article class="board-card card" id="card-{pk}" data-card-id="{pk}" '
        f'data-{kind}-id="{pk}"{move}>\n'
        f'  <div class="card-body">\n    {title}\n    {"".join(lines)}\n'
        f'    <div class="board-card-foot">\n'
        f'      <span class="board-card-value" title="{esc(value_title)}">{esc(value)}</span>\n'
        f'      <span class="board-card-age" title="In this step since {esc(since)}">'
        f'<i class="bi bi-hourglass-split" aria-hidden="true"></i> {esc(age(entered))}</span>\n'
        f"    </div>\n"
        f'    <div class="board-card-line text-truncate" title="Assignee">{who}</div>\n'
        f"  </div>\n</article>\n"
    )
