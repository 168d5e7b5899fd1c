"""The incremental finder, the command, the nightly task and dismissing a pair."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.errors import PermissionDenied
from duplicates import services
from duplicates.models import DuplicateCandidate, DuplicateKey, DuplicateRun
from duplicates.schedules import NIGHTLY_DUPLICATES
from leads.models import Lead

pytestmark = pytest.mark.django_db


def pairs():
    return {
        (c.kind, frozenset({c.first_id, c.second_id})): c for c in DuplicateCandidate.objects.all()
    }


def test_a_run_stores_pairs_with_score_and_reasons(make_lead):
    a = make_lead(contact_email="ann@acme.example", contact_phone="+1 415 555 2671")
    b = make_lead(contact_email="ANN@acme.example", contact_phone="(415) 555-2671")
    make_lead(contact_email="bob@other.example")
    result = services.duplicates_find()
    assert result.pairs == 1
    (pair,) = pairs().values()
    assert pair.kind == "lead" and {pair.first_id, pair.second_id} == {a.pk, b.pk}
    assert pair.score == 100
    assert [r["rule"] for r in pair.reasons] == ["email", "phone"]


def test_a_lead_matches_an_existing_person_but_its_company_is_no_duplicate(
    make_lead, make_person, make_org
):
    lead = make_lead(contact_email="ann@trey.example", company_name="Trey Research")
    person = make_person(first_name="Ann", last_name="Lee", email="ann@trey.example")
    make_org(name="Trey Research", domain="trey.example")
    services.duplicates_find()
    # A lead at a known company is a link to make when converting (the convert modal
    # offers it), not a duplicate; a person is never one of an organization.
    assert set(pairs()) == {("lead_person", frozenset({lead.pk, person.pk}))}


def test_a_lead_linked_to_its_person_is_no_duplicate_of_it(make_lead, make_person):
    person = make_person(first_name="Ann", last_name="Lee", email="ann@trey.example")
    make_lead(contact_email="ann@trey.example", person=person)
    services.duplicates_find()
    assert pairs() == {}


def test_second_run_checks_only_records_changed_since_the_first(make_lead):
    make_lead(contact_email="ann@acme.example")
    old = make_lead(contact_email="bob@acme.example")
    first = services.duplicates_find()
    assert first.full and first.checked >= 2
    DuplicateRun.objects.update(started_at=timezone.now() - timedelta(hours=1))
    Lead.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    Lead.all_objects.exclude(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    new = make_lead(contact_email="BOB@acme.example")
    second = services.duplicates_find()
    assert not second.full
    assert second.by_type["lead"] == 1  # only the new lead
    assert ("lead", frozenset({old.pk, new.pk})) in pairs()


def test_a_changed_record_loses_the_pairs_it_no_longer_matches(make_lead):
    a = make_lead(contact_email="ann@acme.example")
    make_lead(contact_email="ann@acme.example")
    services.duplicates_find()
    assert len(pairs()) == 1
    a.contact_email = "someone.else@acme.example"
    a.save()
    services.duplicates_find()
    assert pairs() == {}
    assert not DuplicateKey.objects.filter(record_id=a.pk, value="ann@acme.example").exists()


def test_a_converted_lead_is_no_candidate(make_lead):
    a = make_lead(contact_email="ann@acme.example")
    make_lead(contact_email="ann@acme.example")
    a.converted_at = timezone.now()
    a.save()
    services.duplicates_find()
    assert pairs() == {}


def test_a_dismissed_pair_stays_dismissed_on_later_runs(make_lead, manager):
    a = make_lead(contact_email="ann@acme.example")
    make_lead(contact_email="ann@acme.example")
    services.duplicates_find()
    (pair,) = pairs().values()
    services.candidate_dismiss(by=manager, candidate=pair)
    a.save()  # changed: checked again
    services.duplicates_find(full=True)
    (pair,) = pairs().values()
    assert pair.dismissed_at is not None and pair.dismissed_by == manager


def test_dismissing_needs_change_access_to_both_records(make_lead, rep2):
    make_lead(contact_email="ann@acme.example")
    make_lead(contact_email="ann@acme.example")
    services.duplicates_find()
    (pair,) = pairs().values()
    with pytest.raises(PermissionDenied):
        services.candidate_dismiss(by=rep2, candidate=pair)


def test_pair_dismiss_stores_a_pair_no_run_has_found(make_lead, rep1):
    a = make_lead(contact_email="ann@acme.example")
    b = make_lead(contact_email="ann@acme.example")
    candidate = services.pair_dismiss(by=rep1, first=b, second=a)
    assert candidate.is_dismissed and candidate.score == 95


def test_a_huge_block_is_no_evidence(make_lead, settings):
    settings.DUPLICATE_MAX_BLOCK = 2
    for _ in range(3):
        make_lead(contact_email="info@acme.example")
    services.duplicates_find()
    assert pairs() == {}


def test_the_query_count_does_not_grow_with_the_records(make_lead, django_assert_max_num_queries):
    def run(n):
        for i in range(n):
            make_lead(contact_email=f"c{n}-{i}@acme{n}x{i}.example", contact_name=f"Ann Lee{i}")
            make_lead(contact_email=f"C{n}-{i}@acme{n}x{i}.example")
        DuplicateRun.objects.all().delete()
        with django_assert_max_num_queries(40) as ctx:
            result = services.duplicates_find(full=True)
        return len(ctx.captured_queries), result.pairs

    small, small_pairs = run(2)
    large, large_pairs = run(15)
    assert small_pairs == 2 and large_pairs == 2 + 15
    assert large == small


def test_the_command_reports_what_it_found(make_lead, capsys):
    make_lead(contact_email="ann@acme.example")
    make_lead(contact_email="ann@acme.example")
    call_command("find_duplicates")
    out = capsys.readouterr().out
    assert "1 candidate pairs" in out
    call_command("find_duplicates", "--full")
    assert DuplicateRun.objects.filter(full=True).count() == 2


def test_the_nightly_task_is_scheduled_and_runs_the_finder(make_lead):
    task = PeriodicTask.objects.get(name=NIGHTLY_DUPLICATES)
    assert task.task == "duplicates.tasks.find_duplicates" and task.enabled
    assert task.crontab is not None
    from config.celery import app
    from duplicates.tasks import find_duplicates

    assert task.task in app.tasks
    make_lead(contact_email="ann@acme.example")
    make_lead(contact_email="ann@acme.example")
    assert find_duplicates.delay().get()["pairs"] == 1


def test_leads_at_a_company_do_not_crowd_out_its_organizations(make_lead, make_org, settings):
    settings.DUPLICATE_MAX_BLOCK = 2
    for i in range(5):
        make_lead(contact_email=f"p{i}@trey.example", company_name="Trey Research")
    a = make_org(name="Trey Research", domain="trey.example")
    b = make_org(name="Trey Research Inc.", domain="www.trey.example")
    services.duplicates_find()
    assert set(pairs()) == {("organization", frozenset({a.pk, b.pk}))}
    # Only what another record is looked up by is stored: no lead's domain or company.
    assert not DuplicateKey.objects.filter(record_type="lead", rule__in=["domain", "company"])
