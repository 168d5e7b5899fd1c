"""``manage.py receive_email``: receive one message (RFC 822) from standard input or a file.

For a mail server's pipe (Postfix: ``leads: "|/path/to/manage.py receive_email"`` in
``aliases``), and to try inbound mail locally with a shipped sample::

    python manage.py receive_email --file emails/samples/new_inquiry.eml

It goes through ``emails.inbound.email_receive``, as the provider's webhook does, and says
what happened. A failure exits with status 75 (EX_TEMPFAIL): a mail server keeps the message
and tries again later.
"""

from __future__ import annotations

import sys
from pathlib import Path

from anymail.inbound import AnymailInboundMessage
from django.core.management.base import BaseCommand, CommandError

from emails.inbound import email_receive, message_id_of
from emails.models import EmailMessage

EX_TEMPFAIL = 75  # sysexits.h: "try again later"


class Command(BaseCommand):
    help = "Receive one email (RFC 822) from standard input or --file, as the inbound webhook does."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--file", help="Read the message from this file instead of stdin.")

    def handle(self, *args, file: str | None = None, **options) -> None:
        raw = self._read(file)
        if not raw.strip():
            raise CommandError("No message: give one on standard input or with --file.")
        message = AnymailInboundMessage.parse_raw_mime_bytes(raw)
        seen = EmailMessage.objects.filter(message_id=message_id_of(message)).exists()
        try:
            stored = email_receive(message=message)
        except Exception as exc:
            raise CommandError(f"Not received: {exc}", returncode=EX_TEMPFAIL) from exc
        self.stdout.write(describe(stored, duplicate=seen))

    def _read(self, file: str | None) -> bytes:
        if file is None:
            return sys.stdin.buffer.read()
        try:
            return Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc


def describe(message: EmailMessage, *, duplicate: bool = False) -> str:
    """One line saying what receiving ``message`` did."""
    thread = message.thread
    record = thread.record
    subject = f"“{message.subject or '(no subject)'}”"
    if duplicate:
        return f"Already received: {subject} (message {message.pk}); nothing changed."
    if record is None:
        return (
            f"Stored {subject} from {message.from_address or 'an unknown sender'} in thread "
            f"{thread.pk}, on no record: it matched no lead, person or deal."
        )
    kind = record._meta.verbose_name
    if message.activity_id is None:
        return f"Stored automatic mail {subject} in thread {thread.pk} of {kind} “{record}”."
    if (message.activity.metadata or {}).get("lead_created"):
        return f"Created lead “{record}” ({record.pk}) from {subject}, in thread {thread.pk}."
    return f"Attached {subject} to thread {thread.pk} of {kind} “{record}” ({record.pk})."
