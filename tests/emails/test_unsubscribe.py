"""Unsubscribing from marketing mail: the List-Unsubscribe headers and link, the one-click
endpoint (RFC 8058), the confirm page, the consent withdrawal and the address status."""

import pytest
from django.core import mail
from django.test import Client

from crm.errors import ValidationFailed
from emails import services
from emails.models import EmailAddressStatus, EmailMessage
from privacy.models import Consent
from privacy.selectors import has_consent
from tests.factories import PersonFactory
from tests.leads.factories import LeadFactory

ANN = "ann@acme.example"


@pytest.fixture
def lead(rep1):
    lead = LeadFactory(owner=rep1, contact_email=ANN)
    Consent.objects.create(lead=lead, status=Consent.Status.GRANTED, source="capture_form")
    return lead


def marketing(by, record, django_capture_on_commit_callbacks) -> EmailMessage:
    with django_capture_on_commit_callbacks(execute=True):
        return services.email_send(
            by=by, record=record, to=[ANN], subject="News", body="Our **news**", is_marketing=True
        )


def link_of(message: EmailMessage) -> str:
    return services.unsubscribe_url(
        services.unsubscribe_token(message_id=message.pk, address=ANN)
    ).removeprefix("http://localhost:8000")


def test_marketing_mail_carries_the_one_click_headers_and_a_link(
    rep1, lead, django_capture_on_commit_callbacks
):
    message = marketing(rep1, lead, django_capture_on_commit_callbacks)
    [sent] = mail.outbox
    url = services.unsubscribe_url(services.unsubscribe_token(message_id=message.pk, address=ANN))
    assert url.startswith("http://localhost:8000/email/unsubscribe/")
    assert sent.extra_headers["List-Unsubscribe"] == f"<{url}>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in sent.body and url in message.text_body
    assert f'<a href="{url}" rel="noopener noreferrer">Unsubscribe</a>' in sent.alternatives[0][0]


def test_one_to_one_mail_has_no_unsubscribe(rep1, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.email_send(by=rep1, record=lead, to=[ANN], subject="Hi", body="x")
    [sent] = mail.outbox
    assert "List-Unsubscribe" not in sent.extra_headers and "unsubscribe" not in sent.body


def test_one_click_unsubscribes_and_withdraws_consent(
    rep1, lead, django_capture_on_commit_callbacks
):
    message = marketing(rep1, lead, django_capture_on_commit_callbacks)
    assert has_consent(lead=lead)
    # A mail client's one-click POST: no session, no CSRF token (RFC 8058).
    client = Client(enforce_csrf_checks=True)
    response = client.post(link_of(message), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b'data-testid="unsubscribe-done"' in response.content
    status = EmailAddressStatus.objects.get(address=ANN)
    assert status.status == EmailAddressStatus.Status.UNSUBSCRIBED
    withdrawal = Consent.objects.filter(lead=lead, status=Consent.Status.WITHDRAWN).get()
    assert withdrawal.source == Consent.Source.EMAIL and withdrawal.recorded_by is None
    assert withdrawal.evidence == {"address": ANN, "message": str(message.pk), "one_click": True}
    assert not has_consent(lead=lead)

    # Idempotent: a second click records nothing new.
    assert client.post(link_of(message), {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Consent.objects.filter(lead=lead, status=Consent.Status.WITHDRAWN).count() == 1


def test_the_link_opens_a_confirm_page_that_changes_nothing_until_confirmed(
    rep1, lead, django_capture_on_commit_callbacks
):
    message = marketing(rep1, lead, django_capture_on_commit_callbacks)
    page = Client().get(link_of(message))
    assert page.status_code == 200 and b'data-testid="unsubscribe-confirm"' in page.content
    assert ANN.encode() in page.content
    assert not EmailAddressStatus.objects.exists()  # link scanners follow GETs
    assert Client().post(link_of(message)).status_code == 200  # the confirm button
    assert EmailAddressStatus.objects.get(address=ANN).status == "unsubscribed"


def test_a_forged_or_damaged_token_is_refused(rep1, lead, django_capture_on_commit_callbacks):
    message = marketing(rep1, lead, django_capture_on_commit_callbacks)
    url = link_of(message)
    forged = url.replace(url.split("/")[-2][-6:], "AAAAAA")
    for target in (forged, "/email/unsubscribe/nonsense/"):
        assert Client().post(target).status_code == 404
        assert Client().get(target).status_code == 404
    assert not EmailAddressStatus.objects.exists()
    with pytest.raises(ValidationFailed):
        services.email_unsubscribe(token="x")


def test_after_unsubscribing_marketing_mail_is_refused_but_one_to_one_mail_goes(
    rep1, lead, django_capture_on_commit_callbacks
):
    message = marketing(rep1, lead, django_capture_on_commit_callbacks)
    services.email_unsubscribe(token=services.unsubscribe_token(message_id=message.pk, address=ANN))
    with pytest.raises(ValidationFailed) as exc:
        marketing(rep1, lead, django_capture_on_commit_callbacks)
    assert exc.value.code == "address_blocked"
    assert services.email_send(by=rep1, record=lead, to=[ANN], subject="Hi", body="x").pk


def test_a_person_s_consent_is_withdrawn_when_the_mail_came_from_a_person(
    rep1, django_capture_on_commit_callbacks
):
    person = PersonFactory(owner=rep1, email=ANN)
    message = marketing(rep1, person, django_capture_on_commit_callbacks)
    services.email_unsubscribe(token=services.unsubscribe_token(message_id=message.pk, address=ANN))
    assert Consent.objects.get(person=person).status == Consent.Status.WITHDRAWN


def test_an_unsubscribe_never_downgrades_a_bounce(rep1, lead, django_capture_on_commit_callbacks):
    message = marketing(rep1, lead, django_capture_on_commit_callbacks)
    EmailAddressStatus.objects.create(address=ANN, status=EmailAddressStatus.Status.BOUNCED)
    services.email_unsubscribe(token=services.unsubscribe_token(message_id=message.pk, address=ANN))
    assert EmailAddressStatus.objects.get(address=ANN).status == "bounced"
    services.email_address_status_set(address=ANN.upper(), status="unsubscribed")
    assert EmailAddressStatus.objects.get(address=ANN).status == "bounced"
    services.email_address_status_set(address=ANN, status="complained", reason="spam report")
    assert EmailAddressStatus.objects.get(address=ANN).status == "complained"
