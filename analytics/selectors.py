"""Every figure the dashboard, My day and the metrics API show.

Each read starts from what the user may see (``leads.selectors.lead_list``,
``deals.selectors.deal_list``, ``activities.selectors.activity_list``), then narrows to the
filters, so a rep's figures count only the rep's records. Each panel group is one aggregate
query with conditional aggregation; the current and the previous period come from the same
query. Rates and averages over nothing are ``None`` (shown as "—"), never a division error.

Definitions (a period is ``[since, until)``, analytics.periods):
- *leads in the period*: created in it (a cohort). Qualification rate and conversion rate are
  the shares of that cohort qualified (``is_qualified``) and converted (``converted_at``);
  average times (to qualify, to convert, to first response) are over the cohort's leads that
  got there. First response: creation → the first activity that is not a system one
  (``Lead.first_activity_at``).
- *deals*: pipeline and weighted pipeline are the open deals now (not bound to the period);
  won value, won and lost counts are deals won / lost in the period; win rate is won ÷
  (won + lost).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf, TruncDate, TruncMonth
from django.utils import timezone

from activities.models import Activity
from activities.selectors import due_activities
from analytics.db import SecondsBetween
from analytics.filters import Filters
from analytics.periods import Period, local_midnight, month_bounds
from crm import formatting, permissions
from crm.models import User
from crm.subqueries import pk_in_any
from deals.models import Deal
from deals.selectors import WEIGHTED_AMOUNT, deal_list
from leads.models import ConversionModel, Lead
from leads.selectors import LIST_RELATED as LEAD_LIST_RELATED
from leads.selectors import lead_list
from wfm.models import StatusHistory, Workflow, WorkflowStep

ZERO = Decimal("0")


def ratio(part, whole) -> float | None:
    """``part / whole``, or None over nothing."""
    if not whole:
        return None
    return part / whole


def change(current, previous) -> float | None:
    """The relative change from ``previous`` to ``current`` (0.25: up 25 %); None when there
    is nothing to compare with."""
    if current is None or previous is None or not previous:
        return None
    return (float(current) - float(previous)) / float(previous)


def period_q(period: Period | None, field_name: str = "created_at") -> Q:
    """Rows whose ``field_name`` falls in ``period``; nothing when ``period`` is None."""
    if period is None:
        return Q(pk__in=[])
    since, until = period.bounds()
    q = Q(**{f"{field_name}__isnull": False})
    if since:
        q &= Q(**{f"{field_name}__gte": since})
    if until:
        q &= Q(**{f"{field_name}__lt": until})
    return q


Bounds = tuple[datetime | None, datetime | None]  # [since, until); None: open


def within_any(ranges: list[Bounds], field_name: str = "created_at") -> Q:
    """Rows whose ``field_name`` falls in any of ``ranges``, the ranges that overlap or touch
    merged first (nothing when there are none). A period, the one before it and this week
    are usually one span: one range on the creation time is an index-only scan of the cohort
    index on PostgreSQL, an ``OR`` of ranges a read of the whole table."""
    lowest = datetime.min.replace(tzinfo=UTC)
    merged: list[list] = []
    for since, until in sorted(ranges, key=lambda r: r[0] or lowest):
        if merged and (merged[-1][1] is None or (since or lowest) <= merged[-1][1]):
            last = merged[-1]
            last[1] = None if last[1] is None or until is None else max(last[1], until)
        else:
            merged.append([since, until])
    q = Q(pk__in=[])
    for since, until in merged:
        part = Q(**{f"{field_name}__isnull": False})
        if since:
            part &= Q(**{f"{field_name}__gte": since})
        if until:
            part &= Q(**{f"{field_name}__lt": until})
        q |= part
    return q


def _bounds(*periods: Period | None) -> list[Bounds]:
    return [p.bounds() for p in periods if p is not None]


# --- scope -----------------------------------------------------------------------------------
def workflow_kind(workflow_id: int | None) -> str | None:
    """The entity type (lead / deal) of a workflow's records, or None."""
    if not workflow_id:
        return None
    return (
        Workflow.objects.filter(pk=workflow_id)
        .values_list("project_types__entity_type", flat=True)
        .first()
    )


