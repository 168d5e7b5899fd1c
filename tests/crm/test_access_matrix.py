"""The role × surface matrix (SPEC §9, issue 14): every URL pattern of the project, asked by each
of the five roles (and by nobody), about its own record, a foreign one and one shared with it.

``EXPECTED`` holds one entry per URL name: the object its id names (if any) and the rule that
decides each method. Expectations are derived from the role rules below (written here from
SPEC §9, independently of ``crm.permissions``); an entry only says which rule applies. A URL
pattern without an entry fails the suite (``test_every_url_pattern_has_a_permission_decision``),
and so does an entry whose pattern is gone.

Outcomes: an HTTP status, or ``PASS`` for a write whose permission check passed (any answer but
401, 403, 404, 405 or a server error: the empty body may well be refused as invalid, 400/422).
Every request runs in a savepoint that is rolled back, so one set of records per role serves
all of them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from activities.models import Sequence, SequenceEnrollment, WebhookSubscription
from aiagent.models import Conversation, Proposal
from crm import permissions, tokens
from crm.models import ImportJob, Notification, SavedView, User
from duplicates.models import DuplicateCandidate
from emails.models import EmailAttachment
from emails.services import unsubscribe_token
from tests.activities.factories import ActivityFactory
from tests.customfields.factories import CustomFieldFactory
from tests.deals.factories import make_deal
from tests.emails.factories import EmailMessageFactory, EmailTemplateFactory, EmailThreadFactory
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import CaptureFormFactory, LeadFactory
from wfm.models import Workflow

ROLES = ("admin", "manager", "rep", "analyst", "viewer")
OWN, FOREIGN, SHARED, ANY = "own", "foreign", "shared", "any"
PASS = "pass"
LOGIN = "login"  # a redirect to the sign-in page

# --- the role rules (SPEC §9) -------------------------------------------------------------------
SEES_ALL = {"admin", "manager", "analyst"}  # view_all_* on every record type
CHANGES_ALL = {"admin", "manager"}  # change_all_*
DELETES_ALL = {"admin"}
WORKS = {"admin", "manager", "rep"}  # create, own and be assigned records; change what they hold
MANAGES = {"admin", "manager"}  # custom fields, assignment and automation rules
ADMINS = {"admin"}

# Patterns left out, each with its reason. Nothing else may be.
EXCLUDED_PREFIXES = {
    "admin/": "Django admin: staff only, guarded by the admin site (is_staff), not by roles",
}
EXCLUDED_NAMES = {
    "api-schema": "drf-spectacular's OpenAPI document (framework; generating it takes seconds)",
    "api-docs": "drf-spectacular's Swagger UI page (framework, static)",
}

Rule = Callable[[str, str], object]


def rule(name: str, decide: Callable[[str, str], object]) -> Rule:
    decide.__name__ = name
    return decide


def _visible(role: str, scenario: str) -> bool:
    return role in SEES_ALL or scenario in (OWN, SHARED)


def status(code: object) -> Rule:
    """The same answer for every role and record."""
    return rule(str(code), lambda role, scenario: code)


def everyone() -> Rule:
    return status(200)


def roles(allowed: set[str], ok: object = 200, refused: int = 403) -> Rule:
    return rule(
        f"roles{sorted(allowed)}", lambda role, scenario: ok if role in allowed else refused
    )


def view(ok: object = 200) -> Rule:
    """Seeing a record: everything for roles that see all, else own and shared; 404 otherwise."""
    return rule("view", lambda role, scenario: ok if _visible(role, scenario) else 404)


def change(ok: object = PASS) -> Rule:
    """Changing a record: roles that work on records, on every record (managers) or their own;
    403 when the record is visible, 404 when not."""

    def decide(role: str, scenario: str) -> object:
        if not _visible(role, scenario):
            return 404
        allowed = role in WORKS and (role in CHANGES_ALL or scenario == OWN)
        return ok if allowed else 403

    return rule("change", decide)


def delete(ok: object = PASS) -> Rule:
    def decide(role: str, scenario: str) -> object:
        if not _visible(role, scenario):
            return 404
        allowed = role in WORKS and (role in DELETES_ALL or scenario == OWN)
        return ok if allowed else 403

    return rule("delete", decide)


def log(ok: object = PASS) -> Rule:
    """Logging an activity on a record: roles that work on records, on any record they see."""

    def decide(role: str, scenario: str) -> object:
        if not _visible(role, scenario):
            return 404
        return ok if role in WORKS else 403

    return rule("log", decide)


def importer(ok: object = PASS) -> Rule:
    """An import: its importer's, seen by managers and administrators too (404 otherwise)."""
    return rule(
        "importer", lambda role, scenario: ok if scenario == OWN or role in CHANGES_ALL else 404
    )


def mine(ok: object = PASS) -> Rule:
    """Objects that belong to one user (saved views, notifications, conversations)."""
    return rule("mine", lambda role, scenario: ok if scenario == OWN else 404)


