"""The duplicate rules: how a record's contact data is normalised, which blocking keys it has,
and how alike two records are (a score 0–100 with the reasons that matched).

Pure functions over ``Facts`` (no database): the incremental finder (``services``), the live
form check and the per-record lists (``selectors``) all score with ``compare``.

Rules, strongest first:
- the same email address (trimmed, case-insensitive);
- the same phone number once normalised to E.164 (``phonenumbers``; numbers written without a
  country code are read in ``settings.DEFAULT_PHONE_REGION``);
- for organizations: the same domain (an organization's domain or website; a lead's or
  person's email domain, unless it is a free-mail provider's);
- similar names (``rapidfuzz``): a person's name together with a similar company, an
  organization's name on its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
from django.conf import settings
from rapidfuzz import fuzz

from crm.contacts import FREE_MAIL_DOMAINS

LEAD, PERSON, ORGANIZATION = "lead", "person", "organization"
RECORD_TYPES = (LEAD, PERSON, ORGANIZATION)

# Words that do not tell two companies apart ("Acme Inc." is "ACME Corporation").
LEGAL_SUFFIXES = frozenset(
    {
        "ag",
        "bv",
        "co",
        "company",
        "corp",
        "corporation",
        "gmbh",
        "inc",
        "incorporated",
        "kg",
        "limited",
        "llc",
        "llp",
        "ltd",
        "nv",
        "plc",
        "pty",
        "sa",
        "sarl",
        "sas",
        "se",
        "srl",
        "the",
    }
)

# What each rule scores on its own; every further rule that matches adds ``SUPPORT_BONUS``.
EMAIL_SCORE = 95
PHONE_SCORE = 85
ORG_DOMAIN_SCORE = 90  # two organizations, or a lead and an organization, on one domain
# A run looks a little further back than the previous run's start, and so does the live check:
# a record saved while that run was reading is not missed (a second look costs nothing).
OVERLAP = timedelta(minutes=5)
NAME_THRESHOLD = 88  # rapidfuzz token_sort_ratio of two person names, 0–100
COMPANY_THRESHOLD = 85  # ... of two company names
ORG_NAME_THRESHOLD = 90  # ... of two organizations' names, the only name an organization has
SUPPORT_BONUS = 5


def normalise_email(value: str | None) -> str:
    value = (value or "").strip().lower()
    return value if "@" in value else ""


def email_domain(email: str | None) -> str:
    """The company domain of an address; empty for free-mail providers and non-addresses."""
    email = normalise_email(email)
    domain = email.rpartition("@")[2]
    return "" if not domain or domain in FREE_MAIL_DOMAINS else domain


def website_domain(value: str | None) -> str:
    """ "https://www.Acme.com/about" → "acme.com" (an organization's domain or website)."""
    text = (value or "").strip().casefold()
    text = text.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":", 1)[0]
    text = text.removeprefix("www.").strip(".")
    return "" if "." not in text or text in FREE_MAIL_DOMAINS else text