def lead_scope(*, user: User, filters: Filters, kind: str | None = "?") -> QuerySet[Lead]:
    """The leads ``user`` may see, narrowed to the owner, source and workflow filters (not
    to the period). ``kind``: the workflow's entity type when already known."""
    return _narrowed(lead_list(user=user), filters, kind, entity="lead", source="source")


def deal_scope(*, user: User, filters: Filters, kind: str | None = "?") -> QuerySet[Deal]:
    """The deals ``user`` may see, narrowed like ``lead_scope``; the source filter reads the
    source of the lead a deal was converted from."""
    return _narrowed(
        deal_list(user=user), filters, kind, entity="deal", source="source_lead__source"
    )


def _narrowed(qs: QuerySet, filters: Filters, kind: str | None, *, entity: str, source: str):
    # No joins and no ordering: the table's ordering would sort every row an aggregate reads.
    qs = qs.select_related(None).order_by()
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.source:
        qs = qs.filter(**{source: filters.source})
    if filters.workflow:
        kind = workflow_kind(filters.workflow) if kind == "?" else kind
        if kind == entity:  # a workflow of the other kind leaves these records alone
            qs = qs.filter(wfm_project__workflow_id=filters.workflow)
    return qs


# --- lead KPIs -------------------------------------------------------------------------------
def _lead_sums(prefix: str, in_period: Q) -> dict[str, Any]:
    """Per group: counts and sums that add up across groups (averages are sum ÷ count)."""
    warm, hot = formatting.WARM_FROM, formatting.HOT_FROM
    qualify = SecondsBetween(F("qualified_at"), F("created_at"))
    convert = SecondsBetween(F("converted_at"), F("created_at"))
    respond = SecondsBetween(F("first_activity_at"), F("created_at"))
    responded = in_period & Q(first_activity_at__isnull=False)
    return {
        f"{prefix}total": Count("pk", filter=in_period),
        f"{prefix}qualified": Count("pk", filter=in_period & Q(is_qualified=True)),
        f"{prefix}converted": Count("pk", filter=in_period & Q(converted_at__isnull=False)),
        f"{prefix}score_sum": Sum("lead_score", filter=in_period),
        f"{prefix}cold": Count("pk", filter=in_period & Q(lead_score__lt=warm)),
        f"{prefix}warm": Count(
            "pk", filter=in_period & Q(lead_score__gte=warm, lead_score__lt=hot)
        ),
        f"{prefix}hot": Count("pk", filter=in_period & Q(lead_score__gte=hot)),
        f"{prefix}qualify_sum": Sum(qualify, filter=in_period & Q(qualified_at__isnull=False)),
        f"{prefix}qualify_n": Count("pk", filter=in_period & Q(qualified_at__isnull=False)),
        f"{prefix}convert_sum": Sum(convert, filter=in_period & Q(converted_at__isnull=False)),
        f"{prefix}convert_n": Count("pk", filter=in_period & Q(converted_at__isnull=False)),
        f"{prefix}response_sum": Sum(respond, filter=responded),
        f"{prefix}response_n": Count("pk", filter=responded),
    }


SUMMED = (
    "total", "qualified", "converted", "score_sum", "cold", "warm", "hot", "qualify_sum",
    "qualify_n", "convert_sum", "convert_n", "response_sum", "response_n",
)  # fmt: skip


