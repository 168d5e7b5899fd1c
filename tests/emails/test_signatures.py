"""The offline signature parser and the reply extraction (emails.signatures), and Claude's
refinement behind the breaker (a scripted Claude on a mocked transport, never the network)."""

from __future__ import annotations

import pytest

from aiagent import breaker
from emails.inbound import read_message
from emails.signatures import (
    Signature,
    parse_signature,
    reply_text,
    signature_of,
    split_signature,
)
from tests.aiagent.conftest import error_reply, tool_reply
from tests.emails.inbound_support import sample


@pytest.fixture(autouse=True)
def us_numbers(settings):
    settings.DEFAULT_PHONE_REGION = "US"


def parsed(name: str) -> Signature:
    incoming = read_message(sample(name))
    return parse_signature(
        incoming.text, from_name=incoming.from_name, from_address=incoming.from_address
    )


# --- the samples ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "new_inquiry.eml",
            Signature("Priya Raman", "Head of Sales Operations", "Brightwave Energy Inc.",
                      "+1 415-555-0132"),
        ),
        (
            "outlook_reply.eml",
            Signature("James Whitfield", "Procurement Lead", "Acme Logistics Ltd.",
                      "+44 20 7946 0321"),
        ),
        (
            "with_attachment.eml",
            Signature("Maria Lopez", "Head of Operations", "Acme Logistics Ltd.",
                      "+44 20 7946 0958"),
        ),
        # No signature block: the From header's name, the company from the domain.
        ("apple_mail_reply.eml", Signature("Maria Lopez", "", "Acme Logistics", "")),
    ],
)  # fmt: skip
def test_the_samples_signatures(name, expected):
    assert parsed(name) == expected


# --- the reply -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "quote",
    [
        # Gmail wraps a long attribution line.
        "On Mon, Jun 3, 2024 at 5:15\u202fPM Sam Carter <\nsam@pipecrm.localhost> wrote:\n\n> Hi",
        "On 3 Jun 2024, at 17:15, Sam Carter <sam@pipecrm.localhost> wrote:\n\n> Hi",
        "________________________________\nFrom: Sam Carter <sam@x.com>\nSent: Monday, June 3"
        "\nTo: Maria\nSubject: Proposal\n\nHi",
        "-----Original Message-----\nFrom: Sam Carter\nSent: Monday\nSubject: Proposal\n\nHi",
        "From: Sam Carter <sam@x.com>\nDate: Monday, 3 June 2024\nTo: Maria\nSubject: P\n\nHi",
        "Am Mo., 3. Juni 2024 um 17:15 Uhr schrieb Sam Carter <sam@x.com>:\n> Hallo",
        "Le lun. 3 juin 2024 à 17:15, Sam Carter <sam@x.com> a écrit :\n> Bonjour",
        "---------- Forwarded message ---------\nFrom: Sam\nDate: Mon\n\nHi",
        "> Hi Maria,\n> here is the proposal.",
    ],
)
def test_quoted_history_is_cut_from_the_reply(quote):
    text = f"Sounds good, see you Thursday.\n\nMaria\n\n{quote}\n"
    assert reply_text(text) == "Sounds good, see you Thursday.\n\nMaria"


def test_a_from_line_in_the_text_itself_is_kept():
    text = "From: our side, the budget is approved.\nLet's go.\n"
    assert reply_text(text) == text.strip()


def test_the_signature_starts_at_the_delimiter_or_after_the_closing():
    body, block = split_signature("Hi,\nPricing please.\n-- \nAnn Lee\nCTO\n")
    assert (body, block) == ("Hi,\nPricing please.", ["Ann Lee", "CTO"])
    body, block = split_signature("Pricing please.\n\nKind regards,\nAnn Lee\nCTO, Lee Ltd\n")
    assert (body, block) == ("Pricing please.", ["Ann Lee", "CTO, Lee Ltd"])
    body, block = split_signature("Pricing please.\n\nAnn Lee\nT: +1 312 555 0199\n")
    assert block == ["Ann Lee", "T: +1 312 555 0199"]
    assert split_signature("Just one line.") == ("Just one line.", [])


