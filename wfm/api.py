"""Read-only REST resource ``/api/v1/workflows/`` with steps and transitions nested (SPEC §7)."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from crm.openapi import InputSerializer
from crm.rest import TEXT_MAX_LENGTH
from wfm import selectors
from wfm.models import Workflow, WorkflowStep, WorkflowTransition


class WorkflowStepSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="status.name", read_only=True)
    color = serializers.CharField(source="status.color", read_only=True)
    required_fields = serializers.ListField(child=serializers.CharField(), read_only=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        model = WorkflowStep
        fields = [
            "id",
            "name",
            "order",
            "is_initial",
            "is_final",
            "probability",
            "outcome",
            "min_lead_score",
            "required_fields",
            "color",
            "metadata",
        ]
        read_only_fields = fields


class WorkflowTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkflowTransition
        fields = ["id", "from_step", "to_step", "name"]
        read_only_fields = fields


class WorkflowSerializer(serializers.ModelSerializer):
    steps = WorkflowStepSerializer(many=True, read_only=True)
    transitions = WorkflowTransitionSerializer(many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "name", "description", "is_active", "steps", "transitions"]
        read_only_fields = fields


class WorkflowViewSet(viewsets.ReadOnlyModelViewSet):
    """Workflows with their steps (in order) and transitions (the only moves allowed).
    Readable by every signed-in user."""

    serializer_class = WorkflowSerializer
    filterset_fields = ["is_active"]
    search_fields = ["name"]
    ordering_fields = ["name", "id"]
    ordering = ["name"]

    def get_queryset(self):
        return selectors.workflow_list(user=self.request.user)


class TransitionRequestSerializer(InputSerializer):
    """Body of every ``/transition/`` action (leads, deals): the step to move to and why."""

    to_step = serializers.PrimaryKeyRelatedField(
        queryset=WorkflowStep.objects.select_related("status"),
        help_text="Id of the step to move to (see /api/v1/workflows/).",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )
