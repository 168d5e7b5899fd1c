"""Email from a lead's page in Chromium (issue 20): a rep writes from a template and sees the
message on the record; a reply received through ``manage.py receive_email`` appears on the
open page without a reload."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from crm.roles import Role
from emails import backends, services
from emails.models import EmailMessage
from tests.e2e.helpers import ask_assistant, in_thread, login
from tests.e2e.test_realtime import COUNT_SOCKETS, LIVE_MS, not_reloaded, open_page
from tests.emails.factories import EmailTemplateFactory
from tests.factories import PASSWORD, UserFactory
from tests.leads.factories import LeadFactory

ANN = "ann.lee@acme-logistics.example"


@pytest.fixture
def stored_mail(settings, tmp_path):
    """The embedded default: sent mail is stored (the "Sent mail" page reads it back)."""
    settings.EMAIL_BACKEND = settings.EMAIL_STORED_BACKEND
    settings.MEDIA_ROOT = tmp_path / "media"


def a_rep_and_lead():
    rep = UserFactory(username="mailrep", role=Role.SALES_REP, first_name="Rita", last_name="Rep")
    lead = LeadFactory(
        owner=rep,
        name="Acme fleet telematics",
        company_name="Acme Logistics",
        contact_name="Ann Lee",
        contact_email=ANN,
    )
    return rep, lead


@pytest.mark.browser
def test_a_rep_writes_from_a_template_and_sees_the_message_on_the_lead(
    page: Page, stored_mail
) -> None:
    rep, lead = a_rep_and_lead()
    EmailTemplateFactory(
        name="First follow-up",
        subject="Following up on {{ lead.name }}",
        body="Hi {{ lead.contact_name }},\n\nThanks for your time today.\n\n"
        "{{ sender.first_name }}",
    )
    login(page, "mailrep", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    card = page.get_by_test_id("email-card")
    expect(card).to_contain_text("No email yet.")

    card.get_by_role("link", name="Compose").click()
    modal = page.locator("#modal-dialog")
    expect(modal.get_by_label("To", exact=True)).to_have_value(ANN)
    modal.get_by_label("Template").select_option(label="First follow-up")
    subject = modal.get_by_label("Subject")
    expect(subject).to_have_value("Following up on Acme fleet telematics")
    body = modal.get_by_label("Text", exact=True)
    expect(body).to_have_value("Hi Ann Lee,\n\nThanks for your time today.\n\nRita")
    body.click()
    body.press("Control+End")
    body.press_sequentially("\n\nP.S. The case study is attached to our website.")
    modal.get_by_role("button", name="Send").click()

    expect(page.locator("#modal")).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text(f"Email to {ANN} is on its way.")
    thread = card.get_by_test_id("email-thread")
    expect(thread).to_have_count(1)
    expect(thread).to_contain_text("Following up on Acme fleet telematics")
    expect(thread.get_by_test_id("email-status").first).to_have_text("Sent")
    expect(thread.get_by_test_id("email-body").first).to_contain_text("P.S. The case study")
    # The message is an email activity on the lead's timeline too.
    expect(page.get_by_test_id("timeline")).to_contain_text("Following up on Acme fleet telematics")

    message = EmailMessage.objects.get()
    assert message.status == EmailMessage.Status.SENT and message.sender == rep
    [stored] = backends.stored_messages()
    assert stored.subject == "Following up on Acme fleet telematics"


def reply_eml(message: EmailMessage) -> bytes:
    """Ann's answer from her mail client, naming the sent message in its threading headers."""
    return (
        f"From: Ann Lee <{ANN}>\r\n"
        f"To: Rita Rep <{message.from_address}>\r\n"
        f"Subject: Re: {message.subject}\r\n"
        "Date: Tue, 04 Mar 2025 10:12:44 +0100\r\n"
        "Message-ID: <CAF3kLq7-reply-from-ann@mail.gmail.com>\r\n"
        f"In-Reply-To: <{message.message_id}>\r\n"
        f"References: <{message.message_id}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="UTF-8"\r\n'
        "\r\n"
        "Hi Rita,\r\n\r\nCould you send the pricing for 40 vehicles?\r\n\r\nAnn\r\n\r\n"
        f"On Mon, 3 Mar 2025 at 09:00, Rita Rep <{message.from_address}> wrote:\r\n"
        "> Thanks for your time today.\r\n"
    ).encode()


