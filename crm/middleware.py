import re
import uuid

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request a trace id (kept from ``X-Request-ID`` when sane), echoed back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.trace_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.trace_id
        return response


class DomainErrorMiddleware:
    """Turns a DomainError raised in an HTML view into the right status (the API maps its own).

    HTMX requests get the SPEC §7 JSON error body, which static/js/app.js shows as a toast;
    full-page requests get the error page for that status.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
        from django.http import Http404, JsonResponse
        from django.shortcuts import render

        from crm.errors import DomainError, NotFound, PermissionDenied
        from crm.rest import error_body

        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        if getattr(request, "htmx", False):
            body = error_body(
                request, code=exception.code, message=exception.message, details=exception.details
            )
            return JsonResponse(body, status=exception.status)
        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, PermissionDenied):
            raise DjangoPermissionDenied(exception.message)
        return render(
            request,
            "error.html",
            {"status": exception.status, "message": exception.message},
            status=exception.status,
        )


class PermissionsPolicyMiddleware:
    """Sends ``Permissions-Policy`` (``settings.PERMISSIONS_POLICY``: feature → allowed origins,
    empty for none): the browser features the app never uses are off for it and for anything
    it could be made to embed."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(origins)})"
            for feature, origins in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request):
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response


# --- a dependency down: 503, not a traceback -------------------------------------------------
RETRY_AFTER_SECONDS = 5


def unavailable_part(exception: BaseException) -> str | None:
    """The part of the system ``exception`` says is unreachable ("database", "cache/broker"),
    or None when it is not such an error (a bug is a bug: a 500 with its traceback).

    Connection-level errors only: PostgreSQL restarting or refusing connections, a statement
    cancelled by ``DB_STATEMENT_TIMEOUT`` (a server too busy to answer in time), Redis or the
    broker unreachable where the request needed them."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exception, OperationalError | InterfaceError):
        return "database"
    try:
        from kombu.exceptions import OperationalError as BrokerError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - both ship with the project
        return None
    if isinstance(exception, RedisConnectionError | RedisTimeoutError | BrokerError):
        return "cache/broker"
    return None


def unavailable_response(request, part: str):
    """503 with ``Retry-After``: the SPEC §7 error body for the API and HTMX requests, a
    page that reads nothing from the database otherwise."""
    from django.http import JsonResponse
    from django.template.loader import render_to_string

    from crm.rest import error_body

    message = f"The service is briefly unavailable ({part}). Please try again in a moment."
    if request.path.startswith("/api/") or getattr(request, "htmx", False):
        body = error_body(
            request, code="service_unavailable", message=message, details={"unavailable": [part]}
        )
        response = JsonResponse(body, status=503)
    else:
        from django.http import HttpResponse

        html = render_to_string("503.html", {"message": message})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ServiceUnavailableMiddleware:
    """Turns a database or Redis outage met while handling a request into a fast 503 with
    the error envelope (``unavailable_part``), logged as one warning line, instead of a 500
    and a traceback per request. Django reconnects by itself once the database is back
    (``CONN_HEALTH_CHECKS``), so nothing needs restarting."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        import logging

        part = unavailable_part(exception)
        if part is None:
            return None
        logging.getLogger("crm.unavailable").warning(
            "503 for %s %s: %s unavailable (%s: %s)",
            request.method,
            request.path,
            part,
            type(exception).__name__,
            str(exception).strip().splitlines()[0][:200] if str(exception).strip() else "",
        )
        return unavailable_response(request, part)