def _kpis_of(totals: dict[str, Any]) -> dict[str, Any]:
    n = totals["total"]
    return {
        "total": n,
        "qualified": totals["qualified"],
        "converted": totals["converted"],
        "cold": totals["cold"],
        "warm": totals["warm"],
        "hot": totals["hot"],
        "avg_score": ratio(totals["score_sum"], n),
        "avg_qualify_seconds": ratio(totals["qualify_sum"], totals["qualify_n"]),
        "avg_convert_seconds": ratio(totals["convert_sum"], totals["convert_n"]),
        "avg_first_response_seconds": ratio(totals["response_sum"], totals["response_n"]),
        "qualification_rate": ratio(totals["qualified"], n),
        "conversion_rate": ratio(totals["converted"], n),
    }


# --- lead breakdown: by source, first / last touch, owner -------------------------------------
UNTRACKED = ""


@dataclass
class SourceRow:
    key: str
    label: str
    total: int = 0
    converted: int = 0
    won_value: Decimal = ZERO
    previous: int = 0

    @property
    def conversion_rate(self) -> float | None:
        return ratio(self.converted, self.total)


@dataclass
class Breakdown:
    by_source: list[SourceRow] = field(default_factory=list)
    first_touch: list[SourceRow] = field(default_factory=list)
    last_touch: list[SourceRow] = field(default_factory=list)
    by_owner: dict[int | None, dict] = field(default_factory=dict)


def lead_figures(
    *, user: User, filters: Filters, scope: QuerySet[Lead] | None = None
) -> tuple[dict, Breakdown]:
    """The lead KPIs of the period and (with ``compare``) the previous one, new today and this
    week (whatever the period), and the period's leads by source, by first- and last-touch
    source and by owner: one grouped query (a group per source, touch and owner), added up
    here (averages are sums over counts, so adding groups up is exact). The first response
    is the lead's stored ``first_activity_at`` (kept by the activity services)."""
    scope = lead_scope(user=user, filters=filters) if scope is None else scope
    today = timezone.localdate()
    today_start = local_midnight(today)
    since_week_start = local_midnight(today - timedelta(days=today.weekday()))
    since_week = Q(created_at__gte=since_week_start)
    current, previous = period_q(filters.period), period_q(filters.previous)
    won = current & Q(converted_to_deal__won_at__isnull=False)
    spans = [*_bounds(filters.period, filters.previous), (since_week_start, None)]
    rows = (
        scope.filter(within_any(spans))
        .annotate(
            first_touch=Coalesce(NullIf(F("utm_source"), Value("")), Value(UNTRACKED)),
            last_touch=Coalesce(
                NullIf(F("last_touch_source"), Value("")),
                NullIf(F("utm_source"), Value("")),
                Value(UNTRACKED),
            ),
        )
        .values("source", "first_touch", "last_touch", "owner_id")
        .annotate(
            **_lead_sums("", current),
            **(_lead_sums("prev_", previous) if filters.previous else {}),
            won_value=Sum("converted_to_deal__amount", filter=won),
            new_today=Count("pk", filter=Q(created_at__gte=today_start)),
            new_this_week=Count("pk", filter=since_week),
        )
        .order_by()
    )
    totals = dict.fromkeys(SUMMED, 0)
    prev_totals = dict.fromkeys(SUMMED, 0)
    new_today = new_this_week = 0
    labels = dict(Lead.Source.choices)
    by: dict[str, dict[str, SourceRow]] = {"source": {}, "first": {}, "last": {}}
    owners: dict[int | None, dict] = defaultdict(
        lambda: {"total": 0, "qualified": 0, "converted": 0}
    )
    for row in rows:
        for name in SUMMED:
            totals[name] += row[name] or 0
            if filters.previous:
                prev_totals[name] += row[f"prev_{name}"] or 0
        new_today += row["new_today"]
        new_this_week += row["new_this_week"]
        previous_count = row["prev_total"] if filters.previous else 0
        for group, key, label in (
            ("source", row["source"], labels.get(row["source"], row["source"])),
            ("first", row["first_touch"], row["first_touch"] or "Not tracked"),
            ("last", row["last_touch"], row["last_touch"] or "Not tracked"),
        ):
            item = by[group].setdefault(key, SourceRow(key, label))
            item.total += row["total"]
            item.converted += row["converted"]
            item.won_value += row["won_value"] or ZERO
            item.previous += previous_count
        if row["total"]:
            owner = owners[row["owner_id"]]
            for name in ("total", "qualified", "converted"):
                owner[name] += row[name]

    def ordered(items: dict[str, SourceRow]) -> list[SourceRow]:
        return sorted(
            (i for i in items.values() if i.total or i.previous),
            key=lambda i: (-i.total, i.label.lower()),
        )

    kpis = _kpis_of(totals)
    kpis["new_today"], kpis["new_this_week"] = new_today, new_this_week
    kpis["previous"] = _kpis_of(prev_totals) if filters.previous else None
    breakdown = Breakdown(
        by_source=ordered(by["source"]),
        first_touch=ordered(by["first"]),
        last_touch=ordered(by["last"]),
        by_owner=dict(owners),
    )
    return kpis, breakdown


