"""Retention (issue 18): what is kept too long is anonymized by a beat task; a dry run only
says what it would do; the access log is pruned after its period."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import AuditLog
from deals.models import Deal
from leads import services as lead_services
from leads.models import Lead
from privacy import services, tasks
from privacy.models import AccessLogEntry
from tests.deals.factories import make_deal
from tests.factories import PersonFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _age(model, obj, days: int, **extra) -> None:
    then = timezone.now() - timedelta(days=days)
    model.all_objects.filter(pk=obj.pk).update(updated_at=then, **extra)


@pytest.fixture
def leads(rep1, settings):
    """An old disqualified lead (due), a recent one, and an old open one (neither due)."""
    settings.RETENTION_DISQUALIFIED_LEAD_DAYS = 365
    old = LeadFactory(owner=rep1, contact_name="Old Disqualified", contact_email="od@x.example")
    recent = LeadFactory(owner=rep1, contact_name="Recent Disqualified")
    open_lead = LeadFactory(owner=rep1, contact_name="Old But Open")
    for lead in (old, recent):
        lead_services.lead_disqualify(by=rep1, lead=lead, reason="No budget")
    _age(Lead, old, 400, last_activity_at=timezone.now() - timedelta(days=400))
    _age(Lead, open_lead, 400)
    return old, recent, open_lead


def test_the_dry_run_lists_what_is_due_and_changes_nothing(leads):
    old, _, _ = leads
    out = StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)

    text = out.getvalue()
    assert str(old.pk) in text and "Would anonymize 1 lead(s) and 0 person(s)." in text
    assert Lead.all_objects.filter(anonymized_at__isnull=False).count() == 0
    assert not AccessLogEntry.objects.exists()


def test_the_run_anonymizes_what_is_due_and_reports_it(leads):
    old, recent, open_lead = leads

    summary = tasks.apply_retention()

    assert summary == "Anonymized 1 lead(s) and 0 person(s)."
    assert list(Lead.all_objects.filter(anonymized_at__isnull=False)) == [old]
    old.refresh_from_db()
    assert old.contact_name == "Anonymized" and old.contact_email.endswith(".invalid")
    entry = AccessLogEntry.objects.get(record_id=old.pk)
    assert entry.action == "retention" and entry.user is None and entry.channel == "system"
    assert "Retention policy" in entry.reason
    assert AuditLog.objects.filter(action="lead.anonymized", user=None).count() == 1
    # A second run finds nothing left to do.
    assert tasks.apply_retention() == "Anonymized 0 lead(s) and 0 person(s)."


def test_a_recent_activity_keeps_a_disqualified_lead(leads):
    old, _, _ = leads
    Lead.all_objects.filter(pk=old.pk).update(last_activity_at=timezone.now())
    assert services.retention_apply().leads == []


def test_zero_days_is_off(leads, settings):
    settings.RETENTION_DISQUALIFIED_LEAD_DAYS = 0
    assert services.retention_apply().summary() == "Anonymized 0 lead(s) and 0 person(s)."


def test_inactive_people_are_anonymized_but_not_those_with_an_open_deal(rep1, settings):
    settings.RETENTION_INACTIVE_PERSON_DAYS = 730
    idle = PersonFactory(owner=rep1, first_name="Idle")
    busy = PersonFactory(owner=rep1, first_name="Busy")
    make_deal(rep1, person=busy)
    _age(type(idle), idle, 800)
    _age(type(busy), busy, 800)
    Deal.all_objects.update(updated_at=timezone.now() - timedelta(days=800))

    dry = services.retention_apply(dry_run=True)
    assert [line.split()[0] for line in dry.people] == [str(idle.pk)]

    report = services.retention_apply()
    assert report.people == [str(idle.pk)]
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert idle.anonymized_at is not None and busy.anonymized_at is None


def test_the_access_log_is_pruned_after_its_period(rep1, settings):
    settings.PRIVACY_ACCESS_LOG_DAYS = 30
    lead = LeadFactory(owner=rep1)
    old = services.access_record(by=rep1, obj=lead, action="view")
    AccessLogEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=31))
    kept = services.access_record(by=rep1, obj=lead, action="view")

    assert tasks.prune_access_log() == 1
    assert list(AccessLogEntry.objects.all()) == [kept]


def test_the_beat_runs_retention_and_pruning_daily(db):
    from django_celery_beat.models import PeriodicTask

    tasks_ = {
        t.task: t.interval.every
        for t in PeriodicTask.objects.select_related("interval").filter(task__startswith="privacy.")
    }
    assert tasks_ == {
        "privacy.tasks.prune_access_log": 86400,
        "privacy.tasks.apply_retention": 86400,
    }
