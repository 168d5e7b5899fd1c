"""REST API of web-to-lead capture (SPEC §7):

- ``/api/v1/capture-forms/`` (+ ``{id}/``): the forms, for Managers and Admins (others 403);
- ``POST /api/v1/lead-capture/``: the public endpoint the embed snippet and integrations post
  to, form-encoded or JSON, naming the form by its key (``X-Capture-Key`` or ``capture_key``).
  A wrong key and an inactive form get the same 403. Every accepted submission gets the same
  202, whether it made a lead, added a touch point to the visitor's open lead or was a bot's,
  so the endpoint tells nobody which emails are known.
"""

from __future__ import annotations

import uuid

from django.core.validators import URLValidator
from django.db import DatabaseError
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.auth import client_ip
from crm.errors import NotFound, PermissionDenied, ValidationFailed
from crm.models import User
from crm.openapi import InputSerializer, ModelInputSerializer, url_pattern
from crm.parsers import JSONParser
from crm.rest import validation_details
from customfields import selectors as cf_selectors
from leads.capture import abuse, selectors, services, views
from leads.capture.forms import MESSAGE_MAX_LENGTH, CaptureSubmissionForm
from leads.errors import PayloadTooLarge
from leads.models import ATTRIBUTION_FIELDS, CaptureForm

ORIGIN_PATTERN = r"^[hH][tT][tT][pP][sS]?://[a-zA-Z0-9.-]+(?::[0-9]{1,5})?$"


# --- capture forms ---------------------------------------------------------------------------
class ManagesCaptureForms(BasePermission):
    message = "Only managers and administrators manage capture forms."

    def has_permission(self, request, view) -> bool:
        return selectors.can_manage_capture_forms(request.user)


class CaptureFieldSerializer(InputSerializer):
    name = serializers.ChoiceField(choices=[])
    required = serializers.BooleanField(required=False, default=False)

    def get_fields(self):
        fields = super().get_fields()
        try:
            choices = selectors.field_choices()
        except DatabaseError:  # a schema generated without a database: the standard fields
            choices = selectors.field_choices(definitions=[])
        fields["name"].choices = [name for name, _, _ in choices]
        return fields


_REDIRECT_PATTERN = (
    f"^(?={services.REDIRECT_URL_CHARS}*$)"
    + (url_pattern(URLValidator(schemes=["http", "https"]))[1:])
)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": 500, "pattern": _REDIRECT_PATTERN},
            {"type": "string", "maxLength": 0},
        ]
    }
)
class RedirectURLField(serializers.CharField):
    """An http(s) address in printable ASCII, or blank (``services.REDIRECT_URL_VALIDATORS``)."""

    def __init__(self, **kwargs):
        super().__init__(
            max_length=500,
            allow_blank=True,
            trim_whitespace=False,
            validators=list(services.REDIRECT_URL_VALIDATORS),
            **kwargs,
        )


