"""The record pattern (SPEC §4): what the shared table, board, export, bulk actions and saved
views need to know about one record type, described once per type.

A description is plain data plus the callables that reach the type's own selectors and
services; ``crm`` never imports ``leads`` or ``deals``. Each app declares its description in
its ``records.py`` (people and organizations in ``crm/record_types.py``) and registers it
(``crm.records.registry``) from ``AppConfig.ready``; URL confs import it directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# Primary keys that stand for "any record" in a URL reversed once per name (``record_url``).
_PLACEHOLDERS: dict[type, Any] = {
    uuid.UUID: uuid.UUID("00000000-feed-4bad-8bad-c0ffee0ff1ce"),
    int: 918_273_645_546_372_819,
}


def record_url(name: str, pk) -> str:
    """``reverse(name, args=[pk])`` for one record, written from the URL reversed once per
    name with a placeholder key: tables and boards draw several links per record, and
    ``reverse`` costs more than the rest of a card. Other argument types are reversed."""
    return record_urls(pk, name)[0]


def record_urls(pk, *names: str) -> list[str]:
    """``record_url(name, pk)`` for each of ``names`` (the URL conf, the script prefix and
    the key's text read once)."""
    urlconf, prefix, kind = get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), type(pk)
    text = str(pk)
    urls = []
    for name in names:
        parts = _url_parts(urlconf, prefix, name, kind)
        urls.append(reverse(name, args=[pk]) if parts is None else f"{parts[0]}{text}{parts[1]}")
    return urls


@lru_cache(maxsize=1024)
def _url_parts(urlconf, script_prefix: str, name: str, kind: type) -> tuple[str, str] | None:
    """What comes before and after the key in ``name``'s URL (for this URL conf and script
    prefix, which ``reverse`` reads), or None when the URL cannot be written that way."""
    placeholder = _PLACEHOLDERS.get(kind)
    if placeholder is None:
        return None
    try:
        url = reverse(name, args=[placeholder], urlconf=urlconf)
    except NoReverseMatch:
        return None
    text = str(placeholder)
    if url.count(text) != 1:
        return None
    before, _, after = url.partition(text)
    return before, after


def choice_label(choices) -> Callable[[Any], Any]:
    """``value → label`` of a ``Choices`` class, read from one dict (what
    ``get_FOO_display()`` gives, without its per-call conversions); unknown values as they are."""
    labels = dict(choices.choices)
    return lambda value: labels.get(value, value)


@dataclass(frozen=True)
class Column:
    """A table column. ``cell`` renders one record's content (text or safe HTML)."""

    key: str
    label: str
    cell: Callable[[Any], Any]
    ordering: str | None = None  # the ``ordering`` parameter value; None: not sortable
    numeric: bool = False  # right-aligned, tabular figures
    default: bool = True  # shown until the user chooses columns
    wide: bool = False  # the record's name: may take the room the others leave
    definition: Any = None  # the custom field definition of a ``cf_`` column
    # The ``select_related`` paths the cell reads (``()``: the record's own columns only).
    # When every shown column says, the table joins only those (``crm.records.tables``);
    # ``None`` (not said) keeps the list selector's joins.
    related: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Filter:
    """One filter input of the table's filter bar.

    ``kind``: ``select`` (one of ``choices``), ``multi`` (any of ``choices``), ``boolean``,
    ``number``, ``date`` or ``user`` (a user picker over every user with a role, loaded once
    for all user filters by the table; "Unassigned" when ``none_value`` is set). ``more``:
    behind the "More filters" toggle.
    """

    param: str
    label: str
    kind: str = "select"
    choices: Callable[[], Sequence[tuple[Any, str]]] | None = None
    none_value: str | None = None  # the value meaning "no user" for user pickers
    more: bool = False
    placeholder: str = ""


@dataclass(frozen=True)
class ExportColumn:
    header: str
    value: Callable[[Any], Any]


@dataclass(frozen=True)
class BulkAction:
    """A bulk action offered to users for whom ``allowed(user)`` holds; ``run(by, obj,
    data)`` is the record's own service call (``crm.bulk`` runs one transaction per row).

    An action that needs a form first (the emails app's "Email…") has no ``run`` but a
    ``url_name``: the bulk bar opens that view in the modal with the checked ids and the
    table's filters, and the view does the rest."""

    key: str  # "assign" | "move" | "delete" | another app's
    label: str
    verb: str  # "assigned"
    allowed: Callable[[Any], bool]
    run: Callable[[Any, Any, dict], Any] | None = None
    url_name: str = ""


