"""Helpers of the inbound email tests: the shipped sample messages and the outbound message of
their thread (the one Sam sent Maria, which the samples answer)."""

from __future__ import annotations

from email.message import EmailMessage as MIMEMessage
from email.utils import format_datetime
from pathlib import Path

from anymail.inbound import AnymailInboundMessage
from django.utils import timezone

from emails.inbound import email_receive
from emails.models import EmailMessage
from tests.emails.factories import EmailMessageFactory, EmailThreadFactory
from tests.leads.factories import LeadFactory

SAMPLES = Path(__file__).resolve().parents[2] / "emails" / "samples"
# The Message-ID of Sam's proposal: the samples' In-Reply-To and References name it.
PROPOSAL_ID = "171773370512.4242.1783021943871203417@pipecrm.localhost"
PROPOSAL_SUBJECT = "Fleet telematics proposal for Acme Logistics"
MARIA = "maria.lopez@acme-logistics.example"
GMAIL_ID = "CAF3kLq7xWb2Z4p1dN8eUuY9rT5vHq0mK2sJ6cVb1yR4nA7gQ@mail.gmail.com"
OUTLOOK_ID = "DB9PR08MB7115C4D2A81F0B3E6F9A2D7CB8E52@DB9PR08MB7115.eurprd08.prod.outlook.com"
APPLE_ID = "8E4C2B1A-5F6D-4A3B-9C8E-7D1F2A3B4C5D@acme-logistics.example"
PROVIDER_ID = "20240603171500.1.ABCDEF@mg.pipecrm.localhost"  # what the provider calls it


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample(name: str) -> AnymailInboundMessage:
    return AnymailInboundMessage.parse_raw_mime_bytes(sample_bytes(name))


def receive(name: str) -> EmailMessage:
    return email_receive(message=sample(name))


def maria_lead(owner, **fields):
    """Maria's lead (the samples' sender), owned by ``owner``."""
    values = {
        "name": "Acme Logistics – fleet telematics",
        "contact_name": "Maria Lopez",
        "contact_email": MARIA,
        "company_name": "Acme Logistics Ltd.",
        **fields,
    }
    return LeadFactory(owner=owner, **values)


def proposal(lead, sender) -> EmailMessage:
    """Sam's proposal to Maria, sent from her lead: the thread the samples reply to."""
    return EmailMessageFactory(
        thread=EmailThreadFactory(subject=PROPOSAL_SUBJECT, lead=lead),
        message_id=PROPOSAL_ID,
        from_name="Sam Carter",
        to=[MARIA],
        text_body="Hi Maria, as promised, here is our proposal.",
        sender=sender,
        provider_message_id=PROVIDER_ID,
    )


def compose(
    *,
    sender: str = f"Maria Lopez <{MARIA}>",
    to: str = "Sam Carter <crm@pipecrm.localhost>",
    subject: str = "A question",
    body: str = "Hello,\n\nA question about the offer.\n",
    message_id: str | None = "q1@acme-logistics.example",
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> AnymailInboundMessage:
    """A received message built with the standard library (headers as a client writes them)."""
    mime = MIMEMessage()
    mime["From"] = sender
    mime["To"] = to
    mime["Subject"] = subject
    mime["Date"] = format_datetime(timezone.now())
    if message_id:
        mime["Message-ID"] = f"<{message_id}>"
    for name, value in (headers or {}).items():
        mime[name] = value
    mime.set_content(body)
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        mime.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return AnymailInboundMessage.parse_raw_mime_bytes(mime.as_bytes())
