"""``manage.py receive_email``: one message from standard input or a file, through the same
service as the webhook, saying what it did."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.management import CommandError, call_command

from emails.models import EmailMessage
from leads.models import Lead
from tests.emails.inbound_support import SAMPLES, maria_lead, proposal, sample_bytes

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: bytes | None = None, monkeypatch=None) -> str:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    out = io.StringIO()
    call_command("receive_email", *args, stdout=out)
    return out.getvalue().strip()


def test_the_sample_inquiry_becomes_a_lead():
    out = run("--file", str(SAMPLES / "new_inquiry.eml"))
    lead = Lead.objects.get()
    thread = EmailMessage.objects.get().thread
    assert out == (
        f"Created lead “{lead}” ({lead.pk}) from “CRM for our field sales team”, "
        f"in thread {thread.pk}."
    )


def test_a_reply_on_standard_input_is_attached_to_its_thread(monkeypatch, rep1):
    lead = maria_lead(rep1)
    sent = proposal(lead, rep1)
    out = run(stdin=sample_bytes("gmail_reply.eml"), monkeypatch=monkeypatch)
    assert out == (
        "Attached “Re: Fleet telematics proposal for Acme Logistics” to thread "
        f"{sent.thread_id} of lead “{lead}” ({lead.pk})."
    )


def test_a_second_delivery_says_nothing_changed(monkeypatch):
    run("--file", str(SAMPLES / "new_inquiry.eml"))
    out = run(stdin=sample_bytes("new_inquiry.eml"), monkeypatch=monkeypatch)
    assert out.startswith("Already received: “CRM for our field sales team”")
    assert Lead.objects.count() == 1 and EmailMessage.objects.count() == 1


def test_mail_that_matches_nothing_says_so(monkeypatch):
    raw = sample_bytes("gmail_reply.eml")  # no proposal, no lead: Maria is unknown here
    out = run(stdin=raw, monkeypatch=monkeypatch)
    assert "on no record: it matched no lead, person or deal" in out
    assert "maria.lopez@acme-logistics.example" in out


def test_an_empty_input_is_an_error(monkeypatch):
    with pytest.raises(CommandError, match="No message"):
        run(stdin=b"  \n", monkeypatch=monkeypatch)


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run("--file", str(tmp_path / "nope.eml"))


def test_a_failure_asks_the_mail_server_to_try_again_later(monkeypatch):
    def broken(*, message):
        raise RuntimeError("database is down")

    monkeypatch.setattr("emails.management.commands.receive_email.email_receive", broken)
    with pytest.raises(CommandError, match="database is down") as failure:
        run("--file", str(SAMPLES / "new_inquiry.eml"))
    assert failure.value.returncode == 75