def lead_kpis(*, user: User, filters: Filters, scope: QuerySet[Lead] | None = None) -> dict:
    return lead_figures(user=user, filters=filters, scope=scope)[0]


def lead_breakdown(
    *, user: User, filters: Filters, scope: QuerySet[Lead] | None = None
) -> Breakdown:
    return lead_figures(user=user, filters=filters, scope=scope)[1]


# --- leads over time -------------------------------------------------------------------------
INSIGHT_WEEKS = 4  # the trailing average a week is compared with


def lead_daily_counts(
    *, user: User, filters: Filters, scope: QuerySet[Lead] | None = None, today: date | None = None
) -> dict[tuple[date, str], int]:
    """Leads created per local day and source, over the period and the last
    ``INSIGHT_WEEKS`` + 1 weeks (for the insights), in one query."""
    scope = lead_scope(user=user, filters=filters) if scope is None else scope
    today = today or timezone.localdate()
    weeks_since = local_midnight(today - timedelta(days=7 * (INSIGHT_WEEKS + 1) - 1))
    rows = (
        scope.filter(within_any([*_bounds(filters.period), (weeks_since, None)]))
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "source")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {(row["day"], row["source"]): row["n"] for row in rows}


def over_time_series(counts: dict[tuple[date, str], int], period: Period) -> dict:
    """Chart series (buckets of a day, a week or a month by the period's length) of the
    daily counts that fall in ``period``."""
    days = sorted({d for d, _ in counts})
    start = period.start or (days[0] if days else timezone.localdate())
    end = period.end or timezone.localdate()
    span = (end - start).days + 1
    if span <= 62:
        bucket, step = "day", None
    elif span <= 400:
        bucket, step = "week", 7
    else:
        bucket, step = "month", None

    def bucket_of(day: date) -> date:
        if bucket == "day":
            return day
        if bucket == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    buckets: list[date] = []
    cursor = bucket_of(start)
    while cursor <= end:
        buckets.append(cursor)
        if bucket == "day":
            cursor += timedelta(days=1)
        elif bucket == "week":
            cursor += timedelta(days=step)
        else:
            cursor = (cursor + timedelta(days=32)).replace(day=1)
    index = {b: i for i, b in enumerate(buckets)}
    series: dict[str, list[int]] = {}
    for (day, source), n in counts.items():
        if day < start or day > end:
            continue
        values = series.setdefault(source, [0] * len(buckets))
        values[index[bucket_of(day)]] += n
    labels = dict(Lead.Source.choices)
    ranges = []
    for i, b in enumerate(buckets):
        last = (buckets[i + 1] - timedelta(days=1)) if i + 1 < len(buckets) else end
        ranges.append((max(b, start), min(last, end)))
    return {
        "bucket": bucket,
        "labels": [b.isoformat() for b in buckets],
        "ranges": [(a.isoformat(), b.isoformat()) for a, b in ranges],
        "datasets": [
            {"source": s, "label": labels.get(s, s), "data": series[s]}
            for s in sorted(series, key=lambda s: -sum(series[s]))
        ],
    }


