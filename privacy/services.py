"""Writes of the privacy app (issue 18): anonymize (erase) and export a lead's or a person's
personal data, record consents and accesses, apply the retention policy.

Anonymizing keeps what reports count (the record itself, its source, amounts, score, step,
dates, activity types and times, touch point campaigns) and replaces or removes what
identifies the person:

- the record's personal fields: names → "Anonymized", email → a placeholder at the reserved
  ``.invalid`` domain (never routable, unique per record), phone, job title, description and
  notes → empty; URLs lose their query string (where prefilled forms put addresses);
- its custom-field values of the personal kinds: text, long text, email and URL (a name, an
  address, a profile link). Numbers, decimals, dates, yes/no, dropdowns and multi-selects
  are kept: they are the aggregates reports and scoring read;
- its history rows (django-simple-history): the same replacements, in every past version;
- its activities: notes removed, subjects and outcomes scrubbed of the person's strings;
  its touch points: the client address and browser removed;
- its AI insights: the free-text parts (summaries, pain points, quotes, suggestions) removed,
  the levels, amounts and dates kept;
- every other place its name, email or phone may have been copied to: events and webhook
  deliveries, automation runs, notifications, the audit log, import rows, AI conversations
  and tool calls, activities on other records, deals it became.

The ``*.anonymized`` event carries the id alone, so a webhook receives only the id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from activities.models import (
    Activity,
    AutomationRun,
    SequenceEnrollment,
    SequenceStep,
    WebhookDelivery,
)
from aiagent.models import Conversation, Message, Proposal, ToolCall
from crm import permissions
from crm import services as crm_services
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from crm.events import emit
from crm.models import (
    AuditLog,
    Event,
    HandlerRun,
    ImportJob,
    ImportRow,
    Notification,
    Person,
    User,
)
from crm.records import imports
from customfields.models import FieldType
from customfields.selectors import definitions_for
from deals.models import Deal
from duplicates.services import records_forget
from emails.models import EmailAttachment, EmailMessage, EmailThread
from leads.models import Lead, TouchPoint
from privacy.models import AccessLogEntry, Consent, RecordType
from privacy.scrubbing import Scrubber, scrub_rows, strip_query, text_fields
from wfm.models import StatusHistory

logger = logging.getLogger(__name__)

MANAGE_PERM = "privacy.manage_personal_data"
ANONYMIZED_NAME = "Anonymized"
ANONYMIZED_LEAD_NAME = "Anonymized lead"
REASON_MAX_LENGTH = 1000

# Custom-field kinds that hold personal data (cleared); the others are aggregates (kept).
PERSONAL_FIELD_TYPES = frozenset(
    {FieldType.TEXT, FieldType.LONG_TEXT, FieldType.EMAIL, FieldType.URL}
)
# The free-text parts of a lead's AI insights (``aiagent.analysis``): quotes and summaries of
# what the person said or wrote. Levels, amounts, dates and polarity stay (the AI score).
AI_INSIGHT_TEXT_KEYS = frozenset(
    {
        "summary",
        "pain_points",
        "text_excerpt",
        "next_actions",
        "suggested_fields",
        "applied_fields",
        "quote",
        "quotes",
        "evidence",
    }
)

# Where copies of a name, an email or a phone can end up besides the record's own rows:
# searched (case-insensitively) for the person's full strings and scrubbed.
SCANNED_MODELS: tuple[tuple[type[models.Model], tuple[str, ...]], ...] = (
    (Event, ("payload",)),
    (HandlerRun, ("error",)),
    (WebhookDelivery, ("payload", "response_excerpt", "error")),
    (AutomationRun, ("details", "error")),
    (SequenceEnrollment, ("stop_reason",)),
    (Notification, ("title", "body")),
    (AuditLog, ("details",)),
    (ImportRow, ("values", "before", "after", "reason")),
    (LogEntry, ("object_repr", "change_message")),
    (Conversation, ("title",)),
    (Message, ("content", "data")),
    (ToolCall, ("arguments", "result", "records", "error")),
    (Proposal, ("arguments", "summary", "result", "error")),
    (Activity, ("subject", "notes", "outcome", "metadata")),
    (StatusHistory, ("reason",)),
    (Deal, ("name", "lost_reason", "custom_field_values")),
    (Consent, ("evidence",)),
    (EmailThread, ("subject",)),
    (EmailMessage, ("subject", "from_name", "from_address", "to", "cc", "bcc", "text_body")),
)

# What a message keeps once its record is anonymized: when, which way, its status and its
# thread; the words and the files are the person's and go.
MAIL_FIELDS = ("subject", "from_name", "from_address", "to", "cc", "bcc")


# --- permissions ---------------------------------------------------------------------------------
def may_manage_personal_data(user: User, obj: models.Model | None = None) -> bool:
    """May ``user`` export and anonymize (``obj``'s) personal data? Admins, and Managers when
    ``PRIVACY_MANAGERS_MANAGE_PERSONAL_DATA`` is on; and they must see the record."""
    if not permissions.has_capability(user, MANAGE_PERM):
        return False
    return obj is None or permissions.can_view(user, obj)


def require_manage(by: User | None, obj: models.Model) -> None:
    """Refused (``PermissionDenied``) unless ``by`` may export and anonymize ``obj``'s personal
    data; ``None`` is the system (the retention policy)."""
    if by is None:  # the system: the retention policy
        return
    if not may_manage_personal_data(by, obj):
        raise PermissionDenied(
            f"Only administrators may export or anonymize the personal data of a "
            f"{obj._meta.verbose_name}."
        )


# --- the access log ------------------------------------------------------------------------------
def _record_type(obj: models.Model) -> str:
    if isinstance(obj, Lead):
        return RecordType.LEAD
    if isinstance(obj, Person):
        return RecordType.PERSON
    raise ValueError(f"No personal data record: {obj!r}")


def access_record(
    *, by: User | None, obj: models.Model, action: str, channel: str = "", reason: str = ""
) -> AccessLogEntry:
    """One access log row (one INSERT: the detail pages call it on every view)."""
    return AccessLogEntry.objects.create(
        user=by if getattr(by, "pk", None) else None,
        action=action,
        record_type=_record_type(obj),
        record_id=obj.pk,
        channel=channel,
        reason=reason,
    )


def access_log_prune(*, now=None) -> int:
    """Delete the access log rows older than ``PRIVACY_ACCESS_LOG_DAYS`` (beat, nightly)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PRIVACY_ACCESS_LOG_DAYS)
    deleted, _ = AccessLogEntry.objects.filter(at__lt=cutoff).delete()
    return deleted


