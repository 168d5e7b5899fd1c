"""What a message says: merge fields filled in, and the HTML made from the plain text.

Merge fields are ``{{ kind.field }}``: ``lead``, ``person``, ``deal`` and ``organization``
read the same fields automation placeholders read (``activities.automation.field_spec``, so
one field list serves both, custom fields as ``{{ lead.cf_budget }}``); ``cf.<name>`` reads a
custom field of the record the mail is written from; ``sender`` the writing user. They are
substituted by this module, never by Django's template engine: a template written by a
manager must not reach attributes, methods or tags.

The body is plain text with light formatting (blank lines between paragraphs, ``**bold**``,
``*italic*``, ``[label](https://…)``, bare links); the HTML alternative is made from it and
passed through nh3 with a short allow-list, so whatever a merge field or a user typed cannot
inject markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nh3
from django.core.exceptions import ValidationError
from django.utils.html import escape

MERGE_FIELD = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_][a-z0-9_]*)\s*\}\}")
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
RECORD_KINDS = ("lead", "person", "deal", "organization")
SENDER_FIELDS = {
    "first_name": lambda u: u.first_name,
    "last_name": lambda u: u.last_name,
    "full_name": lambda u: u.get_full_name() or u.username,
    "name": lambda u: u.display_name,
    "email": lambda u: u.email,
}
CUSTOM = "cf"
SENDER = "sender"

HTML_TAGS = {"p", "br", "strong", "em", "a"}
HTML_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Formatting, applied to escaped text (so ``&``, ``<``, ``>`` and quotes are entities here).
_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^\s()<>\"]+)\)")
_BARE_URL = re.compile(r"(?<![\"'=>\w])(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)])")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_PARAGRAPHS = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


# --- merge fields --------------------------------------------------------------------------------
def merge_context(record, sender=None) -> dict[str, Any]:
    """The records a message written from ``record`` (a lead, person or deal) can name, and
    its sender: a lead's person, organization and (once converted) deal; a deal's person and
    organization; a person's organization."""
    from deals.models import Deal
    from leads.models import Lead

    context: dict[str, Any] = {"record": record, SENDER: sender}
    if isinstance(record, Lead):
        context["lead"] = record
        context["person"] = record.person or record.converted_to_person
        context["organization"] = record.organization or record.converted_to_organization
        context["deal"] = record.converted_to_deal
    elif isinstance(record, Deal):
        context["deal"] = record
        context["person"] = record.person
        context["organization"] = record.organization
    elif record is not None:  # a person
        context["person"] = record
        context["organization"] = record.organization
    return context


def _custom_value(record, name: str) -> str:
    from customfields.registry import entity_for_model
    from customfields.selectors import active_fields
    from customfields.values import display_value

    entity = entity_for_model(type(record)) if record is not None else None
    if entity is None:
        return ""
    definition = next((d for d in active_fields(entity.entity_type) if d.name == name), None)
    if definition is None:
        return ""
    value = display_value(definition, (getattr(record, entity.values_field) or {}).get(name))
    return "" if value is None else str(value)


def _field_value(kind: str, name: str, context: dict[str, Any]) -> str:
    from activities.automation import render_template

    if kind == SENDER:
        sender = context.get(SENDER)
        getter = SENDER_FIELDS.get(name)
        return (getter(sender) or "") if sender is not None and getter else ""
    if kind == CUSTOM:
        return _custom_value(context.get("record"), name)
    if kind in RECORD_KINDS:
        # Automation's placeholder syntax, one field at a time: the same reading of each field.
        return render_template(f"{{{kind}.{name}}}", context)
    return ""


def render_merge_fields(text: str, context: dict[str, Any]) -> str:
    """``text`` with each ``{{ kind.field }}`` replaced by its value (blank when the record or
    the field is missing: a lead without a person leaves ``{{ person.first_name }}`` empty)."""
    return MERGE_FIELD.sub(lambda m: _field_value(m[1], m[2], context), text or "")


def check_merge_fields(text: str) -> None:
    """Every ``{{ … }}`` must be a known merge field; ValidationError lists those that are not."""
    from activities.automation import check_template
    from customfields.selectors import definitions_for

    problems: list[str] = []
    custom_names: set[str] | None = None
    for match in ANY_BRACES.finditer(text or ""):
        field = MERGE_FIELD.fullmatch(match[0])
        if field is None:
            problems.append(f"{match[0]}: not a merge field (write {{{{ lead.name }}}}).")
            continue
        kind, name = field[1], field[2]
        if kind == SENDER:
            if name not in SENDER_FIELDS:
                known = ", ".join(sorted(SENDER_FIELDS))
                problems.append(f"{match[0]}: the sender has no “{name}” (known: {known}).")
        elif kind == CUSTOM:
            if custom_names is None:
                custom_names = {d.name for d in definitions_for("lead", "person", "deal")}
            if name not in custom_names:
                problems.append(f"{match[0]}: there is no custom field “{name}”.")
        elif kind in RECORD_KINDS:
            try:
                check_template(f"{{{kind}.{name}}}", kinds=set(RECORD_KINDS))
            except ValidationError as exc:
                problems.append(f"{match[0]}: {exc.messages[0].split(': ', 1)[-1]}")
        else:
            known = ", ".join((*RECORD_KINDS, CUSTOM, SENDER))
            problems.append(f"{match[0]}: unknown kind “{kind}” (known: {known}).")
    if problems:
        raise ValidationError(problems)


# --- plain text to HTML --------------------------------------------------------------------------
def _inline(escaped: str) -> str:
    """Links, bold and italic in one escaped paragraph; link targets are kept out of the
    bold/italic pass (an ``*`` in a URL is not emphasis)."""
    kept: list[str] = []

    def keep(html: str) -> str:
        kept.append(html)
        return f"\x00{len(kept) - 1}\x00"

    out = _LINK.sub(lambda m: keep(f'<a href="{m[2]}">{m[1]}</a>'), escaped)
    out = _BARE_URL.sub(lambda m: keep(f'<a href="{m[1]}">{m[1]}</a>'), out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _ITALIC.sub(r"<em>\1</em>", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m[1])], out)


def text_to_html(text: str) -> str:
    """The sanitised HTML of a plain-text body (see the module docstring)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if not text:
        return ""
    paragraphs = []
    for block in _PARAGRAPHS.split(text):
        html = _inline(escape(block.strip("\n")))
        paragraphs.append("<p>" + html.replace("\n", "<br>\n") + "</p>")
    return sanitize_html("\n".join(paragraphs))


def sanitize_html(html: str) -> str:
    """Only paragraphs, line breaks, bold, italic and http(s)/mailto links survive."""
    return nh3.clean(
        html or "",
        tags=HTML_TAGS,
        attributes=HTML_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def render(*, subject: str, body: str, record=None, sender=None) -> Rendered:
    """Subject and body with their merge fields filled in, and the body's HTML."""
    context = merge_context(record, sender)
    subject = " ".join(render_merge_fields(subject, context).split())  # no header folding
    text = render_merge_fields(body, context)
    return Rendered(subject=subject, text=text, html=text_to_html(text))