@pytest.mark.browser
def test_a_reply_received_by_the_mail_server_shows_on_the_open_lead_page(
    new_context, tmp_path, stored_mail
) -> None:
    rep, lead = a_rep_and_lead()
    sent = in_thread(
        services.email_send,
        by=rep,
        record=lead,
        to=[ANN],
        subject="Your fleet trial",
        body="Hi Ann,\n\nThanks for your time today.",
    )

    context = new_context()
    context.add_init_script(COUNT_SOCKETS)
    login(context.new_page(), "mailrep", PASSWORD)
    page = open_page(context, f"/leads/{lead.pk}/", sockets=2)  # bell + record
    card = page.get_by_test_id("email-card")
    expect(card.get_by_test_id("email-message")).to_have_count(1)
    expect(card.get_by_test_id("email-status").first).to_have_text("Sent")

    eml = tmp_path / "reply.eml"
    eml.write_bytes(reply_eml(sent))
    in_thread(call_command, "receive_email", "--file", str(eml))

    reply = card.locator('[data-testid="email-message"][data-direction="inbound"]')
    expect(reply).to_contain_text("Could you send the pricing for 40 vehicles?", timeout=LIVE_MS)
    expect(reply.get_by_test_id("email-status")).to_have_text("Received")
    expect(card.get_by_test_id("email-thread")).to_have_count(1)  # the same thread
    assert not_reloaded(page)

    # The rep drafts the answer from the reply, as a person would.
    reply.get_by_role("link", name="Draft a reply").click()
    modal = page.locator("#modal-dialog")
    expect(modal.get_by_label("Subject")).to_have_value("Re: Your fleet trial")
    expect(modal.get_by_label("Text", exact=True)).to_have_value(
        re.compile(r"^Hi Ann,.*You asked: “Could you send the pricing for 40 vehicles\?”", re.S)
    )


@pytest.mark.browser
def test_a_manager_emails_the_checked_leads_or_every_lead_the_table_shows(
    page: Page, stored_mail
) -> None:
    UserFactory(username="mailmgr", role=Role.MANAGER, first_name="Max", last_name="Manager")
    rep = UserFactory(username="mailrep2", role=Role.SALES_REP)
    EmailTemplateFactory(name="Spring offer", subject="Spring for {{ lead.name }}")
    for n in range(3):
        LeadFactory(owner=rep, name=f"Fleet {n}", contact_email=f"fleet{n}@x.example")
    LeadFactory(owner=rep, name="No address", contact_email="")
    login(page, "mailmgr", PASSWORD)
    page.goto("/leads/?clear=1")
    page.get_by_role("row", name="No address").get_by_role("checkbox").check()
    page.get_by_role("row", name="Fleet 1").get_by_role("checkbox").check()
    page.get_by_test_id("bulk-email").click()
    modal = page.locator("#modal-dialog")
    audience = modal.get_by_test_id("bulk-audience")
    expect(audience).to_have_text("Will send to 1 lead; 1 skipped: 1 no email.")
    modal.get_by_label("Every lead").check()
    expect(audience).to_have_text("Will send to 3 leads; 1 skipped: 1 no email.")
    modal.get_by_label("Template").select_option(label="Spring offer")
    modal.get_by_role("button", name="Send to 3 leads").click()
    expect(page.locator("#toasts")).to_contain_text("Sending “Spring offer” to 3 leads")
    expect(page.locator("#modal")).to_be_hidden()
    sent = EmailMessage.objects.filter(is_marketing=True)
    assert sorted(m.subject for m in sent) == [f"Spring for Fleet {n}" for n in range(3)]
    assert len(backends.stored_messages()) == 3


