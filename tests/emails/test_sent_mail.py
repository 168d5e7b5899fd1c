"""The embedded default's stored backend and the Admins' "Sent mail" page."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.mail import EmailMultiAlternatives, send_mail

from emails import backends, services
from tests.leads.factories import LeadFactory

STORED = "emails.backends.StoredEmailBackend"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stored(settings):
    settings.EMAIL_BACKEND = STORED


def test_the_stored_backend_keeps_each_message_instead_of_sending_it(stored, settings):
    message = EmailMultiAlternatives(
        "Quote", "Plain text", "crm@pipecrm.localhost", ["ann@x.example"], cc=["b@x.example"]
    )
    message.attach_alternative("<p>HTML</p>", "text/html")
    message.attach("offer.txt", b"12345", "text/plain")
    assert message.send() == 1
    assert send_mail("Second", "Body", None, ["c@x.example"]) == 1
    files = list((settings.MEDIA_ROOT / "email" / "sent").iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)

    newest, oldest = backends.stored_messages()
    assert (newest.subject, oldest.subject) == ("Second", "Quote")
    assert oldest.to == "ann@x.example" and oldest.cc == "b@x.example"
    full = backends.stored_message(oldest.key)
    assert full.text.strip() == "Plain text" and full.html.strip() == "<p>HTML</p>"
    assert full.attachments == [("offer.txt", 5)]
    assert ("Subject", "Quote") in full.headers


def test_a_message_without_recipients_is_not_stored(stored):
    assert EmailMultiAlternatives("x", "y", "a@x.example", []).send() == 0
    assert backends.stored_messages() == []


@pytest.mark.parametrize("key", ["../secrets", "a/b", ".hidden", "", "missing"])
def test_a_stored_message_is_only_read_by_its_key(stored, key):
    assert backends.stored_message(key) is None


def test_admins_see_the_sent_mail_page_while_the_stored_backend_is_active(
    stored, web, admin_user, manager, rep1, django_capture_on_commit_callbacks
):
    lead = LeadFactory(owner=rep1)
    with django_capture_on_commit_callbacks(execute=True):
        services.email_send(by=rep1, record=lead, to=["ann@x.example"], subject="Hi Ann", body="x")
    client = web(admin_user)
    home = client.get("/settings/email-templates/")
    assert b'data-testid="nav-sent-mail"' in home.content
    page = client.get("/email/sent/")
    assert page.status_code == 200 and b"Hi Ann" in page.content
    [stored_message] = backends.stored_messages()
    detail = client.get(f"/email/sent/{stored_message.key}/")
    assert detail.status_code == 200 and b"Message-ID" in detail.content
    assert client.get("/email/sent/20200101T000000000000-000000000000/").status_code == 404
    for user in (manager, rep1):
        assert web(user).get("/email/sent/").status_code == 404


def test_the_page_is_gone_outside_debug_with_a_real_backend(web, admin_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.DEBUG = False
    client = web(admin_user)
    assert client.get("/email/sent/").status_code == 404
    assert b'data-testid="nav-sent-mail"' not in client.get("/settings/email-templates/").content
    settings.DEBUG = True
    assert client.get("/email/sent/").status_code == 200


def settings_with(**env) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with the email variables of ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "ANYMAIL"))}
    code = "from config import settings as s; print(s.EMAIL_BACKEND, getattr(s, 'EMAIL_HOST', ''))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "backend", "host"),
    [
        ({}, STORED, ""),
        ({"EMAIL_PROVIDER": "postmark"}, "anymail.backends.postmark.EmailBackend", ""),
        (
            {"EMAIL_URL": "smtp://crm:pw@mail.example.com:587/?tls=True"},
            "django.core.mail.backends.smtp.EmailBackend",
            "mail.example.com",
        ),
        (
            {"EMAIL_HOST": "smtp.example.com"},
            "django.core.mail.backends.smtp.EmailBackend",
            "smtp.example.com",
        ),
        (
            {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
            "django.core.mail.backends.console.EmailBackend",
            "",
        ),
    ],
)
def test_the_backend_follows_the_environment_and_defaults_to_storing(env, backend, host):
    result = settings_with(**env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ") == [backend, f"{host}\n"]


def test_an_unknown_provider_stops_start_up():
    result = settings_with(EMAIL_PROVIDER="pigeon")
    assert result.returncode != 0 and "EMAIL_PROVIDER" in result.stderr
