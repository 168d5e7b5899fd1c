"""One table for every record type (SPEC §4, §6): search, filters, sortable headers, column
chooser, saved views, pagination, bulk actions, CSV export.

The URL is the table's state. ``TableState`` reads it once: empty values are dropped (a form
submits every input, and an empty ``source=`` is no filter, not an invalid one), a parameter
that takes one value keeps its last, and every link the table draws (sort headers, pages,
export, the saved view's query) is built from it, so each parameter appears once however the
user got there, and reloading or sharing the URL gives the same screen.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.contrib.auth.decorators import login_required
from django.db.models import BooleanField, Case, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from crm import paging, permissions, reference
from crm import realtime as crm_realtime
from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.bulk import bulk_apply
from crm.errors import DomainError, PermissionDenied, ValidationFailed
from crm.formatting import DASH, TEMPERATURES, esc
from crm.htmx import region_only, render_page, trigger
from crm.records import exports
from crm.records.import_views import record_import
from crm.records.realtime import socket_moved
from crm.records.types import Column, RecordType
from customfields.filters import filter_inputs
from customfields.models import FieldType
from customfields.selectors import active_fields
from customfields.values import display_value
from wfm.boards import read_columns, without_documents
from wfm.forms import BulkForm

PER_PAGE = 50
MAX_PER_PAGE = 200
# Parameters that shape the table but filter nothing.
VIEW_PARAMS = ("page", "page_size", "ordering", "columns")
# Parameters that are never state: "clear" (the Clear link, which skips the default view).
DROPPED_PARAMS = frozenset({"clear", "csrfmiddlewaretoken"})
# Parameters that may repeat (one value each).
MULTI_PARAMS = frozenset({"columns"})


# --- state ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableState:
    """The table's parameters, cleaned: what every link and form of the table is built from."""

    params: QueryDict

    @classmethod
    def from_query(cls, query: QueryDict) -> TableState:
        clean = QueryDict(mutable=True)
        for key, values in query.lists():
            kept = [v for v in values if v.strip()]
            if not kept or key in DROPPED_PARAMS:
                continue
            if key in MULTI_PARAMS:
                clean.setlist(key, list(dict.fromkeys(kept)))
            else:
                clean.setlist(key, [kept[-1]])
        clean._mutable = False
        return cls(clean)

    def get(self, key: str, default: str = "") -> str:
        return self.params.get(key, default)

    @property
    def ordering(self) -> str:
        return self.get("ordering")

    def query(self, **changes: Any) -> str:
        """The query string with ``changes`` applied (None removes a parameter)."""
        params = self.params.copy()
        for key, value in changes.items():
            params.pop(key, None)
            if value not in (None, ""):
                params[key] = value
        return params.urlencode()

    def url(self, base: str, **changes: Any) -> str:
        query = self.query(**changes)
        return f"{base}?{query}" if query else base

    @property
    def filter_query(self) -> str:
        """Only the filters (for the board and "clear sort")."""
        return self.query(**dict.fromkeys(VIEW_PARAMS))

    @property
    def has_filters(self) -> bool:
        return bool(self.filter_query)


def filtered(request: HttpRequest, record_type: RecordType, state: TableState | None = None):
    """The records of ``record_type`` the user may see that match the request's filters.

    Returns ``(filterset, rows, error)``: ``error`` is the message of a filter value that
    could not be applied (shown above the table instead of failing the page).
    """
    state = state or TableState.from_query(request.GET)
    filterset = record_type.filterset(
        state.params, queryset=record_type.list_selector(request.user)
    )
    error = None
    try:
        rows = filterset.qs
    except ValidationFailed as exc:  # a bad cf_ value
        rows, error = filterset.queryset.none(), exc.message
    if filterset.errors and error is None:
        labels = {name: f.label or name for name, f in filterset.form.fields.items()}
        labels.update({f.param: f.label for f in record_type.filters})
        error = "; ".join(
            f"{labels.get(name, name)}: {' '.join(errors)}"
            for name, errors in filterset.errors.items()
        )
    if not state.ordering:
        rows = rows.order_by(*record_type.default_ordering)
    return filterset, rows, error


# --- columns ----------------------------------------------------------------------------------
def _custom_cell(definition):
    def cell(obj):
        value = display_value(definition, (obj.custom_field_values or {}).get(definition.name))
        if value is None:
            return DASH
        if definition.type == FieldType.URL:
            value = esc(value)
            return mark_safe(f'<a href="{value}" rel="noopener noreferrer">{value}</a>')
        if definition.type == FieldType.EMAIL:
            value = esc(value)
            return mark_safe(f'<a href="mailto:{value}">{value}</a>')
        return value

    return cell


