"""Outbound webhooks against a real local HTTP server (SPEC §6)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.utils import timezone

from activities import webhooks
from activities.models import WebhookDelivery
from activities.tasks import deliver_webhook, retry_webhooks
from crm.models import Event
from leads import services as lead_services
from tests.activities.conftest import run_events
from tests.activities.factories import WebhookFactory
from tests.crm.test_api import assert_error_shape


class Receiver:
    """An http.server on 127.0.0.1 (free port) that records requests and answers ``status``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.location = ""
        self.routes: dict[str, tuple[int, str]] = {}  # path -> (status, Location)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, location = receiver.routes.get(
                    self.path, (receiver.status, receiver.location)
                )
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"upstream exploded")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pipecrm"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def delivery_for(event_name="lead.created", **hook):
    subscription = WebhookFactory(events=[event_name], **hook)
    return subscription


def test_subscribed_event_is_delivered_signed(rep1, receiver):
    hook = delivery_for(url=receiver.url, secret="s3cret")
    WebhookFactory(events=["deal.won"], url=receiver.url)  # not subscribed to lead.created
    lead = lead_services.lead_create(by=rep1, name="Webhook lead")
    run_events()
    delivery = WebhookDelivery.objects.get()
    assert delivery.subscription == hook and delivery.status == "pending"

    assert deliver_webhook(str(delivery.pk)) == "succeeded"
    (request,) = receiver.requests
    body = request["body"]
    assert webhooks.verify("s3cret", body, request["headers"]["X-PipeCRM-Signature"])
    assert request["headers"]["X-PipeCRM-Signature"].startswith("sha256=")
    assert not webhooks.verify("other", body, request["headers"]["X-PipeCRM-Signature"])
    assert request["headers"]["X-PipeCRM-Event"] == "lead.created"
    assert request["headers"]["X-PipeCRM-Delivery"] == str(delivery.pk)
    assert request["headers"]["Content-Type"] == "application/json"
    data = json.loads(body)
    assert data["event"] == "lead.created" and data["id"] == str(delivery.pk)
    assert data["data"]["lead_id"] == str(lead.pk)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert delivery.response_status == 200 and delivery.response_excerpt == "ok"
    # A second run of the task (redelivery) sends nothing more.
    assert deliver_webhook(str(delivery.pk)) == "skipped"
    assert len(receiver.requests) == 1


def test_a_failing_endpoint_is_retried_with_backoff_then_marked_failed(
    rep1, receiver, admin_client
):
    receiver.status = 500
    delivery_for(url=receiver.url)
    lead_services.lead_create(by=rep1, name="Webhook lead")
    run_events()
    delivery = WebhookDelivery.objects.get()
    waits = []
    for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
        before = timezone.now()
        # Not due yet: the task skips it (the retry sweep would queue it when due) …
        if attempt > 1:
            assert deliver_webhook(str(delivery.pk)) == "skipped"
        # … so each attempt is forced instead of sleeping through the backoff.
        status = deliver_webhook(str(delivery.pk), force=True)
        after = timezone.now()
        delivery.refresh_from_db()
        assert delivery.attempts == attempt and delivery.response_status == 500
        if attempt < webhooks.MAX_ATTEMPTS:
            assert status == "pending"
            # The wait counts from the answer, some time between ``before`` and ``after``
            # (seconds on a loaded machine: rounding from ``before`` read 61 for 60).
            waits.append(
                (
                    (delivery.next_attempt_at - after).total_seconds(),
                    (delivery.next_attempt_at - before).total_seconds(),
                )
            )
    for (shortest, longest), expected in zip(waits, [30, 60, 120, 240], strict=True):
        assert shortest <= expected <= longest  # exponential backoff
    assert status == "failed" and delivery.status == "failed"
    assert delivery.next_attempt_at is None
    assert delivery.error == "HTTP 500" and delivery.response_excerpt == "upstream exploded"
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS
    # Visible in the delivery log.
    page = admin_client.get("/admin/activities/webhookdelivery/").content.decode()
    assert "HTTP 500" in page and "Failed" in page