def personal_data(ok: object = PASS) -> Rule:
    """Exporting and anonymizing a record's personal data (issue 18): administrators (Managers
    only with PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA, off by default); 404 when not visible."""

    def decide(role: str, scenario: str) -> object:
        if not _visible(role, scenario):
            return 404
        return ok if role in ADMINS else 403

    return rule("personal_data", decide)


# --- the table -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """How one URL name is asked. ``subject``: the kind of object its id (in the path, the
    ``query`` or the ``body``) names (None: no id); ``scenarios``: which of own/foreign/shared
    exist for it; ``get`` and each write method: the rule (None: not asked); ``anonymous``: the
    GET answer to nobody."""

    subject: str | None = None
    get: Rule | None = None
    post: Rule | None = None
    patch: Rule | None = None
    delete: Rule | None = None
    anonymous: object = LOGIN
    scenarios: tuple[str, ...] = ()
    query: Callable[[World, str], str] | None = None  # what the URL takes after "?"
    body: Callable[[World, str], dict] | None = None  # what a write sends (default: nothing)
    ids: tuple[tuple[str, str], ...] = ()  # (kwarg, subject) of ids naming something else
    # The record type of a URL's <kind> and <pk> when its subject is something on the record
    # (an email message: /email/record/lead/<lead>/messages/<message>/…); the same scenario.
    kind: str | None = None

    def cases(self) -> tuple[str, ...]:
        if self.scenarios:
            return self.scenarios
        if self.subject is None:
            return (ANY,)
        return SUBJECT_SCENARIOS.get(self.subject, (OWN, FOREIGN, SHARED))


SUBJECT_SCENARIOS = {
    "saved_view": (OWN, FOREIGN),
    "notification": (OWN, FOREIGN),
    "conversation": (OWN, FOREIGN),
    "proposal": (OWN, FOREIGN),
    "token": (OWN, FOREIGN),
    "import": (OWN, FOREIGN),
    "user": (OWN, FOREIGN),
    "custom_field": (ANY,),
    "capture_form": (ANY,),
    "capture_page": (ANY,),
    "sequence": (ANY,),
    "webhook": (ANY,),
    "workflow": (ANY,),
    "email_template": (ANY,),
    "unsubscribe": (ANY,),
    "sent_mail": (ANY,),
}

POST_ONLY = status(405)  # GET of a write-only URL, for every signed-in role (asked once)


def page(**kw) -> Entry:
    """A page or partial every signed-in role may open."""
    return Entry(get=everyone(), **kw)


def write_only(subject: str | None, post: Rule, **kw) -> Entry:
    return Entry(subject=subject, get=POST_ONLY, post=post, **kw)


def api_collection(create: Rule | None) -> Entry:
    return Entry(get=everyone(), post=create, anonymous=401)


def api_record(subject: str, *, patch: Rule | None = None, delete_: Rule | None = None) -> Entry:
    return Entry(subject=subject, get=view(), patch=patch, delete=delete_, anonymous=401)


def api_action(subject: str | None, post: Rule) -> Entry:
    return Entry(subject=subject, get=POST_ONLY, post=post, anonymous=401)


def record_urls(prefix: str, subject: str, *, detail: str = "detail") -> dict[str, Entry]:
    """The one table's URLs of a record type (crm.records.tables.table_urls)."""
    return {
        f"{prefix}list": page(),
        f"{prefix}export": page(),
        f"{prefix}bulk": write_only(None, roles(WORKS, PASS)),
        f"{prefix}views": page(),
        f"{prefix}view_save": write_only(None, status(PASS)),
        f"{prefix}view_rename": write_only("saved_view", mine()),
        f"{prefix}view_default": write_only("saved_view", mine()),
        f"{prefix}view_delete": write_only("saved_view", mine()),
        # The import wizard's upload: roles that create records (no file: a 400).
        f"{prefix}import": Entry(get=roles(WORKS), post=roles(WORKS, PASS)),
    }


def merge_ids(subject: str) -> Callable[[World, str], str]:
    """The merge screen's query: the one record it starts from."""
    return lambda world, scenario: f"ids={world.id_of(subject, scenario)}"


def people_urls(slug: str, subject: str) -> dict[str, Entry]:
    return {
        **record_urls(f"crm:{slug}_", subject),
        f"crm:{slug}_create": Entry(get=roles(WORKS), post=roles(WORKS, PASS)),
        f"crm:{slug}_detail": Entry(subject=subject, get=view()),
        f"crm:{slug}_edit": Entry(subject=subject, get=change(200), post=change()),
        f"crm:{slug}_delete": write_only(subject, delete()),
        f"crm:{slug}_merge": Entry(
            subject=subject, get=change(200), post=change(200), query=merge_ids(subject)
        ),
    }


# A sequence's enrol / unenrol: the lead is named in the body.
ENROLMENT = {
    "subject": "lead",
    "ids": (("pk", "sequence"),),
    "body": lambda w, sc: {"lead": str(w.id_of("lead", sc))},
}

