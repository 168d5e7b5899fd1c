"""The merge screen (issue 18), the same for every record type with ``merging``:

1. pick the records: ``<type>/merge/?ids=<id>`` (from a record's "Merge with…") searches among
   the records the user may change and adds one (``?ids=<id>,<id>``);
2. compare: the values side by side, one choice per field (standard and custom fields; the
   newest non-empty value preselected) and the record to keep;
3. confirm: what the kept record will hold and what moves to it; then the merge, and the kept
   record's page with a message.

The detection screens link here with ``?ids=a,b,…``. Thin: the write is the type's merge
service (``RecordType.merging``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from crm import permissions
from crm.errors import DomainError, NotFound, PermissionDenied
from crm.htmx import render_page
from crm.records import details
from crm.records import merge as merging
from crm.records.types import RecordType
from customfields import selectors as cf_selectors
from customfields.values import display_value

CANDIDATES = 10


@dataclass
class Option:
    record: Model
    value: str  # as people read it; "" when empty
    checked: bool
    raw: Any = None  # as stored: what "differs" compares


@dataclass
class Row:
    name: str  # the form's choice: field_<name>
    label: str
    options: list[Option]

    @property
    def differs(self) -> bool:
        first = self.options[0].raw
        return any(o.raw != first for o in self.options[1:])


def _ids(raw: str) -> list[str]:
    ids: list[str] = []
    for part in (raw or "").split(","):
        try:
            pk = str(uuid.UUID(part.strip()))
        except ValueError:
            continue
        if pk not in ids:
            ids.append(pk)
    return ids[: merging.MAX_RECORDS]


def _records(rt: RecordType, user, ids: list[str]) -> list[Model]:
    """The records, in the order given, in one query: a 404 when one is missing or hidden."""
    found = {str(o.pk): o for o in rt.list_selector(user).filter(pk__in=ids)}
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise NotFound(f"{capfirst(rt.noun)} not found.")
    return [found[pk] for pk in ids]


def _display(obj: Model, name: str, definitions: dict) -> str:
    value = merging.value_of(obj, name)
    if merging.is_empty(value):
        return ""
    if name.startswith(merging.CUSTOM_PREFIX):
        definition = definitions.get(name.removeprefix(merging.CUSTOM_PREFIX))
        return str(display_value(definition, value)) if definition else str(value)
    return details.value_display(obj._meta.get_field(name), value, obj, limit=None)


def _label(rt: RecordType, name: str, definitions: dict) -> str:
    if name.startswith(merging.CUSTOM_PREFIX):
        definition = definitions.get(name.removeprefix(merging.CUSTOM_PREFIX))
        return definition.label if definition else name
    return rt.merging.labels.get(name) or capfirst(rt.model._meta.get_field(name).verbose_name)


def _rows(rt: RecordType, records: list[Model], chosen: dict[str, str]) -> list[Row]:
    definitions = {d.name: d for d in cf_selectors.active_fields(rt.key)}
    names = merging.field_names(rt.key, rt.merging.fields)
    defaults = merging.default_sources(records, names)
    rows = []
    for name in names:
        pick = chosen.get(name) or str(defaults[name].pk)
        options = [
            Option(
                record=o,
                value=_display(o, name, definitions),
                checked=str(o.pk) == pick,
                raw=merging.value_of(o, name),
            )
            for o in records
        ]
        rows.append(Row(name=name, label=_label(rt, name, definitions), options=options))
    return rows


def _choices(request: HttpRequest, rt: RecordType, ids: list[str]) -> dict[str, str]:
    names = merging.field_names(rt.key, rt.merging.fields)
    return {
        name: request.POST[f"field_{name}"]
        for name in names
        if request.POST.get(f"field_{name}") in ids
    }


def _candidates(rt: RecordType, user, ids: list[str], query: str) -> list[Model]:
    """Records the user may change, matching the search, besides those already chosen."""
    if not query.strip():
        return []
    rows = permissions.visible(user, rt.list_selector(user), "change").exclude(pk__in=ids)
    rows = list(rt.filterset({"search": query}, queryset=rows).qs[:CANDIDATES])
    for obj in rows:
        obj.merge_hint = _hint(obj)
    return rows


# What tells two records of a name apart in the search results.
HINT_FIELDS = ("contact_email", "email", "domain", "company_name", "contact_name")


def _hint(obj: Model) -> str:
    return " · ".join(v for v in (getattr(obj, n, "") for n in HINT_FIELDS) if v)


@login_required
@require_http_methods(["GET", "POST"])
def record_merge(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    rt = record_type
    user = request.user
    if rt.merging is None:
        raise NotFound("Not found.")
    # The records are named in the address (the form posts back to it).
    ids = _ids(request.GET.get("ids") or request.POST.get("ids", ""))
    records = _records(rt, user, ids)
    if not permissions.works_on(user, rt.model):
        raise PermissionDenied(f"You may not merge {rt.noun_plural}.")
    for obj in records:
        obj.merge_url = rt.url("detail", obj.pk)
    base = {
        "rt": rt,
        "records": records,
        "ids": ",".join(ids),
        "list_url": rt.url("list"),
        "back_url": records[0].merge_url if records else rt.url("list"),
    }
    if len(records) < 2:
        if records and not permissions.can_change(user, records[0]):
            raise PermissionDenied(f"You may not change “{records[0]}”, so it cannot be merged.")
        query = request.GET.get("q", "")[:200]
        context = {
            **base,
            "step": "pick",
            "query": query,
            "candidates": _candidates(rt, user, ids, query),
        }
        if request.htmx and request.GET.get("q") is not None:
            return render_page(request, "records/merge.html#candidates", context)
        return render_page(request, "records/merge.html", context)

    step = request.POST.get("step", "compare") if request.method == "POST" else "compare"
    survivor_id = request.POST.get("survivor") if request.method == "POST" else None
    if survivor_id not in ids:
        survivor_id = ids[0]
    chosen = _choices(request, rt, ids) if request.method == "POST" else {}
    changeable = permissions.changeable_ids(user, records)
    blocked = [o for o in records if o.pk not in changeable]
    error = ""
    if step == "merge" and not blocked:
        survivor = next(o for o in records if str(o.pk) == survivor_id)
        merged = [o for o in records if o is not survivor]
        try:
            survivor = rt.merging.merge(user, survivor, merged, chosen)
        except DomainError as exc:
            error, step = exc.message, "compare"
        else:
            names = ", ".join(f"“{o}”" for o in merged)
            messages.success(request, f"Merged {names} into this {rt.noun}.")
            url = rt.url("detail", survivor.pk)
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if step not in ("compare", "confirm") or blocked:
        step = "compare"
    rows = _rows(rt, records, chosen)
    survivor = next(o for o in records if str(o.pk) == survivor_id)
    context: dict[str, Any] = {
        **base,
        "step": step,
        "rows": rows,
        "differing": [r for r in rows if r.differs],
        "same": [r for r in rows if not r.differs],
        "survivor": survivor,
        "merged": [o for o in records if o is not survivor],
        "blocked": blocked,
        "error": error,
    }
    status = 400 if error else 200
    if request.htmx:
        return render_page(request, "records/merge.html#main", context, status=status)
    return render_page(request, "records/merge.html", context, status=status)
