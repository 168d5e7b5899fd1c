"""The team dashboard and My day as data: the selectors' figures, each with the link to the
table (``/leads/``, ``/deals/``) filtered to exactly the records it counts, using the tables'
own filter parameters (``leads.filters.LeadFilter``, ``deals.filters.DealFilter``).

The views render these dicts, the metrics API serialises them, and the tests compare every
link's table count with its figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from activities.selectors import mark_changeable
from analytics import insights, registry, selectors
from analytics.db import parallel_aggregates
from analytics.filters import Filters
from analytics.periods import EARLIEST, Period
from crm import formatting
from crm.models import User
from leads.predictive import CALIBRATION_MIN_HELD_OUT


# --- links ------------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _path(name: str, prefix: str) -> str:
    # A page links its tables a couple of hundred times (every figure, cell and chart
    # segment): the path is resolved once per name and script prefix, not per link.
    return reverse(name)


def _url(name: str, params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    path = _path(name, get_script_prefix())
    return path + ("?" + urlencode(clean) if clean else "")


def _dates(prefix: str, period: Period | None) -> dict[str, str]:
    if period is None:
        return {}
    params = {}
    if period.start:
        params[f"{prefix}_after"] = period.start.isoformat()
    if period.end:
        params[f"{prefix}_before"] = period.end.isoformat()
    return params


def lead_url(filters: Filters, kind: str | None, *, period: Period | None = None, **extra) -> str:
    """The lead table filtered to the dashboard's scope, created in ``period`` (default: the
    filters' period), plus ``extra`` table parameters."""
    params: dict[str, Any] = {
        "owner": filters.owner,
        "source": filters.source,
        "workflow": filters.workflow if kind == "lead" else None,
    }
    params.update(_dates("created", filters.period if period is None else period))
    params.update(extra)
    return _url("leads:list", params)


def deal_url(filters: Filters, kind: str | None, **extra) -> str:
    params: dict[str, Any] = {
        "owner": filters.owner,
        "lead_source": filters.source,
        "workflow": filters.workflow if kind == "deal" else None,
    }
    params.update(extra)
    return _url("deals:list", params)


# --- figures ----------------------------------------------------------------------------------
@dataclass
class Figure:
    key: str
    label: str
    value: Any
    display: str
    previous: Any = None
    url: str = ""
    change: float | None = None
    help: str = ""
    better: str = "up"  # which way is good, for the change's colour
    is_rate: bool = False  # a share: its change is shown in percentage points

    @property
    def direction(self) -> str:
        if self.change is None or abs(self.change) < 0.005:
            return "flat"
        return "up" if self.change > 0 else "down"

    @property
    def change_display(self) -> str:
        if self.change is None:
            return ""
        if self.is_rate:
            return f"{self.change * 100:+.0f} pts"
        return f"{self.change:+.0%}"

    @property
    def change_tone(self) -> str:
        if self.direction == "flat":
            return "text-body-secondary"
        return "text-success" if self.direction == self.better else "text-danger"

    def as_json(self) -> dict:
        return {"value": _plain(self.value), "previous": _plain(self.previous)}


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    return value


DASH = "—"


def fmt_int(value) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_pct(value) -> str:
    return DASH if value is None else f"{value:.0%}"


def fmt_money(value) -> str:
    # Sums over records in the default currency's symbol: amounts are not converted between
    # currencies (nothing in the project records exchange rates).
    return DASH if value is None else formatting.money(value, settings.DEFAULT_CURRENCY)


def fmt_duration(seconds) -> str:
    return DASH if seconds is None else insights.duration(seconds)


def fmt_score(value) -> str:
    return DASH if value is None else f"{value:.0f}"


def _figure(
    key, label, value, display, previous=None, *, url="", help="", better="up", is_rate=False
):
    if previous is None or value is None:
        delta = None
    elif is_rate:
        delta = value - previous  # percentage points, as a fraction
    else:
        delta = selectors.change(value, previous)
    return Figure(
        key=key,
        label=label,
        value=value,
        display=display,
        previous=previous,
        url=url,
        change=delta,
        help=help,
        better=better,
        is_rate=is_rate,
    )