def available_columns(record_type: RecordType, definitions=None) -> list[Column]:
    """The type's own columns, then one per active custom field."""
    custom = [
        Column(
            d.param_name,
            d.label,
            _custom_cell(d),
            ordering=d.param_name,
            numeric=d.type in (FieldType.NUMBER, FieldType.DECIMAL),
            default=d.show_in_table,
            definition=d,
            related=(),
        )
        for d in active_fields(record_type.key, definitions=definitions)
    ]
    return [*record_type.columns, *custom]


def table_columns(
    record_type: RecordType, params: QueryDict, definitions=None
) -> tuple[list[Column], list[Column]]:
    """``(chosen, available)``: the requested columns in the user's order, or the defaults."""
    available = available_columns(record_type, definitions)
    by_key = {c.key: c for c in available}
    chosen = [by_key[k] for k in params.getlist("columns") if k in by_key]
    return chosen or [c for c in available if c.default], available


def shown(rows: QuerySet, columns: list[Column]) -> QuerySet:
    """``rows`` reading what ``columns`` show: no JSON document but the custom field values
    of custom columns, and only the joins the columns name (when every one does). Measured
    at 100,000 leads: a 50-row page's Python time from 13 to 8 ms."""
    custom = ("custom_field_values",) if any(c.definition for c in columns) else ()
    related = [c.related for c in columns]
    if all(paths is not None for paths in related):
        rows = rows.select_related(None).select_related(*{p for paths in related for p in paths})
    return _without_bookkeeping(without_documents(rows, keep=custom))


# Columns of a joined record that no cell shows: its timestamps and author, a user's
# credentials and sign-in dates (each timestamp is a parse per row: four a row of joins).
BOOKKEEPING = frozenset(
    {"created_at", "updated_at", "created_by", "password", "last_login", "date_joined"}
)


def _without_bookkeeping(rows: QuerySet) -> QuerySet:
    paths = [path for path, f, joined in read_columns(rows) if joined and f.name in BOOKKEEPING]
    return rows.defer(*paths) if paths else rows