EXPECTED: dict[str, Entry] = {
    # --- sign-in and the shell
    "login": Entry(get=status(302), anonymous=200),  # signed in: on to the home page
    "logout": Entry(get=POST_ONLY, post=status(LOGIN), anonymous=405),
    "password_change": Entry(get=everyone(), post=status(PASS)),
    "password_change_done": page(),
    "api_tokens": Entry(get=everyone(), post=status(PASS)),
    "api_token_revoke": write_only("token", mine()),
    "healthz": Entry(get=everyone(), anonymous=200),
    "analytics:home": page(),
    "analytics:team": page(),
    "analytics:my_day": page(),
    "analytics:summary": write_only(None, status(PASS)),
    "metrics-leads": Entry(get=everyone(), anonymous=401),
    "metrics-deals": Entry(get=everyone(), anonymous=401),
    "metrics-ai": Entry(get=everyone(), anonymous=401),
    # --- the API
    "api-token": Entry(get=POST_ONLY, post=status(PASS), anonymous=405),
    "api-me": Entry(get=everyone(), anonymous=401),
    "api-tokens": Entry(get=everyone(), anonymous=401),
    "api-token-revoke": Entry(subject="token", get=POST_ONLY, delete=mine(), anonymous=401),
    "user-list": Entry(get=everyone(), anonymous=401),
    # crm.selectors.user_directory: who works on or reads records lists the users the pickers
    # and filters offer; a viewer lists only itself.
    "user-detail": Entry(
        subject="user",
        get=rule(
            "directory", lambda role, scenario: 200 if role != "viewer" or scenario == OWN else 404
        ),
        anonymous=401,
    ),
    "^api/": Entry(get=status(404), anonymous=404),  # any other /api/ path: the JSON 404
    "person-list": api_collection(roles(WORKS, PASS)),
    "person-detail": api_record("person", patch=change(), delete_=delete()),
    "person-merge": api_action(None, roles(WORKS, PASS)),
    "organization-list": api_collection(roles(WORKS, PASS)),
    "organization-detail": api_record("organization", patch=change(), delete_=delete()),
    "organization-merge": api_action(None, roles(WORKS, PASS)),
    "lead-list": api_collection(roles(WORKS, PASS)),
    "lead-detail": api_record("lead", patch=change(), delete_=delete()),
    "lead-assign": api_action("lead", change()),
    "lead-convert": api_action("lead", change()),
    "lead-merge": api_action(None, roles(WORKS, PASS)),
    "lead-disqualify": api_action("lead", change()),
    "lead-qualify": api_action("lead", change()),
    "lead-transition": api_action("lead", change()),
    "lead-history": Entry(subject="lead", get=view(), anonymous=401),
    "lead-duplicates": Entry(subject="lead", get=view(), anonymous=401),
    "person-duplicates": Entry(subject="person", get=view(), anonymous=401),
    "organization-duplicates": Entry(subject="organization", get=view(), anonymous=401),
    "lead-rescore": api_action("lead", change()),
    "lead-analyze": api_action("lead", view(PASS)),
    "lead-anonymize": api_action("lead", personal_data()),
    "lead-export": Entry(subject="lead", get=personal_data(200), anonymous=401),
    "person-anonymize": api_action("person", personal_data()),
    "person-export": Entry(subject="person", get=personal_data(200), anonymous=401),
    "deal-list": api_collection(roles(WORKS, PASS)),
    "deal-detail": api_record("deal", patch=change(), delete_=delete()),
    "deal-assign": api_action("deal", change()),
    "deal-lost": api_action("deal", change()),
    "deal-won": api_action("deal", change()),
    "deal-transition": api_action("deal", change()),
    "deal-history": Entry(subject="deal", get=view(), anonymous=401),
    "activity-list": api_collection(roles(WORKS, PASS)),
    "activity-detail": api_record("activity", patch=change(), delete_=change()),
    "activity-complete": api_action("activity", change()),
    "activity-reopen": api_action("activity", change()),
    "custom-field-list": api_collection(roles(MANAGES, PASS)),
    "custom-field-detail": Entry(
        subject="custom_field", get=everyone(), patch=roles(MANAGES, PASS), anonymous=401
    ),
    "custom-field-reorder": api_action(None, roles(MANAGES, PASS)),
    "custom-field-activate": api_action("custom_field", roles(MANAGES, PASS)),
    "custom-field-deactivate": api_action("custom_field", roles(MANAGES, PASS)),
    "workflow-list": api_collection(None),
    "workflow-detail": Entry(subject="workflow", get=everyone(), anonymous=401),
    "sequence-list": api_collection(None),
    "sequence-detail": Entry(subject="sequence", get=everyone(), anonymous=401),
    "sequence-enroll": Entry(**ENROLMENT, get=POST_ONLY, post=change(), anonymous=401),
    "sequence-unenroll": Entry(**ENROLMENT, get=POST_ONLY, post=change(), anonymous=401),
    "webhook-list": Entry(get=roles(MANAGES), post=roles(MANAGES, PASS), anonymous=401),
    "webhook-detail": Entry(
        subject="webhook",
        get=roles(MANAGES),
        patch=roles(MANAGES, PASS),
        delete=roles(MANAGES, PASS),
        anonymous=401,
    ),
    "webhook-deliveries": Entry(subject="webhook", get=roles(MANAGES), anonymous=401),
    # Web-to-lead capture (issue 15): the forms for managers; the endpoint for anyone with a
    # form's key (no session or token is read: a signed-in role without a key is refused too).
    "capture-form-list": Entry(get=roles(MANAGES), post=roles(MANAGES, PASS), anonymous=401),
    "capture-form-detail": Entry(
        subject="capture_form",
        get=roles(MANAGES),
        patch=roles(MANAGES, PASS),
        delete=roles(MANAGES, PASS),
        anonymous=401,
    ),
    "lead-capture": Entry(get=status(405), post=status(403), anonymous=405),
    "ai-conversation-list": api_collection(status(PASS)),
    "ai-conversation-detail": Entry(
        subject="conversation", get=mine(200), delete=mine(), anonymous=401
    ),
    "ai-conversation-confirm": api_action("conversation", mine()),
    "ai-conversation-reject": api_action("conversation", mine()),
    "ai-conversation-stop": api_action("conversation", mine()),
    "ai-conversation-messages": Entry(
        subject="conversation", get=mine(200), post=mine(), anonymous=401
    ),
    # --- people and organizations
    **people_urls("person", "person"),
    **people_urls("organization", "organization"),
    # --- notifications
    # --- spreadsheet imports (the upload is each table's <type>/import/)
    "crm:imports": page(),
    "crm:import_detail": Entry(subject="import", get=importer(200), post=importer()),
    "crm:import_cancel": write_only("import", importer()),
    "crm:import_undo": write_only("import", importer()),
    "crm:import_errors": Entry(subject="import", get=importer(200)),
    "import-list": api_collection(roles(WORKS, PASS)),
    "import-detail": Entry(subject="import", get=importer(200), anonymous=401),
    "import-cancel": api_action("import", importer()),
    "import-undo": api_action("import", importer()),
    "api-import-errors": Entry(subject="import", get=importer(200), anonymous=401),
    "crm:notifications": page(),
    "crm:notification_menu": page(),
    "crm:notification_count": page(),
    "crm:notification_read_all": write_only(None, status(PASS)),
    "crm:notification_read": write_only("notification", mine()),
    "crm:notification_open": Entry(subject="notification", get=mine(302)),
    # --- leads
    **record_urls("leads:", "lead"),
    "leads:board": page(),
    "leads:board_column": page(query=lambda w, sc: f"column={_step(w, 'lead')}"),
    "leads:create": Entry(get=roles(WORKS), post=roles(WORKS, PASS)),
    # The merge screen's first step, from one record: who may change it (issue 18).
    "leads:merge": Entry(
        subject="lead", get=change(200), post=change(200), query=merge_ids("lead")
    ),
    "leads:detail": Entry(subject="lead", get=view()),
    "leads:edit": Entry(subject="lead", get=change(200), post=change()),
    "leads:delete": write_only("lead", delete()),
    "leads:move": write_only("lead", change()),
    "leads:board_move": write_only("lead", change()),
    "leads:qualify": Entry(subject="lead", get=change(200), post=change()),
    "leads:disqualify": Entry(subject="lead", get=change(200), post=change()),
    "leads:assign": Entry(subject="lead", get=change(200), post=change()),
    "leads:convert": Entry(subject="lead", get=change(200), post=change()),
    "leads:rescore": write_only("lead", change()),
    # --- deals
    **record_urls("deals:", "deal"),
    "deals:board": page(),
    "deals:board_column": page(query=lambda w, sc: f"column={_step(w, 'deal')}"),
    "deals:create": Entry(get=roles(WORKS), post=roles(WORKS, PASS)),
    "deals:detail": Entry(subject="deal", get=view()),
    "deals:edit": Entry(subject="deal", get=change(200), post=change()),
    "deals:delete": write_only("deal", delete()),
    "deals:board_move": write_only("deal", change()),
    "deals:transition": write_only("deal", change()),
    "deals:won": write_only("deal", change()),
    "deals:lost": Entry(subject="deal", get=change(200), post=change()),
    "deals:assign": Entry(subject="deal", get=change(200), post=change()),
    # --- privacy (the kind in the path is the subject's: lead)
    "privacy:export": Entry(subject="lead", get=personal_data(200)),
    "privacy:export_json": Entry(subject="lead", get=personal_data(200)),
    "privacy:anonymize": Entry(subject="lead", get=personal_data(200), post=personal_data()),
    "privacy:consent": Entry(subject="lead", get=change(200), post=change()),
    # --- activities
    "activities:list": page(),
    "activities:badge": page(),
    "activities:timeline": Entry(subject="lead", get=view()),
    "activities:log": write_only("lead", log()),
    "activities:complete": write_only("activity", change()),
    "activities:reopen": write_only("activity", change()),
    "activities:edit": Entry(subject="activity", get=change(200), post=change()),
    "activities:delete": write_only("activity", change()),
    "activities:enroll": Entry(subject="lead", get=change(200), post=change()),
    "activities:enrollment_stop": write_only("enrollment", change()),
    # --- the assistant
    "aiagent:home": page(),
    "aiagent:start": write_only(None, status(PASS)),
    "aiagent:drawer": Entry(
        subject="lead", get=view(), query=lambda w, sc: f"type=lead&id={w.id_of('lead', sc)}"
    ),
    "aiagent:chat": Entry(subject="conversation", get=mine(200)),
    "aiagent:messages": Entry(subject="conversation", get=mine(200)),
    "aiagent:send": write_only("conversation", mine()),
    "aiagent:run": write_only("conversation", mine()),
    "aiagent:delete": write_only("conversation", mine()),
    "aiagent:proposal_confirm": write_only("proposal", mine()),
    "aiagent:proposal_reject": write_only("proposal", mine()),
    # Another tool's proposal of one's own opens no composer: its card says why (200).
    "aiagent:proposal_edit": write_only("proposal", mine()),
    "aiagent:insights": Entry(subject="lead", get=view()),
    "aiagent:analyze": write_only("lead", view(PASS)),
    "aiagent:apply": write_only("lead", change()),
    "aiagent:intelligence": Entry(subject="lead", get=view()),
    "aiagent:intelligence_apply": write_only("lead", change()),
    "aiagent:stop": write_only("conversation", mine()),
    # --- custom fields
    "customfields:list": Entry(get=roles(MANAGES)),
    "customfields:create": Entry(get=roles(MANAGES), post=roles(MANAGES, PASS)),
    "customfields:edit": Entry(
        subject="custom_field", get=roles(MANAGES), post=roles(MANAGES, PASS)
    ),
    "customfields:move": write_only("custom_field", roles(MANAGES, PASS)),
    "customfields:deactivate": write_only("custom_field", roles(MANAGES, PASS)),
    "customfields:activate": write_only("custom_field", roles(MANAGES, PASS)),
    # --- duplicates: the live form check (its answer holds only visible records), the
    # Duplicates page for who changes every record, "not a duplicate" of a pair or a record
    "duplicates:check": page(query=lambda w, sc: "kind=lead&contact_email=x@example.com"),
    "duplicates:review": Entry(get=roles(CHANGES_ALL), ids=(("slug", "duplicate_tab"),)),
    "duplicates:candidate_dismiss": write_only("duplicate_candidate", change()),
    "duplicates:record_notice": Entry(subject="lead", get=view(), ids=(("slug", "duplicate_tab"),)),
    "duplicates:record_dismiss": Entry(
        subject="lead", get=POST_ONLY, post=change(), ids=(("slug", "duplicate_tab"),)
    ),
    # --- capture forms (issue 15): settings for managers; the hosted page is public
    "capture:list": Entry(get=roles(MANAGES)),
    "capture:create": Entry(get=roles(MANAGES), post=roles(MANAGES, PASS)),
    "capture:edit": Entry(subject="capture_form", get=roles(MANAGES), post=roles(MANAGES, PASS)),
    "capture:rotate_key": write_only("capture_form", roles(MANAGES, PASS)),
    "capture:delete": write_only("capture_form", roles(MANAGES, PASS)),
    "capture:page": Entry(subject="capture_page", get=everyone(), post=status(PASS), anonymous=200),
    # --- email (issue 20): messages follow their record; templates are read by everyone and
    # written by managers; sending needs change access to the record named in the body.
    "email-list": Entry(
        subject="lead",
        get=everyone(),
        post=change(),
        anonymous=401,
        body=lambda w, sc: {"record": {"type": "lead", "id": str(w.id_of("lead", sc))}},
    ),
    "email-detail": api_record("email_message"),
    "email-cancel": api_action("email_message", change()),
    "email-reply": api_action(
        "email_message", change()
    ),  # no text given: 400 (PASS)  # a sent message: 409 (PASS)
    "email-preview": api_action(None, status(PASS)),
    "email-template-list": Entry(get=everyone(), post=roles(MANAGES, PASS), anonymous=401),
    "email-template-detail": Entry(
        subject="email_template",
        get=everyone(),
        patch=roles(MANAGES, PASS),
        delete=roles(MANAGES, PASS),
        anonymous=401,
    ),
    "emails:template_list": Entry(get=roles(MANAGES)),
    "emails:template_create": Entry(get=roles(MANAGES), post=roles(MANAGES, PASS)),
    "emails:template_preview": write_only(None, roles(MANAGES, PASS)),
    "emails:template_edit": Entry(
        subject="email_template", get=roles(MANAGES), post=roles(MANAGES, PASS)
    ),
    "emails:template_deactivate": write_only("email_template", roles(MANAGES, PASS)),
    # "Sent mail" exists only in DEBUG or with the stored backend (tests: neither).
    "emails:sent_mail": Entry(get=status(404)),
    "emails:sent_mail_detail": Entry(subject="sent_mail", get=status(404)),
    # Public: the signed token in the link is the authority (one-click POST, RFC 8058).
    "emails:unsubscribe": Entry(
        subject="unsubscribe", get=everyone(), post=status(PASS), anonymous=200
    ),
    # The provider's webhooks: no EMAIL_PROVIDER in the tests, so no such page for anyone.
    "emails:inbound_webhook": Entry(get=status(404), post=status(404), anonymous=404),
    "emails:tracking_webhook": Entry(get=status(404), post=status(404), anonymous=404),
    # Email on record pages: the card follows the record's visibility; writing from it needs
    # change access to the record (emails.services.check_sender); bulk email is managers'.
    "emails:record_card": Entry(subject="lead", get=view()),
    "emails:compose": Entry(subject="lead", get=change(200), post=change()),
    "emails:compose_template": Entry(subject="lead", get=change(204)),  # no template: 204
    "emails:draft_message": Entry(subject="lead", get=change(200)),
    # The world's messages are outbound: a suggested reply is refused (400) to those who may
    # write; a sent message cannot be cancelled (409).
    "emails:draft_reply": Entry(subject="email_message", kind="lead", get=change()),
    "emails:message_cancel": write_only("email_message", change(), kind="lead"),
    "emails:attachment": Entry(subject="email_attachment", get=view()),
    "emails:bulk_compose": Entry(get=roles(MANAGES)),
    "emails:bulk_send": write_only(None, roles(MANAGES, PASS)),
}


