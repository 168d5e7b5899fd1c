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