# --- the team dashboard -----------------------------------------------------------------------
def team_dashboard(
    *, user: User, filters: Filters, steps=None, names: dict[int, str] | None = None
) -> dict:
    """Every panel of the team dashboard for ``user`` (scoped to what they may see).

    ``steps``: ``selectors.workflow_steps()`` when the caller has them (the view shows the
    workflows as a filter); ``names``: user id → display name of the users the caller lists.
    """
    if steps is None:
        steps = selectors.workflow_steps()
    kinds = {s.workflow_id: s.entity_type for s in steps}
    kind = kinds.get(filters.workflow) if filters.workflow else None
    leads = selectors.lead_scope(user=user, filters=filters, kind=kind)
    deals = selectors.deal_scope(user=user, filters=filters, kind=kind)
    today = timezone.localdate()

    funnel_steps = [
        s
        for s in steps
        if s.entity_type == "lead" and (kind != "lead" or s.workflow_id == filters.workflow)
    ]
    with parallel_aggregates():
        kpis, breakdown = selectors.lead_figures(user=user, filters=filters, scope=leads)
        daily = selectors.lead_daily_counts(user=user, filters=filters, scope=leads, today=today)
        funnel_rows = selectors.funnel(user=user, filters=filters, steps=funnel_steps, scope=leads)
        deal_figures = selectors.deal_figures(user=user, filters=filters, scope=deals)
        forecast = selectors.deal_forecast(user=user, filters=filters, scope=deals)
    prev = kpis["previous"] or {}

    lead = lambda **extra: lead_url(filters, kind, **extra)  # noqa: E731
    deal = lambda **extra: deal_url(filters, kind, **extra)  # noqa: E731
    week_start = today - timedelta(days=today.weekday())

    def kpi(key, label, name, fmt, *, compare=True, **options):
        """A lead figure: the KPI ``name`` shown with ``fmt``, against the previous period."""
        value = kpis[name]
        return _figure(
            key, label, value, fmt(value), prev.get(name) if compare else None, **options
        )

    lead_figures = [
        kpi(
            "total_leads",
            "Leads",
            "total",
            fmt_int,
            url=lead(),
            help="Leads created in the period.",
        ),
        kpi(
            "new_today",
            "New today",
            "new_today",
            fmt_int,
            compare=False,
            url=lead_url(filters, kind, period=Period("today", today, today)),
        ),
        kpi(
            "new_this_week",
            "New this week",
            "new_this_week",
            fmt_int,
            compare=False,
            url=lead_url(filters, kind, period=Period("this_week", week_start, today)),
        ),
        kpi(
            "average_score",
            "Average score",
            "avg_score",
            fmt_score,
            url=lead(ordering="-lead_score"),
        ),
        kpi(
            "qualified",
            "Qualified",
            "qualified",
            fmt_int,
            url=lead(is_qualified="true"),
        ),
        kpi(
            "qualification_rate",
            "Qualification rate",
            "qualification_rate",
            fmt_pct,
            url=lead(is_qualified="true"),
            help="Share of the period's leads qualified.",
            is_rate=True,
        ),
        kpi(
            "converted",
            "Converted",
            "converted",
            fmt_int,
            url=lead(is_converted="true"),
        ),
        kpi(
            "conversion_rate",
            "Conversion rate",
            "conversion_rate",
            fmt_pct,
            url=lead(is_converted="true"),
            help="Share of the period's leads converted.",
            is_rate=True,
        ),
        kpi(
            "avg_first_response",
            "First response",
            "avg_first_response_seconds",
            fmt_duration,
            url=lead(),
            better="down",
            help="Average time from a lead's creation to its first activity.",
        ),
        kpi(
            "avg_time_to_qualify",
            "Time to qualify",
            "avg_qualify_seconds",
            fmt_duration,
            url=lead(is_qualified="true"),
            better="down",
        ),
        kpi(
            "avg_time_to_convert",
            "Time to convert",
            "avg_convert_seconds",
            fmt_duration,
            url=lead(is_converted="true"),
            better="down",
        ),
    ]
    won_dates = _dates("won", filters.period)
    d = deal_figures
    has_prev = filters.previous is not None
    deal_figs = [
        _figure(
            "pipeline_value",
            "Open pipeline",
            d.pipeline_value,
            fmt_money(d.pipeline_value),
            url=deal(outcome="open"),
            help=f"{d.open_count} open deals, now.",
        ),
        _figure(
            "weighted_value",
            "Weighted pipeline",
            d.weighted_value,
            fmt_money(d.weighted_value),
            url=deal(outcome="open", ordering="-weighted_amount"),
            help="Amount × the step's probability, open deals now.",
        ),
        _figure(
            "won_value",
            "Won value",
            d.won_value,
            fmt_money(d.won_value),
            d.prev_won_value if has_prev else None,
            url=deal(outcome="won", **won_dates),
            help=f"{d.won_count} deals won in the period.",
        ),
        _figure(
            "win_rate",
            "Win rate",
            d.win_rate,
            fmt_pct(d.win_rate),
            d.prev_win_rate if has_prev else None,
            url=deal(outcome="won", **won_dates),
            help=f"Won ÷ (won + lost) in the period: {d.won_count} won, {d.lost_count} lost.",
            is_rate=True,
        ),
    ]

    temperature = [
        {
            "key": "cold",
            "label": formatting.TEMPERATURES[0][1],
            "count": kpis["cold"],
            "url": lead(score_max=formatting.WARM_FROM - 1),
        },
        {
            "key": "warm",
            "label": formatting.TEMPERATURES[1][1],
            "count": kpis["warm"],
            "url": lead(score_min=formatting.WARM_FROM, score_max=formatting.HOT_FROM - 1),
        },
        {
            "key": "hot",
            "label": formatting.TEMPERATURES[2][1],
            "count": kpis["hot"],
            "url": lead(score_min=formatting.HOT_FROM),
        },
    ]
    by_source = [
        {
            "key": r.key,
            "label": r.label,
            "count": r.total,
            "previous": r.previous,
            "converted": r.converted,
            "conversion_rate": r.conversion_rate,
            "won_value": r.won_value,
            "url": lead(source=r.key) if not filters.source or filters.source == r.key else "",
            "converted_url": lead(source=r.key, is_converted="true"),
        }
        for r in breakdown.by_source
    ]

    def touch_rows(rows, param):
        return [
            {
                "key": r.key,
                "label": r.label,
                "count": r.total,
                "converted": r.converted,
                "conversion_rate": r.conversion_rate,
                "won_value": r.won_value,
                "url": lead(**{param: r.key}) if r.key else "",
            }
            for r in rows
        ]

    funnel = [
        {
            **row,
            "url": lead(reached_step=row["step_id"]),
            "median": fmt_duration(row["median_seconds"]),
            "median_before": fmt_duration(row["median_seconds_before"]),
        }
        for row in funnel_rows
    ]
    stage_steps = _deal_steps(d.by_stage, steps)
    pipeline = [
        {
            "step_id": pk,
            "name": name,
            "count": v["count"],
            "value": v["value"],
            "weighted": v["weighted"],
            "url": deal(step=pk),
        }
        for pk, name, v in stage_steps
    ]
    forecast_rows = [
        {
            **row,
            "label": row["month"].strftime("%b %Y"),
            "url": deal(
                outcome="open",
                expected_close_after=row["month"].isoformat(),
                expected_close_before=row["end"].isoformat(),
            ),
        }
        for row in forecast
    ]
    leaderboard = _leaderboard(breakdown.by_owner, d.by_owner, filters, kind, names)

    found = insights.source_trends(
        daily,
        today=today,
        weeks=selectors.INSIGHT_WEEKS,
        link=lambda source, start, end: lead_url(
            filters, kind, period=Period("custom", start, end), source=source
        ),
    )
    found += insights.step_times(funnel_rows, link=lambda step_id: lead(reached_step=step_id))
    found += insights.rate_changes(
        "Conversion rate",
        kpis["conversion_rate"],
        prev.get("conversion_rate"),
        url=lead(is_converted="true"),
    )
    found += insights.rate_changes(
        "Qualification rate",
        kpis["qualification_rate"],
        prev.get("qualification_rate"),
        url=lead(is_qualified="true"),
    )
    over_time = selectors.over_time_series(daily, filters.period)
    for dataset in over_time["datasets"]:  # each bar segment: its source's leads of its days
        dataset["urls"] = [
            lead_url(
                filters,
                kind,
                period=Period("custom", date.fromisoformat(a), date.fromisoformat(b)),
                source=dataset["source"],
            )
            for a, b in over_time["ranges"]
        ]
    return {
        "filters": filters,
        "lead_figures": lead_figures,
        "deal_figures": deal_figs,
        "by_source": by_source,
        "first_touch": touch_rows(breakdown.first_touch, "first_touch_source"),
        "last_touch": touch_rows(breakdown.last_touch, "last_touch_source"),
        "temperature": temperature,
        "over_time": over_time,
        "funnel": funnel,
        "pipeline": pipeline,
        "forecast": forecast_rows,
        "leaderboard": leaderboard,
        "insights": found,
        **ai_section(user=user, filters=filters),
        "is_empty": not kpis["total"] and not d.open_count and not d.won_count and not d.lost_count,
    }