# --- anonymize -----------------------------------------------------------------------------------
def _clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("Give a reason.", details={"reason": ["Give a reason."]})
    if len(reason) > REASON_MAX_LENGTH:
        message = f"At most {REASON_MAX_LENGTH} characters."
        raise ValidationFailed(message, details={"reason": [message]})
    return reason


def placeholder_email(pk) -> str:
    """A non-routable address (RFC 2606 ``.invalid``), unique per record so that duplicate
    checks never match two anonymized records."""
    return f"anonymized-{str(pk).replace('-', '')[:12]}@anonymized.invalid"


def lead_scrubber(lead: Lead) -> Scrubber:
    return Scrubber.build(
        names=[lead.contact_name], emails=[lead.contact_email], phones=[lead.contact_phone]
    )


def person_scrubber(person: Person) -> Scrubber:
    return Scrubber.build(names=[person.full_name], emails=[person.email], phones=[person.phone])


def _custom_values_kept(values, entity_type: str, scrubber: Scrubber) -> dict:
    """The custom-field values of the non-personal kinds (``PERSONAL_FIELD_TYPES`` go); a
    text value without a definition goes too (it cannot be told apart from a personal one)."""
    if not isinstance(values, dict):
        return {}
    kinds = {d.name: d.type for d in definitions_for(entity_type)}
    kept = {
        name: value
        for name, value in values.items()
        if (name in kinds and kinds[name] not in PERSONAL_FIELD_TYPES)
        or (name not in kinds and not isinstance(value, str))
    }
    return scrubber.json(kept)