# --- the URL patterns ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    key: str  # the URL name (namespaced), or the route of an unnamed pattern
    route: str
    kwargs: tuple[str, ...]


def url_patterns() -> Iterator[Pattern]:
    """Every URL pattern of the project, walked recursively (namespaces joined)."""

    def walk(patterns, prefix: str, namespace: str) -> Iterator[Pattern]:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                yield from walk(p.url_patterns, route, ns)
            elif isinstance(p, URLPattern):
                regex = p.pattern.regex
                kwargs = tuple(regex.groupindex)
                converters = getattr(p.pattern, "converters", {})
                kwargs = tuple(dict.fromkeys((*kwargs, *converters)))
                key = f"{namespace}{p.name}" if p.name else route
                yield Pattern(key, route, kwargs)

    yield from walk(get_resolver().url_patterns, "", "")


def excluded(pattern: Pattern) -> bool:
    return pattern.key in EXCLUDED_NAMES or any(
        pattern.route.startswith(prefix) for prefix in EXCLUDED_PREFIXES
    )


def patterns_under_test() -> list[Pattern]:
    return [p for p in url_patterns() if not excluded(p)]


def test_every_url_pattern_has_a_permission_decision():
    keys = {p.key for p in patterns_under_test()}
    missing = sorted(keys - set(EXPECTED))
    assert not missing, (
        "URL patterns without an entry in tests/crm/test_access_matrix.py EXPECTED (decide who "
        f"may use them): {missing}"
    )
    stale = sorted(set(EXPECTED) - keys)
    assert not stale, f"EXPECTED entries whose URL pattern is gone: {stale}"


