"""Email tools (issue 20): draft a message from a lead, person or deal, and send one.

``draft_email`` only reads: the grounded draft the composer's "Draft with AI" gives
(``emails.drafts.draft_new``) and the record's default recipients. ``send_email`` is
confirm-only: the proposal checks everything ``emails.services.email_send`` would refuse
(``email_check``), the user confirms it as it is or opens it in the composer to edit it
first (``aiagent.services.proposal_edit``), and only then does the message go out as theirs.
"""

from __future__ import annotations

from aiagent.registry import ToolContext, ToolError, tool
from aiagent.tools.common import UUID, deal_brief, lead_brief, person_brief, require_text, short
from emails import drafts
from emails import selectors as email_selectors
from emails import services as email_services

BRIEFS = {"lead": lead_brief, "person": person_brief, "deal": deal_brief}
RECORD_TYPE = {
    "type": "string",
    "enum": list(BRIEFS),
    "description": "The kind of record the email is written from.",
}
ADDRESSES = {
    "type": "array",
    "items": {"type": "string", "maxLength": 254},
    "maxItems": email_services.MAX_RECIPIENTS,
}
SUBJECT = {"type": "string", "maxLength": 998}
BODY = {
    "type": "string",
    "maxLength": 20000,
    "description": "Plain text; blank lines separate paragraphs, **bold** and links work.",
}


def record_of(ctx: ToolContext, args: dict):
    """The record the arguments name, read through its type's selector as the user."""
    from crm.records import registry

    kind = args.get("record_type")
    if kind not in BRIEFS:
        raise ToolError(
            "Email is written from a lead, a person or a deal.", code="invalid_arguments"
        )
    return registry.get(kind).get_selector(ctx.user, args.get("record_id"))


def _brief(args: dict, record) -> dict:
    return BRIEFS[args["record_type"]](record)


@tool(
    "draft_email",
    """Draft an email from a lead, person or deal: a subject (yours, or one made from the
    record) and a plain-text body grounded on the record (contact's first name, next step,
    open qualification questions, the latest messages with them). Sends nothing. Returns the
    record's default recipients and whether the user may send from it; to send, call
    send_email with the text (edited as you see fit).""",
    {"record_type": RECORD_TYPE, "record_id": UUID, "subject": SUBJECT},
    required=("record_type", "record_id"),
)
def draft_email(ctx: ToolContext, args: dict) -> dict:
    record = record_of(ctx, args)
    draft = drafts.draft_new(user=ctx.user, record=record, subject=str(args.get("subject") or ""))
    return {
        "record": _brief(args, record),
        "to": email_selectors.record_recipients(record),
        "subject": draft.subject,
        "body": draft.body,
        "written_by": draft.source,
        "can_send": email_services.can_send_from(ctx.user, record),
    }


def _message_fields(ctx: ToolContext, args: dict) -> tuple[object, dict]:
    """The record and the checked message: what ``email_send`` would refuse is refused now."""
    record = record_of(ctx, args)
    to = args.get("to") or email_selectors.record_recipients(record)
    fields = {
        "subject": require_text(args, "subject"),
        "body": require_text(args, "body"),
    }
    recipients = email_services.email_check(
        by=ctx.user, record=record, to=to, cc=args.get("cc") or (), **fields
    )
    return record, {**recipients, **fields}


def _propose_send(ctx: ToolContext, args: dict) -> str:
    record, message = _message_fields(ctx, args)
    to = ", ".join(message["to"] + message["cc"])
    noun = record._meta.verbose_name
    return (
        f"Send the email “{short(message['subject'], 150)}” to {short(to, 300)} from the {noun} "
        f"“{short(str(record), 120)}”, as you."
    )


@tool(
    "send_email",
    """Send an email from a lead, person or deal as the user: to (default: the record's
    contact), cc, subject and body (plain text; merge fields such as {{ lead.name }} work).
    It is logged on the record's timeline and threads the replies. Needs the user's
    confirmation: calling it creates a proposal the user confirms, cancels, or opens in the
    email composer to edit before sending; nothing is sent before that.""",
    {
        "record_type": RECORD_TYPE,
        "record_id": UUID,
        "to": ADDRESSES,
        "cc": ADDRESSES,
        "subject": SUBJECT,
        "body": BODY,
    },
    required=("record_type", "record_id", "subject", "body"),
    propose=_propose_send,
)
def send_email(ctx: ToolContext, args: dict) -> dict:
    record, message = _message_fields(ctx, args)
    sent = email_services.email_send(by=ctx.user, record=record, **message)
    return {
        "sent": True,
        "email": {
            "id": str(sent.pk),
            "status": sent.status,
            "to": sent.to,
            "cc": sent.cc,
            "subject": sent.subject,
        },
        "record": _brief(args, record),
    }