def _ai_insights_kept(insights, scrubber: Scrubber) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in AI_INSIGHT_TEXT_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return scrubber.json(strip(insights)) if isinstance(insights, dict) else {}


LEAD_FIXED_VALUES = {
    "name": ANONYMIZED_LEAD_NAME,
    "contact_name": ANONYMIZED_NAME,
    "contact_phone": "",
    "company_name": "",
    "description": "",
    "qualification_notes": "",
}
PERSON_FIXED_VALUES = {"first_name": ANONYMIZED_NAME, "last_name": "", "phone": "", "job_title": ""}


@dataclass
class Erasure:
    """What one anonymization changed (for the log and the retention report)."""

    records: list[str] = field(default_factory=list)  # "lead <id>", "person <id>"
    rows: int = 0  # other rows scrubbed


def _scan(scrubber: Scrubber, erasure: Erasure) -> None:
    """Scrub the person's full strings wherever they were copied (``SCANNED_MODELS``), and
    drop the draft imports' files that hold them."""
    if not scrubber.needles:  # nothing to look for
        return
    for model, fields in SCANNED_MODELS:
        queryset = model._base_manager.filter(scrubber.q(fields))
        erasure.rows += scrub_rows(queryset, scrubber, fields=fields, words=False)
    _discard_import_files(scrubber, erasure)


DISCARDED_IMPORT = (
    "Cancelled: the file held personal data that was erased since it was uploaded "
    "(an anonymization). Upload the file again without that person."
)


def _discard_import_files(scrubber: Scrubber, erasure: Erasure) -> None:
    """Draft imports whose uploaded file holds the subject are cancelled and their file
    dropped. (A finished import keeps no file; one pending or running keeps it until it ends,
    and drops it then.)"""
    drafts = ImportJob.objects.select_for_update().filter(status=ImportJob.Status.DRAFT)
    for job in drafts.order_by("pk"):
        if scrubber.found_in(imports.sheet_text(bytes(job.content), job.file_name)):
            crm_services.import_discard(job=job, reason=DISCARDED_IMPORT)
            erasure.rows += 1


def _erase_activities(queryset, scrubber: Scrubber, erasure: Erasure) -> None:
    erasure.rows += scrub_rows(
        queryset,
        scrubber,
        fields=("subject", "outcome", "metadata"),
        set_values={"notes": ""},
    )


def _erase_mail(threads, scrubber: Scrubber, erasure: Erasure) -> None:
    """The mail on an anonymized record (issue 20): bodies emptied, attachments deleted with
    their files, subjects, names and addresses scrubbed. The suppression list
    (``EmailAddressStatus``) keeps a bounced or unsubscribed address: it exists so that the
    address is never mailed again."""
    messages = EmailMessage.objects.filter(thread__in=threads)
    attachments = EmailAttachment.objects.filter(message__in=messages)
    files = [(a.file.storage, a.file.name) for a in attachments.only("pk", "file") if a.file]
    erasure.rows += attachments.delete()[0]
    # The files go once the rows are gone for good (a rolled-back erasure keeps both).
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in files])
    erasure.rows += scrub_rows(
        messages, scrubber, fields=MAIL_FIELDS, set_values={"text_body": "", "html_body": ""}
    )
    erasure.rows += scrub_rows(threads, scrubber, fields=("subject",))


