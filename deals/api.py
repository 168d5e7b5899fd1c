"""REST resource ``/api/v1/deals/`` (SPEC §7): CRUD plus the pipeline actions.

Thin: serializers describe input and output; writes call ``deals.services``, reads
``deals.selectors`` (a written deal is re-read through the selector, so every response has
the same annotated fields). Actions (POST): ``transition`` ``{"to_step", "reason"}``, ``won``,
``lost`` ``{"reason"}``, ``assign`` ``{"user"}``; GET ``history`` lists the step moves.
A refused move is 409 with the SPEC §7 error shape.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api import (
    AssignRequestSerializer,
    RecordInputSerializer,
    RecordSerializer,
    RecordViewSet,
)
from crm.models import User
from crm.openapi import InputSerializer
from crm.rest import TEXT_MAX_LENGTH
from customfields.api import custom_field_schema
from deals import selectors, services
from deals.filters import DealFilter
from deals.models import EDITABLE_FIELDS, Deal
from wfm import selectors as wfm_selectors
from wfm.models import ProjectType, WorkflowStep


class DealSerializer(RecordSerializer):
    person_name = serializers.CharField(source="person.full_name", read_only=True, default="")
    organization_name = serializers.CharField(
        source="organization.name", read_only=True, default=""
    )
    owner_name = serializers.CharField(source="owner.display_name", read_only=True, default="")
    assigned_to_name = serializers.CharField(
        source="assigned_to.display_name", read_only=True, default=""
    )
    step = serializers.IntegerField(
        source="wfm_project.current_step_id", read_only=True, help_text="Current step id."
    )
    step_name = serializers.CharField(source="wfm_project.current_step.name", read_only=True)
    workflow = serializers.IntegerField(source="wfm_project.workflow_id", read_only=True)
    probability = serializers.IntegerField(
        read_only=True, help_text="The current step's probability, 0–100."
    )
    weighted_amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        read_only=True,
        help_text="amount × probability / 100.",
    )
    source_lead = serializers.UUIDField(
        source="source_lead_pk",
        read_only=True,
        allow_null=True,
        help_text="The lead this deal was converted from, if any.",
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            *EDITABLE_FIELDS,
            "person_name",
            "organization_name",
            "owner",
            "owner_name",
            "assigned_to",
            "assigned_to_name",
            "assigned_at",
            "step",
            "step_name",
            "workflow",
            "probability",
            "weighted_amount",
            "source_lead",
            "won_at",
            "lost_at",
            "lost_reason",
            "custom_field_values",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DealInputSerializer(RecordInputSerializer):
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        error_messages={"invalid": "Give a three-letter ISO 4217 code, e.g. EUR."},
    )
    assigned_to = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True
    )
    project_type = serializers.PrimaryKeyRelatedField(
        queryset=ProjectType.objects.filter(entity_type="deal"),
        required=False,
        write_only=True,
        help_text="Create only: the deal project type whose workflow the deal starts in.",
    )

    class Meta(RecordInputSerializer.Meta):
        model = Deal
        fields = [*EDITABLE_FIELDS, "owner", "assigned_to", "custom_field_values", "project_type"]


class TransitionSerializer(InputSerializer):
    to_step = serializers.PrimaryKeyRelatedField(
        queryset=WorkflowStep.objects.select_related("status"),
        help_text="Id of a step of the deal's workflow.",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )


class LostSerializer(InputSerializer):
    reason = serializers.CharField(
        max_length=Deal._meta.get_field("lost_reason").max_length,
        help_text="Why the deal was lost (a listed reason or free text).",
    )


class AssignSerializer(AssignRequestSerializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), allow_null=True, help_text="The new assignee; null: nobody."
    )


class StepMoveSerializer(serializers.Serializer):
    from_step = serializers.IntegerField(source="from_step_id", allow_null=True)
    from_step_name = serializers.CharField(source="from_step.name", default=None, allow_null=True)
    to_step = serializers.IntegerField(source="to_step_id")
    to_step_name = serializers.CharField(source="to_step.name")
    changed_by = serializers.IntegerField(source="changed_by_id", allow_null=True)
    reason = serializers.CharField()
    at = serializers.DateTimeField()


@extend_schema(request=DealInputSerializer, responses=DealSerializer)
class DealViewSet(RecordViewSet):
    """Deals the user may see. Filters as the table (see ``deals.filters``); ``ordering``."""

    serializer_class = DealSerializer
    input_serializer_class = DealInputSerializer
    filterset_class = DealFilter
    schema = custom_field_schema("deal")

    def list_selector(self, user):
        return selectors.deal_list(user=user)

    def get_selector(self, user, pk, action):
        return selectors.deal_get(user=user, deal_id=pk, action=action)

    def create_service(self, user, data):
        return services.deal_create(by=user, **data)

    def update_service(self, user, obj, data):
        data = dict(data)
        data.pop("project_type", None)
        return services.deal_update(by=user, deal=obj, data=data)

    def delete_service(self, user, obj):
        services.deal_delete(by=user, deal=obj)

    def _respond(self, obj, code=status.HTTP_200_OK):
        # Re-read through the selector: annotations (probability, weighted amount, source
        # lead) and joins are the same as in lists.
        fresh = selectors.deal_get(user=self.request.user, deal_id=obj.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(summary="Move the deal to another step", request=TransitionSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        deal = self.get_selector(request.user, pk, "change")
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.deal_transition(
            by=request.user,
            deal=deal,
            to_step=data.validated_data["to_step"],
            reason=data.validated_data["reason"],
        )
        return self._respond(deal)

    @extend_schema(summary="Mark the deal won", request=None)
    @action(detail=True, methods=["post"])
    def won(self, request, pk=None):
        deal = self.get_selector(request.user, pk, "change")
        services.deal_mark_won(by=request.user, deal=deal)
        return self._respond(deal)

    @extend_schema(summary="Mark the deal lost, with a reason", request=LostSerializer)
    @action(detail=True, methods=["post"])
    def lost(self, request, pk=None):
        deal = self.get_selector(request.user, pk, "change")
        data = LostSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.deal_mark_lost(by=request.user, deal=deal, reason=data.validated_data["reason"])
        return self._respond(deal)

    @extend_schema(summary="Assign the deal to a user (null: unassign)", request=AssignSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        deal = self.get_selector(request.user, pk, "change")
        data = AssignSerializer(data=request.data, context={"model": Deal})
        data.is_valid(raise_exception=True)
        services.deal_assign(by=request.user, deal=deal, assignee=data.validated_data["user"])
        return self._respond(deal)

    @extend_schema(
        summary="The deal's step moves, oldest first", responses=StepMoveSerializer(many=True)
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request, pk=None):
        deal = self.get_selector(request.user, pk, "view")
        moves = wfm_selectors.project_history(project=deal.wfm_project)
        return Response(StepMoveSerializer(moves, many=True).data)