class CaptureFormSerializer(ModelInputSerializer):
    fields = CaptureFieldSerializer(
        many=True,
        required=False,
        max_length=50,
        help_text="The fields shown besides the email (always shown and required), in order. "
        "Required lead custom fields are shown even when not listed.",
    )
    key = serializers.CharField(
        read_only=True,
        help_text="The form's capture key: the X-Capture-Key header or capture_key field of "
        "POST /api/v1/lead-capture/.",
    )
    url = serializers.SerializerMethodField(help_text="The hosted page's address.")
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Who gets the new leads; null: the assignment rules decide.",
    )
    workflow = serializers.PrimaryKeyRelatedField(
        queryset=selectors.lead_workflows(),
        required=False,
        allow_null=True,
        help_text="An active lead workflow for new leads; null: the default one.",
    )
    allowed_origins = serializers.ListField(
        child=serializers.RegexField(ORIGIN_PATTERN, max_length=200, trim_whitespace=False),
        required=False,
        max_length=services.ORIGINS_MAX,
        help_text="Origins whose pages may post the form, e.g. https://www.example.com.",
    )
    redirect_url = RedirectURLField(
        required=False, help_text="Where the visitor goes after a submission (blank: stay)."
    )
    thank_you_message = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, trim_whitespace=False
    )
    rotate_key = serializers.BooleanField(
        write_only=True, required=False, help_text="Update only: give the form a new key."
    )

    class Meta:
        model = CaptureForm
        fields = [
            "id",
            "name",
            "slug",
            "key",
            "url",
            "is_active",
            "fields",
            "default_source",
            "default_sub_source",
            "owner",
            "workflow",
            "thank_you_message",
            "redirect_url",
            "allowed_origins",
            "consent_text",
            "rotate_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "slug", "key", "url", "created_at", "updated_at"]
        validators: list = []

    def get_url(self, form: CaptureForm) -> str:
        path = reverse("capture:page", args=[form.slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class CaptureFormViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Web-to-lead capture forms (managers and administrators)."""

    serializer_class = CaptureFormSerializer
    permission_classes = [ManagesCaptureForms]
    filter_backends: list = []

    def get_queryset(self):
        return selectors.capture_form_list(user=self.request.user)

    def get_object(self):
        try:
            form_id = uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise NotFound("Capture form not found.") from None
        return selectors.capture_form_get(user=self.request.user, form_id=form_id)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("rotate_key", None)
        serializer.instance = services.capture_form_create(by=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        rotate = data.pop("rotate_key", False)
        form = services.capture_form_update(
            by=self.request.user, form=serializer.instance, data=data
        )
        if rotate:
            form = services.capture_form_rotate_key(by=self.request.user, form=form)
        serializer.instance = form

    def perform_destroy(self, instance):
        services.capture_form_delete(by=self.request.user, form=instance)


# --- the capture endpoint --------------------------------------------------------------------
class LeadCaptureRequestSerializer(InputSerializer):
    capture_key = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The form's key, when not sent as the X-Capture-Key header.",
    )
    contact_email = serializers.EmailField(max_length=254)
    contact_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    contact_phone = serializers.CharField(required=False, allow_blank=True, max_length=50)
    company_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Subject."
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=MESSAGE_MAX_LENGTH, help_text="Message."
    )
    utm_source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_medium = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_campaign = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_content = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_term = serializers.CharField(required=False, allow_blank=True, max_length=200)
    referrer_url = serializers.URLField(required=False, allow_blank=True, max_length=1000)
    landing_page = serializers.URLField(required=False, allow_blank=True, max_length=1000)
    website = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Leave empty: a trap for bots (a submission that fills it is not stored).",
    )
    marketing_consent = serializers.BooleanField(
        required=False,
        help_text="The visitor ticked the form's consent checkbox (forms with a consent "
        "wording only): recorded as the lead's marketing consent.",
    )


class LeadCaptureResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["received"])
    message = serializers.CharField(help_text="The form's thank-you message.")
    redirect_url = serializers.CharField(allow_blank=True)


FORBIDDEN = "This form does not accept submissions."


class JSONWhateverAccepted(DefaultContentNegotiation):
    """The endpoint's API answers are JSON whatever the ``Accept`` header says: a browser's
    form post (``Accept: text/html``) is answered with HTML by the view itself."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class LeadCaptureView(APIView):
    """Web-to-lead capture: a visitor's submission of a capture form.

    The form is named by its key (``X-Capture-Key`` header or ``capture_key``). Its fields are
    the lead fields below that the form shows, and its custom fields as ``cf_<name>``; which
    are required depends on the form (400 names each missing one). A browser posting from a
    page of another site must come from one of the form's allowed origins, which get CORS
    headers. A wrong key, an inactive form and a refused origin get the same 403. A
    form-encoded post from a browser page (``Accept: text/html``) is answered like the hosted
    page: 303 to the form's redirect URL or thank-you page, or the form again with its errors.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = list(abuse.THROTTLES)
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    content_negotiation_class = JSONWhateverAccepted

    def initial(self, request: Request, *args, **kwargs):
        # Before the body is parsed or a throttle counts it.
        if request.method == "POST" and abuse.body_too_large(request._request):
            raise PayloadTooLarge(
                "The submission is too large.", details={"non_field_errors": ["Too large."]}
            )
        key = request.headers.get(abuse.KEY_HEADER) or ""
        if not key and request.method == "POST":
            raw = request.data.get(abuse.KEY_FIELD) if hasattr(request.data, "get") else None
            key = raw if isinstance(raw, str) else ""
        request._request.capture_key = key
        super().initial(request, *args, **kwargs)

    def options(self, request: Request, *args, **kwargs):
        return abuse.preflight_response(request._request)

    @extend_schema(
        operation_id="lead_capture",
        request={
            "application/json": LeadCaptureRequestSerializer,
            "application/x-www-form-urlencoded": LeadCaptureRequestSerializer,
        },
        parameters=[
            OpenApiParameter(
                abuse.KEY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="The form's capture key (or the capture_key field).",
            )
        ],
        responses={
            202: LeadCaptureResponseSerializer,
            303: OpenApiResponse(
                description="A browser's form-encoded post (Accept: text/html) that was "
                "accepted: on to the redirect URL or the thank-you page."
            ),
            403: OpenApiResponse(
                description="Unknown key, inactive form or an origin the form does not allow."
            ),
            413: OpenApiResponse(description="The body is larger than a submission may be."),
        },
    )
    def post(self, request: Request) -> Response | HttpResponse:
        http = request._request
        form = selectors.capture_form_for_key(http.capture_key)
        if form is None or not abuse.origin_allowed(http, form):
            raise PermissionDenied(FORBIDDEN)
        data = request.data
        if not hasattr(data, "get"):  # JSON that is not an object: a number, a list, null…
            raise ValidationFailed(NOT_AN_OBJECT, details={"non_field_errors": [NOT_AN_OBJECT]})
        html = _wants_html(request)
        # The body as the schema states it, every property checked whichever fields the form
        # shows (types, lengths, the email and URLs); then the form's own requirements.
        checked = LeadCaptureRequestSerializer(data=data)
        checked.is_valid()
        if abuse.is_bot_trap_filled(data) and not checked.errors:
            return self._accepted(request, form, html)
        definitions = cf_selectors.definitions_for("lead")
        inputs = selectors.capture_fields(form, definitions=definitions)
        submission = CaptureSubmissionForm(
            data, inputs=inputs, definitions=definitions, consent_text=form.consent_text
        )
        attribution = {
            k: v for k, v in (checked.validated_data or {}).items() if k in ATTRIBUTION_FIELDS and v
        }
        if submission.is_valid() and not checked.errors:
            try:
                services.lead_capture(
                    form=form,
                    values=submission.lead_values(),
                    custom_field_values=submission.custom_field_values(),
                    attribution=attribution,
                    client_ip=client_ip(http),
                    user_agent=http.headers.get("User-Agent", ""),
                    marketing_consent=submission.marketing_consent(),
                )
            except ValidationFailed as exc:
                if not html:
                    raise
                submission.add_domain_errors(exc)
            else:
                return self._accepted(request, form, html)
        details = {**_errors(submission), **validation_details(checked.errors)}
        if html:
            for field, messages in validation_details(checked.errors).items():
                for message in messages:
                    if field not in (submission.errors or {}):
                        submission.add_error(field if field in submission.fields else None, message)
            context = {"submission": submission, "attribution": attribution}
            response = views.hosted_page_again(http, form, context)
            return abuse.add_cors_headers(response, http, form)
        raise ValidationFailed(_first(details), details=details)

    def _accepted(self, request: Request, form: CaptureForm, html: bool):
        http = request._request
        if html:
            return abuse.add_cors_headers(views.thanks(http, form), http, form)
        body = {
            "status": "received",
            "message": form.thank_you_message,
            "redirect_url": form.redirect_url,
        }
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        return abuse.add_cors_headers(response, http, form)


NOT_AN_OBJECT = "Send the fields as a JSON object."


def _wants_html(request: Request) -> bool:
    form_encoded = (request.content_type or "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    )
    return form_encoded and "text/html" in request.headers.get("Accept", "")


def _errors(submission: CaptureSubmissionForm) -> dict[str, list[str]]:
    out = {}
    for key, errors in submission.errors.get_json_data().items():
        out["non_field_errors" if key == "__all__" else key] = [e["message"] for e in errors]
    return out


def _first(details: dict[str, list[str]]) -> str:
    for field, messages in details.items():
        if messages:
            return messages[0] if field == "non_field_errors" else f"{field}: {messages[0]}"
    return "Invalid input."
