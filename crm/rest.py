"""Shared REST plumbing (SPEC §7): pagination and the single error shape.

Every 4xx/5xx from the API looks like
``{"error": {"code", "message", "details": {"field": ["…"]}, "trace_id"}}``.
"""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crm.errors import DomainError

logger = logging.getLogger(__name__)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


_DRF_CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
}


def error_body(request, *, code: str, message: str, details: dict | None = None) -> dict:
    trace_id = getattr(request, "trace_id", None) or uuid.uuid4().hex
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "trace_id": trace_id,
        }
    }


def validation_details(detail) -> dict[str, list[str]]:
    """Flatten DRF / Django validation detail into ``{"field": ["message", …]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for field, value in detail.items():
            key = "non_field_errors" if field in ("__all__", None) else str(field)
            if isinstance(value, dict):
                for sub, msgs in validation_details(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list | tuple):
                msgs = []
                for item in value:
                    if isinstance(item, dict):
                        for sub, sub_msgs in validation_details(item).items():
                            out[f"{key}.{sub}"] = sub_msgs
                    else:
                        msgs.append(str(item))
                if msgs:
                    out[key] = msgs
            else:
                out[key] = [str(value)]
        return out
    if isinstance(detail, list | tuple):
        return {"non_field_errors": [str(d) for d in detail]}
    return {"non_field_errors": [str(detail)]}


def _first_message(details: dict[str, list[str]], fallback: str) -> str:
    for field, msgs in details.items():
        if msgs:
            return msgs[0] if field == "non_field_errors" else f"{field}: {msgs[0]}"
    return fallback


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, DomainError):
        body = error_body(request, code=exc.code, message=exc.message, details=exc.details)
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        details = validation_details(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
        message = _first_message(details, "Invalid input.")
        return Response(
            error_body(request, code="validation_error", message=message, details=details),
            status=400,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # 500: Django's handler (JSON for /api/, see server_error)
    code = _DRF_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        details = validation_details(exc.detail)
        message = _first_message(details, "Invalid input.")
    else:
        details = {}
        message = str(getattr(exc, "detail", "")) or "Error."
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            details = {"retry_after": [str(int(exc.wait))]}
    response.data = error_body(request, code=code, message=message, details=details)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def json_error(request, status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(request, code=code, message=message), status=status_code)


def page_not_found(request, exception=None):
    if _is_api(request):
        return json_error(request, status.HTTP_404_NOT_FOUND, "not_found", "Not found.")
    from django.views.defaults import page_not_found as default

    return default(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return json_error(request, 403, "permission_denied", "Permission denied.")
    from django.views.defaults import permission_denied as default

    return default(request, exception)


def server_error(request):
    if _is_api(request):
        return json_error(request, 500, "server_error", "Internal server error.")
    from django.views.defaults import server_error as default

    return default(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return json_error(request, 400, "bad_request", "Bad request.")
    from django.views.defaults import bad_request as default

    return default(request, exception)
