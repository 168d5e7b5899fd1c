"""The provider's webhooks (emails.webhooks): anymail's views for ``EMAIL_PROVIDER`` check the
provider's signature (Mailgun's signing key) or the shared basic-auth secret (Postmark) and
refuse a forged call before anything is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from emails.models import EmailMessage
from leads.models import Lead
from tests.emails.inbound_support import MARIA, maria_lead, proposal, sample_bytes

pytestmark = pytest.mark.django_db

SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
INBOUND = reverse("emails:inbound_webhook")
TRACKING = reverse("emails:tracking_webhook")


@pytest.fixture
def client():
    # CSRF checked as in production: the provider has no token, the webhooks need none.
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def mailgun(settings):
    settings.EMAIL_PROVIDER = "mailgun"
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture
def postmark(settings):
    settings.EMAIL_PROVIDER = "postmark"
    settings.ANYMAIL = {"WEBHOOK_SECRET": "pipecrm:s3cret-webhook-pass"}


def mailgun_signature(key: str = SIGNING_KEY) -> dict[str, str]:
    timestamp, token = str(int(time.time())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": signature}


def mailgun_inbound(raw: bytes, key: str = SIGNING_KEY) -> dict[str, str]:
    """Mailgun's forward() of a route to a URL ending in "mime": the raw message as a field."""
    return {
        "recipient": "leads@pipecrm.localhost",
        "sender": "priya.raman@brightwave-energy.example",
        "body-mime": raw.decode(),
        **mailgun_signature(key),
    }


def test_a_signed_mailgun_inbound_call_is_received(client, mailgun):
    response = client.post(INBOUND, mailgun_inbound(sample_bytes("new_inquiry.eml")))
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert lead.contact_email == "priya.raman@brightwave-energy.example"
    assert EmailMessage.objects.get().thread.lead == lead


def test_a_mailgun_call_signed_with_another_key_is_refused(client, mailgun):
    data = mailgun_inbound(sample_bytes("new_inquiry.eml"), key="key-of-someone-else")
    assert client.post(INBOUND, data).status_code == 400
    data = mailgun_inbound(sample_bytes("new_inquiry.eml"))
    data["timestamp"] = str(int(data["timestamp"]) + 1)  # changed after it was signed
    assert client.post(INBOUND, data).status_code == 400
    data.pop("signature")
    assert client.post(INBOUND, data).status_code == 400
    assert not EmailMessage.objects.exists() and not Lead.objects.exists()


def test_a_signed_mailgun_tracking_event_updates_the_message(client, mailgun, rep1):
    sent = proposal(maria_lead(rep1), rep1)
    body = {
        "signature": mailgun_signature(),
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "timestamp": time.time(),
            "recipient": MARIA,
            "message": {"headers": {"message-id": "20240603171500.1.ABCDEF@mg.example"}},
            "user-variables": {"pipecrm_message": str(sent.pk)},
            "delivery-status": {"code": 550, "description": "No such mailbox"},
        },
    }
    response = client.post(TRACKING, json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.status == EmailMessage.Status.BOUNCED and "No such mailbox" in sent.error
    body["signature"]["signature"] = "0" * 64
    response = client.post(TRACKING, json.dumps(body), content_type="application/json")
    assert response.status_code == 400


def postmark_body() -> str:
    return json.dumps({"RawEmail": sample_bytes("gmail_reply.eml").decode(), "Headers": []})


def auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def test_postmark_calls_need_the_webhook_secret(client, postmark, rep1):
    sent = proposal(maria_lead(rep1), rep1)
    post = {"content_type": "application/json"}
    assert client.post(INBOUND, postmark_body(), **post).status_code == 400
    wrong = auth("pipecrm:guessed")
    assert client.post(INBOUND, postmark_body(), **post, **wrong).status_code == 400
    assert EmailMessage.objects.filter(direction="inbound").count() == 0
    right = auth("pipecrm:s3cret-webhook-pass")
    assert client.post(INBOUND, postmark_body(), **post, **right).status_code == 200
    reply = EmailMessage.objects.get(direction="inbound")
    assert reply.thread_id == sent.thread_id


def test_without_a_provider_there_are_no_webhooks(client, settings):
    settings.EMAIL_PROVIDER = ""
    assert client.post(INBOUND, {"body-mime": "x"}).status_code == 404
    assert client.post(TRACKING, "{}", content_type="application/json").status_code == 404


def test_a_provider_without_an_inbound_webhook_has_none(client, settings):
    settings.EMAIL_PROVIDER = "unisender_go"  # tracking only
    settings.ANYMAIL = {"WEBHOOK_SECRET": "a:b"}
    assert client.post(INBOUND, "{}", content_type="application/json").status_code == 404


def test_the_webhooks_are_reached_without_signing_in(client, mailgun):
    response = client.head(INBOUND)  # some providers check the address when it is set up
    assert response.status_code == 200