# --- the AI section ---------------------------------------------------------------------------
def ai_section(*, user: User, filters: Filters) -> dict:
    """The predictive model's quality (AUC, and calibration when enough held-out leads exist)
    and what the AI assistant suggested and what came of it (the registered ``ai_usage``,
    ``aiagent.selectors.ai_usage``, defines each figure; None when no assistant is
    installed)."""
    model = selectors.model_quality()
    count_usage = registry.ai_usage()
    usage = count_usage(user=user, filters=filters) if count_usage is not None else None
    figures = []
    if usage is not None:
        prev = usage["previous"] or {}

        def figure(key, label, name, fmt, **options):
            return _figure(key, label, usage[name], fmt(usage[name]), prev.get(name), **options)

        figures = [
            figure(
                "ai_suggestions_shown",
                "Suggestions shown",
                "suggestions_shown",
                fmt_int,
                help=f"{usage['proposals_shown']} actions, "
                f"{usage['field_suggestions_shown']} field values, "
                f"{usage['next_actions_shown']} next best actions",
            ),
            figure(
                "ai_suggestions_applied",
                "Suggestions applied",
                "suggestions_applied",
                fmt_int,
                help=f"{usage['proposals_applied']} actions, "
                f"{usage['field_suggestions_applied']} field values, "
                f"{usage['next_actions_applied']} next best actions",
            ),
            figure(
                "ai_apply_rate",
                "Applied rate",
                "apply_rate",
                fmt_pct,
                help="Applied ÷ shown",
                is_rate=True,
            ),
            figure(
                "ai_next_action_rate",
                "Next best actions applied",
                "next_action_rate",
                fmt_pct,
                help=f"{usage['next_actions_applied']} of {usage['next_actions_shown']} shown "
                "on lead pages",
                is_rate=True,
            ),
            figure(
                "ai_analyses",
                "Analyses run",
                "analyses_run",
                fmt_int,
                help="Qualification analyses",
            ),
        ]
    return {
        "model": model,
        "calibration": model_calibration(model),
        "ai_usage": usage,
        "ai_figures": figures,
    }