def test_every_entry_knows_how_to_name_its_object():
    for pattern in patterns_under_test():
        entry = EXPECTED.get(pattern.key)
        if entry is None:
            continue
        ids = {k for k in pattern.kwargs if k != "kind"} - dict(entry.ids).keys()
        if ids:
            assert entry.subject is not None, (pattern.key, pattern.kwargs)
        if entry.subject is not None:
            assert ids or entry.query or entry.body, (pattern.key, "names no object")
        assert entry.get is not None, f"{pattern.key}: every pattern is asked with GET"


def test_the_exclusions_are_only_framework_urls():
    excluded_patterns = [p for p in url_patterns() if excluded(p)]
    assert {p.key for p in excluded_patterns if not p.route.startswith("admin/")} == set(
        EXCLUDED_NAMES
    )


# --- the world each role is asked about ----------------------------------------------------------
@dataclass
class World:
    actor: User
    other: User
    objects: dict[tuple[str, str], object] = field(default_factory=dict)

    def id_of(self, subject: str, scenario: str):
        obj = self.objects[(subject, scenario)]
        if subject == "proposal":
            return obj.token
        if subject == "capture_page":
            return obj.slug
        if subject in ("duplicate_tab", "unsubscribe", "sent_mail"):
            return obj
        return obj.pk


