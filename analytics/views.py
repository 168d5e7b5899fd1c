"""The dashboard pages: ``/`` lands on the one that fits the role (team dashboard for those
who see every lead, My day for the others); both are tabs of the same page."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from analytics import dashboard, registry, selectors
from analytics.filters import FilterForm, Filters
from analytics.periods import PRESETS
from crm import selectors as crm_selectors
from crm.htmx import render_page
from leads.models import Lead


def _filters(request: HttpRequest) -> tuple[FilterForm, Filters]:
    form = FilterForm(request.GET)
    if form.is_valid():
        return form, form.filters()
    # A bad parameter in a bookmarked URL: the default period, and the form says what was wrong.
    fallback = FilterForm({})
    fallback.is_valid()
    return form, fallback.filters()


def _common(request: HttpRequest, tab: str, form: FilterForm, filters: Filters) -> dict:
    user = request.user
    return {
        "tab": tab,
        "form": form,
        "filters": filters,
        "presets": [(k, v) for k, v in PRESETS.items() if k != "custom"],
        "query": filters.query(),
        "query_string": urlencode(filters.query()),
        "sees_team": selectors.sees_team(user),
        "sources": Lead.Source.choices,
        "currency": settings.DEFAULT_CURRENCY,
    }


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """``/``: My day for Sales Reps, the dashboard of what they may see for the others."""
    if selectors.lands_on_my_day(request.user):
        return my_day(request)
    return team(request)


@login_required
@require_GET
def team(request: HttpRequest) -> HttpResponse:
    user = request.user
    form, filters = _filters(request)
    context = _common(request, "team", form, filters)
    owners = list(crm_selectors.user_directory(user=user, with_roles=False))
    steps = selectors.workflow_steps()
    names = {u.pk: u.display_name for u in owners}
    context.update(dashboard.team_dashboard(user=user, filters=filters, steps=steps, names=names))
    context["owners"] = owners
    context["workflows"] = list({s.workflow_id: s.workflow for s in steps}.values())
    context["charts"] = json.loads(json.dumps(_charts(context), default=str))
    over_time = context["over_time"]
    context["over_time_rows"] = [
        (label, [ds["data"][i] for ds in over_time["datasets"]])
        for i, label in enumerate(over_time["labels"])
    ]
    context["source_tables"] = [
        ("By lead source", context["by_source"]),
        ("By first touch", context["first_touch"]),
        ("By last touch", context["last_touch"]),
    ]
    return render_page(request, "analytics/dashboard.html", context, partial="body")


@login_required
@require_GET
def my_day(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    context = _common(request, "my_day", form, filters)
    context.update(dashboard.my_day(user=request.user, filters=filters))
    context["stale_days"] = settings.DASHBOARD_STALE_DAYS
    return render_page(request, "analytics/my_day.html", context, partial="body")


@login_required
@require_POST
def summary(request: HttpRequest) -> HttpResponse:
    """The optional written summary of the period (a registered writer, e.g. the AI agent),
    from the very figures the dashboard shows the user, and only those."""
    _, filters = _filters(request)
    writer = registry.period_summary()
    text, problem = "", ""
    if writer is None:
        problem = "No summary writer is installed."
    else:
        data = dashboard.team_dashboard(user=request.user, filters=filters)
        try:
            text = writer(user=request.user, facts=dashboard.summary_facts(data))
        except registry.SummaryUnavailable as exc:
            problem = exc.message
    return render(request, "analytics/_summary.html", {"text": text, "problem": problem})


def _charts(context: dict) -> dict:
    """What the charts draw (static/js/dashboard.js), from the same rows the tables show."""
    return {
        "over_time": context["over_time"],
        "temperature": [
            {"label": t["label"], "count": t["count"], "key": t["key"], "url": t["url"]}
            for t in context["temperature"]
        ],
        "funnel": [
            {"label": f["name"], "count": f["reached"], "url": f["url"]} for f in context["funnel"]
        ],
        "sources": [
            {
                "label": s["label"],
                "count": s["count"],
                "converted": s["converted"],
                "won_value": float(s["won_value"]),
                "url": s["url"],
            }
            for s in context["by_source"]
        ],
        "pipeline": [
            {
                "label": p["name"],
                "value": float(p["value"]),
                "weighted": float(p["weighted"]),
                "url": p["url"],
            }
            for p in context["pipeline"]
        ],
        "forecast": [
            {"label": f["label"], "weighted": float(f["weighted"]), "url": f["url"]}
            for f in context["forecast"]
        ],
        "calibration": [
            {
                "label": row["label"],
                "count": row["count"],
                "predicted": None if row["predicted"] is None else row["predicted"] * 100,
                "observed": None if row["observed"] is None else row["observed"] * 100,
            }
            for row in context["calibration"].get("rows", [])
        ],
    }
