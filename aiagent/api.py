"""REST API of the AI agent (SPEC §7, §8): conversations under ``/api/v1/ai/conversations/``
and the lead analysis ``POST /api/v1/leads/{id}/analyze/``.

- ``POST /ai/conversations/`` ``{"title"?, "context_type"?, "context_id"?, "content"?}`` starts
  one (with ``content``, the agent answers it at once);
- ``GET|POST /ai/conversations/{id}/messages/``: the messages ``{"id", "role", "content",
  "created_at", …}``; posting ``{"content"}`` runs the agent and answers 201 with the new
  messages, or, with ``"background": true``, 202 and the URL to poll;
- ``POST /ai/conversations/{id}/confirm/`` ``{"token"}`` runs a proposal; ``/reject/`` drops it.
- ``POST /ai/conversations/{id}/stop/`` stops a running (background) answer.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aiagent import selectors, services
from aiagent.models import Conversation, Message, Proposal, ToolCall
from crm.errors import Conflict, NotFound
from crm.openapi import InputSerializer


# --- serializers --------------------------------------------------------------------------------
class ProposalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Proposal
        fields = [
            "id",
            "token",
            "tool",
            "summary",
            "status",
            "error",
            "created_at",
            "expires_at",
            "decided_at",
        ]
        read_only_fields = fields

    status = serializers.CharField(
        read_only=True, help_text="pending, confirmed, rejected, failed or expired."
    )


class ToolCallSerializer(serializers.ModelSerializer):
    arguments = serializers.JSONField(read_only=True)
    result = serializers.JSONField(read_only=True)
    records = serializers.JSONField(read_only=True)
    proposal = ProposalSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ToolCall
        fields = [
            "id",
            "tool",
            "arguments",
            "result",
            "result_size",
            "result_count",
            "records",
            "duration_ms",
            "error",
            "proposal",
            "created_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, help_text="user, assistant or tool.")
    kind = serializers.CharField(
        read_only=True, help_text="text, thought (the model's interim text), notice or tools."
    )
    tool_calls = ToolCallSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "role", "kind", "content", "created_at", "tool_calls"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    context_type = serializers.CharField(read_only=True)
    running = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "context_type",
            "context_id",
            "source",
            "running",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_running(self, conversation: Conversation) -> bool:
        return conversation.running_since is not None


class ConversationCreateSerializer(InputSerializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    context_type = serializers.ChoiceField(
        choices=Conversation.ContextType.choices,
        required=False,
        allow_blank=True,
        help_text="The record the conversation is about (lead, deal, person or organization), "
        "as the drawer on its page sends it; empty for none. context_id is its id.",
    )
    context_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    content = serializers.CharField(
        max_length=services.MAX_MESSAGE_CHARS,
        required=False,
        allow_blank=True,
        help_text="A first message for the agent to answer right away.",
    )


class MessageCreateSerializer(InputSerializer):
    content = serializers.CharField(max_length=services.MAX_MESSAGE_CHARS)
    background = serializers.BooleanField(
        default=False, help_text="Answer in the background: 202, then poll the messages."
    )


class TokenSerializer(InputSerializer):
    token = serializers.CharField(max_length=64)


class ConversationCreatedSerializer(ConversationSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields

    def get_messages(self, conversation: Conversation) -> list[dict]:
        return MessageSerializer(self.context.get("messages", []), many=True).data


NewMessagesSerializer = inline_serializer(
    "AiNewMessages", {"messages": MessageSerializer(many=True)}
)
BackgroundRunSerializer = inline_serializer(
    "AiBackgroundRun",
    {
        "status": serializers.CharField(),
        "conversation": serializers.UUIDField(),
        "messages_url": serializers.CharField(),
    },
)
ProposalDecisionSerializer = inline_serializer(
    "AiProposalDecision",
    {"proposal": ProposalSerializer(), "messages": MessageSerializer(many=True)},
)


def _fresh_messages(conversation: Conversation, after: int | None) -> list[Message]:
    rows = conversation.messages.prefetch_related("tool_calls__proposal").order_by(
        "created_at", "pk"
    )
    if after is not None:
        rows = rows.filter(pk__gt=after)
    return list(rows)


# --- conversations ------------------------------------------------------------------------------
class StopSerializer(serializers.Serializer):
    stopping = serializers.BooleanField(
        help_text="True when an answer was running and will stop at its next check."
    )


class ConversationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The user's own conversations with the AI agent."""

    serializer_class = ConversationSerializer
    permission_classes = [IsAuthenticated]
    filter_backends: list = []
    throttle_scope = "ai"

    def get_queryset(self):
        return selectors.conversation_list(user=self.request.user)

    def get_object(self) -> Conversation:
        return selectors.conversation_get(user=self.request.user, conversation_id=self.kwargs["pk"])

    def perform_destroy(self, instance: Conversation) -> None:
        services.conversation_delete(by=self.request.user, conversation=instance)

    @extend_schema(
        request=ConversationCreateSerializer, responses={201: ConversationCreatedSerializer}
    )
    def create(self, request: Request) -> Response:
        data = ConversationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        conversation = services.conversation_create(
            by=request.user,
            title=values.get("title", ""),
            context_type=values.get("context_type", ""),
            context_id=values.get("context_id", ""),
        )
        new: list[Message] = []
        if values.get("content", "").strip():
            new = services.conversation_send(
                by=request.user, conversation=conversation, content=values["content"]
            )
            conversation.refresh_from_db()
        body = ConversationCreatedSerializer(conversation, context={"messages": new}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], request=None, responses=MessageSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=MessageCreateSerializer,
        responses={201: NewMessagesSerializer, 202: BackgroundRunSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk=None) -> Response:
        conversation = self.get_object()
        if request.method == "GET":
            rows = conversation.messages.prefetch_related("tool_calls__proposal").order_by(
                "created_at", "pk"
            )
            page = self.paginate_queryset(rows)
            return self.get_paginated_response(MessageSerializer(page, many=True).data)
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["background"]:
            return self._background(request, conversation, data.validated_data["content"])
        new = services.conversation_send(
            by=request.user, conversation=conversation, content=data.validated_data["content"]
        )
        rows = _fresh_messages(conversation, new[0].pk - 1 if new else None)
        return Response(
            {"messages": MessageSerializer(rows, many=True).data}, status=status.HTTP_201_CREATED
        )

    def _background(self, request: Request, conversation: Conversation, content: str):
        from aiagent import tasks

        if conversation.running_since is not None:
            raise Conflict("The assistant is still answering in this conversation.", code="busy")
        services.user_message_add(by=request.user, conversation=conversation, content=content)
        conversation_id, user_id = str(conversation.pk), request.user.pk
        transaction.on_commit(lambda: tasks.conversation_run.delay(conversation_id, user_id))
        url = reverse("ai-conversation-messages", args=[conversation.pk])
        return Response(
            {"status": "running", "conversation": conversation.pk, "messages_url": url},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(request=TokenSerializer, responses=ProposalDecisionSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk=None) -> Response:
        """Run a proposal of this conversation: the user's explicit confirmation."""
        return self._decide(request, services.proposal_confirm)

    @extend_schema(request=TokenSerializer, responses=ProposalDecisionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk=None) -> Response:
        return self._decide(request, services.proposal_reject)

    @extend_schema(request=None, responses=StopSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk=None) -> Response:
        """Stop the running answer (one sent with ``background``): it ends at its next check,
        keeping what it wrote, marked "(stopped)". ``stopping`` is false when nothing runs."""
        conversation = self.get_object()
        stopping = services.conversation_stop(by=request.user, conversation=conversation)
        return Response({"stopping": stopping})

    def _decide(self, request: Request, decide) -> Response:
        conversation = self.get_object()
        data = TokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data["token"]
        # Only a proposal of this conversation (404 otherwise, like anyone else's).
        if not conversation.proposals.filter(token=token, user=request.user).exists():
            raise NotFound("Proposal not found.")
        last = conversation.messages.order_by("-pk").values_list("pk", flat=True).first()
        proposal = decide(by=request.user, token=token)
        return Response(
            {
                "proposal": ProposalSerializer(proposal).data,
                "messages": MessageSerializer(_fresh_messages(conversation, last), many=True).data,
            }
        )


# --- lead analysis ------------------------------------------------------------------------------
class AnalyzeRequestSerializer(InputSerializer):
    text = serializers.CharField(
        max_length=20000,
        required=False,
        allow_blank=True,
        help_text="Call notes or an email thread; empty: the lead's own texts.",
    )


AnalyzeResponseSerializer = inline_serializer(
    "LeadAnalysis",
    {
        "lead": serializers.UUIDField(),
        "stored": serializers.BooleanField(),
        "mode": serializers.CharField(help_text="claude or rules"),
        "insights": serializers.JSONField(),
        "lead_score": serializers.IntegerField(),
    },
)


class LeadAnalyzeView(APIView):
    """Qualification analysis of a lead's call notes or emails: budget, authority, need,
    timeline, sentiment, intent, next actions and suggested fields, stored in ``ai_insights``
    when the user may change the lead."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "ai"

    @extend_schema(
        request=AnalyzeRequestSerializer,
        responses=AnalyzeResponseSerializer,
        operation_id="leads_analyze",
    )
    def post(self, request: Request, pk) -> Response:
        from leads.selectors import lead_get

        data = AnalyzeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = lead_get(user=request.user, lead_id=pk)
        outcome = services.lead_analyze(
            by=request.user, lead=lead, text=data.validated_data.get("text", "")
        )
        lead.refresh_from_db(fields=["lead_score"])
        return Response(
            {
                "lead": lead.pk,
                "stored": outcome.stored,
                "mode": outcome.mode,
                "insights": outcome.insights,
                "lead_score": lead.lead_score,
            }
        )
