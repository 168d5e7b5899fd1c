"""REST endpoint of scoring: ``POST /api/v1/leads/{id}/rescore/`` (SPEC §7)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads import selectors
from leads.models import Lead
from leads.scoring import services as scoring_services


class LeadScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lead
        fields = ["id", "lead_score", "lead_score_factors", "score_updated_at", "is_qualified"]
        read_only_fields = fields


class LeadRescoreView(APIView):
    """Recompute a lead's score now and return its score fields (change permission)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=LeadScoreSerializer, operation_id="leads_rescore")
    def post(self, request: Request, pk) -> Response:
        lead = selectors.lead_get(user=request.user, lead_id=pk, action="change")
        lead = scoring_services.lead_rescore(by=request.user, lead=lead)
        return Response(LeadScoreSerializer(lead).data)
