"""The embedded default's email backend: nothing leaves the machine.

``StoredEmailBackend`` keeps every message it is given as an ``.eml`` file in the default
storage (``EMAIL_STORED_PATH``, below ``MEDIA_ROOT`` on disk), so the Admins' "Sent mail"
page can show what would have gone out. ``stored_messages`` and ``stored_message`` read them
back.
"""

from __future__ import annotations

import email
import email.policy
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

logger = logging.getLogger(__name__)

NAME_SUFFIX = ".eml"


class StoredEmailBackend(BaseEmailBackend):
    """Stores each message (as sent, headers and all) instead of sending it."""

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages or ():
            if not message.recipients():
                continue
            try:
                name = _new_name()
                default_storage.save(name, ContentFile(message.message().as_bytes(linesep="\n")))
            except Exception:
                if not self.fail_silently:
                    raise
                logger.exception("Could not store an email")
                continue
            sent += 1
        return sent


def _folder() -> str:
    return settings.EMAIL_STORED_PATH.strip("/")


def _new_name() -> str:
    # Sortable by time, unique by the random part: the page lists the newest first by name.
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    return f"{_folder()}/{stamp}-{uuid.uuid4().hex[:12]}{NAME_SUFFIX}"


@dataclass
class StoredMessage:
    key: str  # the file name without its suffix: what the page links with
    subject: str
    from_: str
    to: str
    cc: str
    date: datetime | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[tuple[str, int]] = field(default_factory=list)


def _parse(key: str, raw: bytes, *, full: bool) -> StoredMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        date = parsed["Date"].datetime if parsed["Date"] else None
    except (AttributeError, TypeError, ValueError):
        date = None
    stored = StoredMessage(
        key=key,
        subject=str(parsed["Subject"] or ""),
        from_=str(parsed["From"] or ""),
        to=str(parsed["To"] or ""),
        cc=str(parsed["Cc"] or ""),
        date=date,
    )
    if not full:
        return stored
    stored.headers = [(k, str(v)) for k, v in parsed.items()]
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    stored.text = text.get_content() if text is not None else ""
    stored.html = html.get_content() if html is not None else ""
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        stored.attachments.append((part.get_filename() or "attachment", len(payload)))
    return stored


def stored_messages(*, limit: int = 200) -> list[StoredMessage]:
    """The newest stored messages first (headers only)."""
    folder = _folder()
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = sorted((f for f in files if f.endswith(NAME_SUFFIX)), reverse=True)[:limit]
    out = []
    for name in names:
        with default_storage.open(f"{folder}/{name}", "rb") as handle:
            out.append(_parse(name.removesuffix(NAME_SUFFIX), handle.read(), full=False))
    return out


def stored_message(key: str) -> StoredMessage | None:
    """One stored message with its bodies, by the key ``stored_messages`` gave it."""
    if not key or "/" in key or "\\" in key or key.startswith("."):
        return None
    path = f"{_folder()}/{key}{NAME_SUFFIX}"
    if not default_storage.exists(path):
        return None
    with default_storage.open(path, "rb") as handle:
        return _parse(key, handle.read(), full=True)