def paginate(state: TableState, rows) -> paging.Window:
    """The page the table shows (``crm.paging``: counted exactly up to a limit, estimated
    above it). A page number that is not one gives the first page; a page past the end, the
    last."""
    per_page = PER_PAGE
    with contextlib.suppress(ValueError):
        per_page = max(1, min(int(state.get("page_size", PER_PAGE)), MAX_PER_PAGE))
    raw = str(state.get("page") or "1")
    number = int(raw) if raw.isdigit() and 0 < int(raw) < paging.MAX_PAGE_NUMBER else 1
    page = paging.window(rows, number=number, size=per_page)
    if not page.rows and number > 1:  # past the end: the last page, from the exact count
        last = max(1, -(-rows.order_by().count() // per_page))
        page = paging.window(rows, number=last, size=per_page)
    return page


# --- views ------------------------------------------------------------------------------------
@login_required
@require_GET
def record_list(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    rt = record_type
    user = request.user
    if not request.GET and not request.htmx:
        default = crm_selectors.default_saved_view(user=user, screen=rt.saved_view_screen)
        if default is not None and default.query:
            return redirect(f"{rt.url('list')}?{default.query}")
    state = TableState.from_query(request.GET)
    filterset, rows, error = filtered(request, rt, state)
    definitions = filterset.cf_definitions()
    columns, available = table_columns(rt, state.params, definitions)
    page = paginate(state, shown(rows, columns))
    bulk_actions = rt.bulk_actions_for(user)
    bar = filter_bar(rt, state, user, definitions, count_only=region_only(request))
    filters = bar["filters"]
    bulk_keys = {a.key for a in bulk_actions}
    context = {
        "rt": rt,
        "state": state,
        "filter": filterset,
        "filter_error": error,
        **bar,
        "columns": columns,
        "available_columns": available,
        "default_columns": ",".join(c.key for c in available if c.default),
        "page": page,
        "pages": _page_links(rt, state, page),
        "headers": _headers(rt, state, columns),
        "list_url": rt.url("list"),
        "create_url": rt.url("create"),
        "table_url": state.url(rt.url("list")),
        "views_url": rt.url("views"),
        "bulk_url": rt.url("bulk"),
        "view_save_url": rt.url("view_save"),
        "export_url": state.url(rt.url("export"), page=None),
        "board_url": state.url(rt.url("board"), page=None, ordering=None, columns=None)
        if rt.board
        else None,
        "can_add": rt.can_add(user),
        "import_url": rt.url("import") if rt.can_import(user) else "",
        "bulk_actions": bulk_actions,
        "bulk": bool(bulk_actions),
        # The bulk bar offers only the users these records may be given to (the assignee
        # filter lists everyone, to find what they hold).
        "bulk_assignees": bar["assignable"] if "assign" in bulk_keys else [],
        "bulk_steps": _choices(filters, param="step") if "move" in bulk_keys else [],
        "sees_all": permissions.has_all_access(user, rt.model, "view"),
        # The socket sits outside #rows and follows the filters and columns (see
        # crm.records.realtime.socket_moved); sort and page do not reach it.
        "table_socket": f"/ws/tables/{rt.key}/?{state.query(page=None, ordering=None)}"
        if crm_realtime.registered_kind(rt.key)
        else None,
        "oob_socket": bool(request.htmx)
        and socket_moved(request, ignore=("page", "page_size", "ordering")),
        "temperatures": TEMPERATURES if any(c.key == "score" for c in columns) else (),
        # An htmx refresh also updates, out of band, the controls outside the rows that
        # carry the state (the sort input, the export link, the saved view's query).
        "sync_controls": bool(request.htmx),
    }
    return render_page(request, "records/list.html", context, partial="rows")


def filter_bar(
    rt: RecordType, state: TableState, user, definitions=None, *, count_only: bool = False
) -> dict:
    """The context of ``records/_filters.html``, for tables and boards alike, plus
    ``assignable``: the users records of the type may be given to (the bulk bar's choices).

    ``count_only``: the active filters' count alone, for a region refreshed by HTMX (rows or
    board), which updates the count badge but leaves the bar as the user set it; its users,
    steps and custom fields are not read (measured: 4–5 ms of a 50-row refresh)."""
    active = sum(1 for f in rt.filters if state.get(f.param)) + sum(
        1 for k in state.params if k.startswith("cf_")
    )
    if count_only:
        return {"filters": [], "assignable": [], "cf_filters": [], "active_filters": active}
    cf_filters = filter_inputs(rt.key, state.params, definitions=definitions)
    users = _users(rt, user) if any(f.kind == "user" for f in rt.filters) else []
    return {
        "filters": _filter_inputs(rt, state, users),
        "assignable": [(str(u.pk), u.display_name) for u in users if u.may_own],
        "cf_filters": cf_filters,
        "active_filters": active,
        "has_more_filters": any(f.more for f in rt.filters) or bool(cf_filters),
        "more_open": any(state.get(f.param) for f in rt.filters if f.more)
        or any(k.startswith("cf_") for k in state.params),
    }


class UserChoice(NamedTuple):
    pk: int
    display_name: str
    may_own: bool


def _users(rt: RecordType, user) -> list[UserChoice]:
    """The users a user filter offers to ``user`` (``crm.selectors.user_directory``: filters
    find what anyone holds, but a viewer lists nobody but themselves), each marked whether
    records of ``rt`` may be given to them (``crm.permissions.owner_filter``): one query for
    the owner and assignee filters and the bulk bar's "assign to", cached as reference data
    (``crm.reference``) until a user, role or grant changes."""

    def read() -> list[UserChoice]:
        may_own = Case(
            When(permissions.owner_filter(rt.model), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
        directory = crm_selectors.user_directory(user=user, with_roles=False)
        names = directory.only("pk", "username", "first_name", "last_name")  # display_name
        return [
            UserChoice(u.pk, u.display_name, u.may_own) for u in names.annotate(may_own=may_own)
        ]

    return reference.cached(f"filter-users:{rt.key}:{user.pk}", read)


def _filter_inputs(rt: RecordType, state: TableState, users: list) -> list[dict]:
    """The filter bar's inputs with their values; user filters share one list of users, and
    filters with the same choices (a lead's step and the step it reached) one read of them."""
    inputs = []
    loaded: dict = {}
    for f in rt.filters:
        if f.kind == "user":
            choices = [(u.pk, u.display_name) for u in users]
        else:
            if f.choices not in loaded:
                loaded[f.choices] = list(f.choices()) if f.choices else []
            choices = loaded[f.choices]
        inputs.append(
            {
                "spec": f,
                "id": f"f-{f.param}",
                "value": state.get(f.param),
                "choices": [(str(v), label) for v, label in choices],
            }
        )
    return inputs


def _choices(filters: list[dict], *, param: str) -> list:
    """The choices of the filter on ``param`` (the bulk bar reuses them: no second query)."""
    for f in filters:
        if f["spec"].param == param:
            return f["choices"]
    return []


def _headers(rt: RecordType, state: TableState, columns: list[Column]) -> list[dict]:
    """Each column's header: for a sortable one, the URL that sorts by it (ascending first,
    then toggling) and whether it is the active sort."""
    base = rt.url("list")
    headers = []
    for column in columns:
        key = column.ordering
        header = {"column": column, "key": key, "direction": "", "url": None}
        if key:
            if state.ordering == key:
                header["direction"], following = "ascending", f"-{key}"
            elif state.ordering == f"-{key}":
                header["direction"], following = "descending", key
            else:
                following = key
            header["url"] = state.url(base, ordering=following, page=None)
        headers.append(header)
    return headers


def _page_links(rt: RecordType, state: TableState, page: paging.Window) -> dict:
    """Previous and next, and (when the count is an estimate, so the last page is unknown)
    the page numbers around this one that are known to exist."""
    base = rt.url("list")
    return {
        "previous": state.url(base, page=page.number - 1) if page.has_previous else None,
        "next": state.url(base, page=page.number + 1) if page.has_next else None,
        "numbers": []
        if page.total.exact
        else [(n, state.url(base, page=n)) for n in page.nearby_pages()],
    }


@login_required
@require_GET
def record_export(request: HttpRequest, record_type: RecordType) -> StreamingHttpResponse:
    """CSV of every record matching the filters that the user may see (audited). The query
    is validated before the response starts streaming, so a bad filter is a clear 400."""
    rt = record_type
    state = TableState.from_query(request.GET)
    _, rows, error = filtered(request, rt, state)
    if error:
        raise ValidationFailed(f"The export's filters are not valid: {error}")
    cf_names = [d.name for d in active_fields(rt.key)]
    crm_services.audit(
        by=request.user, action=f"{rt.saved_view_screen}.export", query=state.query()
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return exports.csv_response(
        request,
        exports.rows(rows.iterator(chunk_size=2000), rt.export_columns, cf_names),
        f"{rt.saved_view_screen}-{stamp}.csv",
    )


@login_required
@require_POST
def record_bulk(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    """Apply one bulk action to the checked rows, each through the record's own service."""
    rt = record_type
    user = request.user
    # Actions with a form of their own (``url_name``) are not applied here.
    actions = {a.key: a for a in rt.bulk_actions_for(user) if a.run is not None}
    if not actions:  # refused before the input is read: the role has no bulk actions at all
        raise PermissionDenied(f"You may not change {rt.noun_plural} in bulk.")
    form = BulkForm(
        request.POST,
        assignees=crm_selectors.assignable_users(model=rt.model, with_roles=False),
        steps=_step_queryset(rt),
    )
    if not form.is_valid():
        message = (
            f"Select at least one {rt.noun}."
            if "ids" in form.errors
            else next(iter(e for errors in form.errors.values() for e in errors))
        )
        raise ValidationFailed(message, details=dict(form.errors))
    data = form.cleaned_data
    action = actions.get(data["action"])
    if action is None:
        raise PermissionDenied(f"You may not {data['action']} {rt.noun_plural}.")
    if action.key == "assign" and data["assignee"] is None:
        raise ValidationFailed(
            f"Choose who to assign the {rt.noun_plural} to.",
            details={"assignee": ["Choose a user."]},
        )
    result = bulk_apply(
        queryset=rt.list_selector(user),
        ids=data["ids"],
        action=lambda obj: action.run(user, obj, data),
        verb=action.verb,
    )
    summary = result.summary()
    return trigger(
        HttpResponse(status=204),
        recordSaved=True,
        showToast={
            "message": summary if summary.endswith(".") else f"{summary}.",
            "level": result.level,
        },
    )


def _step_queryset(rt: RecordType):
    from wfm.models import WorkflowStep

    if not rt.bulk_steps:
        return WorkflowStep.objects.none()
    return WorkflowStep.objects.filter(pk__in=[s.pk for s in rt.bulk_steps()])


# --- saved views ------------------------------------------------------------------------------
def _views_menu(request: HttpRequest, rt: RecordType, *, status: int = 200) -> HttpResponse:
    views = list(crm_selectors.saved_views(user=request.user, screen=rt.saved_view_screen))
    default_id = crm_services.default_view_id(request.user, rt.saved_view_screen)
    for view in views:
        view.is_default = view.pk == default_id
        view.open_url = (
            f"{rt.url('list')}?{view.query}" if view.query else f"{rt.url('list')}?clear=1"
        )
        view.rename_url = rt.url("view_rename", view.pk)
        view.default_url = rt.url("view_default", view.pk)
        view.delete_url = rt.url("view_delete", view.pk)
    return render(
        request, "records/_saved_views.html", {"rt": rt, "saved_views": views}, status=status
    )


@login_required
@require_GET
def saved_view_menu(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    return _views_menu(request, record_type)


@login_required
@require_POST
def saved_view_save(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    rt = record_type
    state = TableState.from_query(QueryDict(request.POST.get("query", "")))
    try:
        view = crm_services.saved_view_save(
            by=request.user,
            screen=rt.saved_view_screen,
            name=request.POST.get("view_name", ""),
            query=state.query(page=None),
        )
    except DomainError as exc:
        return trigger(
            HttpResponse(status=204), showToast={"message": exc.message, "level": "error"}
        )
    if not request.htmx:  # without JavaScript: open the view just saved
        return redirect(f"{rt.url('list')}?{view.query}")
    return trigger(
        _views_menu(request, rt),
        showToast={"message": f"View “{view.name}” saved.", "level": "success"},
    )


@login_required
@require_POST
def saved_view_rename(request: HttpRequest, record_type: RecordType, view_id: int) -> HttpResponse:
    view = crm_selectors.saved_view_get(user=request.user, view_id=view_id)
    try:
        crm_services.saved_view_rename(
            by=request.user, view=view, name=request.POST.get("name", "")
        )
    except DomainError as exc:
        return trigger(
            _views_menu(request, record_type), showToast={"message": exc.message, "level": "error"}
        )
    return trigger(
        _views_menu(request, record_type),
        showToast={"message": f"View renamed to “{view.name}”.", "level": "success"},
    )


@login_required
@require_POST
def saved_view_default(request: HttpRequest, record_type: RecordType, view_id: int) -> HttpResponse:
    view = crm_selectors.saved_view_get(user=request.user, view_id=view_id)
    is_default = crm_services.default_view_id(request.user, view.screen) != view.pk
    crm_services.saved_view_set_default(by=request.user, view=view, is_default=is_default)
    message = (
        f"“{view.name}” opens when you open {record_type.noun_plural}."
        if is_default
        else f"“{view.name}” is no longer your default view."
    )
    return trigger(
        _views_menu(request, record_type), showToast={"message": message, "level": "success"}
    )


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, record_type: RecordType, view_id: int) -> HttpResponse:
    view = crm_selectors.saved_view_get(user=request.user, view_id=view_id)
    name = view.name
    crm_services.saved_view_delete(by=request.user, view=view)
    if not request.htmx:
        return redirect(record_type.url("list"))
    return trigger(
        _views_menu(request, record_type),
        showToast={"message": f"View “{name}” deleted.", "level": "success"},
    )


# --- URLs -------------------------------------------------------------------------------------
def table_urls(record_type: RecordType, prefix: str = "") -> list:
    """The table's URL patterns, named by ``record_type.url_names``."""
    from django.urls import path

    kw = {"record_type": record_type}
    local = record_type.url_names.split(":", 1)[-1]  # the pattern names inside the namespace
    name = local.format
    imports = [path(f"{prefix}import/", record_import, kw, name=name("import"))]
    return [
        *(imports if record_type.importing is not None else []),
        path(f"{prefix}", record_list, kw, name=name("list")),
        path(f"{prefix}export.csv", record_export, kw, name=name("export")),
        path(f"{prefix}bulk/", record_bulk, kw, name=name("bulk")),
        path(f"{prefix}views/", saved_view_menu, kw, name=name("views")),
        path(f"{prefix}views/save/", saved_view_save, kw, name=name("view_save")),
        path(
            f"{prefix}views/<int:view_id>/rename/", saved_view_rename, kw, name=name("view_rename")
        ),
        path(
            f"{prefix}views/<int:view_id>/default/",
            saved_view_default,
            kw,
            name=name("view_default"),
        ),
        path(
            f"{prefix}views/<int:view_id>/delete/", saved_view_delete, kw, name=name("view_delete")
        ),
    ]
