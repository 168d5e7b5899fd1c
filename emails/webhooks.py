"""The provider's inbound and tracking webhooks: anymail's views for ``settings.EMAIL_PROVIDER``
(included by ``emails.urls`` under ``email/hooks/``).

- ``inbound/``: received mail (anymail's ``inbound`` signal → ``emails.inbound.on_inbound``);
- ``tracking/``: delivery and engagement events (``tracking`` → ``emails.tracking``).

The provider's view checks the request as that provider signs it (Mailgun's and Postmark's
signing keys, SendGrid's and others' basic auth with ``ANYMAIL["WEBHOOK_SECRET"]``...) and
answers 400 when the check fails, before any signal is sent. The view is looked up per request
from anymail's own URL table (one address to give the provider whichever it is, and no copy of
anymail's list of views here); without a provider both addresses are 404.
"""

from __future__ import annotations

from collections.abc import Callable

from anymail import urls as anymail_urls
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def provider_view(provider: str, kind: str) -> Callable[..., HttpResponse] | None:
    """anymail's ``kind`` ("inbound" or "tracking") webhook view of ``provider`` (an anymail
    ESP name, e.g. "mailgun"), or None when it has none (Mandrill's one view serves both)."""
    if not provider:
        return None
    names = (f"{provider}_{kind}_webhook", f"{provider}_webhook")
    views = {p.name: p.callback for p in anymail_urls.urlpatterns}
    return next((views[name] for name in names if name in views), None)


def _webhook(kind: str) -> Callable[..., HttpResponse]:
    # A provider signs its calls instead: no session, no CSRF token (anymail's own views are
    # marked the same way, but the marks must sit on the view Django resolves).
    @csrf_exempt
    @login_not_required
    def webhook(request: HttpRequest) -> HttpResponse:
        view = provider_view(settings.EMAIL_PROVIDER, kind)
        if view is None:
            raise Http404(f"No {kind} webhook: no email provider is configured.")
        return view(request)

    webhook.__name__ = webhook.__qualname__ = f"{kind}_webhook"
    return webhook


inbound_webhook = _webhook("inbound")
tracking_webhook = _webhook("tracking")

urlpatterns = [
    path("inbound/", inbound_webhook, name="inbound_webhook"),
    path("tracking/", tracking_webhook, name="tracking_webhook"),
]
