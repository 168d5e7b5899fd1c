"""Email on a record's page (``emails.record_views``): the lazily loaded "Email" card, the
composer (send, schedule, reply, template, attachments, inline errors), cancelling, attachment
downloads; who sees what (owner, another rep, manager, analyst, viewer)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm import permissions
from crm.records import details
from emails.models import EmailAttachment, EmailMessage
from tests.deals.factories import make_deal
from tests.emails.factories import EmailMessageFactory, EmailTemplateFactory, EmailThreadFactory
from tests.factories import PersonFactory
from tests.leads.factories import LeadFactory

ANN = "ann@acme.example"


@pytest.fixture(autouse=True)
def _eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def lead(rep1):
    return LeadFactory(
        owner=rep1, name="Fleet telematics", contact_name="Ann Lee", contact_email=ANN
    )


def card_url(kind, record):
    return reverse("emails:record_card", args=[kind, record.pk])


def compose_url(kind, record):
    return reverse("emails:compose", args=[kind, record.pk])


def htmx(client, method, url, data=None, **extra):
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true", **extra)


def triggers(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


# --- the page and its panel -----------------------------------------------------------------------
def test_the_lead_page_places_the_email_card_as_a_region_that_loads_itself(client, rep1, lead):
    client.force_login(rep1)
    html = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'id="email-region"' in html
    assert f'hx-get="{card_url("lead", lead)}"' in html
    assert 'hx-trigger="load, emailChanged from:body, realtimeRefresh from:body"' in html


@pytest.mark.parametrize("kind", ["person", "deal"])
def test_people_and_deals_get_the_card_too(client, manager, kind):
    record = PersonFactory() if kind == "person" else make_deal(manager)
    client.force_login(manager)
    url = reverse("crm:person_detail" if kind == "person" else "deals:detail", args=[record.pk])
    assert card_url(kind, record) in client.get(url).content.decode()


def test_the_panel_adds_no_query_to_the_detail_page(
    client, rep1, lead, monkeypatch, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(rep1)
    url = reverse("leads:detail", args=[lead.pk])
    client.get(url)  # warm the per-process caches (reference data, custom fields)
    with CaptureQueriesContext(connection) as with_panel:
        assert "email-region" in client.get(url).content.decode()
    monkeypatch.setattr(details, "_PANELS", {})
    with CaptureQueriesContext(connection) as without_panel:
        assert "email-region" not in client.get(url).content.decode()
    assert len(with_panel) == len(without_panel)


# --- the card -------------------------------------------------------------------------------------
def test_the_card_shows_threads_latest_first_with_their_messages_and_statuses(client, rep1, lead):
    now = timezone.now()
    old = EmailThreadFactory(lead=lead, subject="Pricing", last_message_at=now - timedelta(days=2))
    EmailMessageFactory(thread=old, subject="Pricing", text_body="Our prices", to=[ANN])
    new = EmailThreadFactory(lead=lead, subject="Kick-off", last_message_at=now)
    EmailMessageFactory(
        thread=new,
        status=EmailMessage.Status.FAILED,
        error="SMTPServerDisconnected: gone",
        created_at=now - timedelta(hours=1),
    )
    EmailMessageFactory(
        thread=new,
        direction=EmailMessage.Direction.INBOUND,
        status=EmailMessage.Status.RECEIVED,
        from_address=ANN,
        from_name="Ann Lee",
        to=["crm@pipecrm.localhost"],
        text_body="Can we meet on Tuesday?",
        received_at=now,
        created_at=now,
    )
    client.force_login(rep1)
    html = htmx(client, "get", card_url("lead", lead)).content.decode()
    assert html.index("Kick-off") < html.index("Pricing")
    assert "Not sent: SMTPServerDisconnected: gone" in html
    assert 'data-direction="inbound"' in html and 'data-direction="outbound"' in html
    assert ">Received<" in html and ">Failed<" in html and ">Sent<" in html
    assert "Can we meet on Tuesday?" in html and "Ann Lee" in html
    assert 'data-testid="email-compose"' in html and 'data-testid="email-draft-reply"' in html


def test_a_message_waiting_for_the_task_makes_the_card_look_again(client, rep1, lead):
    EmailMessageFactory(thread=EmailThreadFactory(lead=lead), status=EmailMessage.Status.QUEUED)
    client.force_login(rep1)
    html = htmx(client, "get", card_url("lead", lead)).content.decode()
    assert 'data-testid="email-pending"' in html and ">Sending…<" in html


def test_the_card_costs_the_same_queries_for_one_thread_or_many(
    client, rep1, lead, django_assert_max_num_queries
):
    client.force_login(rep1)
    EmailMessageFactory(thread=EmailThreadFactory(lead=lead))
    with django_assert_max_num_queries(14) as one:
        htmx(client, "get", card_url("lead", lead))
    for _ in range(6):
        thread = EmailThreadFactory(lead=lead)
        EmailMessageFactory(thread=thread)
        EmailMessageFactory(thread=thread, direction="inbound", status="received")
    with django_assert_max_num_queries(len(one.captured_queries)):
        htmx(client, "get", card_url("lead", lead))


def test_another_rep_sees_neither_the_card_nor_the_threads_of_a_lead_it_cannot_see(
    client, rep2, lead
):
    EmailMessageFactory(thread=EmailThreadFactory(lead=lead, subject="Secret deal"))
    client.force_login(rep2)
    response = htmx(client, "get", card_url("lead", lead))
    assert response.status_code == 404 and b"Secret deal" not in response.content
    assert htmx(client, "get", compose_url("lead", lead)).status_code == 404
    response = htmx(client, "post", compose_url("lead", lead), {"to": ANN, "subject": "x"})
    assert response.status_code == 404 and EmailMessage.objects.count() == 1


def test_an_analyst_and_a_viewer_see_the_threads_but_no_compose(client, analyst, viewer, lead):
    EmailMessageFactory(thread=EmailThreadFactory(lead=lead, subject="Kick-off"))
    permissions.share(viewer, lead)
    for user in (analyst, viewer):
        client.force_login(user)
        html = htmx(client, "get", card_url("lead", lead)).content.decode()
        assert "Kick-off" in html
        assert 'data-testid="email-compose"' not in html and "email-reply" not in html
        assert htmx(client, "get", compose_url("lead", lead)).status_code == 403


def test_a_manager_may_write_from_any_lead(client, manager, lead):
    client.force_login(manager)
    assert 'data-testid="email-compose"' in htmx(client, "get", card_url("lead", lead)).text


def test_an_unknown_record_kind_is_not_found(client, rep1, lead):
    client.force_login(rep1)
    assert client.get(f"/email/record/organization/{lead.pk}/").status_code == 404


# --- composing ------------------------------------------------------------------------------------
def test_compose_prefills_the_records_contacts(client, rep1, lead):
    EmailTemplateFactory(name="Intro")
    client.force_login(rep1)
    html = htmx(client, "get", compose_url("lead", lead)).content.decode()
    assert f'value="{ANN}"' in html and "Intro" in html and 'data-testid="compose-send"' in html


def test_sending_from_the_composer_sends_and_tells_the_page(
    client, rep1, lead, django_capture_on_commit_callbacks
):
    client.force_login(rep1)
    with django_capture_on_commit_callbacks(execute=True):
        response = htmx(
            client,
            "post",
            compose_url("lead", lead),
            {"to": ANN, "cc": "bob@acme.example", "subject": "Hi {{ lead.name }}", "body": "Hi"},
        )
    assert response.status_code == 204
    events = triggers(response)
    assert events["emailChanged"] and events["closeModal"] and events["activitySaved"]
    message = EmailMessage.objects.get()
    assert message.status == EmailMessage.Status.SENT and message.thread.lead == lead
    assert message.subject == "Hi Fleet telematics" and message.cc == ["bob@acme.example"]
    assert [m.subject for m in mail.outbox] == ["Hi Fleet telematics"]


def test_a_refusal_is_shown_on_its_field_and_keeps_what_was_typed(client, rep1, lead):
    client.force_login(rep1)
    response = htmx(
        client,
        "post",
        compose_url("lead", lead),
        {"to": "not-an-address", "subject": "Our offer", "body": "A long text I typed"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="compose-error-to"' in html and "is not an email address" in html
    assert 'value="Our offer"' in html and "A long text I typed" in html
    assert not EmailMessage.objects.exists()


def test_a_missing_subject_and_text_are_asked_for(client, rep1, lead):
    client.force_login(rep1)
    response = htmx(client, "post", compose_url("lead", lead), {"to": ANN})
    assert response.status_code == 422
    assert 'data-testid="compose-error-subject"' in response.content.decode()


def test_an_attachment_over_the_limit_is_refused_with_the_limit(client, rep1, lead, settings):
    settings.EMAIL_MAX_ATTACHMENT_BYTES = 10
    client.force_login(rep1)
    upload = SimpleUploadedFile("big.pdf", b"x" * 11, content_type="application/pdf")
    response = htmx(
        client,
        "post",
        compose_url("lead", lead),
        {"to": ANN, "subject": "Offer", "body": "See attached", "attachments": [upload]},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "big.pdf is larger than 10" in html and 'data-testid="compose-error-attachments"' in html


def test_attachments_are_sent_and_downloadable_by_those_who_see_the_lead(client, rep1, rep2, lead):
    client.force_login(rep1)
    upload = SimpleUploadedFile("offer.pdf", b"%PDF-1.4 offer", content_type="application/pdf")
    response = htmx(
        client,
        "post",
        compose_url("lead", lead),
        {"to": ANN, "subject": "Offer", "body": "Attached", "attachments": [upload]},
    )
    assert response.status_code == 204
    attachment = EmailAttachment.objects.get()
    url = reverse("emails:attachment", args=[attachment.pk])
    assert url in htmx(client, "get", card_url("lead", lead)).content.decode()
    download = client.get(url)
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 offer"
    client.force_login(rep2)
    assert client.get(url).status_code == 404


def test_scheduling_needs_a_future_time_and_schedules(client, rep1, lead):
    client.force_login(rep1)
    data = {"to": ANN, "subject": "Later", "body": "Text", "send": "schedule"}
    response = htmx(client, "post", compose_url("lead", lead), data)
    assert response.status_code == 422 and "Choose when to send it." in response.content.decode()
    when = timezone.localtime() + timedelta(days=1)
    data["scheduled_at"] = when.strftime("%Y-%m-%dT%H:%M")
    response = htmx(client, "post", compose_url("lead", lead), data)
    assert response.status_code == 204
    assert "scheduled for" in triggers(response)["showToast"]["message"]
    message = EmailMessage.objects.get()
    assert message.status == EmailMessage.Status.SCHEDULED and not mail.outbox


def test_send_ignores_a_time_left_in_the_picker(
    client, rep1, lead, django_capture_on_commit_callbacks
):
    client.force_login(rep1)
    later = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {"to": ANN, "subject": "Now", "body": "Text", "send": "send", "scheduled_at": later}
    with django_capture_on_commit_callbacks(execute=True):
        assert htmx(client, "post", compose_url("lead", lead), data).status_code == 204
    assert EmailMessage.objects.get().status == EmailMessage.Status.SENT


def test_a_scheduled_message_can_be_cancelled_from_the_card(client, rep1, lead):
    client.force_login(rep1)
    when = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {"to": ANN, "subject": "Later", "body": "Text", "send": "schedule", "scheduled_at": when}
    htmx(client, "post", compose_url("lead", lead), data)
    message = EmailMessage.objects.get()
    html = htmx(client, "get", card_url("lead", lead)).content.decode()
    assert 'data-testid="email-cancel"' in html
    url = reverse("emails:message_cancel", args=["lead", lead.pk, message.pk])
    response = htmx(client, "post", url)
    assert response.status_code == 204 and triggers(response)["emailChanged"]
    message.refresh_from_db()
    assert message.status == EmailMessage.Status.DRAFT


# --- replies and templates ------------------------------------------------------------------------
@pytest.fixture
def received(lead):
    thread = EmailThreadFactory(lead=lead, subject="Fleet telematics")
    EmailMessageFactory(thread=thread, message_id="first@pipecrm.localhost", to=[ANN])
    return EmailMessageFactory(
        thread=thread,
        direction=EmailMessage.Direction.INBOUND,
        status=EmailMessage.Status.RECEIVED,
        message_id="reply-1@acme.example",
        from_address=ANN,
        from_name="Ann Lee",
        to=["crm@pipecrm.localhost"],
        subject="Re: Fleet telematics",
        text_body="Does the plan include onboarding?\n\nAnn",
    )


def test_a_reply_answers_the_sender_and_keeps_the_thread(client, rep1, lead, received):
    client.force_login(rep1)
    url = f"{compose_url('lead', lead)}?reply_to={received.pk}"
    html = htmx(client, "get", url).content.decode()
    assert f'value="{ANN}"' in html and 'value="Re: Fleet telematics"' in html
    assert 'data-testid="compose-draft"' in html  # an inbound message gets "Draft a reply"
    response = htmx(
        client,
        "post",
        compose_url("lead", lead),
        {"to": ANN, "subject": "Re: Fleet telematics", "body": "Yes.", "reply_to": received.pk},
    )
    assert response.status_code == 204
    reply = EmailMessage.objects.get(direction="outbound", text_body="Yes.")
    assert reply.thread_id == received.thread_id
    assert reply.in_reply_to == "reply-1@acme.example"
    assert "reply-1@acme.example" in reply.references


def test_a_message_of_another_records_thread_cannot_be_answered_from_this_one(
    client, rep1, lead, received
):
    other = LeadFactory(owner=rep1)
    client.force_login(rep1)
    url = f"{compose_url('lead', other)}?reply_to={received.pk}"
    assert htmx(client, "get", url).status_code == 404
    data = {"to": ANN, "subject": "x", "body": "y", "reply_to": received.pk}
    assert htmx(client, "post", compose_url("lead", other), data).status_code == 404


def test_picking_a_template_fills_subject_and_text_with_merged_values(client, rep1, lead):
    template = EmailTemplateFactory(
        subject="Following up on {{ lead.name }}",
        body="Hi {{ lead.contact_name }},\n\nBest,\n{{ sender.first_name }}",
    )
    client.force_login(rep1)
    url = reverse("emails:compose_template", args=["lead", lead.pk])
    html = htmx(client, "get", url, {"template": template.pk}).content.decode()
    assert 'value="Following up on Fleet telematics"' in html
    assert f"Hi Ann Lee,\n\nBest,\n{rep1.first_name}" in html
    assert htmx(client, "get", url, {"template": ""}).status_code == 204


def test_a_template_on_a_reply_keeps_the_reply_subject(client, rep1, lead, received):
    template = EmailTemplateFactory(subject="Brochure", body="Here it is")
    client.force_login(rep1)
    url = reverse("emails:compose_template", args=["lead", lead.pk])
    params = {"template": template.pk, "reply_to": received.pk, "subject": "Re: Fleet telematics"}
    html = htmx(client, "get", url, params).content.decode()
    assert 'value="Re: Fleet telematics"' in html and "Here it is" in html
    assert 'data-testid="compose-draft"' in html


def test_an_inactive_template_is_not_offered(client, rep1, lead):
    template = EmailTemplateFactory(name="Old one", is_active=False)
    client.force_login(rep1)
    assert "Old one" not in htmx(client, "get", compose_url("lead", lead)).content.decode()
    url = reverse("emails:compose_template", args=["lead", lead.pk])
    assert htmx(client, "get", url, {"template": template.pk}).status_code == 404


# --- live ----------------------------------------------------------------------------------------
def test_a_received_reply_tells_the_pages_of_its_records_and_only_those(monkeypatch, lead):
    from crm.events import handlers_for
    from crm.models import Event
    from emails import realtime

    published = []
    monkeypatch.setattr(
        realtime.realtime, "publish", lambda group, message: published.append((group, message))
    )
    deal = make_deal(lead.owner)
    event = Event(
        name="email.received",
        payload={"lead_id": str(lead.pk), "person_id": None, "deal_id": str(deal.pk)},
    )
    assert "emails.realtime.publish_email_received" in handlers_for("email.received")
    realtime.publish_email_received(event)
    assert [group for group, _ in published] == [f"record.lead.{lead.pk}", f"record.deal.{deal.pk}"]
    assert all(m["changed"] == ["email"] and m["event"] == "email.received" for _, m in published)