def test_a_closing_followed_by_a_whole_letter_is_no_signature():
    letter = "\n".join(f"Point {n} of the contract." for n in range(15))
    assert split_signature(f"Thanks,\n{letter}")[1] == []


# --- the fields ----------------------------------------------------------------------------------
def test_a_title_at_a_company_and_labelled_phones():
    text = "Hi\n\nBest,\nAnn Lee\nVP Sales at Lee Robotics\nMobile: +1 (312) 555-0199\n"
    assert parse_signature(text) == Signature(
        "Ann Lee", "VP Sales", "Lee Robotics", "+1 312-555-0199"
    )


def test_a_company_line_below_the_title_is_not_taken_for_the_name():
    text = "Hi\n\nRegards,\nHead of IT\nNordfrost Logistics\nOlga Berg\n"
    found = parse_signature(text, from_name="Olga Berg", from_address="olga@nordfrost.example")
    assert (found.name, found.title, found.company) == (
        "Olga Berg",
        "Head of IT",
        "Nordfrost Logistics",
    )


def test_lines_that_are_not_phones_are_not_taken_for_one():
    text = "Hi\n\n--\nAnn Lee\nCompany No. 01234567\n+1 555 0000\n"
    assert parse_signature(text, from_address="ann@lee.example").phone == ""


@pytest.mark.parametrize(
    ("from_name", "address", "name", "company"),
    [
        ("Lopez, Maria", "maria@acme-logistics.example", "Maria Lopez", "Acme Logistics"),
        ("", "maria.lopez@acme-logistics.co.uk", "Maria Lopez", "Acme Logistics"),
        ("", "info@acme.example", "", "Acme"),
        ("Maria Lopez", "maria.lopez1980@gmail.com", "Maria Lopez", ""),
        ('"maria@acme.example"', "maria@acme.example", "", "Acme"),
    ],
)
def test_without_a_signature_the_headers_answer(from_name, address, name, company):
    found = parse_signature("Can you call me?", from_name=from_name, from_address=address)
    assert (found.name, found.company, found.title, found.phone) == (name, company, "", "")


def test_lead_fields_leave_out_what_is_unknown_and_fit_the_columns():
    signature = Signature(name="A" * 300, company="", phone="+1 312-555-0199")
    assert signature.lead_fields() == {
        "contact_name": "A" * 200,
        "contact_phone": "+1 312-555-0199",
    }


# --- with Claude ---------------------------------------------------------------------------------
INQUIRY = "Hello, pricing please.\n\nThanks,\nPriya\n--\nPriya Raman\nBrightwave Energy Inc.\n"


def test_offline_no_request_is_made():
    found = signature_of(INQUIRY, from_address="priya@brightwave.example")
    assert found.source == "rules" and found.company == "Brightwave Energy Inc."


def test_claude_fills_and_corrects_the_offline_answer(claude):
    claude.replies.append(
        tool_reply(
            (
                "record_signature",
                {"name": "Priya Raman", "title": "Head of Sales Ops", "phone": "not a number"},
            )
        )
    )
    found = signature_of(INQUIRY, from_name="Priya", from_address="priya@brightwave.example")
    assert found == Signature(
        "Priya Raman", "Head of Sales Ops", "Brightwave Energy Inc.", "", source="claude"
    )
    [request] = claude.requests
    assert request["tool_choice"] == {"type": "tool", "name": "record_signature"}
    content = request["messages"][0]["content"]
    assert "<untrusted_record_data" in content and "Brightwave Energy Inc." in content


def test_a_failing_claude_keeps_the_offline_answer_and_counts_for_the_breaker(claude):
    claude.replies.append(error_reply(529))
    found = signature_of(INQUIRY, from_address="priya@brightwave.example")
    assert found.source == "rules" and found.name == "Priya Raman"
    assert breaker.state().failures == 1


def test_an_open_breaker_asks_nothing(claude, settings):
    settings.AI_BREAKER_FAILURES = 1
    breaker.record_failure("down")
    found = signature_of(INQUIRY, from_address="priya@brightwave.example")
    assert found.source == "rules" and claude.requests == []