def _give(obj, user: User) -> None:
    """Make ``user`` the owner of ``obj`` however its role: the state a record may be in."""
    type(obj).all_objects.filter(pk=obj.pk).update(owner=user)
    obj.owner = user
    permissions.grant_owner(user, obj)


def build_world(actor: User, other: User) -> World:
    """For ``actor``: an own, a foreign (``other``'s) and a shared record of each kind."""
    world = World(actor, other)
    put = world.objects.__setitem__
    for scenario in (OWN, FOREIGN, SHARED):
        lead = LeadFactory(owner=other, contact_name="Ann Lee", company_name="Lee Ltd")
        deal = make_deal(other, name=f"Deal {scenario}")
        person = PersonFactory(owner=other)
        org = OrganizationFactory(owner=other)
        records = {"lead": lead, "deal": deal, "person": person, "organization": org}
        for obj in records.values():
            if scenario == OWN:
                _give(obj, actor)
            elif scenario == SHARED:
                permissions.share(actor, obj)
        holder = actor if scenario == OWN else other
        activity = ActivityFactory(assigned_to=holder, created_by=holder, lead=lead)
        for subject, obj in {**records, "activity": activity}.items():
            put((subject, scenario), obj)
        # A pair of the lead with itself: "not a duplicate" needs change access to both.
        put(
            ("duplicate_candidate", scenario),
            DuplicateCandidate.objects.create(
                kind="lead",
                first_type="lead",
                first_id=lead.pk,
                second_type="lead",
                second_id=lead.pk,
                score=95,
            ),
        )
        thread = EmailThreadFactory(lead=lead)
        message = EmailMessageFactory(thread=thread, sender=other)
        put(("email_message", scenario), message)
        put(
            ("email_attachment", scenario),
            EmailAttachment.objects.create(
                message=message, file=ContentFile(b"%PDF", name="quote.pdf"), filename="quote.pdf"
            ),
        )
        put(
            ("enrollment", scenario),
            SequenceEnrollment.objects.create(sequence=_sequence(), lead=lead, enrolled_by=other),
        )
    for scenario, user in ((OWN, actor), (FOREIGN, other)):
        put(("saved_view", scenario), SavedView.objects.create(user=user, screen="leads", name="V"))
        put(
            ("notification", scenario),
            Notification.objects.create(user=user, title="Hello", url="/leads/"),
        )
        conversation = Conversation.objects.create(user=user, title="Chat")
        put(("conversation", scenario), conversation)
        put(
            ("proposal", scenario),
            Proposal.objects.create(
                user=user,
                conversation=conversation,
                token=secrets.token_urlsafe(24),
                tool="delete_lead",
                arguments={},
                arguments_hash="0" * 64,
                summary="Delete a lead",
                expires_at=timezone.now() + timedelta(hours=1),
            ),
        )
        put(("user", scenario), user)
        put(("token", scenario), tokens.token_create(by=user, name="Matrix")[0])
        put(("import", scenario), _import_job(user))
    put(("custom_field", ANY), CustomFieldFactory(entity_type="lead"))
    put(("sequence", ANY), _sequence())
    put(
        ("webhook", ANY),
        WebhookSubscription.objects.create(
            name="Hook", url="https://example.com/hook", events=["lead.created"]
        ),
    )
    put(("workflow", ANY), Workflow.objects.get(name="Lead Qualification"))
    put(("duplicate_tab", ANY), "leads")
    put(("email_template", ANY), EmailTemplateFactory())
    marketing = world.objects[("email_message", OWN)]
    put(("unsubscribe", ANY), unsubscribe_token(message_id=marketing.pk, address=marketing.to[0]))
    put(("sent_mail", ANY), "20250101T000000000000-0123456789ab")
    capture_form = CaptureFormFactory()
    put(("capture_form", ANY), capture_form)
    put(("capture_page", ANY), capture_form)
    return world


