"""Shared REST plumbing (SPEC §7): pagination and the single error shape.

Every 4xx/5xx from the API looks like
``{"error": {"code", "message", "details": {"field": ["…"]}, "trace_id"}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from crm import paging
from crm.errors import DomainError

logger = logging.getLogger(__name__)

# The longest free text (notes, descriptions, reasons) the API takes, as long as a custom
# long-text field's value; shorter columns keep their own ``max_length``.
TEXT_MAX_LENGTH = 20_000


class Pagination(PageNumberPagination):
    """SPEC §7 pages: ``page`` (from 1) and ``page_size`` (a whole number from 1; more than
    200 gives 200). A ``page_size`` that is not such a number is a 400 naming it; a page
    beyond the last is a 404.

    ``count`` is exact up to ``EXACT_COUNT_LIMIT`` rows and an estimate above it
    (``count_exact`` says which; ``crm.paging``): no page scans a large filtered set to count
    it. ``next`` is known by reading one row more than the page.

    Cursor pages, for clients that walk every row: ``?pagination=cursor`` starts a walk and
    each answer's ``next`` (``?cursor=…``) continues it, in the list's ``ordering`` with the
    id as tie-break, with no count (``count`` is left out) and no row skipped or repeated when
    rows are added or removed meanwhile. A cursor that points nowhere (not one of ours, or on a
    list without cursor pages) is a 404, as DRF's own cursor pagination answers and as a page
    beyond the last is: the cursor is opaque, so any string is a valid value of the parameter.
    A ``pagination`` other than ``cursor`` is a 400 naming it.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    cursor_query_param = "cursor"
    mode_query_param = "pagination"
    invalid_cursor_message = "Invalid cursor: use the next or previous link of an answer."

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        field = serializers.IntegerField(min_value=1)
        try:
            size = field.run_validation(raw)
        except exceptions.ValidationError as exc:
            raise exceptions.ValidationError({self.page_size_query_param: exc.detail}) from None
        return min(size, self.max_page_size)

    # --- which kind of page -------------------------------------------------------------
    def _cursor_requested(self, request) -> bool:
        mode = request.query_params.get(self.mode_query_param) or ""
        if mode not in ("", "cursor"):
            raise exceptions.ValidationError(
                {self.mode_query_param: ['Use "cursor" for cursor pages, or leave it out.']}
            )
        return bool(request.query_params.get(self.cursor_query_param)) or mode == "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.keyset = None
        page_size = self.get_page_size(request)
        if self._cursor_requested(request):
            # A cursor walk has no page numbers, but a ``page`` sent with it must still be
            # one (a wrong value is the same 404 as without the cursor), not silently ignored.
            raw = request.query_params.get(self.page_query_param)
            if raw and raw not in self.last_page_strings and not self._valid_number(raw):
                raise exceptions.NotFound(self.invalid_page_message)
            return self._cursor_page(queryset, request, page_size)
        number = self._page_number(request, queryset, page_size)
        self.window = paging.window(queryset, number=number, size=page_size)
        if not self.window.rows and number > 1:
            raise exceptions.NotFound(self.invalid_page_message)
        return self.window.rows

    def _page_number(self, request, queryset, page_size) -> int:
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:  # the last page needs the exact count
            total = queryset.order_by().count() if isinstance(queryset, QuerySet) else len(queryset)
            return max(1, -(-total // page_size))
        if not self._valid_number(raw):
            raise exceptions.NotFound(self.invalid_page_message)
        return int(raw)

    @staticmethod
    def _valid_number(raw: str) -> bool:
        # Below 10⁹, as the tables' pages: its offset (times at most ``max_page_size`` rows)
        # stays far inside the databases' 64-bit OFFSET (SQLite refused a page of 6.6·10¹⁷
        # with "datatype mismatch", a 500); any page past the end is the same 404.
        return raw.isascii() and raw.isdigit() and 1 <= int(raw) < paging.MAX_PAGE_NUMBER

    def get_paginated_response(self, data):
        if self.keyset is not None:
            return Response(
                {
                    "next": self._cursor_link(self.next_cursor),
                    "previous": self._cursor_link(self.previous_cursor),
                    "results": data,
                }
            )
        total = self.window.total
        return Response(
            {
                "count": total.value,
                "count_exact": total.exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_next_link(self):
        if not self.window.has_next:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.window.number + 1)

    def get_previous_link(self):
        if not self.window.has_previous:
            return None
        url = self.request.build_absolute_uri()
        if self.window.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.window.number - 1)

    # --- cursor pages -----------------------------------------------------------------------
    def _cursor_page(self, queryset, request, page_size):
        if not paging.of_models(queryset):
            raise exceptions.NotFound("This list has no cursor pages: use page numbers.")
        order = paging.KeysetOrder(queryset)
        self.keyset = order
        self.next_cursor = self.previous_cursor = None
        raw = request.query_params.get(self.cursor_query_param)
        position, backwards = (None, False) if not raw else self._decode_cursor(raw)
        try:
            rows = order.page(size=page_size, after=position, backwards=backwards)
        except paging.InvalidCursor:
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        more = len(rows) > page_size  # one row more than the page: another page that way
        rows = rows[:page_size]
        if backwards:
            rows.reverse()  # read nearest first
        if rows:
            first, last = order.values_of(rows[0]), order.values_of(rows[-1])
            # Forwards, a previous page exists when we came from one; backwards, a next one
            # (the page we came from).
            if more or backwards:
                self.next_cursor = (last, False)
            if more if backwards else position is not None:
                self.previous_cursor = (first, True)
        return rows

    def _decode_cursor(self, raw: str):
        try:
            padded = raw + "=" * (-len(raw) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            values, direction = payload["v"], payload["d"]
            if direction not in ("n", "p") or not isinstance(values, list):
                raise ValueError
        except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        return values, direction == "p"

    def _cursor_link(self, cursor):
        if cursor is None:
            return None
        values, backwards = cursor
        payload = json.dumps({"v": values, "d": "p" if backwards else "n"}, separators=(",", ":"))
        token = base64.urlsafe_b64encode(payload.encode()).decode("ascii").rstrip("=")
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        url = remove_query_param(url, self.mode_query_param)
        return replace_query_param(url, self.cursor_query_param, token)

    # --- schema -----------------------------------------------------------------------------
    def get_paginated_response_schema(self, schema):
        example = "http://api.example.org/api/v1/leads/?{}=4"
        return {
            "type": "object",
            "required": ["results", "next", "previous"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "example": 123,
                    "description": (
                        "How many results match: exact when ``count_exact`` is true, else the "
                        "database's estimate (more than "
                        f"{paging.exact_count_limit():,} rows are not counted one by one). "
                        "Left out in cursor pagination."
                    ),
                },
                "count_exact": {
                    "type": "boolean",
                    "description": "Whether ``count`` is exact. Left out in cursor pagination.",
                },
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": example.format(self.page_query_param),
                    "description": "The next page (null: this is the last).",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": example.format(self.page_query_param).replace("4", "2"),
                    "description": "The previous page (null: this is the first).",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Number of results to return per page (default {self.page_size}; "
                    f"at most {self.max_page_size}: a larger number gives {self.max_page_size})."
                )
            elif parameter["name"] == self.page_query_param:
                parameter["description"] = (
                    "A page number within the paginated result set (ignored with a cursor)."
                )
        return [
            *parameters,
            {
                "name": self.mode_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "``cursor`` starts a cursor walk: pages that follow one another by "
                    "``next`` links (``?cursor=…``), in the list's ``ordering`` with the id "
                    "as tie-break, without ``count``; made for clients that read every row."
                ),
                "schema": {"type": "string", "enum": ["cursor"]},
            },
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Where a cursor page starts: the value from a previous answer's ``next`` "
                    "or ``previous`` link (opaque; keep the other parameters of that link). A "
                    "cursor that is not one from an answer is a 404."
                ),
                "schema": {"type": "string"},
            },
        ]


class FilterBackend(DjangoFilterBackend):
    """django-filter for the API: an invalid filter value is a 400 naming the parameter
    (``raise_exception``). FilterSets built from a view's ``filterset_fields`` take strict
    booleans too (``crm.filters.StrictFilterSet``; declared FilterSets use its filters)."""

    raise_exception = True

    @property
    def filterset_base(self):
        from crm.filters import StrictFilterSet  # models: not while DRF itself loads

        return StrictFilterSet


class SearchFilter(filters.SearchFilter):
    """DRF's ``search`` with the length cap of the tables' search box."""

    max_length = 200

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        field = serializers.CharField(
            trim_whitespace=False, allow_blank=True, max_length=self.max_length
        )
        try:
            cleaned = field.run_validation(value)
        except exceptions.ValidationError as exc:
            raise exceptions.ValidationError({self.search_param: exc.detail}) from None
        return filters.search_smart_split(cleaned)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["maxLength"] = self.max_length
        return parameters


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
        # A 401 names the scheme to authenticate with (RFC 9110), as DRF's own 401s do.
        headers = {"WWW-Authenticate": "Token"} if exc.status == 401 else None
        return Response(body, status=exc.status, headers=headers)
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
        if _only_missing_records(exc.get_codes()):
            # Every error is a record the body names that does not exist (or that the user
            # may not see): a 404 naming the field, as a record in the path would be.
            response.status_code = status.HTTP_404_NOT_FOUND
            code = "not_found"
    else:
        details = {}
        message = str(getattr(exc, "detail", "")) or "Error."
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            details = {"retry_after": [str(int(exc.wait))]}
    response.data = error_body(request, code=code, message=message, details=details)
    return response


def _only_missing_records(codes) -> bool:
    """Whether the error codes of a ``ValidationError`` are all ``does_not_exist`` (what
    DRF's related fields give for an id that names no record)."""
    if isinstance(codes, dict):
        return bool(codes) and all(_only_missing_records(c) for c in codes.values())
    if isinstance(codes, list | tuple):
        return bool(codes) and all(_only_missing_records(c) for c in codes)
    return codes == "does_not_exist"


def int_pk(value, message: str = "Not found.") -> int:
    """An integer primary key from the URL, or ``NotFound``: a key that is not digits or
    that no 64-bit column holds names nothing (rather than failing in the database)."""
    text = str(value)
    if not text.isdigit() or int(text) > 2**63 - 1:
        raise exceptions.NotFound(message)
    return int(text)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def json_error(request, status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(request, code=code, message=message), status=status_code)


@csrf_exempt  # nothing to protect, and token clients send no CSRF token
def api_not_found(request):
    """Any path under ``/api/`` that no route answers: the JSON 404, whatever ``DEBUG`` is
    (Django's debug 404 page would be HTML). Like ``APPEND_SLASH``, a GET of a known route
    without its trailing slash is redirected to it."""
    if (
        settings.APPEND_SLASH
        and request.method in ("GET", "HEAD")
        and not request.path_info.endswith("/")
    ):
        try:
            match = resolve(f"{request.path_info}/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            query = request.META.get("QUERY_STRING", "")
            target = f"{request.path}/" + (f"?{query}" if query else "")
            return HttpResponsePermanentRedirect(target)
    return json_error(request, status.HTTP_404_NOT_FOUND, "not_found", "Not found.")


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
    # An outage met outside a view (a middleware reading the session, say): the same 503
    # as ``crm.middleware.ServiceUnavailableMiddleware`` gives inside one.
    import sys

    from crm.middleware import unavailable_part, unavailable_response

    part = unavailable_part(sys.exc_info()[1]) if sys.exc_info()[1] is not None else None
    if part is not None:
        return unavailable_response(request, part)
    if _is_api(request):
        return json_error(request, 500, "server_error", "Internal server error.")
    from django.views.defaults import server_error as default

    return default(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return json_error(request, 400, "bad_request", "Bad request.")
    from django.views.defaults import bad_request as default

    return default(request, exception)
