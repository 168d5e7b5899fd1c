"""Outbound webhooks (SPEC §6): deliveries, signing, sending, retries.

A delivery is one JSON body for one subscription, created by the outbox handler of the event
(or by a rule's "call webhook" action) and sent after commit by ``activities.tasks``:

- body ``{"id": <delivery id>, "event": <name>, "created_at": …, "data": <event payload>}``;
- headers ``X-PipeCRM-Event``, ``X-PipeCRM-Delivery`` and ``X-PipeCRM-Signature:
  sha256=<hex HMAC-SHA256 of the raw body with the subscription's secret>``;
- a 2xx answer delivers it; anything else (or a network error) is retried with exponential
  backoff (``BACKOFF`` after attempt 1, doubling) up to ``MAX_ATTEMPTS``, then it is failed;
- only http(s) URLs are called; redirects are not followed, except a 307/308 to the same
  host; a timeout bounds every attempt;
- unless ``WEBHOOK_ALLOW_PRIVATE`` is set, the host is resolved when each request is sent
  (every redirect hop too) and refused if any of its addresses is loopback, link-local,
  private or otherwise not globally routable; the request then goes to the address that was
  checked (the name is not looked up again), with the URL's host as ``Host`` and TLS name.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from activities.models import WebhookDelivery, WebhookSubscription
from crm.models import Event

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF = timedelta(seconds=30)
TIMEOUT_SECONDS = 10.0
# An attempt in flight holds its delivery this long (longer than every request can take).
CLAIM = timedelta(minutes=2)
MAX_SAME_HOST_REDIRECTS = 3
EXCERPT_CHARS = 1000
SIGNATURE_HEADER = "X-PipeCRM-Signature"
EVENT_HEADER = "X-PipeCRM-Event"
DELIVERY_HEADER = "X-PipeCRM-Delivery"
USER_AGENT = "PipeCRM-Webhooks/1.0"


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=<hex>`` of HMAC-SHA256(secret, body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does (and the tests): constant-time comparison."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def body_bytes(delivery: WebhookDelivery) -> bytes:
    return json.dumps(
        delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True
    ).encode()


def delivery_create(
    *, subscription: WebhookSubscription, event: Event, source: str = ""
) -> WebhookDelivery:
    """The delivery of ``event`` to ``subscription`` (created once; sent after commit)."""
    existing = WebhookDelivery.objects.filter(
        subscription=subscription, event=event, source=source
    ).first()
    if existing is not None:
        return existing
    delivery = WebhookDelivery(
        subscription=subscription,
        event=event,
        event_name=event.name,
        source=source,
        next_attempt_at=timezone.now(),
    )
    delivery.payload = {
        "id": str(delivery.pk),
        "event": event.name,
        "created_at": event.created_at,
        "data": event.payload,
    }
    try:
        with transaction.atomic():
            delivery.save()
    except IntegrityError:  # created concurrently
        return WebhookDelivery.objects.get(subscription=subscription, event=event, source=source)
    transaction.on_commit(lambda: _send_later(delivery.pk))
    return delivery


def deliveries_for_event(event: Event) -> list[WebhookDelivery]:
    """A delivery for each active subscription to ``event.name``."""
    subscriptions = [
        s
        for s in WebhookSubscription.objects.filter(is_active=True)
        if event.name in (s.events or [])
    ]
    return [delivery_create(subscription=s, event=event) for s in subscriptions]


def _send_later(delivery_id) -> None:
    from activities.tasks import deliver_webhook

    try:
        deliver_webhook.delay(str(delivery_id))
    except Exception:  # broker down: the retry sweep sends it
        logger.exception("Could not queue webhook delivery %s", delivery_id)


class _Refused(Exception):
    pass


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(ip: IPAddress) -> bool:
    """Globally routable: not loopback, link-local, private, shared (carrier NAT), reserved,
    unspecified or multicast (an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _Refused(f"Cannot resolve {host[:200]}: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def _pinned(url: str) -> tuple[str, dict[str, str], dict]:
    """Where to send a request for ``url``: the URL with the host replaced by a checked
    address, the ``Host`` header and the TLS name to use. Refused when the host has an
    address that is not public (``is_public_address``)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise _Refused("The address has no host.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    refused = next((ip for ip in addresses if not is_public_address(ip)), None)
    if refused is not None or not addresses:
        raise _Refused(
            f"{host[:200]} resolves to {refused or 'no address'}: loopback, link-local and "
            "private addresses are refused (WEBHOOK_ALLOW_PRIVATE)."
        )
    ip = addresses[0]
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    target = urlunsplit(
        (parts.scheme, f"{userinfo}@{netloc}" if userinfo else netloc, parts.path, parts.query, "")
    )
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"Host": parts.netloc.rpartition("@")[2]}, extensions


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST without following redirects, except a 307/308 to the same scheme and host; each
    hop's address is checked first (see the module docstring)."""
    origin = urlsplit(url)
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        for _ in range(MAX_SAME_HOST_REDIRECTS + 1):
            if settings.WEBHOOK_ALLOW_PRIVATE:
                target, extra, extensions = url, {}, {}
            else:
                target, extra, extensions = _pinned(url)
            response = client.post(
                target, content=body, headers={**headers, **extra}, extensions=extensions
            )
            if response.status_code not in (307, 308) or "location" not in response.headers:
                return response
            target = urljoin(url, response.headers["location"])
            parts = urlsplit(target)
            if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                raise _Refused(f"Redirect to another host refused: {target[:200]}")
            url = target
    raise _Refused("Too many redirects.")


def delivery_attempt(delivery_id, *, force: bool = False) -> WebhookDelivery | None:
    """Send a pending, due delivery once and record the outcome (``force``: even if its next
    attempt is not due yet).

    The attempt is claimed under a row lock first (attempt counted, next attempt pushed past
    the request's timeout), then the request runs outside any transaction, then the outcome is
    saved: two workers never send one delivery at once, and a worker dying mid-request leaves
    it to the retry sweep. Success: delivered. Failure: the next attempt is scheduled with
    exponential backoff, or after ``MAX_ATTEMPTS`` the delivery is marked failed.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        if not force and delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + CLAIM
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])

    subscription = delivery.subscription
    body = body_bytes(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: delivery.event_name,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: sign(subscription.secret, body),
    }
    error = ""
    status_code, excerpt = None, ""
    try:
        if not subscription.url.lower().startswith(("http://", "https://")):
            raise _Refused("Only http:// and https:// addresses can be called.")
        if not subscription.is_active:
            raise _Refused("The subscription is inactive.")
        response = _post(subscription.url, body, headers)
        status_code, excerpt = response.status_code, response.text[:EXCERPT_CHARS]
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
    except _Refused as exc:
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]

    delivery.response_status = status_code
    delivery.response_excerpt = excerpt
    _record(delivery, now=timezone.now(), error=error)
    delivery.save(
        update_fields=[
            "response_status",
            "response_excerpt",
            "error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return delivery


def _record(delivery: WebhookDelivery, *, now: datetime, error: str) -> None:
    delivery.error = error
    if not error:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + BACKOFF * 2 ** (delivery.attempts - 1)


def retry_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Queue the pending deliveries whose next attempt is due (beat, every minute)."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in ids:
        _send_later(delivery_id)
    return len(ids)


@transaction.atomic
def delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Admin: give a failed delivery a fresh round of attempts."""
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    transaction.on_commit(lambda: _send_later(delivery.pk))
    return delivery


# --- subscriptions (API; the admin edits them directly) -----------------------------------------
SUBSCRIPTION_FIELDS = ("name", "url", "events", "is_active")


def _require_manager(by) -> None:
    from activities.selectors import can_manage_automation
    from crm.errors import PermissionDenied

    if not can_manage_automation(by):
        raise PermissionDenied("Only managers and administrators manage webhooks.")


@transaction.atomic
def subscription_create(
    *, by, name: str, url: str, events: list[str], is_active: bool = True
) -> WebhookSubscription:
    from crm.services import full_clean_or_raise

    _require_manager(by)
    subscription = WebhookSubscription(
        name=(name or "").strip(),
        url=(url or "").strip(),
        events=sorted(set(events or [])),
        is_active=is_active,
        created_by=by,
    )
    full_clean_or_raise(subscription)
    subscription.save()
    return subscription


@transaction.atomic
def subscription_update(*, by, subscription: WebhookSubscription, data) -> WebhookSubscription:
    from crm.services import apply_changes, full_clean_or_raise

    _require_manager(by)
    data = dict(data)
    if "events" in data:
        data["events"] = sorted(set(data["events"] or []))
    rotate = data.pop("rotate_secret", False)
    changed = apply_changes(subscription, data, SUBSCRIPTION_FIELDS)
    if rotate:
        from activities.models import new_secret

        subscription.secret = new_secret()
        changed.append("secret")
    if changed:
        full_clean_or_raise(subscription)
        subscription.save(update_fields=[*changed, "updated_at"])
    return subscription


@transaction.atomic
def subscription_delete(*, by, subscription: WebhookSubscription) -> None:
    from django.db.models import ProtectedError

    from crm.errors import Conflict

    _require_manager(by)
    try:
        with transaction.atomic():
            subscription.delete()
    except ProtectedError:
        raise Conflict(
            "An automation rule calls this webhook; change the rule first.", code="webhook_in_use"
        ) from None
