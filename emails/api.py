"""REST API of email (SPEC §7). Thin over ``emails.services`` and ``emails.selectors``.

- ``/api/v1/emails/``: the messages of the records the user may see (filters ``lead``,
  ``person``, ``deal``, ``thread``, ``direction``, ``status``), newest first; POST sends one
  from a record (``{"record": {"type": "lead", "id": …}, …}``), now or at ``scheduled_at``;
  ``/{id}/`` one message; POST ``/{id}/reply/`` replies on its thread; POST
  ``/{id}/cancel/`` stops a scheduled one; POST ``/preview/`` merges a template or a text on
  a record without sending.
- ``/api/v1/email-templates/``: the active templates for everyone who writes mail; all of
  them, and create / update / delete, for Managers and Admins.
"""

from __future__ import annotations

import base64
import binascii

import django_filters
from django.core.files.base import ContentFile
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from crm.errors import NotFound
from crm.openapi import InputSerializer, ModelInputSerializer
from crm.rest import TEXT_MAX_LENGTH, FilterBackend, int_pk
from emails import selectors, services
from emails.models import EmailAttachment, EmailMessage, EmailTemplate

MAX_RECIPIENTS = services.MAX_RECIPIENTS
MAX_ATTACHMENTS = services.MAX_ATTACHMENTS
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
RECORD_TYPES = ("lead", "person", "deal")


class RecordRefSerializer(InputSerializer):
    """One record by its type and id: ``{"type": "lead", "id": "…"}``."""

    type = serializers.ChoiceField(choices=RECORD_TYPES)
    id = serializers.UUIDField()


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({'|'.join(EmailMessage.Status.values)})$",
        "example": EmailMessage.Status.SENT,
        "description": f"One of: {', '.join(EmailMessage.Status.values)}.",
    }
)
class EmailStatusField(serializers.ChoiceField):
    """A message's status. A pattern in the schema, not an enum: an enum component would be
    named "Status" like the other status choice sets of the API."""

    def __init__(self, **kwargs):
        super().__init__(choices=EmailMessage.Status.choices, **kwargs)


# --- messages ------------------------------------------------------------------------------------
class EmailAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailAttachment
        fields = ["id", "filename", "content_type", "size"]
        read_only_fields = fields


class EmailMessageSerializer(serializers.ModelSerializer):
    status = EmailStatusField(read_only=True)
    lead = serializers.UUIDField(source="thread.lead_id", read_only=True, allow_null=True)
    person = serializers.UUIDField(source="thread.person_id", read_only=True, allow_null=True)
    deal = serializers.UUIDField(source="thread.deal_id", read_only=True, allow_null=True)
    to = serializers.ListField(child=serializers.EmailField(), read_only=True)
    cc = serializers.ListField(child=serializers.EmailField(), read_only=True)
    bcc = serializers.ListField(child=serializers.EmailField(), read_only=True)
    sender_name = serializers.CharField(source="sender.display_name", read_only=True, default="")
    attachments = EmailAttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = EmailMessage
        fields = [
            "id",
            "thread",
            "lead",
            "person",
            "deal",
            "activity",
            "direction",
            "status",
            "message_id",
            "in_reply_to",
            "references",
            "from_address",
            "from_name",
            "to",
            "cc",
            "bcc",
            "subject",
            "text_body",
            "html_body",
            "sender",
            "sender_name",
            "template",
            "is_marketing",
            "scheduled_at",
            "sent_at",
            "received_at",
            "attempts",
            "error",
            "opened_at",
            "clicked_at",
            "created_at",
            "attachments",
        ]
        read_only_fields = fields


class AttachmentInputSerializer(InputSerializer):
    filename = serializers.CharField(max_length=255)
    content_type = serializers.CharField(max_length=255, required=False, allow_blank=True)
    # The pattern is base64 itself (groups of four, padded), so the schema says what decodes.
    content = serializers.RegexField(
        BASE64,
        help_text="The file's bytes, base64-encoded (standard alphabet, padded).",
        error_messages={"invalid": "Not base64."},
    )

    def validate_content(self, value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not base64.") from None


class EmailReplySerializer(InputSerializer):
    """A message's content: a new one (``EmailSendSerializer``) or a reply."""

    to = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=MAX_RECIPIENTS
    )
    cc = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=MAX_RECIPIENTS
    )
    bcc = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=MAX_RECIPIENTS
    )
    subject = serializers.CharField(
        required=False, allow_blank=True, max_length=998, help_text="Default: the template's."
    )
    body = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TEXT_MAX_LENGTH,
        help_text="Plain text with light formatting and merge fields. Default: the template's.",
    )
    template = serializers.IntegerField(required=False, min_value=1)
    scheduled_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Send later (a time in the future)."
    )
    # A ListField (not ``many=True``): its length check is a validator, so the schema states
    # maxItems and a client can know the limit before it is refused.
    attachments = serializers.ListField(
        child=AttachmentInputSerializer(), required=False, max_length=MAX_ATTACHMENTS
    )


class EmailSendSerializer(EmailReplySerializer):
    record = RecordRefSerializer(help_text="The lead, person or deal the email is written from.")
    is_marketing = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Marketing mail (one recipient): List-Unsubscribe and an unsubscribe link.",
    )


class EmailPreviewSerializer(InputSerializer):
    record = RecordRefSerializer(
        required=False, help_text="Merge on this record (default: your newest one)."
    )
    template = serializers.IntegerField(required=False, min_value=1)
    subject = serializers.CharField(required=False, allow_blank=True, max_length=998)
    body = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX_LENGTH)


class EmailPreviewResponseSerializer(serializers.Serializer):
    subject = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    html = serializers.CharField(allow_blank=True, help_text="Sanitised HTML.")


