"""REST API of leads (SPEC §7): CRUD, filters and lifecycle actions. Thin over services."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api import (
    AssignRequestSerializer,
    MergeableViewSet,
    MergeRequestSerializer,
    ReasonRequestSerializer,
    RecordInputSerializer,
    RecordSerializer,
)
from crm.models import Organization, Person, User
from crm.openapi import NOT_BLANK, InputSerializer, json_type_errors
from crm.rest import TEXT_MAX_LENGTH
from customfields.api import custom_field_schema
from leads import selectors, services
from leads.filters import LeadFilter
from leads.models import EDITABLE_FIELDS, Lead
from wfm.api import TransitionRequestSerializer

# Read-only in the API: what the lead's services and scoring keep, and its links.
READ_ONLY_FIELDS = (
    "lead_score",
    "lead_score_factors",
    "score_updated_at",
    "is_qualified",
    "qualification_notes",
    "qualified_at",
    "qualified_by",
    "disqualify_reason",
    "owner",
    "assigned_to",
    "assigned_at",
    "converted_at",
    "converted_to_person",
    "converted_to_organization",
    "converted_to_deal",
    "converted_by",
    "wfm_project",
    "step",
    "step_name",
    "custom_field_values",
    "last_activity_at",
    "ai_insights",
    "anonymized_at",
    "created_at",
    "updated_at",
    "created_by",
)


class LeadSerializer(RecordSerializer):
    step = serializers.IntegerField(source="wfm_project.current_step_id", read_only=True)
    step_name = serializers.CharField(source="wfm_project.current_step.status.name", read_only=True)

    class Meta:
        model = Lead
        fields = ["id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS]
        read_only_fields = fields


class LeadInputSerializer(RecordInputSerializer):
    assigned_to = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )

    class Meta(RecordInputSerializer.Meta):
        model = Lead
        fields = [*EDITABLE_FIELDS, "owner", "assigned_to", "custom_field_values"]


class NotesRequestSerializer(InputSerializer):
    notes = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )


@extend_schema_field(
    {
        "oneOf": [
            {"type": "boolean"},
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 200, "pattern": NOT_BLANK},
                    "amount": {
                        "type": "string",
                        "format": "decimal",
                        "pattern": r"^(?:0*\d{1,12}(?:\.\d{0,2})?|\.\d{1,2})$",
                    },
                    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                    "expected_close_date": {"type": "string", "format": "date", "nullable": True},
                },
                "additionalProperties": False,
            },
        ]
    }
)
class DealChoiceField(serializers.Field):
    """``true``/``false`` or an object of deal field overrides."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, dict):
            inner = serializers.Serializer()
            fields = {
                "name": serializers.CharField(max_length=200, required=False),
                "amount": serializers.DecimalField(
                    max_digits=14, decimal_places=2, min_value=0, required=False
                ),
                "currency": serializers.RegexField(r"^[A-Za-z]{3}$", required=False),
                "expected_close_date": serializers.DateField(required=False, allow_null=True),
            }
            unknown = set(data) - set(fields)
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown deal fields: {', '.join(sorted(unknown))}."
                )
            out = {}
            errors = {}
            for key, field in fields.items():
                if key in data:
                    field.bind(key, inner)
                    try:
                        if wrong_type := json_type_errors(field, data[key]):
                            raise serializers.ValidationError(wrong_type)
                        out[key] = field.run_validation(data[key])
                    except serializers.ValidationError as exc:
                        errors[key] = exc.detail
            if errors:
                raise serializers.ValidationError(errors)
            return out
        raise serializers.ValidationError("Expected true, false or an object of deal fields.")

    def to_representation(self, value):
        return value


class ConvertRequestSerializer(InputSerializer):
    person = serializers.BooleanField(required=False, default=True)
    person_id = serializers.PrimaryKeyRelatedField(queryset=Person.objects.all(), required=False)
    organization = serializers.BooleanField(required=False, default=True)
    organization_id = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False
    )
    deal = DealChoiceField(required=False, default=True)


class ConvertRequestSchema(OpenApiSerializerExtension):
    """A conversion creates or links at least one record: a body that turns all three off (and
    links no person or organization) is refused (400). Enums inside ``not`` stay inline."""

    target_class = ConvertRequestSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        off = {"enum": [False]}
        nothing = {
            "required": ["person", "organization", "deal"],
            "properties": {
                "person": off,
                "organization": off,
                "deal": {"anyOf": [off, {"type": "object", "maxProperties": 0}]},
            },
            "not": {"anyOf": [{"required": ["person_id"]}, {"required": ["organization_id"]}]},
        }
        return {**schema, "not": nothing}


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    user = serializers.CharField(allow_null=True)
    from_step = serializers.CharField(allow_null=True, required=False)
    to_step = serializers.CharField(allow_null=True, required=False)
    reason = serializers.CharField(required=False, allow_blank=True)
    changes = serializers.ListField(child=serializers.DictField(), required=False)