def _erase_lead(lead: Lead, scrubber: Scrubber, erasure: Erasure, *, now, by=None) -> None:
    """Erase the lead's own rows (the record, history, activities, touch points, AI insights,
    deals it became, workflow moves). The database-wide scan is the caller's."""
    email = placeholder_email(lead.pk)
    fixed = {**LEAD_FIXED_VALUES, "contact_email": email}
    for name, value in fixed.items():
        setattr(lead, name, value)
    lead.referrer_url = strip_query(scrubber.text(lead.referrer_url))
    lead.landing_page = strip_query(scrubber.text(lead.landing_page))
    lead.disqualify_reason = scrubber.text(lead.disqualify_reason)
    lead.custom_field_values = _custom_values_kept(lead.custom_field_values, "lead", scrubber)
    lead.ai_insights = _ai_insights_kept(lead.ai_insights, scrubber)
    lead.lead_score_factors = scrubber.json(lead.lead_score_factors)
    lead.anonymized_at = now
    lead._change_reason = "Anonymized"
    crm_services.save(
        lead,
        by=by,
        update_fields=[
            *fixed,
            "referrer_url",
            "landing_page",
            "disqualify_reason",
            "custom_field_values",
            "ai_insights",
            "lead_score_factors",
            "anonymized_at",
            "updated_at",
        ],
    )
    erasure.rows += scrub_rows(
        Lead.history.model.objects.filter(id=lead.pk),
        scrubber,
        set_values={
            **fixed,
            "referrer_url": lead.referrer_url,
            "landing_page": lead.landing_page,
        },
    )
    erasure.rows += scrub_rows(
        TouchPoint.objects.filter(lead=lead),
        scrubber,
        fields=("note", "utm_content", "utm_term"),
        set_values={"client_ip": None, "user_agent": ""},
    )
    touches = list(TouchPoint.objects.filter(lead=lead).only("pk", "referrer_url", "landing_page"))
    for touch in touches:
        touch.referrer_url = strip_query(touch.referrer_url)
        touch.landing_page = strip_query(touch.landing_page)
    TouchPoint.objects.bulk_update(touches, ["referrer_url", "landing_page"], batch_size=500)
    _erase_activities(Activity.objects.filter(lead=lead), scrubber, erasure)
    _erase_mail(EmailThread.objects.filter(lead=lead), scrubber, erasure)
    erasure.rows += scrub_rows(
        StatusHistory.objects.filter(project_id=lead.wfm_project_id), scrubber, fields=("reason",)
    )
    erasure.rows += scrub_rows(
        SequenceEnrollment.objects.filter(lead=lead), scrubber, fields=("stop_reason",)
    )
    deals = Deal.all_objects.filter(pk=lead.converted_to_deal_id)
    _erase_deals(deals, scrubber, erasure)
    erasure.records.append(f"lead {lead.pk}")


def _erase_deals(deals, scrubber: Scrubber, erasure: Erasure) -> None:
    """A deal is the business's record: its amount, stage and dates stay; the person's strings
    in its name, reason, custom fields, history and workflow moves go."""
    ids = list(deals.values_list("pk", flat=True))
    if not ids:
        return
    erasure.rows += scrub_rows(
        Deal.all_objects.filter(pk__in=ids),
        scrubber,
        fields=("name", "lost_reason", "custom_field_values"),
    )
    erasure.rows += scrub_rows(
        Deal.history.model.objects.filter(id__in=ids),
        scrubber,
        fields=text_fields(Deal.history.model),
    )
    projects = Deal.all_objects.filter(pk__in=ids).values("wfm_project_id")
    erasure.rows += scrub_rows(
        StatusHistory.objects.filter(project_id__in=projects), scrubber, fields=("reason",)
    )
    erasure.rows += scrub_rows(
        Activity.objects.filter(deal_id__in=ids), scrubber, fields=("subject", "notes", "outcome")
    )


def _admin_log_scrub(obj: models.Model, scrubber: Scrubber, erasure: Erasure) -> None:
    content_type = ContentType.objects.get_for_model(type(obj))
    erasure.rows += scrub_rows(
        LogEntry.objects.filter(content_type=content_type, object_id=str(obj.pk)),
        scrubber,
        fields=("object_repr", "change_message"),
        set_values={"object_repr": str(obj)[:200]},
    )