# --- funnel ----------------------------------------------------------------------------------
def workflow_steps(workflow_id: int | None = None, *, kinds=("lead", "deal")) -> list:
    """The steps of the lead and deal workflows (or of one workflow), in order, each with
    ``entity_type`` (lead / deal): the funnel's rows, the pipeline's stage names and the
    workflow filter's choices, in one query."""
    qs = (
        WorkflowStep.objects.select_related("status", "workflow")
        .filter(workflow__project_types__entity_type__in=kinds)
        .annotate(entity_type=F("workflow__project_types__entity_type"))
    )
    if workflow_id:
        qs = qs.filter(workflow_id=workflow_id)
    seen: dict[int, WorkflowStep] = {}
    for step in qs.order_by("workflow_id", "order", "pk"):
        seen.setdefault(step.pk, step)
    return list(seen.values())


def lead_workflow_steps(workflow_id: int | None = None) -> list[WorkflowStep]:
    return workflow_steps(workflow_id, kinds=("lead",))


def funnel(
    *,
    user: User,
    filters: Filters,
    steps: list[WorkflowStep],
    scope: QuerySet[Lead] | None = None,
) -> list[dict]:
    """For the leads of the period: how many reached each step (from the status history),
    the step-to-step rate and the median time spent in the step (entering it → the next
    move), against the previous period's leads. One query."""
    scope = lead_scope(user=user, filters=filters) if scope is None else scope
    current, previous = period_q(filters.period), period_q(filters.previous)
    rows = _funnel_rows(
        scope,
        current,
        previous if filters.previous else None,
        spans=_bounds(filters.period, filters.previous),
    )
    by_step = {row["to_step_id"]: row for row in rows}
    result = []
    previous_reached = None
    for step in steps:
        if step.outcome == WorkflowStep.Outcome.LOST:
            continue
        row = by_step.get(step.pk, {})
        reached = row.get("reached", 0)
        result.append(
            {
                "step": step,
                "step_id": step.pk,
                "name": step.name,
                "reached": reached,
                "reached_before": row.get("reached_before", 0),
                "rate": ratio(reached, previous_reached) if previous_reached is not None else None,
                "median_seconds": row.get("median_seconds"),
                "median_seconds_before": row.get("median_seconds_before"),
            }
        )
        previous_reached = reached
    return result


