"""The shared detail page of a record (SPEC §4 "one detail layout").

Every record type's page is ``templates/records/detail.html`` with the type's own partials
(badges, facts, notices, field_rows, panels) placed by ``records/_detail_main.html``. What the
layout shows around them is computed here, the same way for every type:

- ``Actions``: the header's one primary action, its secondary buttons, the "Move to…" menu and
  the "More" menu. Each app's detail view fills it with only what the user may do (an action
  a role cannot perform is not shown); ``split_moves`` picks the primary workflow move.
- ``History``: the record's change history (django-simple-history) as readable rows — field
  labels, display values (money, dates, names, choice labels) — merged with workflow step
  moves. Changes only the system makes (score recalculation, bookkeeping timestamps) are left
  out unless the user asks for them (``?system=1``).
- Related records: ``crm`` knows nothing of leads, deals or activities (SPEC §4), so those apps
  register providers at start-up (``register_related`` from ``AppConfig.ready``); a person's or
  an organization's page lists what each provider returns for the user.
- Panels: for the same reason, an app adds a panel to the main column of a type's page by
  registering a template (``register_panel``), placed after the type's own panels. It renders
  with the page's context and must not query: it loads its content lazily (``hx-get``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import truncatechars
from django.utils import timezone
from django.utils.text import capfirst

from crm import formatting, permissions
from crm import realtime as crm_realtime
from crm.htmx import region_only, trigger
from crm.records import merge as merging
from crm.records import privacy as privacy_hooks
from customfields.selectors import display_rows

HISTORY_REGION = "history"  # the id of the history card; its toggle re-renders it alone
HISTORY_LIMIT = 50
RELATED_LIMIT = 10
TEXT_LIMIT = 80

# Labels every record type reads the same way (a model's verbose name says "assigned to").
LABELS = {"assigned_to": "Assignee"}


# --- actions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """One thing the header offers. ``method="get"`` opens ``url`` in the modal (a link that
    also works without JavaScript); ``method="post"`` submits ``values`` to ``url``;
    ``method="link"`` goes to the page at ``url``."""

    label: str
    url: str
    method: str = "get"
    icon: str = ""
    style: str = "secondary"  # primary | success | danger | secondary
    values: tuple[tuple[str, Any], ...] = ()
    confirm: str = ""
    testid: str = ""

    @property
    def button_class(self) -> str:
        return BUTTON_CLASSES.get(self.style, BUTTON_CLASSES["secondary"])

    @property
    def item_class(self) -> str:
        return "dropdown-item text-danger" if self.style == "danger" else "dropdown-item"


BUTTON_CLASSES = {
    "primary": "btn btn-primary",
    "success": "btn btn-success",
    "danger": "btn btn-outline-danger",
    "secondary": "btn btn-record",
}


@dataclass
class Actions:
    primary: Action | None = None
    buttons: list[Action] = field(default_factory=list)  # secondary, always visible
    moves: list[Action] = field(default_factory=list)  # the "Move to…" menu
    more: list[Action] = field(default_factory=list)  # the "More" menu (delete)

    def __bool__(self) -> bool:
        return bool(self.primary or self.buttons or self.moves or self.more)


def delete_actions(user, obj, url: str) -> list[Action]:
    """The "Delete" entry of a detail page's menu, for users who may delete ``obj``."""
    if not permissions.can_delete(user, obj):
        return []
    return [
        Action(
            "Delete",
            url,
            method="post",
            icon="trash",
            style="danger",
            confirm=f"Delete “{obj}”? It disappears from lists; an administrator can restore it.",
        )
    ]


def merge_actions(user, obj, url: str) -> list[Action]:
    """The "Merge with…" entry of a detail page's menu (issue 18): ``url`` is the type's merge
    screen; offered to users who may change ``obj`` (a merge changes every record in it)."""
    if not (permissions.works_on(user, type(obj)) and permissions.can_change(user, obj)):
        return []
    return [
        Action("Merge with…", f"{url}?ids={obj.pk}", method="link", icon="union", testid="merge")
    ]