def model_calibration(model) -> dict:
    """The model's calibration as the AI section shows it. ``state``: "shown" (``rows`` per
    probability bin, ``brier``), "too_few" (fewer held-out leads than
    ``leads.predictive.CALIBRATION_MIN_HELD_OUT``: a bin would hold one or two leads),
    "not_recorded" (trained before calibration was stored) or "no_model"."""
    if model is None:
        return {"state": "no_model"}
    calibration = model.calibration or {}
    if not calibration.get("bins"):
        return {"state": "not_recorded"}
    n, minimum = calibration.get("n", 0), CALIBRATION_MIN_HELD_OUT
    if n < minimum:
        return {"state": "too_few", "n": n, "minimum": minimum}
    rows = [
        {
            "label": f"{row['low']:.0%}–{row['high']:.0%}",
            "count": row["count"],
            "predicted": row["predicted"],
            "observed": row["observed"],
            "predicted_display": fmt_pct(row["predicted"]),
            "observed_display": fmt_pct(row["observed"]),
        }
        for row in calibration["bins"]
    ]
    return {"state": "shown", "rows": rows, "brier": calibration["brier"], "n": n}


def summary_facts(data: dict) -> dict:
    """The team dashboard's figures as plain data for a written summary: labels, shown
    values and changes, the funnel, sources and the observations. No record contents."""
    figures = [*data["lead_figures"], *data["deal_figures"]]
    return {
        "period": data["filters"].period.label,
        "dates": [str(data["filters"].period.start), str(data["filters"].period.end)],
        "figures": [
            {"label": f.label, "value": f.display, "change": f.change_display or None}
            for f in figures
        ],
        "funnel": [
            {"step": r["name"], "reached": r["reached"], "median_time_in_step": r["median"]}
            for r in data["funnel"]
        ],
        "sources": [
            {"source": r["label"], "leads": r["count"], "converted": r["converted"]}
            for r in data["by_source"]
        ],
        "observations": [i.text for i in data["insights"]],
    }


def _deal_steps(by_stage: dict[int, dict], steps=None) -> list[tuple[int, str, dict]]:
    """The open stages in pipeline order, with their names (from ``steps`` when given)."""
    if not by_stage:
        return []
    if steps is None:
        steps = selectors.workflow_steps(kinds=("deal",))
    ordered = sorted((s for s in steps if s.pk in by_stage), key=lambda s: (s.workflow_id, s.order))
    return [(s.pk, s.name, by_stage[s.pk]) for s in ordered]