def _audit_anonymized(*, by, obj, reason: str, action: str, erasure: Erasure) -> None:
    access_record(
        by=by,
        obj=obj,
        action=action,
        channel="system" if by is None else "",
        reason=reason,
    )
    crm_services.audit(
        by=by,
        action=f"{_record_type(obj)}.anonymized",
        obj=obj,
        reason=reason,
        records=erasure.records,
        rows=erasure.rows,
    )


def _lock(model, pk):
    return model.all_objects.select_for_update().get(pk=pk)


def _merged_copies(record, scrubber: Scrubber, scrubber_of) -> tuple[list, Scrubber]:
    """The records merged into ``record``, locked, and ``scrubber`` extended with their
    strings: they are kept, soft-deleted, with what they held (the same subject's data,
    erased with it)."""
    copies = list(
        type(record)
        .all_objects.select_for_update()
        .filter(merged_into=record, anonymized_at__isnull=True)
        .order_by("pk")
    )
    for copy in copies:
        scrubber = scrubber.extend(scrubber_of(copy))
    return copies, scrubber


@transaction.atomic
def lead_anonymize(
    *, by: User | None, lead: Lead, reason: str, action: str = AccessLogEntry.Action.ANONYMIZE
) -> Lead:
    """Erase the lead's personal data, irreversibly (see the module's docstring). ``by=None``
    is the system (the retention policy). The linked person, if any, is left alone: it is a
    record of its own, anonymized with ``person_anonymize`` (which takes its leads along)."""
    require_manage(by, lead)
    reason = _clean_reason(reason)
    lead = _lock(Lead, lead.pk)
    if lead.anonymized_at is not None:
        raise Conflict(f"This lead was already anonymized on {lead.anonymized_at:%Y-%m-%d}.")
    merged, scrubber = _merged_copies(lead, lead_scrubber(lead), lead_scrubber)
    reason = scrubber.text(reason)
    erasure = Erasure()
    now = timezone.now()
    for record in (lead, *merged):
        _erase_lead(record, scrubber, erasure, now=now, by=by)
    erasure.rows += records_forget(record_type="lead", ids=[r.pk for r in (lead, *merged)])
    _scan(scrubber, erasure)
    for record in (lead, *merged):
        _admin_log_scrub(record, scrubber, erasure)
    _audit_anonymized(by=by, obj=lead, reason=reason, action=action, erasure=erasure)
    emit("lead.anonymized", actor=by, lead_id=lead.pk)
    logger.info("Lead %s anonymized (%s other rows scrubbed)", lead.pk, erasure.rows)
    return lead


