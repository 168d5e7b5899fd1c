"""REST API of activities and automation (SPEC §7): ``/api/v1/activities/``,
``/api/v1/sequences/`` and ``/api/v1/webhooks/``. Thin over services and selectors.

- activities: CRUD with filters (``lead``, ``deal``, ``person``, ``organization``,
  ``assigned_to``, ``type``, ``is_done``, ``is_system_activity``, ``due_after``,
  ``due_before``, ``ordering``); POST ``/{id}/complete/`` (optional ``{"outcome"}``) and
  ``/{id}/reopen/``.
- sequences: the active nurture sequences with their steps; POST ``/{id}/enroll/``
  ``{"lead": <uuid>}`` starts one for a lead (change permission on the lead), POST
  ``/{id}/unenroll/`` ``{"lead"}`` stops it.
- webhooks (managers and administrators): subscriptions, and GET ``/{id}/deliveries/`` the
  delivery log.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from activities import selectors, services, webhooks
from activities.filters import ActivityFilter
from activities.models import (
    MAX_DURATION_MINUTES,
    Activity,
    Sequence,
    SequenceEnrollment,
    SequenceStep,
    WebhookDelivery,
    WebhookSubscription,
)
from crm.api import RecordViewSet
from crm.errors import NotFound
from crm.events import EVENT_NAMES
from crm.models import Organization, Person, User
from crm.openapi import InputSerializer, ModelInputSerializer
from crm.rest import TEXT_MAX_LENGTH, int_pk


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({'|'.join(Activity.Type.values)})$",
        "example": Activity.Type.CALL,
        "description": f"One of: {', '.join(Activity.Type.values)}.",
    }
)
class ActivityTypeField(serializers.ChoiceField):
    """The activity type. The schema gives its values as a pattern, not an enum: the enum
    component would be named "Type" like the custom fields' own "type" choices (a naming
    collision drf-spectacular warns about)."""

    def __init__(self, **kwargs):
        super().__init__(choices=Activity.Type.choices, **kwargs)


# --- activities ----------------------------------------------------------------------------------
class ActivitySerializer(serializers.ModelSerializer):
    type = ActivityTypeField(read_only=True)
    assigned_to_name = serializers.CharField(
        source="assigned_to.display_name", read_only=True, default=""
    )
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "type",
            "subject",
            "notes",
            "due_at",
            "duration_minutes",
            "is_done",
            "done_at",
            "is_overdue",
            "direction",
            "outcome",
            "assigned_to",
            "assigned_to_name",
            "is_system_activity",
            "metadata",
            "lead",
            "deal",
            "person",
            "organization",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = fields


def _lead_queryset():
    from leads.models import Lead

    return Lead.objects.all()


def _deal_queryset():
    from deals.models import Deal

    return Deal.objects.all()


class ActivityInputSerializer(InputSerializer):
    type = ActivityTypeField()
    subject = serializers.CharField(max_length=255)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX_LENGTH)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    duration_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_DURATION_MINUTES
    )
    is_done = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Omitted on create: notes are done, tasks and deadlines open, calls, emails "
        "and meetings done unless due in the future.",
    )
    direction = serializers.ChoiceField(
        choices=Activity.Direction.choices, required=False, allow_blank=True
    )
    outcome = serializers.CharField(max_length=200, required=False, allow_blank=True)
    assigned_to = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Default on create: you.",
    )
    lead = serializers.PrimaryKeyRelatedField(
        queryset=_lead_queryset(), required=False, allow_null=True
    )
    deal = serializers.PrimaryKeyRelatedField(
        queryset=_deal_queryset(), required=False, allow_null=True
    )
    person = serializers.PrimaryKeyRelatedField(
        queryset=Person.objects.all(), required=False, allow_null=True
    )
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )


class ActivityInputSchema(OpenApiSerializerExtension):
    """Only calls and emails have a direction: the request schema says so by type (a PATCH
    without ``type`` may give one; 409 when the stored type has none)."""

    target_class = ActivityInputSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        # Patterns, not enums: drf-spectacular would turn enums into (colliding) components.
        directed = "|".join(sorted(Activity.DIRECTED_TYPES))
        undirected = "|".join(sorted(set(Activity.Type.values) - Activity.DIRECTED_TYPES))
        cases = [
            {"required": ["type"], "properties": {"type": {"pattern": f"^({directed})$"}}},
            {
                "required": ["type"],
                "properties": {
                    "type": {"pattern": f"^({undirected})$"},
                    "direction": {"maxLength": 0},
                },
            },
        ]
        if self.target.partial:
            cases.append({"not": {"required": ["type"]}})
        return {**schema, "anyOf": cases}


class CompleteRequestSerializer(InputSerializer):
    outcome = serializers.CharField(max_length=200, required=False, allow_blank=True)


@extend_schema(request=ActivityInputSerializer, responses=ActivitySerializer)
class ActivityViewSet(RecordViewSet):
    serializer_class = ActivitySerializer
    input_serializer_class = ActivityInputSerializer
    filterset_class = ActivityFilter

    def list_selector(self, user):
        return selectors.activity_list(user=user).order_by("-created_at", "pk")

    def get_selector(self, user, pk, action):
        return selectors.activity_get(user=user, activity_id=pk, action=action)

    def create_service(self, user, data):
        return services.activity_create(by=user, **data)

    def update_service(self, user, obj, data):
        return services.activity_update(by=user, activity=obj, data=data)

    def delete_service(self, user, obj):
        services.activity_delete(by=user, activity=obj)

    @extend_schema(request=CompleteRequestSerializer, responses=ActivitySerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Mark the activity done (idempotent)."""
        activity = self.get_selector(request.user, pk, "change")
        data = CompleteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        activity = services.activity_complete(
            by=request.user, activity=activity, outcome=data.validated_data.get("outcome")
        )
        return Response(self.get_serializer(activity).data)

    @extend_schema(request=None, responses=ActivitySerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Mark the activity not done again (idempotent)."""
        activity = self.get_selector(request.user, pk, "change")
        activity = services.activity_reopen(by=request.user, activity=activity)
        return Response(self.get_serializer(activity).data)


# --- sequences -----------------------------------------------------------------------------------
class SequenceStepSerializer(serializers.ModelSerializer):
    activity_type = ActivityTypeField(read_only=True)

    class Meta:
        model = SequenceStep
        fields = [
            "order",
            "delay_days",
            "kind",
            "activity_type",
            "subject",
            "body",
            "email_template",
        ]
        read_only_fields = fields


class SequenceSerializer(serializers.ModelSerializer):
    steps = SequenceStepSerializer(many=True, read_only=True)

    class Meta:
        model = Sequence
        fields = ["id", "name", "description", "is_active", "steps"]
        read_only_fields = fields


class EnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = SequenceEnrollment
        fields = [
            "id",
            "sequence",
            "lead",
            "status",
            "steps_done",
            "next_run_at",
            "enrolled_by",
            "enrolled_at",
            "finished_at",
            "stop_reason",
        ]
        read_only_fields = fields


class EnrollRequestSerializer(InputSerializer):
    lead = serializers.UUIDField(help_text="The lead to enrol (you must be able to change it).")


class SequenceViewSet(viewsets.ReadOnlyModelViewSet):
    """Active nurture sequences (administrators define them in the admin)."""

    serializer_class = SequenceSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.active_sequences().prefetch_related("steps")

    def get_object(self):
        pk = int_pk(self.kwargs["pk"], "Sequence not found.")
        sequence = self.get_queryset().filter(pk=pk).first()
        if sequence is None:
            raise NotFound("Sequence not found.")
        return sequence

    def _lead(self, request):
        from leads import selectors as lead_selectors

        data = EnrollRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return lead_selectors.lead_get(
            user=request.user, lead_id=data.validated_data["lead"], action="change"
        )

    @extend_schema(request=EnrollRequestSerializer, responses={201: EnrollmentSerializer})
    @action(detail=True, methods=["post"])
    def enroll(self, request, pk=None):
        """Start this sequence for a lead; 409 when it is already in it or closed."""
        sequence = self.get_object()
        enrollment = services.sequence_enroll(
            by=request.user, sequence=sequence, lead=self._lead(request)
        )
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=EnrollRequestSerializer,
        responses={200: EnrollmentSerializer, 404: OpenApiResponse(description="Not enrolled")},
    )
    @action(detail=True, methods=["post"])
    def unenroll(self, request, pk=None):
        """Stop this sequence for a lead."""
        sequence = self.get_object()
        lead = self._lead(request)
        enrollment = SequenceEnrollment.objects.filter(
            sequence=sequence, lead=lead, status=SequenceEnrollment.Status.ACTIVE
        ).first()
        if enrollment is None:
            raise NotFound("This lead is not in this sequence.")
        enrollment.lead = lead
        services.sequence_unenroll(by=request.user, enrollment=enrollment)
        return Response(EnrollmentSerializer(enrollment).data)


# --- webhooks ------------------------------------------------------------------------------------
class ManagesAutomation(BasePermission):
    message = "Only managers and administrators manage webhooks."

    def has_permission(self, request, view) -> bool:
        return selectors.can_manage_automation(request.user)


class WebhookSerializer(ModelInputSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENT_NAMES)),
        allow_empty=False,
        max_length=len(EVENT_NAMES),
        help_text="Event names to send.",
    )
    secret = serializers.CharField(
        read_only=True,
        help_text="Verify X-PipeCRM-Signature (sha256=<hex HMAC-SHA256 of the body>) with it.",
    )
    rotate_secret = serializers.BooleanField(
        write_only=True, required=False, help_text="Update only: generate a new secret."
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "is_active",
            "secret",
            "rotate_secret",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "secret", "created_at", "updated_at"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_name",
            "event",
            "source",
            "status",
            "attempts",
            "response_status",
            "response_excerpt",
            "error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields


class WebhookViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Outbound webhook subscriptions (managers and administrators)."""

    serializer_class = WebhookSerializer
    permission_classes = [ManagesAutomation]
    filter_backends: list = []

    def get_queryset(self):
        return selectors.webhook_list(user=self.request.user)

    def get_object(self):
        pk = int_pk(self.kwargs["pk"], "Webhook not found.")
        subscription = self.get_queryset().filter(pk=pk).first()
        if subscription is None:
            raise NotFound("Webhook not found.")
        return subscription

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("rotate_secret", None)
        serializer.instance = webhooks.subscription_create(by=self.request.user, **data)

    def perform_update(self, serializer):
        serializer.instance = webhooks.subscription_update(
            by=self.request.user, subscription=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        webhooks.subscription_delete(by=self.request.user, subscription=instance)

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The delivery log, newest first."""
        subscription = self.get_object()
        page = self.paginate_queryset(subscription.deliveries.order_by("-created_at"))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


def register(router) -> None:
    """Add the activities resources to the API router (config/api_urls.py)."""
    router.register("activities", ActivityViewSet, basename="activity")
    router.register("sequences", SequenceViewSet, basename="sequence")
    router.register("webhooks", WebhookViewSet, basename="webhook")
