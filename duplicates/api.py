"""REST endpoints of duplicate detection: ``GET /api/v1/leads/{id}/duplicates/`` (and
``people``, ``organizations``): the records the caller may see that look like one record."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from duplicates import rules, selectors


class ReasonSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=["email", "phone", "domain", "name"], help_text="The rule that matched."
    )
    label = serializers.CharField(help_text='What matched, for people: "Same email …".')
    score = serializers.IntegerField(
        min_value=0, max_value=100, help_text="What this rule scores on its own."
    )


class DuplicateSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(
        source="type", choices=list(rules.RECORD_TYPES), help_text="The look-alike's type."
    )
    id = serializers.UUIDField(source="record.pk")
    name = serializers.CharField(source="label")
    score = serializers.IntegerField(min_value=0, max_value=100, help_text="How alike, 0–100.")
    reasons = ReasonSerializer(many=True)
    url = serializers.CharField(help_text="The record's page in the app.")


class RecordDuplicatesView(APIView):
    """The records the caller may see that look like this one, best first (at most ten), pairs
    marked "not a duplicate" left out. A lead's list holds people too (its contact may be one
    already); a person's, leads."""

    permission_classes = [IsAuthenticated]
    record_type = rules.LEAD

    def get(self, request: Request, pk) -> Response:
        record = selectors.record_get(user=request.user, record_type=self.record_type, pk=pk)
        candidates = selectors.duplicates_for(user=request.user, record=record)
        return Response(DuplicateSerializer(candidates, many=True).data)


def _view(record_type: str, tag: str) -> type[APIView]:
    class View(RecordDuplicatesView):
        @extend_schema(
            operation_id=f"{tag}_duplicates",
            tags=[tag],
            responses={
                200: DuplicateSerializer(many=True),
                404: OpenApiResponse(description=f"No such {record_type}, or not visible."),
            },
        )
        def get(self, request: Request, pk) -> Response:
            return super().get(request, pk)

    View.record_type = record_type
    View.__name__ = View.__qualname__ = f"{record_type.title()}DuplicatesView"
    return View


LeadDuplicatesView = _view(rules.LEAD, "leads")
PersonDuplicatesView = _view(rules.PERSON, "people")
OrganizationDuplicatesView = _view(rules.ORGANIZATION, "organizations")