def _import_job(user: User) -> ImportJob:
    """A finished import of ``user``'s (whatever their role: the state one may be in)."""
    return ImportJob.objects.create(
        record_type="lead",
        created_by=user,
        file_name="leads.csv",
        content=b"Name\r\nA\r\n",
        headers=["Name"],
        mapping={"Name": "name"},
        status=ImportJob.Status.DONE,
        total_rows=1,
        processed=1,
        created=1,
    )


def _step(world: World, kind: str) -> int:
    """A board column: the step the records of ``kind`` start at."""
    return world.objects[(kind, OWN)].wfm_project.current_step_id


def _sequence() -> Sequence:
    return Sequence.objects.get_or_create(name="Nurture")[0]


# --- asking --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ask:
    pattern: Pattern
    entry: Entry
    scenario: str
    method: str
    expected: object


def asks(role: str) -> Iterator[Ask]:
    for pattern in patterns_under_test():
        entry = EXPECTED.get(pattern.key)
        if entry is None:
            continue  # reported by test_every_url_pattern_has_a_permission_decision
        for scenario in entry.cases():
            for method in ("get", "post", "patch", "delete"):
                decide = getattr(entry, method)
                if decide is None:
                    continue
                if decide is POST_ONLY and scenario != entry.cases()[0]:
                    continue  # the method is refused before any record is looked at
                yield Ask(pattern, entry, scenario, method, decide(role, scenario))


