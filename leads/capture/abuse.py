"""What keeps bots and strangers off the capture endpoint and the hosted pages (issue 15):

- **rate limits** (DRF throttles, also asked by the hosted page): per client address
  (``THROTTLE_CAPTURE``, the address read proxy-aware by ``crm.auth.client_ip``) and per form
  key (``THROTTLE_CAPTURE_FORM``);
- **size**: a body over ``CAPTURE_MAX_BODY_BYTES`` is refused (413) before it is parsed;
- **honeypot**: an input people never see (``HONEYPOT``); a submission that fills it is
  answered like any other and stored nowhere;
- **minimum fill time** (hosted page): the page carries a signed timestamp (``fill_token``);
  a submission sent sooner than ``CAPTURE_MIN_FILL_SECONDS`` after it, or without a valid one,
  is asked to send again;
- **origins**: a browser request from another site is accepted only from the form's allowed
  origins, and only those get CORS headers.

Why CORS is here and not django-cors-headers: its decision is one global list (or a signal
that sees only the request's headers), but ours depends on the form, which for a POST is
named by the key inside the body. A preflight names no form: it is answered for an origin that
some active form allows; the POST itself is then checked against its own form.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import SimpleRateThrottle

from crm.auth import client_ip
from leads.capture import selectors
from leads.models import CaptureForm

HONEYPOT = "website"
FILL_TOKEN = "fill_token"
KEY_FIELD = "capture_key"
KEY_HEADER = "X-Capture-Key"
_SALT = "leads.capture.fill"
FILL_TOKEN_MAX_AGE = 24 * 3600


# --- rate limits ---------------------------------------------------------------------------------
class CaptureAddressThrottle(SimpleRateThrottle):
    """Submissions per client address (``THROTTLE_CAPTURE``)."""

    scope = "capture"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}


class CaptureFormThrottle(SimpleRateThrottle):
    """Submissions per form key (``THROTTLE_CAPTURE_FORM``); the key the request names, valid or
    not (``request.capture_key``, set by the view)."""

    scope = "capture_form"

    def get_cache_key(self, request, view) -> str | None:
        key = getattr(request, "capture_key", "") or ""
        if not key:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key[:64]}


THROTTLES = (CaptureAddressThrottle, CaptureFormThrottle)


def throttle_wait(request: HttpRequest) -> int | None:
    """For the hosted page: seconds to wait when a rate limit is reached, else None."""
    for throttle_class in THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            return max(1, int(throttle.wait() or 1))
    return None


# --- size ----------------------------------------------------------------------------------------
def body_too_large(request: HttpRequest) -> bool:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = settings.CAPTURE_MAX_BODY_BYTES
    return declared > limit or len(request.body) > limit


# --- honeypot and fill time ----------------------------------------------------------------------
def is_bot_trap_filled(data) -> bool:
    value = data.get(HONEYPOT) if hasattr(data, "get") else None
    return bool(value and str(value).strip())


def fill_token(form: CaptureForm) -> str:
    """The signed time the hosted page was served, for ``fill_time_ok``."""
    return signing.dumps({"f": str(form.pk), "t": time.time()}, salt=_SALT, compress=True)


def fill_time_ok(form: CaptureForm, token: str | None) -> bool:
    """Whether the page behind ``token`` was served for this form, within a day, and at least
    ``CAPTURE_MIN_FILL_SECONDS`` ago."""
    if not token:
        return False
    try:
        data = signing.loads(token, salt=_SALT, max_age=FILL_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return False
    if not isinstance(data, dict) or data.get("f") != str(form.pk):
        return False
    try:
        served = float(data.get("t"))
    except (TypeError, ValueError):
        return False
    return time.time() - served >= settings.CAPTURE_MIN_FILL_SECONDS


# --- origins -------------------------------------------------------------------------------------
def own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}".lower()


def request_origin(request: HttpRequest) -> str | None:
    origin = request.headers.get("Origin")
    return origin.strip().lower() if origin else None


def origin_allowed(request: HttpRequest, form: CaptureForm) -> bool:
    """No ``Origin`` (a server, or a browser's same-origin GET), our own, or one the form
    allows. ``null`` (sandboxed frames, redirects across sites) is no allowed origin."""
    origin = request_origin(request)
    if origin is None:
        return True
    return origin == own_origin(request) or origin in (form.allowed_origins or [])


def add_cors_headers(response: HttpResponse, request: HttpRequest, form: CaptureForm | None):
    """CORS headers for a form's allowed origin (never ``*``, never credentials)."""
    origin = request_origin(request)
    if form is not None and origin and origin in (form.allowed_origins or []):
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


def preflight_response(request: HttpRequest) -> HttpResponse:
    """The answer to a CORS preflight: allowed when an active form allows the origin and the
    request asks for POST; refused (403, no CORS headers) otherwise."""
    origin = request_origin(request)
    method = (request.headers.get("Access-Control-Request-Method") or "").upper()
    if not origin or method != "POST" or not selectors.origin_is_allowed_anywhere(origin):
        response = HttpResponse(status=403)
        response["Vary"] = "Origin"
        return response
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST"
    response["Access-Control-Allow-Headers"] = f"Content-Type, {KEY_HEADER}"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response