def split_moves(transitions: Iterable, *, current) -> tuple[Any | None, list]:
    """The one primary move out of ``current`` and the others, in workflow order.

    Primary: the nearest open step forward; else the step won (from the last open step); else,
    from a final step, the first way back (Reopen). ``transitions`` are the workflow
    transitions the user may take (``wfm.selectors.available_transitions``).
    """
    moves = sorted(transitions, key=lambda t: (t.to_step.order, t.pk))
    forward = [t for t in moves if t.to_step.outcome == "none" and t.to_step.order > current.order]
    won = [t for t in moves if t.to_step.outcome == "won"]
    candidates = forward or won or (moves if current.is_final else [])
    primary = candidates[0] if candidates else None
    return primary, [t for t in moves if t is not primary]


def move_label(transition) -> str:
    """A transition's own name ("Back to New Lead"), else its step's."""
    return transition.name or transition.to_step.name


def transition_action(obj, transition, url: str, *, main: bool = False) -> Action:
    """A move that happens at once (a POST of ``to_step`` to ``url``): forward with an arrow,
    back with a return arrow; the primary style for the page's main action."""
    forward = transition.to_step.order > obj.wfm_project.current_step.order
    return Action(
        move_label(transition),
        url,
        method="post",
        icon="arrow-right" if forward else "arrow-counterclockwise",
        style="primary" if main else "secondary",
        values=(("to_step", transition.to_step_id),),
    )


# --- the page --------------------------------------------------------------------------------
@dataclass
class Detail:
    """What ``records/_detail_main.html`` places around a type's own partials."""

    template: str  # the type's page template, holding its partials (badges, facts, fields, …)
    kind: str  # "lead": the activity timeline's record kind
    url: str  # the page itself (refreshes, the history toggle)
    list_url: str
    list_label: str  # "Leads"
    actions: Actions
    history: History
    related: list[RelatedSection] = field(default_factory=list)
    steps: list = field(default_factory=list)  # the workflow's steps, for the step track
    step: Any = None  # the current step
    socket: str = ""  # the record's live socket (``/ws/<collection>/<id>/``), when it has one
    panels: list[str] = field(default_factory=list)  # templates registered by other apps

    @property
    def region(self) -> str:
        """The id of the element a save or a live change re-fetches (``records/detail.html``;
        ``crm.records.realtime`` targets it by the same rule)."""
        return f"{self.kind}-main"


# --- history ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: str  # as people read it
    new: str
    system: bool = False
    before: Any = None  # the stored values, JSON-friendly (for the API)
    after: Any = None


@dataclass
class HistoryEntry:
    at: datetime
    kind: str  # created | changed | deleted | step
    user: str  # who; "" for the system
    changes: list[Change] = field(default_factory=list)
    from_step: str = ""
    to_step: str = ""
    reason: str = ""

    @property
    def system(self) -> bool:
        """Only the system's bookkeeping changed (hidden unless asked for)."""
        return self.kind == "changed" and not self.reason and all(c.system for c in self.changes)


@dataclass
class History:
    entries: list[HistoryEntry]
    hidden: int  # system-only entries (or changes) left out
    show_system: bool
    url: str = ""  # the detail page, which re-renders the card for the toggle


def show_system(request: HttpRequest) -> bool:
    """Whether the user asked for the system's changes too (``?system=1``)."""
    return request.GET.get("system") == "1"


def record_history(obj: models.Model, *, limit: int = HISTORY_LIMIT) -> list:
    """The newest ``limit`` history records of ``obj`` plus the one before them (to diff the
    oldest against), newest first."""
    return list(
        obj.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit + 1
        ]
    )