def url_for(pattern: Pattern, entry: Entry, world: World, scenario: str) -> str:
    kwargs = {}
    for name in pattern.kwargs:
        if name == "kind":
            kwargs[name] = entry.kind or entry.subject
        elif name == "pk" and entry.kind:
            kwargs[name] = world.id_of(entry.kind, scenario)
        elif name in dict(entry.ids):
            kwargs[name] = world.id_of(dict(entry.ids)[name], ANY)
        else:
            kwargs[name] = world.id_of(entry.subject, scenario)
    if pattern.key == pattern.route:  # an unnamed pattern: its route is its address
        url = "/" + pattern.route.replace("^", "").rstrip("$")
    else:
        url = reverse(pattern.key, kwargs=kwargs)
    return f"{url}?{entry.query(world, scenario)}" if entry.query else url


def outcome(response) -> object:
    code = response.status_code
    if code == 302 and "/accounts/login/" in response.get("Location", ""):
        return LOGIN
    return code


def matches(expected: object, got: object, method: str) -> bool:
    if expected == PASS:
        return isinstance(got, int) and got < 500 and got not in (401, 403, 404, 405)
    return expected == got


def ask(client: Client, url: str, method: str, api: bool, body: dict | None = None):
    """One request in a savepoint that is rolled back: nothing it writes outlives it."""
    kwargs = {}
    if method != "get":
        body = body or {}
        kwargs = (
            {"data": json.dumps(body), "content_type": "application/json"}
            if api
            else {"data": body}
        )
    with transaction.atomic():
        try:
            response = getattr(client, method)(url, **kwargs)
        except Exception as exc:  # a server error: report it with the others
            transaction.set_rollback(True)
            return f"500 {type(exc).__name__}: {exc}"[:200]
        transaction.set_rollback(True)
    return outcome(response)


def _report(failures: list[str]) -> str:
    return f"{len(failures)} unexpected answers:\n" + "\n".join(failures)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # The world's email attachments are files: in a folder of this test only.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def role_users(admin_user, manager, rep1, rep2, analyst, viewer) -> dict[str, User]:
    return {
        "admin": admin_user,
        "manager": manager,
        "rep": rep1,
        "analyst": analyst,
        "viewer": viewer,
        "other": rep2,
    }


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(role, role_users):
    users = role_users
    world = build_world(users[role], users["other"])
    client = Client()
    client.force_login(users[role])
    failures = []
    for a in asks(role):
        url = url_for(a.pattern, a.entry, world, a.scenario)
        body = a.entry.body(world, a.scenario) if a.entry.body else None
        got = ask(client, url, a.method, api=url.startswith("/api/"), body=body)
        if a.pattern.key == "logout":
            client.force_login(users[role])
        if not matches(a.expected, got, a.method):
            failures.append(
                f"{a.method.upper():6} {a.pattern.key:32} {a.scenario:8} expected "
                f"{a.expected!s:6} got {got}  ({url})"
            )
    assert not failures, _report(failures)


def test_anonymous_matrix(role_users):
    world = build_world(role_users["rep"], role_users["other"])
    client = Client()
    failures = []
    for pattern in patterns_under_test():
        entry = EXPECTED.get(pattern.key)
        if entry is None:
            continue
        url = url_for(pattern, entry, world, entry.cases()[0])
        got = ask(client, url, "get", api=url.startswith("/api/"))
        if got != entry.anonymous:
            failures.append(f"GET {pattern.key:32} expected {entry.anonymous} got {got} ({url})")
    assert not failures, _report(failures)


def test_the_record_rules_follow_spec_9():
    """The rules the table derives its expectations from, spelled out once."""
    grid = {
        rule_.__name__: {
            role: tuple(rule_(role, sc) for sc in (OWN, FOREIGN, SHARED)) for role in ROLES
        }
        for rule_ in (view(), change(), delete())
    }
    assert grid["view"] == {
        "admin": (200, 200, 200),
        "manager": (200, 200, 200),
        "rep": (200, 404, 200),
        "analyst": (200, 200, 200),
        "viewer": (200, 404, 200),
    }
    assert grid["change"] == {
        "admin": (PASS, PASS, PASS),
        "manager": (PASS, PASS, PASS),
        "rep": (PASS, 404, 403),
        "analyst": (403, 403, 403),
        "viewer": (403, 404, 403),
    }
    assert grid["delete"] == {
        "admin": (PASS, PASS, PASS),
        "manager": (PASS, 403, 403),
        "rep": (PASS, 404, 403),
        "analyst": (403, 403, 403),
        "viewer": (403, 404, 403),
    }