# Bulk actions an app offers on another app's records (``register_bulk_action``).
_REGISTERED_BULK_ACTIONS: dict[str, dict[str, BulkAction]] = {}


def register_bulk_action(record_key: str, action: BulkAction) -> None:
    """Offer ``action`` on the table of ``record_key`` as well as the type's own (from the
    registering app's ``AppConfig.ready``: ``crm`` and the record's app need not know it).
    Registering the same key again replaces it."""
    _REGISTERED_BULK_ACTIONS.setdefault(record_key, {})[action.key] = action


def standard_bulk_actions(
    *,
    allowed: Callable[[Any], bool],
    assign: Callable[..., Any] | None = None,
    move: Callable[..., Any] | None = None,
    delete: Callable[..., Any] | None = None,
) -> tuple[BulkAction, ...]:
    """The bulk actions a record type offers, from its services: ``assign(by, obj, assignee)``,
    ``move(by, obj, to_step)``, ``delete(by, obj)``; each offered to users ``allowed`` holds."""
    actions = []
    if assign is not None:
        actions.append(
            BulkAction(
                "assign",
                "Assign",
                "assigned",
                allowed,
                lambda by, o, d: assign(by, o, d["assignee"]),
            )
        )
    if move is not None:
        actions.append(
            BulkAction("move", "Move", "moved", allowed, lambda by, o, d: move(by, o, d["to_step"]))
        )
    if delete is not None:
        actions.append(
            BulkAction("delete", "Delete", "deleted", allowed, lambda by, o, d: delete(by, o))
        )
    return tuple(actions)


def _value_text(value, card) -> str:
    return "None" if value is None else str(value)


def _by_value(group) -> tuple:
    """Columns of values a grouping does not list: by value, the empty one last."""
    return (group.key is None, "" if group.key is None else group.key)


@dataclass(frozen=True)
class Grouping:
    """Read-only board columns by another field than the step (``?group=<key>`` of
    ``Board.groupings``; ``crm.records.groupings`` builds them): leads by source, deals by
    close month, either by assignee.

    ``by``: the field (or expression) whose value makes a column. ``columns``: the
    ``(value, label)`` columns always shown, in order, even empty (a source no lead came
    from); other values found get a column each, labelled ``describe(value, a card of it)``
    (an assignee's name read off the card's joined user: no query of its own) and placed
    after them in ``order`` (a sort key of the column).
    """

    label: str  # the option of the board's "Columns by" switch
    by: Any
    columns: Callable[[], Sequence[tuple[Any, str]]] = tuple
    describe: Callable[[Any, Any], str] = _value_text
    order: Callable[[Any], Any] = _by_value
    order_by: tuple[str, ...] = ("-created_at",)  # cards within a column