def test_redirects_to_another_host_are_refused(rep1, receiver):
    receiver.status = 307
    receiver.location = "http://example.com/elsewhere"
    delivery_for(url=receiver.url)
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    delivery = WebhookDelivery.objects.get()
    deliver_webhook(str(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "another host" in delivery.error
    assert len(receiver.requests) == 1


def test_same_host_307_is_followed(rep1, receiver):
    receiver.routes["/hooks/pipecrm"] = (307, "/moved")
    delivery_for(url=receiver.url)
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    delivery = WebhookDelivery.objects.get()
    deliver_webhook(str(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert [r["path"] for r in receiver.requests] == ["/hooks/pipecrm", "/moved"]
    # The body and its signature are sent again unchanged.
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]


def test_only_http_urls_are_called(rep1):
    hook = delivery_for(url="ftp://127.0.0.1/hook")
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    delivery = WebhookDelivery.objects.get(subscription=hook)
    deliver_webhook(str(delivery.pk))
    delivery.refresh_from_db()
    assert "Only http" in delivery.error and delivery.response_status is None


def test_unreachable_endpoint_is_a_recorded_error(rep1):
    delivery_for(url="http://127.0.0.1:9/closed")
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    delivery = WebhookDelivery.objects.get()
    deliver_webhook(str(delivery.pk))
    delivery.refresh_from_db()
    assert (
        delivery.status == "pending" and delivery.attempts == 1 and "ConnectError" in delivery.error
    )


def test_one_delivery_per_subscription_and_event(rep1):
    delivery_for()
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    event = Event.objects.get(name="lead.created")
    webhooks.deliveries_for_event(event)
    assert WebhookDelivery.objects.count() == 1


def test_inactive_subscriptions_get_nothing(rep1):
    delivery_for(is_active=False)
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    assert not WebhookDelivery.objects.exists()


def test_retry_sweep_queues_due_deliveries(rep1):
    delivery_for()
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    with mock.patch("activities.tasks.deliver_webhook.delay") as delay:
        assert retry_webhooks() == 0
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        assert retry_webhooks() == 1
    delay.assert_called_once_with(str(delivery.pk))


def test_subscription_validation(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        WebhookFactory.build(url="ftp://x.example/hook", events=["lead.exploded"]).full_clean()
    assert {"url", "events"} <= set(exc.value.message_dict)


# --- API ------------------------------------------------------------------------------------------
def test_webhooks_api_is_for_managers_and_admins(api_as, rep1, analyst, manager, admin_user):
    for user in (rep1, analyst):
        assert_error_shape(api_as(user).get("/api/v1/webhooks/"), 403, "permission_denied")
        response = api_as(user).post(
            "/api/v1/webhooks/",
            {"name": "x", "url": "https://hooks.example/x", "events": ["lead.created"]},
            format="json",
        )
        assert_error_shape(response, 403, "permission_denied")
    for user in (manager, admin_user):
        response = api_as(user).post(
            "/api/v1/webhooks/",
            {
                "name": f"CRM sync {user}",
                "url": "https://hooks.example/x",
                "events": ["lead.created"],
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert len(response.json()["secret"]) == 64
    assert api_as(manager).get("/api/v1/webhooks/").json()["count"] == 2


def test_webhooks_api_validates_and_shows_the_delivery_log(api_as, manager, rep1):
    client = api_as(manager)
    bad = client.post(
        "/api/v1/webhooks/",
        {"name": "x", "url": "ftp://hooks.example/x", "events": ["nope"]},
        format="json",
    )
    error = assert_error_shape(bad, 400, "validation_error")
    assert "events.0" in error["details"] or "events" in error["details"]
    hook = client.post(
        "/api/v1/webhooks/",
        {"name": "x", "url": "http://127.0.0.1:9/x", "events": ["lead.created"]},
        format="json",
    ).json()
    old_secret = hook["secret"]
    rotated = client.patch(
        f"/api/v1/webhooks/{hook['id']}/", {"rotate_secret": True}, format="json"
    ).json()
    assert rotated["secret"] != old_secret
    lead_services.lead_create(by=rep1, name="L")
    run_events()
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()
    assert log["count"] == 1 and log["results"][0]["status"] == "pending"
    assert client.delete(f"/api/v1/webhooks/{hook['id']}/").status_code == 204
