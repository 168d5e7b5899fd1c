"""The metrics API (SPEC §7): ``GET /api/v1/metrics/leads/``, ``/metrics/deals/`` and
``/metrics/ai/``.

The same selectors as the dashboard, as the requesting user: every figure counts only the
records that user may see. Without ``date_from`` / ``date_to`` the period is all time, and
``total_leads`` then equals the ``count`` of ``GET /api/v1/leads/`` for the same user. The
AI figures count people's use of the assistant: the team's for those who see every lead,
otherwise the user's own (``aiagent.selectors.ai_usage``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import dashboard, periods, registry, selectors
from analytics.filters import MAX_ID, Filters
from leads.models import Lead


class PeriodQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(
        required=False,
        help_text="First day of the period (ISO date, local time zone; before 1900-01-01 "
        "counts as 1900-01-01).",
    )
    date_to = serializers.DateField(
        required=False,
        help_text="Last day of the period, included (ISO date; after 2999-12-31 counts as "
        "2999-12-31). Before date_from: a period of no days (every count 0).",
    )
    owner = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def filters(self) -> Filters:
        data = self.validated_data
        return Filters(
            period=periods.custom(data.get("date_from"), data.get("date_to")),
            compare=True,
            owner=data.get("owner"),
            source=data.get("source"),
            workflow=data.get("workflow"),
        )


class MetricsQuerySerializer(PeriodQuerySerializer):
    source = serializers.ChoiceField(choices=Lead.Source.choices, required=False)
    workflow = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="A workflow id: narrows the records of that workflow's kind (lead or deal).",
    )


class PeriodSerializer(serializers.Serializer):
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)


class LeadFiguresSerializer(serializers.Serializer):
    total_leads = serializers.IntegerField()
    qualified = serializers.IntegerField()
    qualification_rate = serializers.FloatField(allow_null=True)
    converted = serializers.IntegerField()
    conversion_rate = serializers.FloatField(allow_null=True)
    average_score = serializers.FloatField(allow_null=True)
    avg_first_response_seconds = serializers.FloatField(allow_null=True)
    avg_time_to_qualify_seconds = serializers.FloatField(allow_null=True)
    avg_time_to_convert_seconds = serializers.FloatField(allow_null=True)


class LeadMetricsSerializer(LeadFiguresSerializer):
    period = PeriodSerializer()
    previous_period = PeriodSerializer(allow_null=True)
    new_today = serializers.IntegerField()
    new_this_week = serializers.IntegerField()
    by_source = serializers.DictField(
        child=serializers.IntegerField(), help_text="Lead source value → leads in the period."
    )
    score_distribution = serializers.DictField(
        child=serializers.IntegerField(), help_text="cold / warm / hot → leads in the period."
    )
    previous = LeadFiguresSerializer(allow_null=True)
    series = serializers.DictField(
        help_text="``leads_over_time`` (labels, datasets by source) and ``funnel`` (per step: "
        "reached, rate from the step before, median seconds in step)."
    )


class DealFiguresSerializer(serializers.Serializer):
    won_count = serializers.IntegerField()
    won_value = serializers.DecimalField(max_digits=18, decimal_places=2)
    lost_count = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)


class DealMetricsSerializer(DealFiguresSerializer):
    period = PeriodSerializer()
    previous_period = PeriodSerializer(allow_null=True)
    open_deals = serializers.IntegerField()
    pipeline_value = serializers.DecimalField(max_digits=18, decimal_places=2)
    weighted_pipeline_value = serializers.DecimalField(max_digits=18, decimal_places=2)
    previous = DealFiguresSerializer(allow_null=True)
    series = serializers.DictField(
        help_text="``pipeline_by_stage`` (open deals per step) and ``forecast`` (weighted "
        "value by expected close month)."
    )


class AIUsageSerializer(serializers.Serializer):
    suggestions_shown = serializers.IntegerField(
        help_text="Actions the assistant proposed for confirmation (created in the period), "
        "field values the period's stored qualification analyses offered to apply, and next "
        "best actions shown on leads' intelligence panels."
    )
    suggestions_applied = serializers.IntegerField(
        help_text="Of those: proposals confirmed and done, field values applied and next best "
        "actions applied (whenever that happened)."
    )
    apply_rate = serializers.FloatField(
        allow_null=True, help_text="Applied ÷ shown; null when nothing was shown."
    )
    proposals_shown = serializers.IntegerField()
    proposals_applied = serializers.IntegerField()
    field_suggestions_shown = serializers.IntegerField()
    field_suggestions_applied = serializers.IntegerField()
    next_actions_shown = serializers.IntegerField(
        help_text="Next best actions shown on leads' intelligence panels (once per user, lead, "
        "suggestion and day, to users who may act on the lead)."
    )
    next_actions_applied = serializers.IntegerField(
        help_text="Of those: applied from the panel (task created, email drafted, step moved, "
        "overdue activity done)."
    )
    next_action_rate = serializers.FloatField(
        allow_null=True, help_text="Next best actions applied ÷ shown; null when none was shown."
    )
    analyses_run = serializers.IntegerField(
        help_text="Qualification analyses run in the period (stored or not), from a lead's "
        "AI panel, the API or the assistant."
    )


class CalibrationBinSerializer(serializers.Serializer):
    low = serializers.FloatField(help_text="Predicted probability from (included).")
    high = serializers.FloatField(help_text="Up to (excluded; 1.0 included in the last bin).")
    count = serializers.IntegerField(help_text="Held-out leads in the bin.")
    predicted = serializers.FloatField(allow_null=True, help_text="Their mean probability.")
    observed = serializers.FloatField(allow_null=True, help_text="The share that converted.")


class ModelQualitySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    trained_at = serializers.DateTimeField()
    n_train = serializers.IntegerField()
    n_test = serializers.IntegerField(help_text="Held-out finished leads.")
    auc = serializers.FloatField(allow_null=True)
    brier = serializers.FloatField(
        allow_null=True, help_text="Brier score on the held-out leads; null if not recorded."
    )
    calibration = CalibrationBinSerializer(
        many=True,
        help_text="Per probability bin; empty for models trained before it was recorded.",
    )
    calibration_reliable = serializers.BooleanField(
        help_text="Enough held-out leads for the bins' rates to mean something (the "
        "dashboard shows calibration only then)."
    )


class AIMetricsSerializer(serializers.Serializer):
    period = PeriodSerializer()
    previous_period = PeriodSerializer(allow_null=True)
    usage = AIUsageSerializer(allow_null=True, help_text="Null when no AI assistant is installed.")
    previous = AIUsageSerializer(allow_null=True)
    model = ModelQualitySerializer(
        allow_null=True, help_text="The newest conversion model; null before the first."
    )


def _period(period) -> dict | None:
    if period is None:
        return None
    return {"date_from": period.start, "date_to": period.end}


def _parse(request: Request) -> Filters:
    query = MetricsQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.filters()


def _lead_figures(kpis: dict) -> dict:
    return {
        "total_leads": kpis["total"],
        "qualified": kpis["qualified"],
        "qualification_rate": kpis["qualification_rate"],
        "converted": kpis["converted"],
        "conversion_rate": kpis["conversion_rate"],
        "average_score": kpis["avg_score"],
        "avg_first_response_seconds": kpis["avg_first_response_seconds"],
        "avg_time_to_qualify_seconds": kpis["avg_qualify_seconds"],
        "avg_time_to_convert_seconds": kpis["avg_convert_seconds"],
    }


class LeadMetricsView(APIView):
    """Lead KPIs and series for the period, scoped to what you may see."""

    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses=LeadMetricsSerializer,
        operation_id="metrics_leads",
    )
    def get(self, request: Request) -> Response:
        filters = _parse(request)
        user = request.user
        kind = selectors.workflow_kind(filters.workflow)
        scope = selectors.lead_scope(user=user, filters=filters, kind=kind)
        kpis, breakdown = selectors.lead_figures(user=user, filters=filters, scope=scope)
        daily = selectors.lead_daily_counts(user=user, filters=filters, scope=scope)
        steps = selectors.lead_workflow_steps(filters.workflow if kind == "lead" else None)
        funnel = selectors.funnel(user=user, filters=filters, steps=steps, scope=scope)
        data = {
            "period": _period(filters.period),
            "previous_period": _period(filters.previous),
            **_lead_figures(kpis),
            "new_today": kpis["new_today"],
            "new_this_week": kpis["new_this_week"],
            "by_source": {row.key: row.total for row in breakdown.by_source if row.total},
            "score_distribution": {k: kpis[k] for k in ("cold", "warm", "hot")},
            "previous": _lead_figures(kpis["previous"]) if kpis["previous"] else None,
            "series": {
                "leads_over_time": selectors.over_time_series(daily, filters.period),
                "funnel": [
                    {
                        "step_id": row["step_id"],
                        "step": row["name"],
                        "reached": row["reached"],
                        "rate": row["rate"],
                        "median_seconds_in_step": row["median_seconds"],
                    }
                    for row in funnel
                ],
            },
        }
        return Response(LeadMetricsSerializer(data).data)


class DealMetricsView(APIView):
    """Deal KPIs and series: the open pipeline now, won and lost in the period."""

    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses=DealMetricsSerializer,
        operation_id="metrics_deals",
    )
    def get(self, request: Request) -> Response:
        filters = _parse(request)
        user = request.user
        kind = selectors.workflow_kind(filters.workflow)
        scope = selectors.deal_scope(user=user, filters=filters, kind=kind)
        figures = selectors.deal_figures(user=user, filters=filters, scope=scope)
        forecast = selectors.deal_forecast(user=user, filters=filters, scope=scope)
        stages = dashboard._deal_steps(figures.by_stage)
        has_prev = filters.previous is not None
        data = {
            "period": _period(filters.period),
            "previous_period": _period(filters.previous),
            "open_deals": figures.open_count,
            "pipeline_value": figures.pipeline_value,
            "weighted_pipeline_value": figures.weighted_value,
            "won_count": figures.won_count,
            "won_value": figures.won_value,
            "lost_count": figures.lost_count,
            "win_rate": figures.win_rate,
            "previous": {
                "won_count": figures.prev_won_count,
                "won_value": figures.prev_won_value,
                "lost_count": figures.prev_lost_count,
                "win_rate": figures.prev_win_rate,
            }
            if has_prev
            else None,
            "series": {
                "pipeline_by_stage": [
                    {
                        "step_id": pk,
                        "step": name,
                        "count": v["count"],
                        "value": str(v["value"]),
                        "weighted": str(v["weighted"]),
                    }
                    for pk, name, v in stages
                ],
                "forecast": [
                    {
                        "month": row["month"].isoformat(),
                        "count": row["count"],
                        "weighted": str(row["weighted"]),
                    }
                    for row in forecast
                ],
            },
        }
        return Response(DealMetricsSerializer(data).data)


class AIMetricsView(APIView):
    """The AI section: suggestions the assistant made and how many were applied, qualification
    analyses run (the team's for those who see every lead, otherwise your own; ``owner``
    narrows to one user), and the conversion model's quality on its held-out leads."""

    @extend_schema(
        parameters=[PeriodQuerySerializer],
        responses=AIMetricsSerializer,
        operation_id="metrics_ai",
    )
    def get(self, request: Request) -> Response:
        query = PeriodQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.filters()
        count_usage = registry.ai_usage()
        usage = count_usage(user=request.user, filters=filters) if count_usage else None
        model = selectors.model_quality()
        model_data = None
        if model is not None:
            calibration = model.calibration or {}
            model_data = {
                "version": model.version,
                "trained_at": model.trained_at,
                "n_train": model.n_train,
                "n_test": model.n_test,
                "auc": model.auc,
                "brier": calibration.get("brier"),
                "calibration": calibration.get("bins", []),
                "calibration_reliable": dashboard.model_calibration(model)["state"] == "shown",
            }
        data = {
            "period": _period(filters.period),
            "previous_period": _period(filters.previous),
            "usage": usage,
            "previous": usage["previous"] if usage else None,
            "model": model_data,
        }
        return Response(AIMetricsSerializer(data).data)
