"""Receiving mail: one service, ``email_receive``, behind both doors (issue 20).

The provider's inbound webhook (anymail's view for ``settings.EMAIL_PROVIDER``, routed in
``emails.webhooks``; its signal reaches ``on_inbound`` below) and ``manage.py receive_email``
(one RFC 822 message on standard input, a mail server's pipe) both hand it an
``AnymailInboundMessage``.

Where a message goes, first match wins:
1. its thread, by headers: ``In-Reply-To`` / ``References`` naming a stored message;
2. a thread of the same subject (Re:/Fwd: prefixes aside) on a lead or person whose address
   is the sender's;
3. a new thread on the record whose address is the sender's: their open lead, else their
   person, else their latest lead;
4. to ``EMAIL_CAPTURE_ADDRESS`` from an unknown sender (not one of our users, not marked as
   spam, not an automatic reply): a new lead (source "email", contact fields from the
   signature, the capture's assignment rules through ``lead.created``) and its first thread;
5. otherwise a thread on no record, kept for administrators (no activity, no event).

A message on a record gets an inbound email ``Activity`` (timeline, ``last_activity_at``,
scoring: ``activities.services.activity_create``), stops the nurture sequences of the lead
that answered, and emits ``email.received``. Automatic mail (out-of-office replies, delivery
reports) is stored on its thread but is no reply: no activity, no event, no lead. Attachments
are stored through the storage API, except those over ``EMAIL_MAX_ATTACHMENT_BYTES`` or of a
type that runs code (``DANGEROUS_EXTENSIONS``): refused, logged, and named on the activity.

Receiving a Message-ID twice changes nothing the second time (a message without one gets an
id made from its content, so a redelivery is recognised too).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field

import nh3
from anymail.inbound import AnymailInboundMessage
from anymail.signals import inbound as inbound_signal
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import get_valid_filename

from activities import services as activity_services
from activities.models import Activity
from crm import services as crm_services
from crm.errors import DomainError
from crm.events import emit
from crm.models import Person, User
from emails.models import EmailAttachment, EmailMessage, EmailThread
from emails.signatures import Signature, parse_signature, reply_text, signature_of
from leads import services as lead_services
from leads.capture.selectors import open_lead_for_email
from leads.models import Lead, TouchPoint

logger = logging.getLogger(__name__)

# Types a mail client would run or install on a double click (and the containers used to
# smuggle them past filters). Refused whatever their Content-Type says.
DANGEROUS_EXTENSIONS = frozenset(
    {
        "ade", "adp", "apk", "app", "appx", "bat", "cab", "chm", "cmd", "com", "cpl", "dll",
        "dmg", "exe", "gadget", "hta", "img", "inf", "ins", "iso", "isp", "jar", "js", "jse",
        "lib", "lnk", "mde", "msc", "msi", "msix", "msp", "mst", "nsh", "pif", "ps1", "ps1xml",
        "psc1", "psm1", "reg", "scf", "scr", "sct", "shb", "shs", "sys", "vb", "vbe", "vbs",
        "vhd", "vhdx", "vxd", "wsc", "wsf", "wsh", "xll",
    }
)  # fmt: skip
DANGEROUS_CONTENT_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-ms-installer",
        "application/x-msi",
        "application/x-dosexec",
        "application/x-executable",
        "application/javascript",
        "application/x-javascript",
        "text/javascript",
        "application/hta",
        "application/x-ms-shortcut",
    }
)
# Received HTML keeps its layout but loses what could run, call home or restyle the page:
# scripts and styles (nh3 drops them), and images (remote ones are read receipts).
HTML_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
HTML_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rv|ref)\s*(?:\[\d+\])?\s*:\s*|\[[^\]]{1,40}\]\s*)+",
    re.I,
)
_ROLE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Incoming:
    """The parts of a received message ``email_receive`` reads."""

    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    from_address: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    recipients: frozenset[str]  # every address it was delivered to (lowercased)
    subject: str
    text: str
    html: str
    reply: str  # the new text, without quoted history
    automatic: str  # why it is automatic mail ("auto-replied", "delivery report"), or ""
    spam: bool
    attachments: tuple[Attachment, ...] = field(default=())

    @property
    def thread_ids(self) -> list[str]:
        """The Message-IDs it answers, the closest first."""
        ids = [self.in_reply_to, *reversed(self.references)]
        return list(dict.fromkeys(i for i in ids if i))


# --- reading the message -------------------------------------------------------------------------
def message_ids(value: str | None) -> list[str]:
    """The Message-IDs in a header, without their angle brackets."""
    value = str(value or "")
    found = _MESSAGE_ID.findall(value)
    if not found and value.strip():
        found = [value.strip().strip("<>")]
    return [i[:998] for i in found if i]


def message_id_of(message: AnymailInboundMessage) -> str:
    """Its Message-ID, or one made from its bytes when it has none (a redelivered copy gets
    the same one, so it is recognised)."""
    ids = message_ids(message.get("Message-ID"))
    if ids:
        return ids[0]
    digest = hashlib.sha256(message.as_bytes()).hexdigest()[:40]
    return f"{digest}@no-message-id.invalid"


def thread_subject(subject: str) -> str:
    """A subject as its thread knows it: without "Re:", "Fwd:", "AW:", "[tag]" prefixes, in
    one case, spaces collapsed."""
    return " ".join(_SUBJECT_PREFIX.sub("", subject or "").split()).casefold()


def _addresses(message: AnymailInboundMessage, header: str) -> list[tuple[str, str]]:
    """(lowercased address, display name) of each address in a header; unreadable ones are
    left out."""
    try:
        parsed = message.get_address_header(header)  # AnymailInboundMessage
    except Exception:  # a malformed header: nothing usable in it
        return []
    return [
        (a.addr_spec.strip().lower(), a.display_name or "")
        for a in parsed
        if a.addr_spec and "@" in a.addr_spec
    ]


def _automatic(message: AnymailInboundMessage, from_address: str) -> str:
    auto = str(message.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return auto.split(";")[0]
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return "auto-replied"
    if str(message.get("Precedence") or "").strip().lower() in ("bulk", "junk", "auto_reply"):
        return "bulk"
    if message.get_content_type() == "multipart/report" or _ROLE_SENDERS.match(from_address):
        return "delivery report"
    return ""


def _attachments(message: AnymailInboundMessage) -> tuple[Attachment, ...]:
    found = []
    for part in message.attachments:
        try:
            content = part.get_content_bytes() or b""
        except (ValueError, TypeError):  # a multipart "attachment": nothing to store
            continue
        found.append(
            Attachment(
                filename=str(part.get_filename() or "attachment"),
                content_type=part.get_content_type(),
                content=content,
            )
        )
    return tuple(found)


def read_message(message: AnymailInboundMessage) -> Incoming:
    """The parts of ``message`` (an ``AnymailInboundMessage``) that receiving reads."""
    senders = _addresses(message, "From") or _addresses(message, "Sender")
    from_address, from_name = senders[0] if senders else ("", "")
    if not from_address and getattr(message, "envelope_sender", None):
        from_address = str(message.envelope_sender).strip().lower()
    to = [a for a, _ in _addresses(message, "To")]
    cc = [a for a, _ in _addresses(message, "Cc")]
    # A copy delivered to an address in neither To nor Cc (a Bcc) names it here: Postmark
    # adds Bcc, a mail server's pipe Delivered-To or X-Original-To.
    delivered = [
        a
        for header in ("Bcc", "Delivered-To", "X-Original-To")
        for a, _ in _addresses(message, header)
    ]
    envelope = str(getattr(message, "envelope_recipient", None) or "").strip().lower()
    text = message.text or ""
    html = message.html or ""
    if not text and html:
        text = "\n".join(line.strip() for line in strip_tags(html).splitlines()).strip()
    stripped = getattr(message, "stripped_text", None)  # the provider's own quote removal
    return Incoming(
        message_id=message_id_of(message),
        in_reply_to=(message_ids(message.get("In-Reply-To")) or [""])[0],
        references=tuple(message_ids(message.get("References"))),
        from_address=from_address[:254],
        from_name=from_name[:200],
        to=tuple(to),
        cc=tuple(cc),
        recipients=frozenset([*to, *cc, *delivered, *([envelope] if envelope else [])]),
        subject=" ".join(str(message.get("Subject") or "").split())[:998],
        text=text.replace("\x00", ""),
        html=clean_html(html),
        reply=(stripped or reply_text(text)).replace("\x00", "").strip(),
        automatic=_automatic(message, from_address),
        spam=bool(getattr(message, "spam_detected", None)),
        attachments=_attachments(message),
    )


def clean_html(html: str) -> str:
    """Received HTML made safe to show (see ``HTML_TAGS``)."""
    if not html:
        return ""
    return nh3.clean(
        html.replace("\x00", ""),
        tags=set(HTML_TAGS),
        url_schemes=set(HTML_URL_SCHEMES),
        link_rel="noopener noreferrer",
    )


# --- where it goes -------------------------------------------------------------------------------
@dataclass
class Destination:
    thread: EmailThread | None = None  # an existing thread
    record: Lead | Person | None = None  # the record of a new thread
    new_lead: bool = False  # email-to-lead: a new lead is the record


def _live(record) -> bool:
    return record is not None and getattr(record, "deleted_at", None) is None


def _thread_by_headers(incoming: Incoming) -> EmailThread | None:
    ids = incoming.thread_ids
    if not ids:
        return None
    found = dict(
        EmailMessage.objects.filter(message_id__in=ids).values_list("message_id", "thread_id")
    )
    thread_id = next((found[i] for i in ids if i in found), None)
    if thread_id is None:
        return None
    return EmailThread.objects.select_related("lead", "person", "deal").get(pk=thread_id)


def _thread_by_subject(incoming: Incoming) -> EmailThread | None:
    subject, address = thread_subject(incoming.subject), incoming.from_address
    if not subject or not address:
        return None
    candidates = (
        EmailThread.objects.filter(
            Q(lead__contact_email=address, lead__deleted_at__isnull=True)
            | Q(person__email__iexact=address, person__deleted_at__isnull=True)
            | Q(deal__person__email__iexact=address, deal__deleted_at__isnull=True)
        )
        .select_related("lead", "person", "deal")
        .order_by("-last_message_at")[:50]
    )
    return next((t for t in candidates if thread_subject(t.subject) == subject), None)


def record_for_address(address: str) -> Lead | Person | None:
    """The record mail from ``address`` is logged on: the open lead with that contact email,
    else the person with that email, else the newest lead with it (converted or closed)."""
    if not address:
        return None
    lead = open_lead_for_email(address)
    if lead is not None:
        return lead
    person = (
        Person.objects.filter(email__iexact=address, anonymized_at__isnull=True)
        .order_by("-updated_at")
        .first()
    )
    if person is not None:
        return person
    return Lead.objects.filter(contact_email=address.lower()).order_by("-created_at").first()


def _to_capture(incoming: Incoming) -> bool:
    capture = (settings.EMAIL_CAPTURE_ADDRESS or "").strip().lower()
    return bool(capture) and capture in incoming.recipients


def _may_become_lead(incoming: Incoming) -> bool:
    return (
        _to_capture(incoming)
        and bool(incoming.from_address)
        and not incoming.automatic
        and not incoming.spam
        # Our own users writing to the capture address are not prospects.
        and _valid_address(incoming.from_address)
        and not User.objects.filter(email__iexact=incoming.from_address).exists()
    )


def _valid_address(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def destination(incoming: Incoming) -> Destination:
    """Where ``incoming`` goes (see the module docstring); reads only."""
    thread = _thread_by_headers(incoming)
    if thread is not None and _live(thread.record):
        return Destination(thread=thread)
    # A thread on no record takes the sender's record, if any; one whose record was deleted
    # is left alone (the reply starts a new thread).
    orphan = thread if thread is not None and thread.record is None else None
    by_subject = _thread_by_subject(incoming)
    if by_subject is not None:
        return Destination(thread=by_subject)
    record = record_for_address(incoming.from_address)
    if record is not None:
        return Destination(thread=orphan, record=record)
    if orphan is None and _may_become_lead(incoming):
        return Destination(new_lead=True)
    return Destination(thread=orphan)


# --- receiving -----------------------------------------------------------------------------------
class _AlreadyReceived(Exception):
    """Another delivery of the same Message-ID committed first: undo this one."""


def email_receive(*, message: AnymailInboundMessage) -> EmailMessage:
    """Store a received message (an ``AnymailInboundMessage``) on its thread and record, with
    its side effects (module docstring). Returns the stored message, or the one stored
    before under the same Message-ID (nothing else happens then).

    Reading the signature of a new lead's first message may ask Claude: that happens before
    the transaction, which holds no lock while the API answers.
    """
    incoming = read_message(message)
    existing = EmailMessage.objects.filter(message_id=incoming.message_id).first()
    if existing is not None:
        return existing
    signature = None
    if destination(incoming).new_lead:
        signature = signature_of(
            incoming.text, from_name=incoming.from_name, from_address=incoming.from_address
        )
    try:
        return _receive(incoming, signature)
    except _AlreadyReceived:
        return EmailMessage.objects.get(message_id=incoming.message_id)


@transaction.atomic
def _receive(incoming: Incoming, signature: Signature | None) -> EmailMessage:
    by = crm_services.system_user()
    now = timezone.now()
    target = destination(incoming)  # again: another message may have made the lead meanwhile
    lead_created = False
    if target.new_lead:
        if signature is None:  # offline only: no API call inside the transaction
            signature = parse_signature(
                incoming.text, from_name=incoming.from_name, from_address=incoming.from_address
            )
        try:
            with transaction.atomic():
                target.record = _lead_from_email(by, incoming, signature)
            lead_created = True
        except DomainError as exc:
            # e.g. a required custom field no email can fill: the mail is kept, on no record,
            # rather than refused (the provider would send it again and again).
            logger.error(
                "Mail from %s could not become a lead: %s", incoming.from_address, exc.message
            )
    thread = _thread_for(target, incoming, now)
    stored = EmailMessage(
        thread=thread,
        direction=EmailMessage.Direction.INBOUND,
        status=EmailMessage.Status.RECEIVED,
        message_id=incoming.message_id,
        in_reply_to=incoming.in_reply_to,
        references=" ".join(incoming.references),
        from_address=incoming.from_address,
        from_name=incoming.from_name,
        to=list(incoming.to),
        cc=list(incoming.cc),
        subject=incoming.subject,
        text_body=incoming.text,
        html_body=incoming.html,
        received_at=now,
    )
    try:
        with transaction.atomic():
            stored.save()
    except IntegrityError:  # the same Message-ID, committed by a concurrent delivery
        raise _AlreadyReceived from None
    kept, refused = _store_attachments(stored, incoming.attachments)
    if thread.record is None or incoming.automatic:
        if incoming.automatic:
            logger.info(
                "Automatic mail %s (%s) kept without effects", stored.pk, incoming.automatic
            )
        else:
            logger.info("Mail %s from %s matched no record", stored.pk, incoming.from_address)
        return stored
    activity = activity_services.activity_create(
        by=by,
        type=Activity.Type.EMAIL,
        subject=(incoming.subject or "(no subject)")[:255],
        notes=_activity_notes(incoming, kept, refused),
        direction=Activity.Direction.INBOUND,
        lead=thread.lead,
        person=thread.person,
        deal=thread.deal,
        # Recorded by the system but written by the contact: it counts as their touch.
        is_system_activity=False,
        metadata={
            "email_message": str(stored.pk),
            "email_thread": str(thread.pk),
            "lead_created": lead_created,
            "refused_attachments": refused,
        },
    )
    stored.activity = activity
    stored.save(update_fields=["activity"])
    stop_sequences_to(
        incoming.from_address,
        lead_ids=[activity.lead_id] if activity.lead_id else [],
        reason="The lead replied by email.",
    )
    emit(
        "email.received",
        actor=by,
        email_message_id=str(stored.pk),
        thread_id=str(thread.pk),
        activity_id=activity.pk,
        lead_id=activity.lead_id,
        person_id=activity.person_id,
        deal_id=activity.deal_id,
        lead_created=lead_created,
    )
    return stored


def _thread_for(target: Destination, incoming: Incoming, now) -> EmailThread:
    thread = target.thread
    record = target.record
    if thread is None:
        thread = EmailThread(subject=incoming.subject, created_at=now)
    if record is not None and thread.record is None:
        field_name = "person" if isinstance(record, Person) else "lead"
        setattr(thread, field_name, record)
    thread.last_message_at = now
    if thread._state.adding:
        thread.save()
    else:
        thread.save(update_fields=["lead", "person", "last_message_at"])
    return thread


def _lead_from_email(by: User, incoming: Incoming, signature: Signature) -> Lead:
    """Email-to-lead: the lead of an unknown sender's message to the capture address, made as
    web-to-lead capture makes one (``leads.capture.services.lead_capture``): by the system
    user, no owner, so ``lead.created`` runs the assignment rules (by its source, "email")."""
    fields = signature.lead_fields()
    who = fields.get("company_name") or fields.get("contact_name") or incoming.from_address
    name = f"{who} ({incoming.subject})" if incoming.subject else who
    description = incoming.reply[:4000]
    if signature.title:
        description = f"Title (from the signature): {signature.title}\n\n{description}"
    return lead_services.lead_create(
        by=by,
        name=name[:200],
        source=Lead.Source.EMAIL,
        sub_source=(settings.EMAIL_CAPTURE_ADDRESS or "")[:100],
        contact_email=incoming.from_address,
        description=description.strip(),
        channel=TouchPoint.Channel.EMAIL,
        touch={"note": f"Email received: {incoming.subject or '(no subject)'}"[:500]},
        **fields,
    )


# --- attachments ---------------------------------------------------------------------------------
def refusal_reason(attachment: Attachment) -> str:
    """Why an attachment is not stored, or "" when it may be."""
    extensions = [e.lower() for e in attachment.filename.rsplit("/", 1)[-1].split(".")[1:]]
    if extensions and extensions[-1].strip() in DANGEROUS_EXTENSIONS:
        return f"a file type that runs code (.{extensions[-1].strip()})"
    if attachment.content_type.lower() in DANGEROUS_CONTENT_TYPES:
        return f"a file type that runs code ({attachment.content_type})"
    limit = settings.EMAIL_MAX_ATTACHMENT_BYTES
    if attachment.size > limit:
        return f"larger than {_size(limit)} ({_size(attachment.size)})"
    return ""


def _store_attachments(
    message: EmailMessage, attachments: tuple[Attachment, ...]
) -> tuple[list[EmailAttachment], list[dict]]:
    kept, refused = [], []
    for attachment in attachments:
        reason = refusal_reason(attachment)
        if reason:
            logger.warning(
                "Refused attachment %r of received message %s (from %s): %s",
                attachment.filename,
                message.pk,
                message.from_address,
                reason,
            )
            refused.append(
                {"filename": attachment.filename[:255], "size": attachment.size, "reason": reason}
            )
            continue
        stored = EmailAttachment(
            message=message,
            filename=attachment.filename[:255],
            content_type=attachment.content_type[:255],
            size=attachment.size,
        )
        name = get_valid_filename(attachment.filename.rsplit("/", 1)[-1])[-100:] or "attachment"
        stored.file.save(name, ContentFile(attachment.content), save=False)
        stored.save()
        kept.append(stored)
    return kept, refused


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} MB"  # unreachable


def _activity_notes(incoming: Incoming, kept: list[EmailAttachment], refused: list[dict]) -> str:
    parts = [incoming.reply or incoming.text]
    if kept:
        parts.append("Attachments: " + ", ".join(f"{a.filename} ({_size(a.size)})" for a in kept))
    for item in refused:
        parts.append(f"Attachment refused, not stored: {item['filename']} — {item['reason']}.")
    return "\n\n".join(p for p in parts if p).strip()


# --- side effects --------------------------------------------------------------------------------
def stop_sequences_to(address: str, *, reason: str, lead_ids=()) -> int:
    """Stop the active nurture sequences of ``lead_ids`` and of every lead whose contact (or
    person) has ``address``: the lead answered, or mail to it cannot arrive."""
    address = (address or "").strip().lower()
    ids = set(lead_ids)
    if address:
        ids |= set(
            Lead.objects.filter(
                Q(contact_email=address) | Q(person__email__iexact=address),
                sequence_enrollments__status="active",
            ).values_list("pk", flat=True)
        )
    return sum(
        activity_services.sequence_stop_for_lead(lead_id=lead_id, reason=reason) for lead_id in ids
    )


# --- the webhook's door --------------------------------------------------------------------------
@receiver(inbound_signal, dispatch_uid="emails.inbound.on_inbound")
def on_inbound(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's inbound webhook (its signature already checked): receive the message."""
    email_receive(message=event.message)