@dataclass(frozen=True)
class Board:
    """A kanban over the record's workflow steps (leads, deals)."""

    steps: Callable[[], list]  # every step of the type's workflows, in board order
    value_field: str  # summed per column
    transition: Callable[..., Any]  # (by=, obj=, to_step=, reason=) → the service
    card_template: str  # the card alone (realtime, a move's answer): ``{% board_card %}``
    # (obj, *, movable, board_query) → the card's HTML (``crm.records.cards.write_card``)
    card: Callable[..., Any] | None = None
    weighted: bool = False  # show probability-weighted totals
    reason_outcomes: tuple[str, ...] = ("lost",)  # steps whose moves ask for a reason
    per_column: int = 20
    order_by: tuple[str, ...] = ("-created_at",)
    groupings: dict[str, Grouping] = field(default_factory=dict)  # read-only boards
    # The ``select_related`` paths a card reads (``None``: the list selector's joins).
    card_related: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Importing:
    """How the spreadsheet importer (``crm.records.imports``) writes records of a type: the
    fields a column may fill, the field that finds an existing record (``match_field``, an
    e-mail or a domain, normalized by ``match_key``), and the type's services."""

    fields: tuple[str, ...]  # model fields a column may map to (custom fields come on top)
    create: Callable[..., Any]  # (by, data) → the record; data: fields, owner, custom values
    update: Callable[..., Any]  # (by, obj, data) → the record
    match_field: str | None = None
    match_key: Callable[[str], str] = lambda value: value.strip().casefold()
    # The services store ``match_field`` as ``match_key`` gives it (leads lower-case their
    # e-mail): matched by its own index, not by lower() over every row.
    match_stored_normalized: bool = False
    # (by, [data, …]) → [record or DomainError, …]: many rows in one go, the same rules as
    # ``create`` (leads: thousands of rows a second); None: ``create`` row by row.
    create_many: Callable[..., list] | None = None
    synonyms: dict[str, str] = field(default_factory=dict)  # header → field
    required: tuple[str, ...] = ()
    # Defaults the wizard offers for new rows: "owner", "source", "step".
    defaults: tuple[str, ...] = ("owner",)
    source_choices: Callable[[], Sequence[tuple[str, str]]] | None = None
    step_choices: Callable[[], Sequence[tuple[int, str]]] | None = None
    move: Callable[..., Any] | None = None  # (by, obj, step) → the record at ``step``
    # (by, obj, data, note) → records that a row matched an existing record (leads: a touch
    # point, SPEC §6 attribution); None: nothing.
    touch: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Editing:
    """How the shared create / edit views (``crm.views.record_create``, ``record_edit``) edit
    a record type. Leads and deals keep views of their own only for what is theirs:
    qualification, conversion, the pipeline's won and lost."""

    form: type
    create: Callable[[Any, dict], Any]  # (by, data) → the new record
    update: Callable[[Any, Any, dict], Any]  # (by, obj, data) → the record
    form_kwargs: Callable[[Any], dict] = lambda user: {}  # the pickers a user may choose from
    # A new record's prefilled values from the request ("New deal" of an organization's page
    # sends ?organization=<id>).
    initial: Callable[[Any], dict] = lambda request: {}
    fields_template: str = "crm/_form_fields.html"  # the form's fields, in the modal or page


@dataclass(frozen=True)
class Merging:
    """How the shared merge screen (``crm.records.merge_views``) merges a record type: the
    fields it compares and chooses per field (custom fields come on top), and the service."""

    fields: tuple[str, ...]
    # (by, survivor, merged, fields) → the survivor: ``lead_merge`` and the like
    merge: Callable[..., Any]
    labels: dict[str, str] = field(default_factory=dict)  # where the model's name reads badly


@dataclass(frozen=True)
class RecordType:
    """One record type, as the shared screens see it."""

    key: str  # "lead": custom-field entity type, realtime kind, ``data-table`` value
    model: type[Model]
    plural: str  # "Leads"
    url_names: str  # "leads:{}" or "crm:person_{}": list, detail, create, export, …
    saved_view_screen: str  # SavedView.screen
    icon: str  # Bootstrap icon name
    filterset: type
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...]
    list_selector: Callable[[Any], QuerySet]
    get_selector: Callable[..., Any]  # (user, pk, action="view")
    default_ordering: tuple[str, ...]
    export_columns: tuple[ExportColumn, ...]
    search_placeholder: str = "Search…"
    bulk_actions: tuple[BulkAction, ...] = ()
    bulk_steps: Callable[[], list] | None = None  # choices of the "move" bulk action
    board: Board | None = None
    editing: Editing | None = None
    importing: Importing | None = None
    delete: Callable[[Any, Any], Any] | None = None  # (by, obj): the shared delete view
    merging: Merging | None = None  # the merge screen and "Merge with…" (issue 18)
    add_permission: str = ""  # "leads.add_lead"
    empty_hint: str = ""  # the empty table's sentence, naming only what exists

    @property
    def noun(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def noun_plural(self) -> str:
        return self.plural.lower()

    def url(self, name: str, *args) -> str:
        return reverse(self.url_names.format(name), args=args)

    def url_name(self, name: str) -> str:
        return self.url_names.format(name)

    def record_url(self, name: str, pk) -> str:
        """The URL ``name`` of one record (``rt.record_url("detail", obj.pk)``): the same as
        ``url(name, pk)``, a fraction of its cost (see ``record_url``)."""
        return record_url(self.url_names.format(name), pk)

    def can_add(self, user) -> bool:
        return bool(self.add_permission) and user.has_perm(self.add_permission)

    def can_import(self, user) -> bool:
        """Importing creates records: the type's add permission (not analysts or viewers)."""
        return self.importing is not None and self.can_add(user)

    def bulk_actions_for(self, user) -> list[BulkAction]:
        registered = _REGISTERED_BULK_ACTIONS.get(self.key, {}).values()
        return [a for a in (*self.bulk_actions, *registered) if a.allowed(user)]