def history_entries(
    records: Sequence,
    *,
    model: type[models.Model],
    labels: dict[str, str] | None = None,
    system_fields: Iterable[str] = (),
    custom_fields: str = "",
    limit: int = HISTORY_LIMIT,
) -> list[HistoryEntry]:
    """``records`` (newest first, from ``record_history``) as entries with what changed against
    the record before each. ``custom_fields``: the entity type whose custom field labels name
    the keys of a tracked ``custom_field_values``.

    System changes: the ``system_fields``, and every timestamp (``DateTimeField``): people edit
    dates, never times; the system stamps when something happened (assigned, won, scored),
    which the entry's own time already tells."""
    labels = {**LABELS, **(labels or {})}
    system = frozenset(system_fields)
    records = list(records)
    pairs = []
    for record, older in zip(records[:limit], [*records[1 : limit + 1], None], strict=False):
        delta = []
        if record.history_type == "~" and older is not None:
            delta = record.diff_against(older).changes
        pairs.append((record, delta))

    names = _related_names(model, [c for _, delta in pairs for c in delta])
    definitions = _definitions(custom_fields) if custom_fields else {}
    order = {f.name: i for i, f in enumerate(model._meta.fields)}
    entries = []
    for record, delta in pairs:
        changes: list[Change] = []
        for change in sorted(delta, key=lambda c: order.get(c.field, len(order))):
            if change.field == "custom_field_values":
                changes += _custom_changes(change.old, change.new, definitions)
                continue
            model_field = model._meta.get_field(change.field)
            changes.append(
                Change(
                    field=change.field,
                    label=labels.get(change.field) or capfirst(model_field.verbose_name),
                    old=value_display(model_field, change.old, record, names),
                    new=value_display(model_field, change.new, record, names),
                    system=change.field in system or isinstance(model_field, models.DateTimeField),
                    before=_plain(change.old),
                    after=_plain(change.new),
                )
            )
        kind = {"+": "created", "~": "changed", "-": "deleted"}[record.history_type]
        reason = getattr(record, "history_change_reason", None) or ""
        if kind == "changed" and not changes and not reason:
            continue  # only untracked or excluded fields changed
        entries.append(
            HistoryEntry(
                at=record.history_date,
                kind=kind,
                user=_user_name(record.history_user),
                changes=changes,
                reason=reason,  # e.g. a merge's "Merged with “…”"
            )
        )
    return entries


def step_entries(moves: Iterable) -> list[HistoryEntry]:
    """Workflow step moves (``wfm`` status history rows: ``at``, ``changed_by``,
    ``from_step``, ``to_step``, ``reason``) as history entries."""
    return [
        HistoryEntry(
            at=move.at,
            kind="step",
            user=_user_name(move.changed_by),
            from_step=move.from_step.name if move.from_step else "",
            to_step=move.to_step.name,
            reason=move.reason,
        )
        for move in moves
    ]


def history(
    *entry_lists: Iterable[HistoryEntry],
    show_system: bool,
    url: str = "",
    limit: int = HISTORY_LIMIT,
) -> History:
    """Merge field changes and step moves, newest first; leave out the system's bookkeeping
    (whole entries, and system changes inside a person's entry) unless ``show_system``."""
    merged = sorted(
        (e for entries in entry_lists for e in entries), key=lambda e: e.at, reverse=True
    )
    hidden = 0
    shown = []
    for entry in merged:
        if not show_system:
            if entry.system:
                hidden += 1
                continue
            kept = [c for c in entry.changes if not c.system]
            if len(kept) != len(entry.changes):
                hidden += 1
                entry = HistoryEntry(at=entry.at, kind=entry.kind, user=entry.user, changes=kept)
        shown.append(entry)
    return History(entries=shown[:limit], hidden=hidden, show_system=show_system, url=url)


def history_for(
    obj: models.Model,
    *,
    show_system: bool,
    url: str = "",
    labels: dict[str, str] | None = None,
    system_fields: Iterable[str] = (),
    custom_fields: str = "",
    moves: Iterable = (),
    limit: int = HISTORY_LIMIT,
) -> History:
    """A record's history card: its field changes and its workflow ``moves``."""
    fields = history_entries(
        record_history(obj, limit=limit),
        model=type(obj),
        labels=labels,
        system_fields=system_fields,
        custom_fields=custom_fields,
        limit=limit,
    )
    return history(fields, step_entries(moves), show_system=show_system, url=url, limit=limit)


def _plain(value):
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _user_name(user) -> str:
    return user.display_name if user else ""


def _related_names(model: type[models.Model], changes: list) -> dict[tuple[type, Any], str]:
    """Display names of the records foreign keys pointed to, one query per related model."""
    wanted: dict[type, set] = defaultdict(set)
    for change in changes:
        try:
            model_field = model._meta.get_field(change.field)
        except Exception:
            continue
        if model_field.is_relation and (model_field.many_to_one or model_field.one_to_one):
            for value in (change.old, change.new):
                if value not in (None, ""):
                    wanted[model_field.related_model].add(value)
    names = {}
    for related, ids in wanted.items():
        for obj in related._base_manager.filter(pk__in=ids):
            names[(related, obj.pk)] = _name_of(obj)
    return names


def _name_of(obj) -> str:
    return getattr(obj, "display_name", None) or str(obj)


