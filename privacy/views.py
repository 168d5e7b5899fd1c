"""HTML views of the privacy app: export (readable page and JSON download), anonymize (typed
confirmation), consent recording, and what the privacy app adds to lead and person pages."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from crm import formatting, permissions
from crm.errors import DomainError
from crm.forms import add_domain_errors
from crm.htmx import region_only, saved
from crm.models import Person
from crm.records import registry
from crm.records.details import Action, RelatedRow, RelatedSection
from leads.models import Lead
from privacy import selectors, services
from privacy.forms import AnonymizeForm, ConsentForm
from privacy.models import AccessLogEntry, Consent


def _get(user, kind: str, pk, action: str = "view"):
    if kind not in ("lead", "person"):
        raise Http404
    return registry.get(kind).get_selector(user, pk, action)


def _kind(obj) -> str:
    return "lead" if isinstance(obj, Lead) else "person"


def _detail_url(obj) -> str:
    return registry.get(_kind(obj)).url("detail", obj.pk)


# --- hooks into the record pages (privacy.apps) --------------------------------------------------
def record_viewed(user, obj, channel: str) -> None:
    if isinstance(obj, Lead | Person) and getattr(user, "pk", None):
        services.access_record(by=user, obj=obj, action=AccessLogEntry.Action.VIEW, channel=channel)


def detail_actions(user, obj) -> list[Action]:
    if not isinstance(obj, Lead | Person) or not services.may_manage_personal_data(user):
        return []
    kind = _kind(obj)
    actions = [
        Action(
            "Export personal data",
            reverse("privacy:export", args=[kind, obj.pk]),
            icon="download",
            testid="export-personal-data",
        )
    ]
    if obj.anonymized_at is None:
        actions.append(
            Action(
                "Anonymize…",
                reverse("privacy:anonymize", args=[kind, obj.pk]),
                icon="incognito",
                style="danger",
                testid="anonymize",
            )
        )
    return actions


def privacy_section(user, obj) -> RelatedSection:
    """The privacy card: anonymized or not, the consent that holds per purpose, and a link to
    record one for those who may change the record."""
    kind = _kind(obj)
    latest = selectors.consents_in_force(**{kind: obj})
    rows = []
    if obj.anonymized_at is not None:
        rows.append(
            RelatedRow(
                title="Personal data anonymized",
                url="",
                badges=(formatting.state_badge("Anonymized", "lost"),),
                meta=(formatting.when(obj.anonymized_at),),
            )
        )
    for consent in latest:
        source = consent.form.name if consent.form_id else consent.get_source_display()
        rows.append(
            RelatedRow(
                title=consent.get_purpose_display().split(" (")[0] + " consent",
                url="",
                badges=(
                    formatting.state_badge(
                        consent.get_status_display(), "converted" if consent.granted else "inactive"
                    ),
                ),
                meta=(source, formatting.when(consent.at)),
            )
        )
    if not rows and permissions.can_change(user, obj):
        rows.append(RelatedRow(title="", url="", meta=("No consent recorded.",)))
    if permissions.can_change(user, obj) and obj.anonymized_at is None:
        rows.append(
            RelatedRow(
                title="Record a consent…",
                url=reverse("privacy:consent", args=[kind, obj.pk]),
                modal=True,
            )
        )
    return RelatedSection(
        key="privacy",
        title="Privacy",
        icon="shield-lock",
        rows=rows,
        total=len(latest) + (obj.anonymized_at is not None),
        empty="No consent recorded.",
    )


# --- export --------------------------------------------------------------------------------------
def _export(request: HttpRequest, kind: str, pk, channel: str) -> tuple[object, dict]:
    obj = _get(request.user, kind, pk)
    data = services.record_export(by=request.user, obj=obj, channel=channel)
    return obj, data


@login_required
@require_GET
def export(request: HttpRequest, kind: str, pk) -> HttpResponse:
    """The readable export page; in the modal (HTMX), the choice of page or JSON download."""
    if region_only(request):
        obj = _get(request.user, kind, pk)
        services.require_manage(request.user, obj)
        return render(request, "privacy/_export_modal.html", {"obj": obj, "kind": kind})
    obj, data = _export(request, kind, pk, "page")
    context = {"obj": obj, "kind": kind, "data": data, "detail_url": _detail_url(obj)}
    return render(request, "privacy/export.html", context)


@login_required
@require_GET
def export_json(request: HttpRequest, kind: str, pk) -> HttpResponse:
    obj, data = _export(request, kind, pk, "download")
    body = json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = slugify(str(obj)) or kind
    response["Content-Disposition"] = f'attachment; filename="{kind}-{name}-{obj.pk}.json"'
    return response


# --- anonymize -----------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def anonymize(request: HttpRequest, kind: str, pk) -> HttpResponse:
    obj = _get(request.user, kind, pk)
    services.require_manage(request.user, obj)
    name = str(obj)
    form = AnonymizeForm(request.POST or None, expected_name=name)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_anonymize(by=request.user, obj=obj, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            url = _detail_url(obj)
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    context = {
        "form": form,
        "obj": obj,
        "name": name,
        "kind": kind,
        "action": reverse("privacy:anonymize", args=[kind, obj.pk]),
        "detail_url": _detail_url(obj),
        # Anonymizing a lead leaves its person (a record of their own) as it is: say so.
        "linked_person": (obj.person or obj.converted_to_person) if kind == "lead" else None,
    }
    template = "privacy/_anonymize_modal.html" if request.htmx else "privacy/anonymize_page.html"
    return render(request, template, context, status=422 if form.errors else 200)


# --- consent -------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, kind: str, pk) -> HttpResponse:
    obj = _get(request.user, kind, pk, action="change")
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.consent_record(
                by=request.user,
                **{kind: obj},
                purpose=data["purpose"],
                status=data["status"],
                source=Consent.Source.MANUAL,
                evidence={"note": data["evidence"]} if data["evidence"] else {},
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved("Consent recorded.")
            return redirect(_detail_url(obj))
    context = {
        "form": form,
        "obj": obj,
        "action": reverse("privacy:consent", args=[kind, obj.pk]),
        "detail_url": _detail_url(obj),
    }
    template = "privacy/_consent_modal.html" if request.htmx else "privacy/consent_page.html"
    return render(request, template, context, status=422 if form.errors else 200)
