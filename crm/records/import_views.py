"""The import wizard (SPEC §6), the same for every record type with ``importing``: upload a
file (``<type>/import/``), map its columns and preview the rows as they will be stored
(``/imports/<id>/`` while a draft), then follow the progress live on the same page, download
the error report, cancel or undo. Thin: the writes are ``crm.services.import_*``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm import selectors as crm_selectors
from crm import services
from crm.errors import DomainError, PermissionDenied
from crm.htmx import render_page
from crm.models import ImportJob, ImportRow
from crm.records import exports, imports, registry
from crm.records.types import RecordType


def _user_choices(rt: RecordType, user) -> list:
    owners = crm_selectors.owner_choices(user=user, model=rt.model)
    return [(u.pk, u.display_name) for u in (owners if owners is not None else [user])]


@login_required
@require_http_methods(["GET", "POST"])
def record_import(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    """Step 1: choose the file."""
    rt = record_type
    if not rt.can_import(request.user):
        raise PermissionDenied(f"You may not import {rt.noun_plural}.")
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose a CSV or Excel (.xlsx) file."
        elif upload.size > imports.max_bytes():
            error = f"The file is larger than {imports.max_bytes() // (1024 * 1024)} MB."
        else:
            try:
                job = services.import_create(
                    by=request.user,
                    record_type=rt.key,
                    file_name=upload.name,
                    content=upload.read(),
                )
            except DomainError as exc:
                error = exc.message
            else:
                return redirect("crm:import_detail", job.pk)
    recent = crm_selectors.import_list(user=request.user).filter(record_type=rt.key)[:5]
    context = {"rt": rt, "error": error, "recent": recent, "list_url": rt.url("list")}
    return render_page(request, "records/import_upload.html", context, status=400 if error else 200)


def _mapping_from(request: HttpRequest, job: ImportJob) -> dict:
    return {h: request.POST.get(f"map-{i}", "") for i, h in enumerate(job.headers)}


def _preview(rt: RecordType, job: ImportJob, user) -> dict:
    sheet = imports.read_sheet(bytes(job.content), job.file_name)
    texts = sheet.rows[: imports.PREVIEW_ROWS]
    lines = sheet.lines[: imports.PREVIEW_ROWS]
    lookups = imports.lookups_for(rt, user, job.mapping, texts, sheet.headers)
    rows = imports.convert_rows(rt, sheet.headers, job.mapping, texts, lines, lookups)
    mapped = [h for h in sheet.headers if job.mapping.get(h)]
    labels = {t.key: t.label for t in imports.targets(rt, lookups.definitions)}
    preview = []
    for row in rows:
        cells = []
        for header in mapped:
            key = job.mapping[header]
            if key.startswith(imports.CUSTOM_PREFIX):
                value = (row.data.get("custom_field_values") or {}).get(key[3:])
            else:
                value = row.data.get(key)
            cells.append(
                {
                    "value": imports.display(value),
                    "raw": row.raw.get(header, ""),
                    "error": row.errors.get(header, ""),
                }
            )
        preview.append({"line": row.line, "cells": cells, "ok": not row.errors})
    return {
        "preview_headers": [labels.get(job.mapping[h], h) for h in mapped],
        "preview_rows": preview,
        "preview_errors": sum(1 for r in rows if r.errors),
    }


@login_required
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2 (a draft): map, preview and start. Then: the progress and the rows."""
    job = crm_selectors.import_get(user=request.user, job_id=pk)
    rt = registry.get(job.record_type)
    error, details = "", {}
    if request.method == "POST":
        if job.status != ImportJob.Status.DRAFT:
            return redirect("crm:import_detail", job.pk)
        try:
            services.import_configure(
                by=request.user,
                job=job,
                mapping=_mapping_from(request, job),
                mode=request.POST.get("mode") or ImportJob.Mode.SKIP,
                defaults={k: request.POST.get(f"default-{k}", "") for k in rt.importing.defaults},
            )
            if request.POST.get("action") == "start":
                services.import_start(by=request.user, job=job)
                messages.success(request, f"Import of {job.file_name} started.")
                return redirect("crm:import_detail", job.pk)
        except DomainError as exc:
            error, details = exc.message, exc.details
    context = {"rt": rt, "job": job, "list_url": rt.url("list")}
    if job.status == ImportJob.Status.DRAFT:
        definitions = None
        targets = imports.targets(rt, definitions)
        sheet = imports.read_sheet(bytes(job.content), job.file_name)
        samples = {
            h: list(dict.fromkeys(r[i] for r in sheet.rows[:20] if r[i]))[:3]
            for i, h in enumerate(sheet.headers)
        }
        context |= {
            "error": error,
            "details": details,
            "columns": [
                {"index": i, "header": h, "value": job.mapping.get(h, ""), "samples": samples[h]}
                for i, h in enumerate(job.headers)
            ],
            "targets": targets,
            "modes": ImportJob.Mode.choices,
            "match_label": (
                rt.model._meta.get_field(rt.importing.match_field).verbose_name
                if rt.importing.match_field
                else ""
            ),
            "owner_choices": _user_choices(rt, request.user)
            if "owner" in rt.importing.defaults
            else [],
            "source_choices": rt.importing.source_choices() if rt.importing.source_choices else [],
            "step_choices": rt.importing.step_choices() if rt.importing.step_choices else [],
        }
        if not error:
            context |= _preview(rt, job, request.user)
        template = "records/import_map.html"
        partial = "preview" if request.POST.get("action") == "preview" else None
        return render_page(
            request, template, context, partial=partial, status=400 if error else 200
        )
    rows = ImportRow.objects.filter(job=job).order_by("line")
    outcome = request.GET.get("outcome", "")
    if outcome in ImportRow.Outcome.values:
        rows = rows.filter(outcome=outcome)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    detail_name = rt.url_name("detail")
    for row in page.object_list:
        row.link = (
            reverse(detail_name, args=[row.object_id])
            if row.object_id and row.outcome != ImportRow.Outcome.FAILED
            else ""
        )
    context |= {"page": page, "outcome": outcome, "outcomes": ImportRow.Outcome.choices}
    return render_page(request, "records/import_detail.html", context, partial="rows")


@login_required
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = crm_selectors.import_get(user=request.user, job_id=pk)
    try:
        services.import_cancel(by=request.user, job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, "The import stops after the batch it is writing.")
    return _back_to(request, job)


@login_required
@require_POST
def import_undo(request: HttpRequest, pk: int) -> HttpResponse:
    job = crm_selectors.import_get(user=request.user, job_id=pk)
    try:
        services.import_undo(by=request.user, job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, "Undoing the import…")
    return _back_to(request, job)


def _back_to(request: HttpRequest, job: ImportJob) -> HttpResponse:
    """Back to the import's page: a redirect, or for htmx a client redirect (the buttons of a
    progress panel pushed over the socket post through htmx)."""
    url = reverse("crm:import_detail", args=[job.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@login_required
@require_GET
def import_errors(request: HttpRequest, pk: int) -> HttpResponse:
    """The failed rows as CSV: line, reason and the row as it was (formula cells quoted)."""
    job = crm_selectors.import_get(user=request.user, job_id=pk)
    stem = job.file_name.rsplit(".", 1)[0][:80] or "import"
    return exports.csv_response(
        request, exports.lines(imports.error_report(job)), f"{stem}-errors.csv"
    )


@login_required
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    jobs = crm_selectors.import_list(user=request.user)
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    types = [(rt, rt.url("import")) for rt in registry.all_types() if rt.can_import(request.user)]
    return render_page(request, "records/import_list.html", {"page": page, "types": types})