def normalise_phone(value: str | None, region: str | None = None) -> str:
    """A phone number in E.164 ("+493012345678"), or "" when it cannot be one. Numbers without
    a country code are read in ``region`` (default: ``settings.DEFAULT_PHONE_REGION``)."""
    value = (value or "").strip()
    if sum(c.isdigit() for c in value) < 5:
        return ""
    try:
        number = phonenumbers.parse(value, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_name(value: str | None) -> str:
    """Lower case, accents and punctuation removed, spaces collapsed: "Renée O'Neil" →
    "renee o neil"."""
    text = unicodedata.normalize("NFKD", value or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def normalise_company(value: str | None) -> str:
    """``normalise_name`` without legal suffixes: "The Acme Corp." → "acme"."""
    words = [w for w in normalise_name(value).split() if w not in LEGAL_SUFFIXES]
    return " ".join(words)


def names_alike(first: str, second: str) -> bool:
    """Whether two person names are alike enough for the name rule (given a similar company)."""
    return _similarity(normalise_name(first), normalise_name(second)) >= NAME_THRESHOLD


def _similarity(first: str, second: str) -> float:
    """How alike two normalised names are, 0–100 (0 when either is empty)."""
    return fuzz.token_sort_ratio(first, second) if first and second else 0


@dataclass(frozen=True)
class Facts:
    """What the rules compare of one record (or of a form not yet saved: ``id`` None)."""

    type: str
    id: object = None
    email: str = ""
    phone: str = ""
    domain: str = ""
    name: str = ""  # a person's name (normalised); an organization's name
    company: str = ""  # normalised company name
    # Records this one is linked to (a lead's person and organization): the same on purpose.
    links: frozenset = frozenset()

    def blocking_keys(self) -> set[tuple[str, str]]:
        """The blocking keys: records are only compared with records sharing one."""
        keys: set[tuple[str, str]] = set()
        if self.email:
            keys.add(("email", self.email))
        if self.phone:
            keys.add(("phone", self.phone))
        if self.domain:
            keys.add(("domain", self.domain))
        if self.type != ORGANIZATION:
            words = self.name.split()
            if len(words) >= 2:
                # The surname with the first initial, and the first name with the surname's
                # initial: a typo in one half still shares a key.
                keys.add(("name", f"{words[0][0]} {words[-1]}"))
                keys.add(("name", f"{words[0]} {words[-1][0]}"))
        if self.company:
            keys.add(("company", self.company.split()[0]))
        return keys

    def stored_keys(self) -> set[tuple[str, str]]:
        """The blocking keys other records look this one up by."""
        return {k for k in self.blocking_keys() if k[0] in HELD_RULES[self.type]}


def lead_facts(
    *,
    id=None,
    contact_email="",
    contact_phone="",
    contact_name="",
    company_name="",
    links=(),
) -> Facts:
    return Facts(
        LEAD,
        id,
        email=normalise_email(contact_email),
        phone=normalise_phone(contact_phone),
        domain=email_domain(contact_email),
        name=normalise_name(contact_name),
        company=normalise_company(company_name),
        links=frozenset(x for x in links if x),
    )


def person_facts(
    *, id=None, first_name="", last_name="", email="", phone="", organization_name=""
) -> Facts:
    return Facts(
        PERSON,
        id,
        email=normalise_email(email),
        phone=normalise_phone(phone),
        domain=email_domain(email),
        name=normalise_name(f"{first_name or ''} {last_name or ''}"),
        company=normalise_company(organization_name),
    )


def organization_facts(*, id=None, name="", domain="") -> Facts:
    company = normalise_company(name)
    return Facts(
        ORGANIZATION,
        id,
        domain=website_domain(domain),
        name=company,
        company=company,
    )


@dataclass
class Match:
    """One record alike another: its score 0–100 and why, strongest reason first."""

    score: int
    reasons: list[dict] = field(default_factory=list)


def _reason(rule: str, label: str, score: int, **extra) -> dict:
    return {"rule": rule, "label": label, "score": score, **extra}


def compare(a: Facts, b: Facts) -> Match | None:
    """How alike ``a`` and ``b`` are, or None when no rule matches (or one is linked to the
    other: a lead and its own person are the same on purpose)."""
    if (b.id is not None and b.id in a.links) or (a.id is not None and a.id in b.links):
        return None
    reasons: list[dict] = []
    has_org = ORGANIZATION in (a.type, b.type)
    if not has_org:
        if a.email and a.email == b.email:
            reasons.append(_reason("email", f"Same email {a.email}", EMAIL_SCORE, value=a.email))
        if a.phone and a.phone == b.phone:
            reasons.append(_reason("phone", f"Same phone {a.phone}", PHONE_SCORE, value=a.phone))
        name = _similarity(a.name, b.name)
        company = _similarity(a.company, b.company)
        same_domain = bool(a.domain) and a.domain == b.domain
        if name >= NAME_THRESHOLD and (company >= COMPANY_THRESHOLD or same_domain):
            score = round(0.9 * (name + (company if company >= COMPANY_THRESHOLD else 100)) / 2)
            label = f"Similar name ({round(name)}%)"
            if company >= COMPANY_THRESHOLD:
                label += f" and company ({round(company)}%)"
            else:
                label += f" at the same domain {a.domain}"
            reasons.append(_reason("name", label, score, name=round(name), company=round(company)))
        elif reasons and same_domain and reasons[0]["rule"] != "email":
            # Supports a phone match; an email match says it already.
            reasons.append(_reason("domain", f"Same domain {a.domain}", 0, value=a.domain))
    else:
        if a.domain and a.domain == b.domain:
            label = f"Same domain {a.domain}"
            reasons.append(_reason("domain", label, ORG_DOMAIN_SCORE, value=a.domain))
        name = _similarity(a.company, b.company)
        if name >= ORG_NAME_THRESHOLD:
            score = round(0.9 * name)
            reasons.append(
                _reason("name", f"Similar name ({round(name)}%)", score, name=round(name))
            )
    if not reasons:
        return None
    reasons.sort(key=lambda r: -r["score"])
    score = min(100, reasons[0]["score"] + SUPPORT_BONUS * (len(reasons) - 1))
    return Match(score=score, reasons=reasons)


# The keys stored for each record type (``DuplicateKey``): what another record is looked up
# by. A lead's domain or company word is only ever compared with organizations'.
HELD_RULES = {
    LEAD: frozenset({"email", "phone", "name"}),
    PERSON: frozenset({"email", "phone", "name"}),
    ORGANIZATION: frozenset({"domain", "company"}),
}

# The kinds of pair that are duplicates: stored by the finder, listed on the Duplicates page,
# a record's page and the API. A lead at a company that is already an organization is no
# duplicate but a link to make: the convert modal offers it (``lead_organization``).
DUPLICATE_KINDS = frozenset({LEAD, PERSON, ORGANIZATION, "lead_person"})


def pair_kind(first_type: str, second_type: str) -> str:
    """The kind of a candidate pair: one record type, or ``lead_person`` /
    ``lead_organization`` (a lead matching an existing person or organization)."""
    if first_type == second_type:
        return first_type
    types = {first_type, second_type}
    if types == {LEAD, PERSON}:
        return "lead_person"
    if types == {LEAD, ORGANIZATION}:
        return "lead_organization"
    return ""  # a person and an organization are never duplicates of each other