def _leaderboard(
    lead_owners: dict, deal_owners: dict, filters: Filters, kind, names: dict | None
) -> list[dict]:
    from crm.models import User as UserModel

    ids = [pk for pk in set(lead_owners) | set(deal_owners) if pk is not None]
    names = dict(names or {})
    missing = [pk for pk in ids if pk not in names]
    if missing:  # owners the caller did not list (the API, or a user no longer listed)
        for u in UserModel.objects.filter(pk__in=missing).only(
            "pk", "username", "first_name", "last_name"
        ):
            names[u.pk] = u.get_full_name() or u.get_username()
    rows = []
    for pk in ids:
        lead_row = lead_owners.get(pk, {})
        deal_row = deal_owners.get(pk, {})
        owned = Filters(
            period=filters.period,
            compare=False,
            owner=pk,
            source=filters.source,
            workflow=filters.workflow,
        )
        rows.append(
            {
                "owner_id": pk,
                "name": names.get(pk, f"#{pk}"),
                "leads": lead_row.get("total", 0),
                "qualified": lead_row.get("qualified", 0),
                "converted": lead_row.get("converted", 0),
                "won_count": deal_row.get("won_count", 0),
                "won_value": deal_row.get("won_value", Decimal("0")),
                "weighted": deal_row.get("weighted", Decimal("0")),
                "leads_url": lead_url(owned, kind),
                "won_url": deal_url(owned, kind, outcome="won", **_dates("won", filters.period)),
            }
        )
    rows.sort(key=lambda r: (-r["won_value"], -r["converted"], -r["leads"], r["name"].lower()))
    return rows


# --- My day -----------------------------------------------------------------------------------
def _days(prefix: str, period: Period) -> dict[str, str]:
    """``<prefix>_after`` / ``_before`` for the period's days. All time starts at
    ``EARLIEST``: "on any day", which a table filter can only say as a first day."""
    params = {f"{prefix}_after": (period.start or EARLIEST).isoformat()}
    if period.end:
        params[f"{prefix}_before"] = period.end.isoformat()
    return params


def my_number_urls(*, user: User, period: Period) -> dict[str, str]:
    """The tables of exactly the records ``selectors.my_numbers`` counts: the user's own
    (owner or assignee), qualified / converted / won on the period's days, and the open
    deals of the weighted pipeline."""
    mine = {"owner_or_assignee": user.pk}
    return {
        "qualified": _url("leads:list", {**mine, **_days("qualified", period)}),
        "converted": _url("leads:list", {**mine, **_days("converted", period)}),
        "won": _url("deals:list", {**mine, "outcome": "won", **_days("won", period)}),
        "weighted": _url("deals:list", {**mine, "outcome": "open", "ordering": "-weighted_amount"}),
    }


def my_day(*, user: User, filters: Filters) -> dict:
    sections = selectors.my_activity_sections(user=user)
    hot, stale = selectors.leads_needing_attention(user=user)
    for key in ("overdue", "today"):
        mark_changeable(user, sections[key].activities)
    numbers = selectors.my_numbers(user=user, filters=filters)
    urls = my_number_urls(user=user, period=filters.period)
    has_prev = filters.previous is not None
    figures = [
        _figure(
            "qualified",
            "Leads qualified",
            numbers["qualified"],
            fmt_int(numbers["qualified"]),
            numbers["prev_qualified"] if has_prev else None,
            url=urls["qualified"],
        ),
        _figure(
            "converted",
            "Leads converted",
            numbers["converted"],
            fmt_int(numbers["converted"]),
            numbers["prev_converted"] if has_prev else None,
            url=urls["converted"],
        ),
        _figure(
            "won",
            "Deals won",
            numbers["won"],
            fmt_int(numbers["won"]),
            numbers["prev_won"] if has_prev else None,
            url=urls["won"],
            help=fmt_money(numbers["won_value"] or 0) + " won",
        ),
        _figure(
            "weighted",
            "Weighted pipeline",
            numbers["weighted"] or Decimal("0"),
            fmt_money(numbers["weighted"] or 0),
            url=urls["weighted"],
            help="Your open deals now",
        ),
    ]
    return {
        "filters": filters,
        "overdue": sections["overdue"],
        "today": sections["today"],
        "hot_leads": hot,
        "stale_leads": stale,
        "closing_deals": selectors.deals_closing_this_month(user=user),
        "figures": figures,
    }
