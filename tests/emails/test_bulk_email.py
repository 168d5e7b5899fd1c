"""Bulk email from the leads table (``emails.bulk``, ``emails.record_views.bulk_*``): Managers
only; who gets it and who is skipped (no address, unsubscribed, bounced, consent withdrawn);
the checked leads or the table's filters; marketing mail in throttled chunks."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from emails import bulk, tasks
from emails.models import EmailAddressStatus, EmailMessage
from privacy.models import Consent
from privacy.services import consent_record
from tests.emails.factories import EmailTemplateFactory
from tests.leads.factories import LeadFactory

COMPOSE = "/email/bulk/leads/"
SEND = "/email/bulk/leads/send/"


@pytest.fixture(autouse=True)
def _eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def template(db):
    return EmailTemplateFactory(name="Spring offer", subject="Spring for {{ lead.name }}")


@pytest.fixture
def leads(rep1):
    """Five leads: two may get marketing mail, three are skipped for different reasons."""
    ok1 = LeadFactory(owner=rep1, name="Alpha fleet", contact_email="alpha@x.example")
    ok2 = LeadFactory(owner=rep1, name="Beta fleet", contact_email="beta@x.example")
    none = LeadFactory(owner=rep1, name="Gamma", contact_email="")
    gone = LeadFactory(owner=rep1, name="Delta", contact_email="delta@x.example")
    EmailAddressStatus.objects.create(address="delta@x.example", status="unsubscribed")
    bounced = LeadFactory(owner=rep1, name="Epsilon", contact_email="eps@x.example")
    EmailAddressStatus.objects.create(address="eps@x.example", status="bounced")
    return [ok1, ok2, none, gone, bounced]


def htmx(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true")


def test_managers_get_email_in_the_bulk_bar_reps_do_not(client, manager, rep1, leads):
    client.force_login(manager)
    assert 'data-testid="bulk-email"' in client.get("/leads/?clear=1").text
    client.force_login(rep1)
    assert 'data-testid="bulk-email"' not in client.get("/leads/?clear=1").text
    assert htmx(client, "get", COMPOSE).status_code == 403
    assert htmx(client, "post", SEND, {"template": 1, "scope": "filtered"}).status_code == 403


def test_the_audience_counts_who_gets_it_and_why_the_others_do_not(manager, leads):
    consent_record(
        by=manager,
        lead=leads[1],
        purpose=Consent.Purpose.MARKETING,
        status=Consent.Status.WITHDRAWN,
        source=Consent.Source.MANUAL,
    )
    audience = bulk.bulk_audience(leads=bulk_leads(manager))
    assert audience.lead_ids == [leads[0].pk]
    assert audience.summary() == (
        "Will send to 1 lead; 4 skipped: 1 no email, 1 unsubscribed, 1 bounced, "
        "1 consent withdrawn."
    )


def test_a_later_consent_grant_outweighs_an_older_withdrawal(manager, leads):
    for status in (Consent.Status.WITHDRAWN, Consent.Status.GRANTED):
        consent_record(
            by=manager,
            lead=leads[1],
            purpose=Consent.Purpose.MARKETING,
            status=status,
            source=Consent.Source.MANUAL,
        )
    assert bulk.bulk_audience(leads=bulk_leads(manager)).count == 2


def bulk_leads(user):
    from leads.selectors import lead_list

    return lead_list(user=user).order_by("name")


def test_the_modal_counts_the_checked_leads(client, manager, leads, template):
    client.force_login(manager)
    ids = [str(leads[0].pk), str(leads[2].pk), "not-an-id"]
    html = htmx(client, "get", COMPOSE, {"ids": ids, "assignee": "", "search": ""}).text
    assert "Will send to 1 lead; 1 skipped: 1 no email." in html
    assert "The 3 selected leads" in html and "Spring offer" in html
    assert 'value="selected" id="bulk-scope-selected" checked' in html


def test_without_checked_leads_the_modal_takes_the_tables_filters(client, manager, leads):
    client.force_login(manager)
    html = htmx(client, "get", COMPOSE, {"search": "fleet"}).text
    assert "Will send to 2 leads." in html
    assert "Every lead matching the table's filters" in html
    assert f'value="{urlencode({"search": "fleet"})}"' in html
    assert 'id="bulk-scope-selected" disabled' in html


def test_changing_the_scope_counts_again_and_keeps_the_template(client, manager, leads, template):
    client.force_login(manager)
    params = {"ids": f"{leads[0].pk},{leads[2].pk}", "query": "", "scope": "filtered"}
    html = htmx(client, "get", COMPOSE, {**params, "template": template.pk}).text
    assert "Will send to 2 leads; 3 skipped" in html
    assert f'<option value="{template.pk}" selected>' in html


def test_sending_writes_marketing_mail_to_each_lead_that_may_get_it(
    client, manager, leads, template, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = htmx(
            client,
            "post",
            SEND,
            {"template": template.pk, "scope": "filtered", "query": "", "ids": ""},
        )
    assert response.status_code == 204
    toast = json.loads(response.headers["HX-Trigger"])["showToast"]["message"]
    assert toast.startswith("Sending “Spring offer” to 2 leads; 3 skipped")
    messages = EmailMessage.objects.order_by("subject")
    assert [m.subject for m in messages] == ["Spring for Alpha fleet", "Spring for Beta fleet"]
    assert all(m.is_marketing and m.sender == manager for m in messages)
    assert all(m.status == EmailMessage.Status.SENT for m in messages)
    assert all("List-Unsubscribe" in sent.extra_headers for sent in mail.outbox)
    assert sorted(sent.to[0] for sent in mail.outbox) == ["alpha@x.example", "beta@x.example"]


def test_sending_is_throttled_in_chunks_spaced_a_minute_apart(
    manager, rep1, template, monkeypatch, django_capture_on_commit_callbacks
):
    for n in range(5):
        LeadFactory(owner=rep1, contact_email=f"lead{n}@x.example")
    calls = []
    monkeypatch.setattr(bulk, "CHUNK", 2)
    monkeypatch.setattr(
        tasks.send_bulk_email,
        "apply_async",
        lambda args, countdown: calls.append((args, countdown)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        audience = bulk.email_bulk_send(by=manager, leads=bulk_leads(manager), template=template)
    assert audience.count == 5
    assert [(len(args[2]), countdown) for args, countdown in calls] == [(2, 0), (2, 60), (1, 120)]
    assert not EmailMessage.objects.exists()  # written by the tasks, when they run


def test_a_redelivered_chunk_sends_nobody_twice(manager, leads, template):
    ids = [str(leads[0].pk), str(leads[1].pk)]
    started = timezone.now().isoformat()
    first = bulk.email_bulk_send_chunk(
        by_id=manager.pk, template_id=template.pk, lead_ids=ids, started=started
    )
    again = bulk.email_bulk_send_chunk(
        by_id=manager.pk, template_id=template.pk, lead_ids=ids, started=started
    )
    assert (first, again) == (2, 0) and EmailMessage.objects.count() == 2


def test_a_lead_that_unsubscribed_after_the_preview_is_skipped_when_its_chunk_runs(
    manager, leads, template
):
    EmailAddressStatus.objects.create(address="beta@x.example", status="unsubscribed")
    ids = [str(leads[0].pk), str(leads[1].pk)]
    sent = bulk.email_bulk_send_chunk(
        by_id=manager.pk, template_id=template.pk, lead_ids=ids, started=""
    )
    assert sent == 1 and EmailMessage.objects.get().to == ["alpha@x.example"]


def test_nobody_to_send_to_is_refused_in_the_modal(client, manager, leads, template):
    client.force_login(manager)
    data = {"template": template.pk, "scope": "selected", "ids": str(leads[2].pk), "query": ""}
    response = htmx(client, "post", SEND, data)
    assert response.status_code == 422
    assert "None of these leads can get marketing mail (1 no email)." in response.text
    assert not EmailMessage.objects.exists()


def test_a_template_must_be_chosen(client, manager, leads):
    client.force_login(manager)
    response = htmx(client, "post", SEND, {"scope": "filtered", "query": "", "ids": ""})
    assert response.status_code == 422 and "Choose the template to send." in response.text


def test_too_many_leads_are_refused(client, manager, leads, template, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_LEADS", 3)
    client.force_login(manager)
    response = htmx(
        client, "post", SEND, {"template": template.pk, "scope": "filtered", "query": ""}
    )
    assert response.status_code == 422 and "At most 3 leads at a time" in response.text


def test_the_tables_own_bulk_endpoint_does_not_run_the_email_action(client, manager, leads):
    client.force_login(manager)
    response = htmx(
        client, "post", reverse("leads:bulk"), {"ids": [leads[0].pk], "action": "email"}
    )
    assert response.status_code == 400 and not EmailMessage.objects.exists()