@extend_schema(request=LeadInputSerializer, responses=LeadSerializer)
class LeadViewSet(MergeableViewSet):
    serializer_class = LeadSerializer
    input_serializer_class = LeadInputSerializer
    filterset_class = LeadFilter
    schema = custom_field_schema("lead")

    def list_selector(self, user):
        return selectors.lead_list(user=user, related=selectors.API_RELATED)

    def get_selector(self, user, pk, action):
        return selectors.lead_get(user=user, lead_id=pk, action=action)

    def create_service(self, user, data):
        return services.lead_create(by=user, **data)

    def update_service(self, user, obj, data):
        assignee = data.pop("assigned_to", obj.assigned_to)
        lead = services.lead_update(by=user, lead=obj, data=data)
        if assignee != lead.assigned_to:
            lead = services.lead_assign(by=user, lead=lead, assignee=assignee)
        return lead

    def delete_service(self, user, obj):
        services.lead_delete(by=user, lead=obj)

    @extend_schema(request=MergeRequestSerializer, responses=LeadSerializer)
    @action(detail=False, methods=["post"])
    def merge(self, request):
        """Merge leads into one (issue 18): their activities, touch points, score history,
        enrolments, analyses and permissions move to the survivor, which keeps its workflow
        step and is rescored; the others are soft-deleted pointing at it. A converted lead
        can only be the survivor (409)."""
        return super().merge(request)

    def merge_service(self, user, survivor, merged, fields):
        return services.lead_merge(by=user, survivor=survivor, merged=merged, fields=fields)

    def _refreshed(self, lead):
        return Response(
            self.get_serializer(selectors.lead_get(user=self.request.user, lead_id=lead.pk)).data
        )

    def _changeable(self, pk):
        return selectors.lead_get(user=self.request.user, lead_id=pk, action="change")

    @extend_schema(request=TransitionRequestSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        lead = self._changeable(pk)
        data = TransitionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.lead_transition(by=request.user, lead=lead, **data.validated_data)
        return self._refreshed(lead)

    @extend_schema(request=NotesRequestSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def qualify(self, request, pk=None):
        lead = self._changeable(pk)
        data = NotesRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.lead_qualify(by=request.user, lead=lead, notes=data.validated_data["notes"])
        return self._refreshed(lead)

    @extend_schema(request=ReasonRequestSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def disqualify(self, request, pk=None):
        lead = self._changeable(pk)
        data = ReasonRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.lead_disqualify(by=request.user, lead=lead, reason=data.validated_data["reason"])
        return self._refreshed(lead)

    @extend_schema(request=AssignRequestSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        lead = self._changeable(pk)
        data = AssignRequestSerializer(data=request.data, context={"model": Lead})
        data.is_valid(raise_exception=True)
        services.lead_assign(by=request.user, lead=lead, assignee=data.validated_data["user"])
        return self._refreshed(lead)

    @extend_schema(
        request=ConvertRequestSerializer,
        responses={
            201: inline_serializer(
                "ConversionResult",
                {
                    "lead": serializers.UUIDField(),
                    "person": serializers.UUIDField(allow_null=True),
                    "organization": serializers.UUIDField(allow_null=True),
                    "deal": serializers.UUIDField(allow_null=True),
                    "created": serializers.DictField(child=serializers.BooleanField()),
                },
            )
        },
    )
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        lead = self._changeable(pk)
        data = ConvertRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.lead_convert(
            by=request.user,
            lead=lead,
            person=v.get("person_id") or v["person"],
            organization=v.get("organization_id") or v["organization"],
            deal=v["deal"],
        )
        return Response(
            {
                "lead": result.lead.pk,
                "person": result.person.pk if result.person else None,
                "organization": result.organization.pk if result.organization else None,
                "deal": result.deal.pk if result.deal else None,
                "created": result.created,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses=HistoryEntrySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request, pk=None):
        lead = self.get_selector(request.user, pk, "view")
        return Response(
            HistoryEntrySerializer(selectors.lead_timeline_history(lead=lead), many=True).data
        )