@transaction.atomic
def person_anonymize(
    *, by: User | None, person: Person, reason: str, action: str = AccessLogEntry.Action.ANONYMIZE
) -> Person:
    """Erase the person's personal data, and that of the leads they came from or are linked to
    (the same human), irreversibly. Their deals keep amounts and stages."""
    require_manage(by, person)
    reason = _clean_reason(reason)
    person = _lock(Person, person.pk)
    if person.anonymized_at is not None:
        raise Conflict(f"This person was already anonymized on {person.anonymized_at:%Y-%m-%d}.")
    now = timezone.now()
    # (The leads, deals and activities of people merged into this one moved to it.)
    twins, scrubber = _merged_copies(person, person_scrubber(person), person_scrubber)
    leads = list(
        Lead.all_objects.select_for_update()
        .filter(Q(person=person) | Q(converted_to_person=person), anonymized_at__isnull=True)
        .order_by("pk")
    )
    for lead in list(leads):
        scrubber = scrubber.extend(lead_scrubber(lead))
        # Leads merged into the person's leads: the same human, linked only by the merge.
        copies, scrubber = _merged_copies(lead, scrubber, lead_scrubber)
        leads += [c for c in copies if c not in leads]
    reason = scrubber.text(reason)
    erasure = Erasure()
    for lead in leads:
        _erase_lead(lead, scrubber, erasure, now=now, by=by)
        access_record(
            by=by,
            obj=lead,
            action=action,
            channel="system" if by is None else "",
            reason=f"With person {person.pk}: {reason}",
        )
    for record in (person, *twins):
        fixed = {**PERSON_FIXED_VALUES, "email": placeholder_email(record.pk)}
        for name, value in fixed.items():
            setattr(record, name, value)
        record.custom_field_values = _custom_values_kept(
            record.custom_field_values, "person", scrubber
        )
        record.anonymized_at = now
        record._change_reason = "Anonymized"
        crm_services.save(
            record,
            by=by,
            update_fields=[*fixed, "custom_field_values", "anonymized_at", "updated_at"],
        )
        erasure.rows += scrub_rows(
            Person.history.model.objects.filter(id=record.pk), scrubber, set_values=fixed
        )
    _erase_activities(Activity.objects.filter(person=person), scrubber, erasure)
    _erase_mail(EmailThread.objects.filter(person=person), scrubber, erasure)
    _erase_deals(Deal.all_objects.filter(person=person), scrubber, erasure)
    erasure.records.append(f"person {person.pk}")
    erasure.rows += records_forget(record_type="person", ids=[r.pk for r in (person, *twins)])
    erasure.rows += records_forget(record_type="lead", ids=[lead.pk for lead in leads])
    _scan(scrubber, erasure)
    for record in (person, *twins):
        _admin_log_scrub(record, scrubber, erasure)
    for lead in leads:
        _admin_log_scrub(lead, scrubber, erasure)
    _audit_anonymized(by=by, obj=person, reason=reason, action=action, erasure=erasure)
    emit("person.anonymized", actor=by, person_id=person.pk)
    for lead in leads:
        emit("lead.anonymized", actor=by, lead_id=lead.pk)
    logger.info("Person %s anonymized (%s other rows scrubbed)", person.pk, erasure.rows)
    return person


def record_anonymize(
    *,
    by: User | None,
    obj: models.Model,
    reason: str,
    action: str = AccessLogEntry.Action.ANONYMIZE,
) -> models.Model:
    """``lead_anonymize`` or ``person_anonymize``, by the record's type."""
    if isinstance(obj, Lead):
        return lead_anonymize(by=by, lead=obj, reason=reason, action=action)
    if isinstance(obj, Person):
        return person_anonymize(by=by, person=obj, reason=reason, action=action)
    raise ValueError(f"No personal data record: {obj!r}")


# --- export --------------------------------------------------------------------------------------
@transaction.atomic
def record_export(*, by: User, obj: models.Model, channel: str = "api") -> dict:
    """Everything held about a lead or a person (``privacy.selectors``), for the subject's
    right of access; recorded in the access and audit logs."""
    from privacy import selectors

    require_manage(by, obj)
    if isinstance(obj, Lead):
        data = selectors.lead_export_data(lead=obj, by=by)
    else:
        data = selectors.person_export_data(person=obj, by=by)
    access_record(by=by, obj=obj, action=AccessLogEntry.Action.EXPORT, channel=channel)
    crm_services.audit(by=by, action=f"{_record_type(obj)}.exported", obj=obj, channel=channel)
    return data


# --- consent -------------------------------------------------------------------------------------
@transaction.atomic
def consent_record(
    *,
    by: User | None,
    lead: Lead | None = None,
    person: Person | None = None,
    purpose: str = Consent.Purpose.MARKETING,
    status: str,
    source: str = Consent.Source.MANUAL,
    form=None,
    evidence: dict | None = None,
    at=None,
) -> Consent:
    """Record that the lead or person gave (``granted``) or withdrew consent to ``purpose``.
    A user needs change access to the record; ``by=None`` is the system (a capture form)."""
    subject = lead or person
    if subject is None:
        raise ValidationFailed("A consent belongs to a lead or a person.")
    if by is not None and not permissions.can_change(by, subject):
        raise PermissionDenied(f"You may not change this {subject._meta.verbose_name}.")
    if getattr(subject, "anonymized_at", None) is not None:
        raise Conflict(f"This {subject._meta.verbose_name} is anonymized.")
    consent = Consent(
        lead=lead,
        person=person,
        purpose=purpose,
        status=status,
        source=source,
        form=form,
        evidence=evidence or {},
        at=at or timezone.now(),
        recorded_by=by if getattr(by, "pk", None) else None,
    )
    crm_services.full_clean_or_raise(consent)
    consent.save()
    return consent


