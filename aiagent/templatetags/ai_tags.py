"""Template helpers of the AI chat: a small, safe Markdown for answers, JSON for tool steps."""

from __future__ import annotations

import json
import re

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Only links inside the app: an answer (or a record it quotes) cannot send users elsewhere.
_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((/(?!/)[^\s()<>\"']{0,300})\)")
_BOLD = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]{1,200})`")
_BULLET = re.compile(r"^\s*[-*•]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")
_TABLE_ROW = re.compile(r"^\|(.*)\|$")  # | a | b | (a compact table of records)
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")


def _inline(escaped: str) -> str:
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    escaped = _LINK.sub(r'<a href="\2">\1</a>', escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


@register.filter
def ai_markdown(text: str) -> SafeString:
    """Escape everything, then allow paragraphs, bullet and numbered lists, tables (pipe
    rows, the first one the header), bold, italics, inline code and links to paths of this
    site."""
    html: list[str] = []
    paragraph: list[str] = []
    list_tag = ""

    def flush_paragraph() -> None:
        if paragraph:
            html.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_tag
        if list_tag:
            html.append(f"</{list_tag}>")
            list_tag = ""

    table: list[list[str]] = []

    def close_table() -> None:
        if not table:
            return
        head, *rows = table
        cells = "".join(f'<th scope="col">{c}</th>' for c in head)
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        html.append(
            '<div class="table-responsive"><table class="table table-sm ai-table mb-2">'
            f"<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>"
        )
        table.clear()

    for raw in str(text or "").splitlines():
        line = _inline(escape(raw.rstrip()))
        row = _TABLE_ROW.match(line.strip())
        if row:
            flush_paragraph()
            close_list()
            if not _TABLE_RULE.match(line.strip()):
                table.append([cell.strip() for cell in row.group(1).split("|")])
            continue
        close_table()
        bullet = _BULLET.match(line)
        numbered = None if bullet else _NUMBERED.match(line)
        if bullet or numbered:
            flush_paragraph()
            wanted = "ul" if bullet else "ol"
            if list_tag != wanted:
                close_list()
                html.append(f"<{wanted}>")
                list_tag = wanted
            html.append(f"<li>{(bullet or numbered).group(1)}</li>")
            continue
        close_list()
        if not line.strip():
            flush_paragraph()
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_paragraph()
            html.append(f"<p><strong>{heading.group(1)}</strong></p>")
            continue
        paragraph.append(line)
    flush_paragraph()
    close_list()
    close_table()
    return mark_safe("".join(html))  # noqa: S308 - built from escaped text only


@register.filter
def pretty_json(value) -> str:
    try:
        text = json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= 4000 else text[:4000] + "\n…"


@register.filter
def internal_url(value: str) -> str:
    value = str(value or "")
    return value if value.startswith("/") and not value.startswith("//") else ""


@register.filter
def level_class(level: str) -> str:
    """A Bootstrap colour for an insight's level."""
    level = str(level or "").lower()
    if level in (
        "confirmed",
        "decision maker",
        "high",
        "ready to buy",
        "immediate",
        "very positive",
        "strong",
        "this month",
        "this quarter",
        "positive",
    ):
        return "success"
    if level in ("medium", "influencer", "next quarter", "some", "mixed", "neutral", "unclear"):
        return "warning"
    if level in (
        "low",
        "no budget",
        "not interested",
        "negative",
        "very negative",
        "next year",
        "later",
    ):
        return "danger"
    return "secondary"


@register.simple_tag
def ai_status():
    from aiagent import llm

    return llm.status()


@register.filter
def iso_datetime(value):
    """An ISO timestamp stored in JSON, as an aware datetime (for naturaltime)."""
    from django.utils.dateparse import parse_datetime

    try:
        return parse_datetime(str(value)) if value else None
    except ValueError:
        return None


NBA_ICONS = {
    "call": "telephone",
    "email": "envelope",
    "meeting": "people",
    "task": "check2-square",
    "move": "arrow-right-circle",
    "none": "check2-circle",
}


@register.filter
def nba_icon(kind: str) -> str:
    """The Bootstrap icon of a next best action's type (``aiagent.next_action``)."""
    return NBA_ICONS.get(str(kind or ""), "lightning-charge")
