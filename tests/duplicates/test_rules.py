"""The duplicate rules, one test per rule (pure functions, no database)."""

import pytest

from duplicates import rules


@pytest.mark.parametrize(
    "written",
    ["+1 415 555 2671", "(415) 555-2671", "415.555.2671", "+1-415-555-2671", "1 415 555 2671"],
)
def test_phone_formats_normalise_to_one_e164_number(settings, written):
    settings.DEFAULT_PHONE_REGION = "US"
    assert rules.normalise_phone(written) == "+14155552671"


def test_a_phone_without_country_code_is_read_in_the_default_region(settings):
    settings.DEFAULT_PHONE_REGION = "DE"
    assert rules.normalise_phone("030 1234567") == "+49301234567"
    assert rules.normalise_phone("+49 (30) 123-4567") == "+49301234567"


def test_text_that_is_no_phone_number_has_no_phone_key():
    assert rules.normalise_phone("call me") == ""
    assert rules.normalise_phone("12") == ""
    assert rules.normalise_phone("") == ""


def test_email_is_trimmed_and_lower_cased():
    assert rules.normalise_email("  Ann.Lee@ACME.com ") == "ann.lee@acme.com"
    assert rules.normalise_email("not an address") == ""


def test_free_mail_domains_are_no_company_domain():
    assert rules.email_domain("ann@gmail.com") == ""
    assert rules.email_domain("ann@GMX.de") == ""
    assert rules.email_domain("ann@acme.com") == "acme.com"


def test_a_website_becomes_its_domain():
    assert rules.website_domain("https://www.Acme.com/about") == "acme.com"
    assert rules.website_domain("acme.com") == "acme.com"
    assert rules.website_domain("gmail.com") == ""


def test_company_names_lose_legal_suffixes_and_punctuation():
    assert rules.normalise_company("The ACME Corp.") == "acme"
    assert rules.normalise_company("Acme, Inc.") == "acme"
    assert rules.normalise_name("Renée O'Neil") == "renee o neil"


def lead(**kw):
    return rules.lead_facts(id=kw.pop("id", None), **kw)


def test_same_email_in_another_case_matches():
    match = rules.compare(lead(contact_email="ANN@acme.com"), lead(contact_email="ann@acme.com "))
    assert match.score == rules.EMAIL_SCORE
    assert [r["rule"] for r in match.reasons] == ["email"]


def test_same_phone_in_another_format_matches(settings):
    settings.DEFAULT_PHONE_REGION = "US"
    a = lead(contact_phone="+1 (415) 555-2671")
    b = lead(contact_phone="415 555 2671")
    match = rules.compare(a, b)
    assert match.score == rules.PHONE_SCORE
    assert match.reasons[0]["value"] == "+14155552671"


def test_several_rules_add_to_the_strongest():
    a = lead(contact_email="ann@acme.com", contact_phone="+14155552671")
    b = lead(contact_email="ann@acme.com", contact_phone="415-555-2671")
    match = rules.compare(a, b)
    assert match.score == rules.EMAIL_SCORE + rules.SUPPORT_BONUS
    assert [r["rule"] for r in match.reasons] == ["email", "phone"]


def test_similar_name_and_company_match_above_the_threshold():
    a = lead(contact_name="Jon Smith", company_name="Fourth Coffee Inc.")
    b = lead(contact_name="John Smith", company_name="Fourth Coffee")
    match = rules.compare(a, b)
    assert match is not None and match.reasons[0]["rule"] == "name"
    assert match.score >= 80


def test_a_name_below_the_fuzzy_threshold_does_not_match():
    a = lead(contact_name="Jon Smith", company_name="Fourth Coffee")
    b = lead(contact_name="Joanna Smythe", company_name="Fourth Coffee")
    assert rules.compare(a, b) is None


@pytest.mark.parametrize(
    ("first", "second", "alike"),
    [
        ("Sven García", "sven garcia", True),
        ("Jon Smith", "John Smith", True),
        ("Mei Fischer", "Farid Fischer", False),
        ("Jon Smith", "", False),
    ],
)
def test_names_alike_is_the_name_rule_on_its_own(first, second, alike):
    assert rules.names_alike(first, second) is alike
    if second:
        match = rules.compare(
            lead(contact_name=first, company_name="Coho Winery"),
            lead(contact_name=second, company_name="Coho Winery"),
        )
        assert (match is not None) is alike


def test_the_same_name_at_another_company_does_not_match():
    a = lead(contact_name="John Smith", company_name="Fourth Coffee")
    b = lead(contact_name="John Smith", company_name="Trey Research")
    assert rules.compare(a, b) is None


def test_organizations_on_one_domain_match():
    a = rules.organization_facts(name="Bellows College", domain="bellows.edu")
    b = rules.organization_facts(name="Bellows", domain="https://www.bellows.edu/")
    match = rules.compare(a, b)
    assert match.score >= rules.ORG_DOMAIN_SCORE
    assert match.reasons[0]["rule"] == "domain"


def test_a_lead_matches_an_organization_by_its_email_domain():
    a = lead(contact_email="ann@trey.example")
    b = rules.organization_facts(name="Trey Research", domain="trey.example")
    assert rules.compare(a, b).score == rules.ORG_DOMAIN_SCORE


def test_free_mail_leads_do_not_match_an_organization_by_domain():
    a = lead(contact_email="ann@gmail.com")
    b = rules.organization_facts(name="Google", domain="gmail.com")
    assert rules.compare(a, b) is None
    assert ("domain", "gmail.com") not in a.blocking_keys()


def test_blocking_keys_survive_a_typo_in_either_half_of_a_name():
    a = lead(contact_name="Jon Smith").blocking_keys()
    b = lead(contact_name="John Smith").blocking_keys()
    c = lead(contact_name="John Smiht").blocking_keys()
    assert a & b and b & c