def _funnel_rows(
    scope: QuerySet[Lead], current: Q, previous: Q | None, *, spans: list[Bounds]
) -> list[dict]:
    """Per step entered: distinct projects of the cohort (``now``: the period's leads, or the
    previous period's) and the median seconds until their next move.

    Raw SQL around the ORM's own cohort query: the time in a step is a window function
    (``LEAD`` over each project's moves) aggregated by step, which the ORM cannot express;
    a correlated subquery per move instead took seconds at 100k leads."""
    cohort = scope.filter(within_any(spans)).annotate(
        is_now=Case(
            When(current, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    )
    cohort_sql, params = (
        cohort.values("wfm_project_id", "is_now").query.get_compiler(using=cohort.db).as_sql()
    )
    vendor = connections[cohort.db].vendor
    history = StatusHistory._meta.db_table
    if vendor == "postgresql":
        secs = "CAST(EXTRACT(EPOCH FROM (LEAD(h.at) OVER w - h.at)) AS double precision)"
        median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY m.secs)"
    else:
        secs = "((julianday(LEAD(h.at) OVER w) - julianday(h.at)) * 86400.0)"
        median = "MEDIAN(m.secs)"
    sql = f"""
        SELECT m.to_step_id,
               COUNT(DISTINCT m.project_id) FILTER (WHERE m.is_now),
               COUNT(DISTINCT m.project_id) FILTER (WHERE NOT m.is_now),
               {median} FILTER (WHERE m.is_now),
               {median} FILTER (WHERE NOT m.is_now)
        FROM (
            SELECT h.to_step_id, h.project_id, c.is_now, {secs} AS secs
            FROM {history} h
            JOIN ({cohort_sql}) c ON c.wfm_project_id = h.project_id
            WINDOW w AS (PARTITION BY h.project_id ORDER BY h.at, h.id)
        ) m
        GROUP BY m.to_step_id
    """  # noqa: S608 - table names from the models, values as parameters
    with connections[cohort.db].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return [
        {
            "to_step_id": step_id,
            "reached": now or 0,
            "reached_before": before or 0,
            "median_seconds": median_now,
            "median_seconds_before": median_before,
        }
        for step_id, now, before, median_now, median_before in found
    ]


# --- deals -----------------------------------------------------------------------------------
@dataclass
class DealFigures:
    open_count: int = 0
    pipeline_value: Decimal = ZERO
    weighted_value: Decimal = ZERO
    won_count: int = 0
    won_value: Decimal = ZERO
    lost_count: int = 0
    prev_won_count: int = 0
    prev_won_value: Decimal = ZERO
    prev_lost_count: int = 0
    by_stage: dict[int, dict] = field(default_factory=dict)
    by_owner: dict[int | None, dict] = field(default_factory=dict)

    @property
    def win_rate(self) -> float | None:
        return ratio(self.won_count, self.won_count + self.lost_count)

    @property
    def prev_win_rate(self) -> float | None:
        return ratio(self.prev_won_count, self.prev_won_count + self.prev_lost_count)


def deal_figures(
    *, user: User, filters: Filters, scope: QuerySet[Deal] | None = None
) -> DealFigures:
    """Open pipeline by stage, won and lost in the period (and the previous one), by owner:
    one grouped query."""
    scope = deal_scope(user=user, filters=filters) if scope is None else scope
    won, lost = period_q(filters.period, "won_at"), period_q(filters.period, "lost_at")
    prev_won = period_q(filters.previous, "won_at")
    prev_lost = period_q(filters.previous, "lost_at")
    is_open = Q(wfm_project__current_step__outcome=WorkflowStep.Outcome.NONE)
    rows = (
        scope.filter(is_open | won | lost | prev_won | prev_lost)
        .values("owner_id", "wfm_project__current_step_id")
        .annotate(
            open_count=Count("pk", filter=is_open),
            pipeline=Sum("amount", filter=is_open),
            weighted=Sum(WEIGHTED_AMOUNT, filter=is_open),
            won_count=Count("pk", filter=won),
            won_value=Sum("amount", filter=won),
            lost_count=Count("pk", filter=lost),
            prev_won_count=Count("pk", filter=prev_won),
            prev_won_value=Sum("amount", filter=prev_won),
            prev_lost_count=Count("pk", filter=prev_lost),
        )
        .order_by()
    )
    figures = DealFigures()
    for row in rows:
        figures.open_count += row["open_count"]
        figures.pipeline_value += row["pipeline"] or ZERO
        figures.weighted_value += Decimal(row["weighted"] or 0)
        figures.won_count += row["won_count"]
        figures.won_value += row["won_value"] or ZERO
        figures.lost_count += row["lost_count"]
        figures.prev_won_count += row["prev_won_count"]
        figures.prev_won_value += row["prev_won_value"] or ZERO
        figures.prev_lost_count += row["prev_lost_count"]
        if row["open_count"]:
            stage = figures.by_stage.setdefault(
                row["wfm_project__current_step_id"],
                {"count": 0, "value": ZERO, "weighted": ZERO},
            )
            stage["count"] += row["open_count"]
            stage["value"] += row["pipeline"] or ZERO
            stage["weighted"] += Decimal(row["weighted"] or 0)
        owner = figures.by_owner.setdefault(
            row["owner_id"], {"won_count": 0, "won_value": ZERO, "weighted": ZERO}
        )
        owner["won_count"] += row["won_count"]
        owner["won_value"] += row["won_value"] or ZERO
        owner["weighted"] += Decimal(row["weighted"] or 0)
    figures.weighted_value = figures.weighted_value.quantize(Decimal("0.01"))
    return figures


def deal_forecast(
    *, user: User, filters: Filters, scope: QuerySet[Deal] | None = None, months: int = 6
) -> list[dict]:
    """Weighted value of the open deals by expected close month, this month and the next
    ``months - 1`` (deals past their date count in this month's bar: still expected)."""
    scope = deal_scope(user=user, filters=filters) if scope is None else scope
    first, _ = month_bounds(timezone.localdate())
    last = first
    for _ in range(months - 1):
        last = (last + timedelta(days=32)).replace(day=1)
    _, last_day = month_bounds(last)
    rows = (
        scope.filter(
            wfm_project__current_step__outcome=WorkflowStep.Outcome.NONE,
            expected_close_date__gte=first,
            expected_close_date__lte=last_day,
        )
        .annotate(month=TruncMonth("expected_close_date"))
        .values("month")
        .annotate(n=Count("pk"), weighted=Sum(WEIGHTED_AMOUNT))
        .order_by()
    )
    found = {row["month"]: row for row in rows}
    result = []
    month = first
    while month <= last:
        row = found.get(month, {})
        _, end = month_bounds(month)
        result.append(
            {
                "month": month,
                "end": end,
                "count": row.get("n", 0),
                "weighted": Decimal(row.get("weighted") or 0).quantize(Decimal("0.01")),
            }
        )
        month = (month + timedelta(days=32)).replace(day=1)
    return result


# --- the AI section --------------------------------------------------------------------------
def model_quality() -> ConversionModel | None:
    """The newest trained conversion model (its AUC and calibration on the held-out finished
    leads), without its parameters (the section does not read them)."""
    return ConversionModel.objects.defer("parameters").order_by("-version").first()


# --- My day ----------------------------------------------------------------------------------
MY_DAY_LIMIT = 8
# Overdue and today's activities shown on My day, each; the rest are a link to the activities
# page (a busy rep's 50 + 50 rows were most of the page's rendering time).
MY_DAY_ACTIVITIES = 15


def _mine(user: User) -> Q:
    return permissions.owned_or_assigned(user.pk)


def _open_lead() -> Q:
    return Q(converted_at__isnull=True) & Q(wfm_project__current_step__is_final=False)


def my_activity_sections(*, user: User, now: datetime | None = None) -> dict:
    """The user's first ``MY_DAY_ACTIVITIES`` overdue and today's activities with their
    totals (``activities.selectors.due_activities``)."""
    return due_activities(user=user, now=now, limit=MY_DAY_ACTIVITIES)


def leads_needing_attention(
    *, user: User, now: datetime | None = None, limit: int = MY_DAY_LIMIT
) -> tuple[list[Lead], list[Lead]]:
    """The user's open leads that need a move, in one query:

    - *hot with no next step*: hot (``HOT_FROM``+) and no open activity planned, best first;
    - *going stale*: no activity for ``DASHBOARD_STALE_DAYS`` days (or never worked and that
      old), never-worked first, then longest-quiet first.

    A lead may be in both lists. Each list holds at most ``limit`` leads.

    Three index-ordered picks of ``limit`` keys (hot by score; never worked by creation; quiet
    by last activity) are read together (``crm.subqueries.pk_in_any``), and each list is the
    first ``limit`` of the picked rows that meet its rule: every lead a list would hold is in
    its own pick. One ordered pick for "stale" (last activity, nulls first) matches no index,
    so PostgreSQL sorted all of a rep's open leads for it.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.DASHBOARD_STALE_DAYS)
    planned = Activity.objects.filter(lead_id=OuterRef("pk"), is_done=False)
    base = lead_list(user=user).select_related(None).filter(_mine(user), _open_lead())
    picks = (
        base.filter(lead_score__gte=formatting.HOT_FROM)
        .filter(~Exists(planned))
        .order_by("-lead_score", "-created_at", "pk"),
        base.filter(last_activity_at__isnull=True, created_at__lt=cutoff).order_by(
            "created_at", "pk"
        ),
        base.filter(last_activity_at__lt=cutoff).order_by("last_activity_at", "created_at", "pk"),
    )
    rows = list(
        Lead.objects.select_related(*LEAD_LIST_RELATED)
        .filter(pk_in_any(*(pick.values("pk")[:limit] for pick in picks)))
        .annotate(has_planned=Exists(planned))
    )

    def stale_rule(lead: Lead) -> bool:
        if lead.last_activity_at is None:
            return lead.created_at < cutoff
        return lead.last_activity_at < cutoff

    hot = sorted(
        (r for r in rows if r.lead_score >= formatting.HOT_FROM and not r.has_planned),
        key=lambda r: (-r.lead_score, -r.created_at.timestamp(), str(r.pk)),
    )
    never = datetime.min.replace(tzinfo=UTC)
    stale = sorted(
        filter(stale_rule, rows),
        key=lambda r: (r.last_activity_at is not None, r.last_activity_at or never, r.created_at),
    )
    return hot[:limit], stale[:limit]


def deals_closing_this_month(*, user: User, limit: int = MY_DAY_LIMIT) -> list[Deal]:
    first, last = month_bounds(timezone.localdate())
    return list(
        deal_list(user=user)
        .filter(
            _mine(user),
            wfm_project__current_step__outcome=WorkflowStep.Outcome.NONE,
            expected_close_date__gte=first,
            expected_close_date__lte=last,
        )
        .order_by("expected_close_date", "-amount")[:limit]
    )


def my_numbers(*, user: User, filters: Filters) -> dict:
    """The user's own figures this period and the previous one: leads qualified and
    converted (by when it happened), deals won, and the weighted pipeline now. Two queries."""
    leads = lead_list(user=user).select_related(None).filter(_mine(user))
    current, previous = filters.period, filters.previous
    lead_rows = leads.filter(
        period_q(current, "qualified_at")
        | period_q(current, "converted_at")
        | period_q(previous, "qualified_at")
        | period_q(previous, "converted_at")
    ).aggregate(
        qualified=Count("pk", filter=period_q(current, "qualified_at")),
        converted=Count("pk", filter=period_q(current, "converted_at")),
        prev_qualified=Count("pk", filter=period_q(previous, "qualified_at")),
        prev_converted=Count("pk", filter=period_q(previous, "converted_at")),
    )
    deals = deal_list(user=user).select_related(None).order_by().filter(_mine(user))
    is_open = Q(wfm_project__current_step__outcome=WorkflowStep.Outcome.NONE)
    deal_rows = deals.filter(
        is_open | period_q(current, "won_at") | period_q(previous, "won_at")
    ).aggregate(
        won=Count("pk", filter=period_q(current, "won_at")),
        won_value=Sum("amount", filter=period_q(current, "won_at")),
        prev_won=Count("pk", filter=period_q(previous, "won_at")),
        weighted=Sum(WEIGHTED_AMOUNT, filter=is_open),
    )
    return {**lead_rows, **deal_rows}


# --- access ----------------------------------------------------------------------------------
def sees_team(user: User) -> bool:
    """Managers, analysts and admins see every lead: their dashboard is the team's."""
    return permissions.has_all_access(user, Lead)


def lands_on_my_day(user: User) -> bool:
    """``/`` opens My day for those who work their own leads without seeing everyone's
    (Sales Reps); the others land on the dashboard of what they may see (a Viewer owns
    nothing, so its My day would only hold zeros)."""
    return permissions.works_on(user, Lead) and not sees_team(user)