def value_display(model_field, value, record, names=None, *, limit=TEXT_LIMIT) -> str:
    """A stored value as people read it: the history's changes and the merge screen.
    ``names`` maps (model, pk) to the name of a related record the value may only hold the
    key of; without it a related record is named by itself. ``limit``: text is cut there."""
    if value is None or value == "":
        return formatting.DASH
    if model_field.is_relation and names is None:
        return str(value)
    if model_field.is_relation:
        related = model_field.related_model
        key = value if not isinstance(value, models.Model) else value.pk
        for candidate in (key, _coerce_pk(related, key)):
            if (related, candidate) in names:
                return names[(related, candidate)]
        return "(removed)"
    if model_field.flatchoices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.BooleanField):
        return "Yes" if value else "No"
    if isinstance(model_field, models.DecimalField) and hasattr(record, "currency"):
        return formatting.money(value, record.currency)
    if isinstance(value, datetime):
        return date_filter(timezone.localtime(value), "M j, Y H:i")
    if isinstance(value, date):
        return date_filter(value, "M j, Y")
    if isinstance(value, Decimal | int | float):
        return f"{value:,}"
    if isinstance(value, dict | list):
        return formatting.DASH if not value else "…"
    return truncatechars(str(value), limit) if limit else str(value)


def _coerce_pk(model: type[models.Model], value):
    try:
        return model._meta.pk.to_python(value)
    except Exception:
        return value


def _definitions(entity_type: str) -> dict:
    from customfields.selectors import all_fields

    return {d.name: d for d in all_fields(entity_type)}


def _custom_changes(old, new, definitions: dict) -> list[Change]:
    """One change per custom field whose value differs, labelled as the field is."""
    from customfields.values import display_value

    old, new = old or {}, new or {}
    changes = []
    keys = [k for k in definitions if k in old or k in new]
    keys += sorted(k for k in {*old, *new} if k not in definitions)
    for key in keys:
        if old.get(key) == new.get(key):
            continue
        definition = definitions.get(key)

        def shown(value, definition=definition):
            if definition is None:
                return formatting.DASH if value in (None, "", []) else str(value)
            text = display_value(definition, value)
            return formatting.DASH if text is None else truncatechars(str(text), TEXT_LIMIT)

        changes.append(
            Change(
                field=f"cf_{key}",
                label=definition.label if definition else key,
                old=shown(old.get(key)),
                new=shown(new.get(key)),
                before=old.get(key),
                after=new.get(key),
            )
        )
    return changes


# --- related records ------------------------------------------------------------------------
@dataclass(frozen=True)
class RelatedRow:
    title: str
    url: str
    badges: tuple = ()  # safe HTML badges (crm.formatting)
    meta: tuple = ()  # short texts or safe HTML (money, ages, names)
    modal: bool = False  # the link opens a form in the modal (it works as a page too)


@dataclass(frozen=True)
class RelatedSection:
    key: str  # "leads"
    title: str  # "Leads"
    icon: str  # Bootstrap icon name
    rows: list[RelatedRow]
    total: int
    empty: str  # the sentence when there is nothing


Provider = Callable[[Any, models.Model], RelatedSection | None]
_PROVIDERS: dict[str, dict[str, tuple[int, Provider]]] = defaultdict(dict)


def register_related(record_key: str, key: str, provider: Provider, *, order: int = 100) -> None:
    """Offer a related-records section on the pages of ``record_key`` ("person",
    "organization"). ``provider(user, obj)`` reads through the providing app's selectors (only
    what the user may see) and returns a section, or None to show nothing. Registering the
    same ``key`` again replaces it."""
    _PROVIDERS[record_key][key] = (order, provider)


def related_sections(user, record_key: str, obj: models.Model) -> list[RelatedSection]:
    providers = sorted(_PROVIDERS.get(record_key, {}).values(), key=lambda p: p[0])
    sections = (provider(user, obj) for _, provider in providers)
    return [s for s in sections if s is not None]


def related_section(
    *,
    key: str,
    title: str,
    icon: str,
    queryset,
    row: Callable[[Any], RelatedRow],
    empty: str,
    limit: int = RELATED_LIMIT,
) -> RelatedSection:
    """A section of the first ``limit`` rows of ``queryset`` (one query; a count only when
    there are more)."""
    objs = list(queryset[: limit + 1])
    total = len(objs) if len(objs) <= limit else queryset.count()
    return RelatedSection(
        key=key,
        title=title,
        icon=icon,
        rows=[row(obj) for obj in objs[:limit]],
        total=total,
        empty=empty,
    )