@pytest.mark.browser
def test_the_assistant_drafts_an_email_the_rep_edits_in_the_composer_and_sends(
    page: Page, stored_mail
) -> None:
    """From the AI drawer (offline): the draft comes with a proposal; "Edit in the composer"
    opens it prefilled, the rep changes it and sends; the proposal cannot send it again."""
    rep, lead = a_rep_and_lead()
    login(page, "mailrep", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    page.get_by_test_id("ai-drawer-toggle").click()
    drawer = page.locator("#ai-drawer")
    answer = ask_assistant(drawer, "draft an email to this lead")
    expect(answer).to_contain_text("Subject: Following up on Acme fleet telematics")
    expect(answer).to_contain_text("Hi Ann,")
    proposal = drawer.get_by_test_id("ai-proposal")
    expect(proposal).to_contain_text(
        f"Send the email “Following up on Acme fleet telematics” to {ANN}"
    )
    assert not EmailMessage.objects.exists()  # nothing goes out before the rep says so

    proposal.get_by_role("button", name="Edit in the composer").click()
    modal = page.locator("#modal-dialog")
    subject = modal.get_by_label("Subject")
    expect(subject).to_have_value("Following up on Acme fleet telematics")
    expect(modal.get_by_label("To", exact=True)).to_have_value(ANN)
    body = modal.get_by_label("Text", exact=True)
    expect(body).to_have_value(re.compile(r"^Hi Ann,\n\nI am following up on Acme fleet"))
    expect(proposal).to_have_attribute("data-status", "edited")
    expect(proposal.get_by_test_id("ai-confirm")).to_have_count(0)
    subject.fill("Pricing for your 40 vehicles")
    body.click()
    body.press("Control+End")
    body.press_sequentially("\n\nP.S. I attach nothing; the pricing is on our site.")
    modal.get_by_role("button", name="Send").click()

    expect(page.locator("#modal")).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text(f"Email to {ANN} is on its way.")
    thread = page.get_by_test_id("email-card").get_by_test_id("email-thread")
    expect(thread).to_contain_text("Pricing for your 40 vehicles")
    message = EmailMessage.objects.get()
    assert message.sender == rep and message.text_body.startswith("Hi Ann,")
    assert "P.S. I attach nothing" in message.text_body


@pytest.mark.browser
def test_draft_the_email_of_the_next_best_action_opens_the_composer(
    page: Page, stored_mail
) -> None:
    rep, lead = a_rep_and_lead()  # Ann has an address and no phone: the first touch is email
    login(page, "mailrep", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    action = page.get_by_test_id("next-best-action")
    expect(action.get_by_test_id("nba-subject")).to_have_text("First email to Ann Lee")

    action.get_by_test_id("nba-draft-email").click()

    modal = page.locator("#modal-dialog")
    expect(modal.get_by_label("Subject")).to_have_value("First email to Ann Lee")
    expect(modal.get_by_label("Text", exact=True)).to_have_value(re.compile(r"^Hi Ann,"))
    expect(modal.get_by_test_id("compose-draft-note")).to_contain_text("AI offline")
    modal.get_by_role("button", name="Send").click()
    expect(page.locator("#toasts")).to_contain_text(f"Email to {ANN} is on its way.")
    expect(page.get_by_test_id("email-card").get_by_test_id("email-thread")).to_contain_text(
        "First email to Ann Lee"
    )


@pytest.mark.browser
def test_a_viewer_gets_the_draft_but_no_send_proposal(page: Page, stored_mail) -> None:
    from crm import permissions

    _, lead = a_rep_and_lead()
    viewer = UserFactory(username="mailviewer", role=Role.VIEWER)
    permissions.share(viewer, lead)
    login(page, "mailviewer", PASSWORD)
    page.goto(f"/leads/{lead.pk}/")
    expect(page.get_by_test_id("email-card")).to_be_visible()
    expect(page.get_by_test_id("email-compose")).to_have_count(0)
    page.get_by_test_id("ai-drawer-toggle").click()
    drawer = page.locator("#ai-drawer")
    answer = ask_assistant(drawer, "draft an email to this lead")
    expect(answer).to_contain_text("Subject: Following up on Acme fleet telematics")
    expect(answer).to_contain_text("You may not send email from this record")
    expect(drawer.get_by_test_id("ai-proposal")).to_have_count(0)
