"""API of the privacy app (SPEC §7): ``POST /leads/{id}/anonymize/`` ``{"reason"}``,
``GET /leads/{id}/export/``, and the same for people. Admins (and Managers when
``PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA`` is on) who can see the record; others get 403."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import selectors as crm_selectors
from crm.api import PersonSerializer
from crm.openapi import InputSerializer
from leads import selectors as lead_selectors
from leads.api import LeadSerializer
from privacy import services
from privacy.services import REASON_MAX_LENGTH


class AnonymizeRequestSerializer(InputSerializer):
    reason = serializers.CharField(
        max_length=REASON_MAX_LENGTH,
        help_text="Why the personal data is erased (kept in the audit log, names removed).",
    )


ExportSerializer = inline_serializer(
    "PersonalDataExport",
    fields={
        "format_version": serializers.CharField(),
        "record_type": serializers.CharField(),
        "id": serializers.CharField(),
        "name": serializers.CharField(),
        "exported_at": serializers.DateTimeField(),
        "exported_by": serializers.CharField(allow_null=True),
        "record": serializers.JSONField(),
        "custom_fields": serializers.ListField(child=serializers.JSONField()),
        "activities": serializers.ListField(child=serializers.JSONField()),
        "history": serializers.ListField(child=serializers.JSONField()),
        "consents": serializers.ListField(child=serializers.JSONField()),
        "deals": serializers.ListField(child=serializers.JSONField()),
        "ai_conversations": serializers.ListField(child=serializers.JSONField()),
    },
)


class LeadAnonymizeView(APIView):
    """Erase the lead's personal data, irreversibly; its statistics stay."""

    @extend_schema(
        request=AnonymizeRequestSerializer, responses=LeadSerializer, operation_id="leads_anonymize"
    )
    def post(self, request: Request, pk) -> Response:
        lead = lead_selectors.lead_get(user=request.user, lead_id=pk)
        # Refused (403) before the body is read: a caller without the right learns nothing.
        services.require_manage(request.user, lead)
        data = AnonymizeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = services.lead_anonymize(
            by=request.user, lead=lead, reason=data.validated_data["reason"]
        )
        return Response(LeadSerializer(lead_selectors.lead_get(user=request.user, lead_id=pk)).data)


class PersonAnonymizeView(APIView):
    """Erase the person's personal data (and their leads'), irreversibly."""

    @extend_schema(
        request=AnonymizeRequestSerializer,
        responses=PersonSerializer,
        operation_id="people_anonymize",
    )
    def post(self, request: Request, pk) -> Response:
        person = crm_selectors.person_get(user=request.user, person_id=pk)
        # Refused (403) before the body is read: a caller without the right learns nothing.
        services.require_manage(request.user, person)
        data = AnonymizeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.person_anonymize(
            by=request.user, person=person, reason=data.validated_data["reason"]
        )
        return Response(
            PersonSerializer(crm_selectors.person_get(user=request.user, person_id=pk)).data
        )


class LeadExportView(APIView):
    """Everything held about the lead, as JSON with a format version."""

    @extend_schema(request=None, responses=ExportSerializer, operation_id="leads_export")
    def get(self, request: Request, pk) -> Response:
        lead = lead_selectors.lead_get(user=request.user, lead_id=pk)
        return Response(services.record_export(by=request.user, obj=lead, channel="api"))


class PersonExportView(APIView):
    """Everything held about the person (and their leads), as JSON with a format version."""

    @extend_schema(request=None, responses=ExportSerializer, operation_id="people_export")
    def get(self, request: Request, pk) -> Response:
        person = crm_selectors.person_get(user=request.user, person_id=pk)
        return Response(services.record_export(by=request.user, obj=person, channel="api"))