def _organization_people(user, organization) -> RelatedSection:
    from django.urls import reverse

    from crm.selectors import organization_people

    return related_section(
        key="people",
        title="People",
        icon="people",
        queryset=organization_people(user=user, organization=organization).order_by(
            "last_name", "first_name"
        ),
        row=lambda person: RelatedRow(
            title=person.full_name,
            url=reverse("crm:person_detail", args=[person.pk]),
            meta=tuple(
                m for m in (person.job_title, person.email and formatting.mailto(person.email)) if m
            ),
        ),
        empty="No people you can see work here yet.",
    )


# crm's own section; leads, deals and activities add theirs from their AppConfig.ready.
register_related("organization", "people", _organization_people, order=10)


# --- panels of other apps ------------------------------------------------------------------
_PANELS: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)


def register_panel(record_key: str, key: str, template: str, *, order: int = 100) -> None:
    """Place ``template`` in the main column of the pages of ``record_key`` ("lead",
    "person", "deal"), after the type's own panels (``records/_detail_main.html``). It is
    included with the page's context (``obj``, ``detail``) and must not query the database:
    the page's cost stays the same; the panel fetches its content itself (``hx-get`` on
    ``load``), where the providing app checks what the user may see. Registering the same
    ``key`` again replaces it."""
    _PANELS[record_key][key] = (order, template)


def detail_panels(record_key: str) -> list[str]:
    return [template for _, template in sorted(_PANELS.get(record_key, {}).values())]


# --- rendering -------------------------------------------------------------------------------
def detail_page(
    request: HttpRequest,
    rt,
    obj: models.Model,
    *,
    template: str,
    actions: Actions,
    history: History,
    context: dict | None = None,
) -> HttpResponse:
    """The page of one record of type ``rt`` (``crm.records.types.RecordType``), the same
    for every type: ``template`` (the type's page) supplies its partials (badges, facts,
    notices, field_rows, panels), ``records/detail.html`` the frame (live socket, presence,
    the refresh region, the assistant's drawer). A record in a workflow (a lead, a deal) gets
    its step track; every type gets its custom fields and the related sections registered for
    its key. For HTMX: the refresh region alone (``records/_detail_main.html``), or the
    history card alone when HTMX targets it (the "Show system changes" toggle). A page (not a
    region's refresh) is a view of ``obj`` for the privacy hooks (the access log of personal
    data)."""
    from wfm.selectors import step_list  # crm reads workflows only for records that have one

    user = request.user
    kind = rt.key
    detail = Detail(
        template=template,
        kind=kind,
        url=rt.url("detail", obj.pk),
        list_url=rt.url("list"),
        list_label=rt.plural,
        actions=actions,
        history=history,
        related=related_sections(user, kind, obj),
        socket=crm_realtime.record_socket(kind, obj.pk),
        panels=detail_panels(kind),
    )
    project = getattr(obj, "wfm_project", None)
    if project is not None:
        detail.steps, detail.step = step_list(workflow=project.workflow), project.current_step
    context = {
        "obj": obj,
        "custom_fields": display_rows(kind, obj.custom_field_values),
        "detail": detail,
        **(context or {}),
    }
    if not region_only(request):
        privacy_hooks.viewed(user, obj, channel="page")
        return render(request, template, context)
    if request.htmx.target == HISTORY_REGION:
        return render(request, "records/_detail_history.html", {"history": history})
    # The region's swap keeps the timeline element (hx-preserve in records/_detail_main.html):
    # it reloads itself in place on this event.
    return trigger(render(request, "records/_detail_main.html", context), recordRefreshed=True)


def merged_redirect(
    request: HttpRequest, model: type[models.Model], pk, url_name: str
) -> HttpResponse | None:
    """The answer to a detail page of a record merged into another (issue 18): a redirect
    to the survivor with a message, when the user may see it; None otherwise (a 404)."""
    survivor = merging.survivor_of(model, pk)
    if survivor is None or not permissions.can_view(request.user, survivor):
        return None
    old = model._base_manager.filter(pk=pk).first()
    noun = model._meta.verbose_name
    messages.info(request, f"“{old}” was merged into this {noun}; its old link leads here.")
    return redirect(url_name, survivor.pk)