class EmailMessageFilter(django_filters.FilterSet):
    lead = django_filters.UUIDFilter(field_name="thread__lead_id")
    person = django_filters.UUIDFilter(field_name="thread__person_id")
    deal = django_filters.UUIDFilter(field_name="thread__deal_id")
    thread = django_filters.UUIDFilter(field_name="thread_id")
    direction = django_filters.ChoiceFilter(choices=EmailMessage.Direction.choices)
    status = django_filters.MultipleChoiceFilter(choices=EmailMessage.Status.choices)

    class Meta:
        model = EmailMessage
        fields = ["lead", "person", "deal", "thread", "direction", "status"]


def _record(user, data):
    """The lead, person or deal ``data["record"]`` names, read through its record type's
    selector (as the email card does): None when it names none; 404 when ``user`` may not
    see it."""
    from crm.records import registry

    ref = data.get("record")
    if not ref:
        return None
    try:
        return registry.get(ref["type"]).get_selector(user, ref["id"])
    except NotFound as exc:
        raise NotFound(exc.message, details={"record": [exc.message]}) from None


def _template(user, template_id):
    if not template_id:
        return None
    try:
        return selectors.template_get(user=user, template_id=template_id)
    except NotFound:
        raise NotFound(
            "Email template not found.", details={"template": ["No such active template."]}
        ) from None


@extend_schema(responses=EmailMessageSerializer)
class EmailMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Emails sent from and received on the records you may see."""

    serializer_class = EmailMessageSerializer
    filterset_class = EmailMessageFilter
    filter_backends = [FilterBackend]

    def get_queryset(self):
        return selectors.message_list(user=self.request.user)

    def get_object(self):
        return selectors.message_get(user=self.request.user, message_id=self.kwargs["pk"])

    @extend_schema(request=EmailSendSerializer, responses={201: EmailMessageSerializer})
    def create(self, request):
        """Send an email from a record, now or at ``scheduled_at``; 201 with the message
        (queued or scheduled). Refused (400, code ``address_blocked``) when a recipient
        bounced, complained, or (marketing mail) unsubscribed."""
        values = self._valid(EmailSendSerializer, request)
        return self._send(
            request,
            values,
            record=_record(request.user, values),
            is_marketing=values["is_marketing"],
        )

    @extend_schema(request=EmailReplySerializer, responses={201: EmailMessageSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        """Reply to this message: on its thread and record, with In-Reply-To and References
        (subject and recipient default to the message's); 201 with the reply."""
        parent = self.get_object()
        values = self._valid(EmailReplySerializer, request)
        return self._send(request, values, reply_to=parent)

    @staticmethod
    def _valid(serializer_class, request) -> dict:
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data

    def _send(self, request, values: dict, **kwargs) -> Response:
        attachments = []
        for item in values.get("attachments", []):
            upload = ContentFile(item["content"], name=item["filename"])
            upload.content_type = item.get("content_type", "")
            attachments.append(upload)
        message = services.email_send(
            by=request.user,
            to=values.get("to", []),
            cc=values.get("cc", []),
            bcc=values.get("bcc", []),
            subject=values.get("subject", ""),
            body=values.get("body", ""),
            template=_template(request.user, values.get("template")),
            attachments=attachments,
            scheduled_at=values.get("scheduled_at"),
            **kwargs,
        )
        message = selectors.message_get(user=request.user, message_id=message.pk)
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=EmailMessageSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a scheduled email (409 once it is queued or sent): it becomes a draft."""
        message = self.get_object()
        services.email_cancel(by=request.user, message=message)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=EmailPreviewSerializer, responses=EmailPreviewResponseSerializer)
    @action(detail=False, methods=["post"], filter_backends=[])
    def preview(self, request):
        """A template's (or a text's) subject, text and HTML with the merge fields of a record
        you may see (none named: your newest lead, person or deal). Nothing is sent."""
        data = EmailPreviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        rendered = services.email_template_preview(
            by=request.user,
            template=_template(request.user, values.get("template")),
            subject=values.get("subject", ""),
            body=values.get("body", ""),
            record=_record(request.user, values),
        )
        return Response(
            EmailPreviewResponseSerializer(
                {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
            ).data
        )


# --- templates -----------------------------------------------------------------------------------
class ManagesTemplatesOrReads(BasePermission):
    message = "Only managers and administrators manage email templates."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in SAFE_METHODS or selectors.can_manage_templates(request.user)


class EmailTemplateSerializer(ModelInputSerializer):
    name = serializers.CharField(max_length=100)
    subject = serializers.CharField(max_length=255)
    body = serializers.CharField(max_length=TEXT_MAX_LENGTH)

    class Meta:
        model = EmailTemplate
        fields = ["id", "name", "subject", "body", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list = []


class EmailTemplateViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Email templates: the active ones for everyone; all of them, and writes, for Managers
    and Admins. Deleting keeps the emails written from it (``is_active: false`` only hides it
    from writers)."""

    serializer_class = EmailTemplateSerializer
    permission_classes = [ManagesTemplatesOrReads]
    filter_backends: list = []

    def get_queryset(self):
        return selectors.template_list(user=self.request.user, include_inactive=True)

    def get_object(self):
        pk = int_pk(self.kwargs["pk"], "Email template not found.")
        return selectors.template_get(user=self.request.user, template_id=pk, include_inactive=True)

    def perform_create(self, serializer):
        serializer.instance = services.email_template_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.email_template_update(
            by=self.request.user, template=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.email_template_delete(by=self.request.user, template=instance)


def register(router) -> None:
    """Add the email resources to the API router (config/api_urls.py)."""
    router.register("emails", EmailMessageViewSet, basename="email")
    router.register("email-templates", EmailTemplateViewSet, basename="email-template")
