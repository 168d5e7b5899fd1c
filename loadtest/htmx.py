"""What the load generator reads in the app's HTML, as a browser with htmx would: the regions
a page fetches when it loads, the links, cards, rows and forms a user acts on, the sockets it
opens, and the realtime markers. Regular expressions, not an HTML parser: the generator shares
two cores with the server, and a 200-card board is parsed in microseconds this way.

Plain functions of strings (no Django, no Locust), unit-tested in ``tests/loadtest``.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

_TAG = re.compile(r"<([a-zA-Z][\w-]*)(\s[^<>]*?)/?>", re.S)
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


def attributes(tag_text: str) -> dict[str, str]:
    """The attributes of one tag's text (``<div a="1" b='2' c=3 hidden>``; a bare one is
    "")."""
    found = {}
    for m in _ATTR.finditer(tag_text):
        value = next((g for g in m.group(2, 3, 4) if g is not None), "")
        found.setdefault(m.group(1).lower(), html_lib.unescape(value))
    return found


def tags_with(html: str, attribute: str) -> list[tuple[str, dict[str, str]]]:
    """(tag name, attributes) of every tag carrying ``attribute``."""
    out = []
    needle = attribute + "="
    for m in _TAG.finditer(html):
        if needle in m.group(2):
            attrs = attributes(m.group(2))
            if attribute in attrs:
                out.append((m.group(1).lower(), attrs))
    return out


@dataclass(frozen=True)
class Fetch:
    """An htmx GET a page makes by itself: its URL and the id of the element it targets
    (sent as ``HX-Target``; "" for an element without one, for which htmx sends none)."""

    url: str
    target: str


def _triggers_on_load(trigger: str) -> bool:
    # "load", "load, activitySaved from:body", "load delay:1s"; not "intersect", not events.
    return any(part.strip().split(" ")[0] == "load" for part in trigger.split(","))


def load_fetches(html: str) -> list[Fetch]:
    """The regions htmx fetches as soon as this HTML is in the page: elements with
    ``hx-get`` and a ``load`` trigger (lazy panels, a detail page's refresh pushed over a
    socket). ``intersect`` triggers (off-screen "load more") and events are left out, as
    nothing fires them without a user."""
    fetches = []
    for _, attrs in tags_with(html, "hx-get"):
        if not _triggers_on_load(attrs.get("hx-trigger", "")):
            continue
        target = attrs.get("hx-target", "")
        if target.startswith("#"):
            target = target[1:]
        elif target in ("", "this") or target.startswith("closest"):
            target = attrs.get("id", "")
        fetches.append(Fetch(attrs["hx-get"], target))
    return fetches


def socket_urls(html: str) -> list[str]:
    """The ``ws-connect`` paths of the page, in order (the body's notifications socket
    first)."""
    return [attrs["ws-connect"] for _, attrs in tags_with(html, "ws-connect")]


_CSRF_HEADER = re.compile(r'"X-CSRFToken":\s*"([^"]+)"')
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html: str) -> str | None:
    """The page's CSRF token: the body's ``hx-headers`` (what htmx sends), or a form's."""
    found = _CSRF_HEADER.search(html.replace("&quot;", '"')) or _CSRF_INPUT.search(html)
    return found.group(1) if found else None


def lead_links(html: str) -> list[str]:
    """Ids of the leads the HTML links to (``/leads/<uuid>/``), each once, in order."""
    seen: dict[str, None] = {}
    for m in re.finditer(rf'href="/leads/({UUID})/"', html):
        seen.setdefault(m.group(1), None)
    return list(seen)


def row_ids(html: str) -> list[str]:
    """The values of a table's row checkboxes (``name="ids"``), for bulk actions."""
    return [
        attrs["value"]
        for tag, attrs in tags_with(html, "name")
        if tag == "input" and attrs["name"] == "ids" and re.fullmatch(UUID, attrs.get("value", ""))
    ]


@dataclass(frozen=True)
class Card:
    id: str
    step: int
    movable: bool


_COLUMN = re.compile(r'<section class="board-column"[^>]*data-step-id="(\d+)"')
_CARD = re.compile(rf'<article class="board-card[^"]*" id="card-({UUID})"([^>]*)>')


def board_cards(html: str) -> list[Card]:
    """The cards of a board, each with the step of the column it sits in and whether the
    user may move it (``data-move-url``)."""
    columns = [(m.start(), int(m.group(1))) for m in _COLUMN.finditer(html)]
    cards = []
    for m in _CARD.finditer(html):
        step = None
        for start, step_id in columns:
            if start > m.start():
                break
            step = step_id
        if step is not None:
            cards.append(Card(m.group(1), step, "data-move-url" in m.group(2)))
    return cards


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S)
_OPTION = re.compile(r"<option\b([^>]*)>", re.S)


@dataclass
class Form:
    action: str
    fields: dict[str, str]


def forms(html: str) -> list[Form]:
    """Each form's ``hx-post`` (or ``action``) and the values it would submit as it stands:
    inputs with a value (checked ones for boxes), a select's selected or first option,
    textareas' text."""
    found = []
    for m in _FORM.finditer(html):
        attrs = attributes(m.group(1))
        body = m.group(2)
        fields: dict[str, str] = {}
        for name, tag in tags_with(body, "name"):
            key = tag["name"]
            if name == "input":
                kind = tag.get("type", "text").lower()
                if kind in ("checkbox", "radio") and "checked" not in tag:
                    continue
                if kind in ("submit", "button", "file"):
                    continue
                fields[key] = tag.get("value", "")
            elif name == "textarea":
                fields.setdefault(key, "")
        for select in re.finditer(r"<select\b([^>]*)>(.*?)</select>", body, re.S):
            key = attributes(select.group(1)).get("name")
            if not key:
                continue
            options = [attributes(o.group(1)) for o in _OPTION.finditer(select.group(2))]
            chosen = next((o for o in options if "selected" in o), options[0] if options else {})
            fields[key] = chosen.get("value", "")
        found.append(Form(attrs.get("hx-post") or attrs.get("action", ""), fields))
    return found


# --- realtime markers -------------------------------------------------------------------------
# The realtime writer stamps a live lead's company with "RT <milliseconds since the epoch>" at
# the moment it writes; a viewer that receives a fragment showing it knows when the change was
# made (one machine, one clock).
MARKER = re.compile(r"\bRT (\d{13})\b")


def marker(ms: int) -> str:
    return f"RT {ms}"


def markers(text: str) -> list[int]:
    return [int(m) for m in MARKER.findall(text)]


def new_delays(text: str, received_ms: float, seen: set[int]) -> list[float]:
    """Delays (ms) from each write whose marker ``text`` shows for the first time to
    ``received_ms``; the markers are added to ``seen`` (a fragment sent again for another
    change shows the same marker: it is not a new delivery)."""
    delays = []
    for stamp in markers(text):
        if stamp in seen or stamp <= 0:
            continue
        seen.add(stamp)
        delays.append(max(0.0, received_ms - stamp))
    return delays
