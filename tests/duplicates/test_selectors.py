"""Who sees which candidates: only records the user may see, never a dismissed pair."""

import pytest

from duplicates import selectors, services

pytestmark = pytest.mark.django_db


def test_a_rep_does_not_see_a_candidate_owned_by_another_rep(make_lead, rep1, rep2, manager):
    mine = make_lead(owner=rep1, contact_email="ann@acme.example")
    theirs = make_lead(owner=rep2, contact_email="ann@acme.example")
    assert selectors.duplicates_for(user=rep1, record=mine) == []
    found = selectors.duplicates_for(user=manager, record=mine)
    assert [c.record for c in found] == [theirs]
    assert found[0].reasons[0]["rule"] == "email"


def test_form_data_finds_visible_records_before_saving(make_lead, rep1, settings):
    settings.DEFAULT_PHONE_REGION = "US"
    lead = make_lead(contact_phone="+1 415 555 2671")
    found = selectors.candidates_for_data(
        user=rep1, kind="lead", data={"contact_phone": "(415) 555-2671"}
    )
    assert [c.record for c in found] == [lead]
    assert (
        selectors.candidates_for_data(
            user=rep1, kind="lead", data={"contact_phone": "(415) 555-2671"}, exclude_id=lead.pk
        )
        == []
    )


def test_form_data_of_a_person_and_an_organization(make_person, make_org, rep1):
    org = make_org(name="Bellows College", domain="bellows.example")
    person = make_person(first_name="Ann", last_name="Lee", email="ann@bellows.example")
    found = selectors.candidates_for_data(
        user=rep1, kind="organization", data={"name": "Bellows", "domain": "www.bellows.example"}
    )
    assert [c.record for c in found] == [org]
    found = selectors.candidates_for_data(
        user=rep1,
        kind="person",
        data={"first_name": "Ann", "last_name": "Lee", "email": "ANN@bellows.example"},
    )
    assert [c.record for c in found] == [person]


def test_keys_stored_by_a_run_and_records_changed_since_are_both_found(make_lead, rep1):
    old = make_lead(contact_email="ann@acme.example")
    services.duplicates_find()
    new = make_lead(contact_email="bob@acme.example")  # changed after the run
    assert [
        c.record
        for c in selectors.candidates_for_data(
            user=rep1, kind="lead", data={"contact_email": "ann@acme.example"}
        )
    ] == [old]
    assert [
        c.record
        for c in selectors.candidates_for_data(
            user=rep1, kind="lead", data={"contact_email": "bob@acme.example"}
        )
    ] == [new]


def test_a_dismissed_pair_is_not_listed(make_lead, rep1):
    a = make_lead(contact_email="ann@acme.example")
    b = make_lead(contact_email="ann@acme.example")
    services.pair_dismiss(by=rep1, first=a, second=b)
    assert selectors.duplicates_for(user=rep1, record=a) == []


def test_groups_join_pairs_that_share_a_record(make_lead, manager, rep1):
    a = make_lead(contact_email="ann@acme.example", contact_phone="+1 415 555 2671")
    b = make_lead(contact_email="ann@acme.example")
    c = make_lead(contact_email="other@acme.example", contact_phone="415 555 2671")
    make_lead(contact_email="solo@acme.example")
    services.duplicates_find()
    page = selectors.candidate_groups(user=manager, record_type="lead")
    (group,) = page.object_list
    assert {r.pk for _, r in group.records} == {a.pk, b.pk, c.pk}
    assert len(group.pairs) == 2 and group.score == 95


def test_a_record_saved_just_before_the_run_started_is_still_fresh(make_lead, rep1):
    """A save whose transaction committed after the run had read past it: the live check
    looks back ``OVERLAP`` before the run's start, as the next run will."""
    from datetime import timedelta

    from duplicates.models import DuplicateKey, DuplicateRun
    from leads.models import Lead

    services.duplicates_find()
    late = make_lead(contact_email="cai@acme.example")
    started = DuplicateRun.objects.get().started_at
    Lead.all_objects.filter(pk=late.pk).update(updated_at=started - timedelta(minutes=2))
    DuplicateKey.objects.filter(record_id=late.pk).delete()  # the run did not see it
    found = selectors.candidates_for_data(
        user=rep1, kind="lead", data={"contact_email": "cai@acme.example"}
    )
    assert [c.record for c in found] == [late]