# --- retention -----------------------------------------------------------------------------------
@dataclass
class RetentionReport:
    leads: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "Would anonymize" if self.dry_run else "Anonymized"
        text = f"{verb} {len(self.leads)} lead(s) and {len(self.people)} person(s)"
        return text + (f"; {len(self.failed)} failed" if self.failed else "") + "."


def retention_apply(*, dry_run: bool = False, now=None, limit: int = 1000) -> RetentionReport:
    """Anonymize what the retention settings say is kept too long (``privacy.selectors``):
    each record in its own transaction, recorded in the access and audit logs as the system's.
    ``dry_run``: only list them. At most ``limit`` records of each type per run."""
    from privacy import selectors

    report = RetentionReport(dry_run=dry_run)
    leads = list(selectors.retention_leads(now=now)[:limit])
    people = list(selectors.retention_people(now=now)[:limit])
    if dry_run:
        report.leads = [f"{lead.pk} ({lead})" for lead in leads]
        report.people = [f"{person.pk} ({person})" for person in people]
        return report
    lead_days = settings.RETENTION_DISQUALIFIED_LEAD_DAYS
    person_days = settings.RETENTION_INACTIVE_PERSON_DAYS
    work = (
        (leads, "lead", report.leads, f"disqualified, untouched for {lead_days} days"),
        (people, "person", report.people, f"untouched for {person_days} days"),
    )
    for records, kind, done, why in work:
        for record in records:
            try:
                record_anonymize(
                    by=None,
                    obj=record,
                    reason=f"Retention policy: {why}.",
                    action=AccessLogEntry.Action.RETENTION,
                )
            except Conflict:
                continue  # anonymized meanwhile (a lead with its person)
            except Exception:
                logger.exception("Retention: %s %s could not be anonymized", kind, record.pk)
                report.failed.append(str(record.pk))
            else:
                done.append(str(record.pk))
    logger.info("Retention: %s", report.summary())
    return report


def consent_from_capture(*, lead: Lead, form, evidence: dict) -> Consent:
    """A capture form's ticked consent checkbox (``leads.capture.services``), by the system."""
    return consent_record(
        by=None,
        lead=lead,
        purpose=Consent.Purpose.MARKETING,
        status=Consent.Status.GRANTED,
        source=Consent.Source.CAPTURE_FORM,
        form=form,
        evidence=evidence,
    )


# Sequence steps that contact the person: skipped without marketing consent when the setting
# asks for it. Tasks, notes and deadlines are the team's own work and run anyway.
CONTACT_STEP_TYPES = frozenset({Activity.Type.EMAIL, Activity.Type.CALL, Activity.Type.MEETING})


def sequence_step_gate(*, lead: Lead, step) -> str:
    """Why the sequence ``step`` must be skipped for ``lead`` (``activities.services``), or
    "" to run it."""
    from privacy import selectors

    if not settings.SEQUENCES_REQUIRE_MARKETING_CONSENT:
        return ""
    sends_email = step.kind == SequenceStep.Kind.EMAIL  # whatever its activity type says
    if step.activity_type not in CONTACT_STEP_TYPES and not sends_email:
        return ""
    if lead.anonymized_at is not None:
        return "the lead is anonymized"
    if selectors.has_consent(lead=lead, purpose=Consent.Purpose.MARKETING):
        return ""
    return "no marketing consent"
