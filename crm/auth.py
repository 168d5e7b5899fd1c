"""Sign-in protection (SPEC §9) with django-axes: who the client is, when it is locked out and
what it is told.

- **Client address**: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXY_COUNT`` reverse proxies that
  each append the address they received from to ``X-Forwarded-For``, the entry that many places
  from its right: entries further left are whatever the client sent and are never trusted (DRF's
  throttles read the address the same way, ``NUM_PROXIES``). Not django-ipware's
  ``proxy_count``: it counts the proxies inside the header, so behind one proxy it finds no
  address in ``X-Forwarded-For: <client>`` and believes the forged first entry of
  ``X-Forwarded-For: <forged>, <client>``.
- **Lockout**: ``LOGIN_FAILURE_LIMIT`` failures of one username from one address, or
  ``LOGIN_ADDRESS_FAILURE_LIMIT`` failures from one address whatever the usernames (one password
  sprayed over many accounts), within ``LOGIN_FAILURE_WINDOW`` seconds of each other; the lockout
  lasts that long after the last failure (cool-off). A username is never locked out on its own:
  a stranger elsewhere cannot lock a colleague out. An administrator unlocks by deleting the
  attempts in the admin (Axes › Access attempts).
- **Answer**: the login page again with a message and 429; the API's error shape with 429.
"""

from __future__ import annotations

import ipaddress
import math

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from crm.rest import error_body


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, proxy-aware (see the module docstring)."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class LoginAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler with two limits: per username and address, and per address.

    ``get_failures`` answers with the username's failures from the address, or at least the
    (per username) failure limit once the address as a whole is over its own limit, so that
    Axes' one comparison locks out in either case.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        totals = attempts.aggregate(
            address=Coalesce(Sum("failures_since_start"), 0),
            user=Coalesce(Sum("failures_since_start", filter=Q(username=username)), 0),
        )
        if totals["address"] >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(totals["user"], settings.AXES_FAILURE_LIMIT)
        return totals["user"]

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """A successful sign-in forgives that username's failures from that address only:
        signing in to one's own account never clears a spray from the same address."""
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(
            username=username, ip_address=request.axes_ip_address
        ).delete()
        return count


class _LockedOutForm(AuthenticationForm):
    """The login form as posted, showing the lockout message (without authenticating again)."""

    def __init__(self, request: HttpRequest, message: str):
        super().__init__(request, data=request.POST)
        self.message = message

    def full_clean(self) -> None:
        self._errors = ErrorDict()
        self.cleaned_data = {}
        self.add_error(None, self.message)


def lockout_message() -> tuple[str, int]:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed attempts. Try again in {minutes} {unit}.", seconds


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: what a locked-out client gets, always a 429."""
    message, seconds = lockout_message()
    if request.path.startswith("/api/"):
        body = error_body(
            request, code="throttled", message=message, details={"retry_after": [str(seconds)]}
        )
        response: HttpResponse = JsonResponse(body, status=429)
    else:
        redirect_to = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            redirect_to, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            redirect_to = ""
        context = {"form": _LockedOutForm(request, message), "next": redirect_to}
        response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
