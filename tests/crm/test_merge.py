"""Merging leads, people and organizations (issue 18): the services and the relations they move.

One test per kind of relation; ``test_every_relation_is_moved_or_listed`` fails when a model
gains a relation to a mergeable record that no test here covers.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Activity, SequenceEnrollment
from aiagent.models import AnalysisRun, Conversation, NextActionSuggestion
from crm import permissions
from crm import services as crm_services
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from crm.models import AuditLog, Event, Organization, Person
from crm.records import merge
from deals.models import Deal
from leads import services as lead_services
from leads.models import AutoQualification, Lead, LeadScoreSnapshot, TouchPoint
from tests.activities.factories import SequenceFactory
from tests.aiagent.factories import make_activity, make_deal, make_lead, make_org, make_person
from tests.customfields.factories import CustomFieldFactory
from wfm.models import WorkflowStep

# Every relation pointing at a mergeable model, and the test below that shows it moves (or
# that it stays, and why). A relation added later fails the first test until it is here.
COVERED = {
    "leads.Lead": {
        "leads.TouchPoint.lead": "test_touch_points_move",
        "leads.LeadUserObjectPermission.content_object": "test_object_permissions_move",
        "leads.LeadGroupObjectPermission.content_object": "test_object_permissions_move",
        "leads.LeadScoreSnapshot.lead": "test_score_snapshots_move_and_survivor_is_rescored",
        "leads.AutoQualification.lead": "test_auto_qualification_moves_when_survivor_has_none",
        "activities.Activity.lead": "test_activities_and_notes_move",
        "activities.SequenceEnrollment.lead": "test_enrollments_move_without_doubling",
        "aiagent.AnalysisRun.lead": "test_ai_analyses_and_conversations_move",
        "aiagent.NextActionSuggestion.lead": "test_counted_next_actions_move_once_a_day",
        "privacy.Consent.lead": "test_consents_move",
        "emails.EmailThread.lead": "test_email_threads_move",
        "leads.Lead.merged_into": "test_earlier_merges_follow_to_the_survivor",
        "leads.HistoricalLead.merged_into": "history",
    },
    "crm.Person": {
        "crm.PersonUserObjectPermission.content_object": "test_object_permissions_move",
        "crm.PersonGroupObjectPermission.content_object": "test_object_permissions_move",
        "leads.HistoricalLead.person": "history",
        "leads.HistoricalLead.converted_to_person": "history",
        "leads.Lead.person": "test_person_merge_moves_leads_deals_activities_conversions",
        "leads.Lead.converted_to_person": (
            "test_person_merge_moves_leads_deals_activities_conversions"
        ),
        "deals.HistoricalDeal.person": "history",
        "deals.Deal.person": "test_person_merge_moves_leads_deals_activities_conversions",
        "activities.Activity.person": "test_person_merge_moves_leads_deals_activities_conversions",
        "privacy.Consent.person": "test_consents_move",
        "emails.EmailThread.person": "test_email_threads_move",
        "crm.Person.merged_into": "test_earlier_merges_follow_to_the_survivor",
        "crm.HistoricalPerson.merged_into": "history",
    },
    "crm.Organization": {
        "crm.HistoricalPerson.organization": "history",
        "crm.Person.organization": "test_organization_merge_moves_people_leads_deals",
        "crm.OrganizationUserObjectPermission.content_object": "test_object_permissions_move",
        "crm.OrganizationGroupObjectPermission.content_object": "test_object_permissions_move",
        "leads.HistoricalLead.organization": "history",
        "leads.HistoricalLead.converted_to_organization": "history",
        "leads.Lead.organization": "test_organization_merge_moves_people_leads_deals",
        "leads.Lead.converted_to_organization": "test_organization_merge_moves_people_leads_deals",
        "deals.HistoricalDeal.organization": "history",
        "deals.Deal.organization": "test_organization_merge_moves_people_leads_deals",
        "activities.Activity.organization": "test_organization_merge_moves_people_leads_deals",
        "crm.Organization.merged_into": "test_earlier_merges_follow_to_the_survivor",
        "crm.HistoricalOrganization.merged_into": "history",
    },
}


@pytest.mark.parametrize("model", [Lead, Person, Organization], ids=lambda m: m.__name__)
def test_every_relation_is_moved_or_listed(model):
    covered = COVERED[model._meta.label]
    found = {merge.relation_key(rel): merge.how_moved(rel) for rel in merge.relations(model)}
    assert set(found) == set(covered), "a relation is new or gone: cover it in this module"
    for key, how in found.items():
        if how == "history":
            assert covered[key] == "history", key
            assert "history" in merge.NOT_MOVED
        else:
            assert covered[key] in globals(), f"{key}: no test {covered[key]}"


# --- leads ------------------------------------------------------------------------------------
@pytest.fixture
def pair(manager, rep1):
    older = make_lead(rep1, "Older lead", contact_email="old@acme.example")
    newer = make_lead(rep1, "Newer lead", contact_email="", contact_phone="+49 30 1234")
    Lead.objects.filter(pk=older.pk).update(updated_at=timezone.now() - timedelta(days=2))
    older.refresh_from_db()
    return older, newer


def test_default_takes_the_newest_non_empty_value(manager, pair):
    older, newer = pair
    survivor = lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    survivor.refresh_from_db()
    assert survivor.name == "Newer lead"  # both have one: the newest
    assert survivor.contact_email == "old@acme.example"  # only the older has one
    assert survivor.contact_phone == "+49 30 1234"


def test_field_choice_takes_each_field_from_the_chosen_record(manager, pair):
    older, newer = pair
    CustomFieldFactory(entity_type="lead", name="budget", label="Budget", type="number")
    CustomFieldFactory(entity_type="lead", name="region", label="Region", type="text")
    Lead.objects.filter(pk=older.pk).update(custom_field_values={"budget": 100, "region": "EU"})
    Lead.objects.filter(pk=newer.pk).update(custom_field_values={"budget": 900})
    older.refresh_from_db()
    newer.refresh_from_db()
    survivor = lead_services.lead_merge(
        by=manager,
        survivor=newer,
        merged=[older],
        fields={"name": older.pk, "cf_budget": str(older.pk), "contact_phone": newer.pk},
    )
    survivor.refresh_from_db()
    assert survivor.name == "Older lead"
    assert survivor.contact_phone == "+49 30 1234"
    # Chosen from the older; region by default: the only one that has it.
    assert survivor.custom_field_values == {"budget": 100, "region": "EU"}


def test_unknown_field_or_record_in_choices_is_refused(manager, pair, rep2):
    older, newer = pair
    other = make_lead(rep2, "Someone else's")
    with pytest.raises(ValidationFailed) as exc:
        lead_services.lead_merge(
            by=manager,
            survivor=older,
            merged=[newer],
            fields={"lead_score": older.pk, "name": other.pk},
        )
    assert set(exc.value.details) == {"fields.lead_score", "fields.name"}
    assert Lead.objects.filter(pk=newer.pk).exists()


def test_loser_is_soft_deleted_with_a_pointer_and_event_and_audit(manager, pair):
    older, newer = pair
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    gone = Lead.all_objects.get(pk=newer.pk)
    assert gone.merged_into_id == older.pk
    assert gone.merged_at is not None and gone.deleted_at is not None
    assert not Lead.objects.filter(pk=newer.pk).exists()
    event = Event.objects.get(name="lead.merged")
    assert event.payload["lead_id"] == str(older.pk)
    assert event.payload["merged_ids"] == [str(newer.pk)]
    assert event.actor == manager
    audit = AuditLog.objects.get(action="lead.merged")
    assert audit.object_id == str(older.pk) and audit.user == manager


def test_three_leads_merge_into_one(manager, rep1):
    leads = [make_lead(rep1, f"Lead {i}") for i in range(3)]
    lead_services.lead_merge(by=manager, survivor=leads[0], merged=leads[1:])
    assert Lead.objects.filter(pk__in=[x.pk for x in leads]).count() == 1
    assert Event.objects.filter(name="lead.merged").count() == 1


def test_merge_needs_change_access_to_every_record(rep1, rep2):
    mine = make_lead(rep1, "Mine")
    theirs = make_lead(rep2, "Theirs")
    permissions.share(rep1, theirs)  # visible, not changeable
    with pytest.raises(PermissionDenied) as exc:
        lead_services.lead_merge(by=rep1, survivor=mine, merged=[theirs])
    assert "Theirs" in exc.value.message
    with pytest.raises(PermissionDenied):
        lead_services.lead_merge(by=rep1, survivor=theirs, merged=[mine])
    assert Lead.objects.count() == 2


def test_rep_merges_two_of_their_own_leads(rep1):
    a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
    lead_services.lead_merge(by=rep1, survivor=a, merged=[b])
    assert list(Lead.objects.values_list("pk", flat=True)) == [a.pk]


def test_analyst_cannot_merge_even_what_they_see(analyst, rep1):
    a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
    with pytest.raises(PermissionDenied):
        lead_services.lead_merge(by=analyst, survivor=a, merged=[b])


def test_merging_into_itself_is_refused(manager, pair):
    older, _ = pair
    with pytest.raises(ValidationFailed) as exc:
        lead_services.lead_merge(by=manager, survivor=older, merged=[older])
    assert exc.value.code == "merge_into_itself"


def test_mixing_types_is_refused(manager, rep1, pair):
    older, _ = pair
    person = make_person(rep1, "Pat")
    with pytest.raises(ValidationFailed) as exc:
        lead_services.lead_merge(by=manager, survivor=older, merged=[person])
    assert exc.value.code == "merge_mixed_types"


def test_an_already_merged_record_cannot_be_merged_again(manager, rep1, pair):
    older, newer = pair
    third = make_lead(rep1, "Third")
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    with pytest.raises(Conflict) as exc:
        lead_services.lead_merge(by=manager, survivor=third, merged=[newer])
    assert exc.value.code == "already_merged"


def test_a_merged_record_cannot_be_restored(admin_user, manager, pair):
    older, newer = pair
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    with pytest.raises(Conflict):
        lead_services.lead_restore(by=admin_user, lead=Lead.all_objects.get(pk=newer.pk))


def test_a_converted_lead_can_only_be_the_survivor(manager, rep1, pair):
    older, newer = pair
    lead_services.lead_convert(by=manager, lead=newer, deal=False, organization=False)
    with pytest.raises(Conflict) as exc:
        lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    assert exc.value.code == "merge_converted"
    lead_services.lead_merge(by=manager, survivor=newer, merged=[older])
    assert Lead.all_objects.get(pk=older.pk).merged_into_id == newer.pk


def test_activities_and_notes_move(manager, rep1, pair):
    older, newer = pair
    task = make_activity(rep1, "Call back", lead=newer)
    note = make_activity(rep1, "Met at the fair", lead=newer, type="note")
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    assert set(Activity.objects.filter(lead=older).values_list("pk", flat=True)) >= {
        task.pk,
        note.pk,
    }
    older.refresh_from_db()
    assert older.last_activity_at is not None


def test_touch_points_move(manager, pair):
    older, newer = pair
    touch = lead_services.touch_point_add(
        by=manager, lead=newer, channel="capture", attribution={"utm_source": "fair"}
    )
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    touch.refresh_from_db()
    older.refresh_from_db()
    assert touch.lead_id == older.pk
    assert older.last_touch_source == "fair"
    assert TouchPoint.objects.filter(lead=newer).count() == 0


def test_score_snapshots_move_and_survivor_is_rescored(manager, pair):
    older, newer = pair
    LeadScoreSnapshot.objects.create(lead=newer, score=42)
    Lead.objects.filter(pk=older.pk).update(lead_score=99, score_updated_at=None)
    survivor = lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    assert LeadScoreSnapshot.objects.filter(lead=older, score=42).exists()
    assert survivor.score_updated_at is not None
    assert survivor.lead_score != 99


def test_auto_qualification_moves_when_survivor_has_none(manager, pair):
    older, newer = pair
    AutoQualification.objects.create(lead=newer, score=80, threshold=75)
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    assert AutoQualification.objects.get().lead_id == older.pk


def test_enrollments_move_without_doubling(manager, pair):
    older, newer = pair
    shared, other = SequenceFactory(), SequenceFactory()
    SequenceEnrollment.objects.create(sequence=shared, lead=older)
    doubled = SequenceEnrollment.objects.create(sequence=shared, lead=newer)
    moved = SequenceEnrollment.objects.create(sequence=other, lead=newer)
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    doubled.refresh_from_db()
    moved.refresh_from_db()
    assert doubled.lead_id == older.pk and doubled.status == "stopped"
    assert moved.lead_id == older.pk and moved.status == "active"


def test_ai_analyses_and_conversations_move(manager, pair):
    older, newer = pair
    run = AnalysisRun.objects.create(user=manager, lead=newer, mode="rules")
    talk = Conversation.objects.create(user=manager, context_type="lead", context_id=newer.pk)
    Lead.objects.filter(pk=newer.pk).update(ai_insights={"budget": "50k"})
    newer.refresh_from_db()
    survivor = lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    run.refresh_from_db()
    talk.refresh_from_db()
    assert run.lead_id == older.pk
    assert talk.context_id == str(older.pk)
    survivor.refresh_from_db()
    assert survivor.ai_insights == {"budget": "50k"}


def test_counted_next_actions_move_once_a_day(manager, rep1, pair):
    older, newer = pair
    today = timezone.localdate()
    alike = {"user": rep1, "rule": "first_contact", "key": "first_contact:abc", "day": today}
    kept = NextActionSuggestion.objects.create(lead=older, subject="First call", **alike)
    NextActionSuggestion.objects.create(lead=newer, subject="First call", **alike)
    moved = NextActionSuggestion.objects.create(
        lead=newer, user=rep1, rule="overdue", key="overdue:def", subject="Send", day=today
    )
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    assert set(NextActionSuggestion.objects.values_list("pk", "lead_id")) == {
        (kept.pk, older.pk),
        (moved.pk, older.pk),
    }


def test_object_permissions_move(manager, rep1, rep2):
    # rep2 is assigned the merged-away lead: they keep access through the survivor.
    a = make_lead(rep1, "A")
    b = make_lead(rep1, "B", assigned_to=None)
    lead_services.lead_assign(by=manager, lead=b, assignee=rep2)
    lead_services.lead_merge(by=manager, survivor=a, merged=[b])
    a = Lead.objects.get(pk=a.pk)
    assert permissions.can_change(rep2, a)
    assert permissions.can_delete(rep1, a)
    # People and organizations: the same rule.
    p1, p2 = make_person(rep1, "Pat"), make_person(rep2, "Pat")
    crm_services.person_merge(by=manager, survivor=p1, merged=[p2])
    assert permissions.can_change(rep2, Person.objects.get(pk=p1.pk))
    o1, o2 = make_org(rep1, "Acme"), make_org(rep2, "ACME")
    crm_services.organization_merge(by=manager, survivor=o1, merged=[o2])
    assert permissions.can_change(rep2, Organization.objects.get(pk=o1.pk))


def test_survivor_keeps_its_own_workflow_step(manager, pair):
    older, newer = pair
    contacted = WorkflowStep.objects.get(
        workflow__name="Lead Qualification", status__name="Contacted"
    )
    lead_services.lead_transition(by=manager, lead=newer, to_step=contacted)
    lead_services.lead_merge(by=manager, survivor=older, merged=[newer])
    older = Lead.objects.select_related("wfm_project__current_step").get(pk=older.pk)
    assert older.wfm_project.current_step.name == "New Lead"


def test_earlier_merges_follow_to_the_survivor(manager, rep1):
    a, b, c = (make_lead(rep1, n) for n in "ABC")
    lead_services.lead_merge(by=manager, survivor=b, merged=[c])
    lead_services.lead_merge(by=manager, survivor=a, merged=[b])
    assert Lead.all_objects.get(pk=c.pk).merged_into_id == a.pk
    assert merge.survivor_of(Lead, c.pk) == a
    for model, make in ((Person, make_person), (Organization, make_org)):
        x, y, z = (make(rep1, n) for n in "XYZ")
        service = crm_services.person_merge if model is Person else crm_services.organization_merge
        service(by=manager, survivor=y, merged=[z])
        service(by=manager, survivor=x, merged=[y])
        assert model.all_objects.get(pk=z.pk).merged_into_id == x.pk


# --- people and organizations -----------------------------------------------------------------
def test_person_merge_moves_leads_deals_activities_conversions(manager, rep1):
    keep, dup = make_person(rep1, "Pat", "Lee"), make_person(rep1, "Pat", "Lee", email="p@x.io")
    lead = make_lead(rep1, "Linked", person=dup)
    converted = make_lead(rep1, "Converted")
    lead_services.lead_convert(by=manager, lead=converted, person=dup, organization=False)
    deal = make_deal(rep1, "Deal", person=dup)
    act = make_activity(rep1, "Call Pat", person=dup)
    survivor = crm_services.person_merge(by=manager, survivor=keep, merged=[dup])
    survivor.refresh_from_db()
    assert survivor.email == "p@x.io"
    assert Lead.objects.get(pk=lead.pk).person_id == keep.pk
    assert Lead.objects.get(pk=converted.pk).converted_to_person_id == keep.pk
    assert Deal.objects.get(pk=deal.pk).person_id == keep.pk
    assert Deal.objects.filter(person=keep).count() == 2  # the conversion's deal too
    assert Activity.objects.get(pk=act.pk).person_id == keep.pk
    assert Event.objects.get(name="person.merged").payload["person_id"] == str(keep.pk)


def test_organization_merge_moves_people_leads_deals(manager, rep1):
    keep, dup = make_org(rep1, "Fourth Coffee"), make_org(rep1, "Fourth Coffee Inc")
    person = make_person(rep1, "Ana", organization=dup)
    lead = make_lead(rep1, "Beans", organization=dup)
    converted = make_lead(rep1, "Roaster", company_name="Fourth")
    lead_services.lead_convert(by=manager, lead=converted, organization=dup, person=False)
    deal = make_deal(rep1, "Deal", organization=dup)
    act = make_activity(rep1, "Visit", organization=dup)
    crm_services.organization_merge(
        by=manager, survivor=keep, merged=[dup], fields={"name": dup.pk}
    )
    keep.refresh_from_db()
    assert keep.name == "Fourth Coffee Inc"
    assert Person.objects.get(pk=person.pk).organization_id == keep.pk
    assert Lead.objects.get(pk=lead.pk).organization_id == keep.pk
    assert Lead.objects.get(pk=converted.pk).converted_to_organization_id == keep.pk
    assert Deal.objects.get(pk=deal.pk).organization_id == keep.pk
    assert Activity.objects.get(pk=act.pk).organization_id == keep.pk
    assert not Organization.objects.filter(pk=dup.pk).exists()
    assert Event.objects.get(name="organization.merged").payload["merged_ids"] == [str(dup.pk)]


def test_person_custom_fields_are_chosen_per_field(manager, rep1):
    CustomFieldFactory(entity_type="person", name="linkedin", label="LinkedIn", type="text")
    keep = make_person(rep1, "Pat", custom_field_values={"linkedin": "pat-old"})
    dup = make_person(rep1, "Pat", custom_field_values={"linkedin": "pat-new"})
    crm_services.person_merge(
        by=manager, survivor=keep, merged=[dup], fields={"cf_linkedin": keep.pk}
    )
    keep.refresh_from_db()
    assert keep.custom_field_values == {"linkedin": "pat-old"}


def test_merged_records_leave_lists_and_counts(manager, rep1):
    from crm import selectors as crm_selectors
    from leads import selectors as lead_selectors

    a = make_lead(rep1, "A", contact_email="same@acme.example")
    b = make_lead(rep1, "B", contact_email="same@acme.example")
    o1, o2 = make_org(rep1, "Org"), make_org(rep1, "Org 2")
    lead_services.lead_merge(by=manager, survivor=a, merged=[b])
    crm_services.organization_merge(by=manager, survivor=o1, merged=[o2])
    assert list(lead_selectors.lead_list(user=manager)) == [a]
    assert list(lead_selectors.lead_list(user=rep1)) == [a]
    assert list(crm_selectors.organization_list(user=manager)) == [o1]
    from duplicates.selectors import duplicates_for

    assert b.pk not in {c.record.pk for c in duplicates_for(user=manager, record=a)}


def test_merge_queries_do_not_grow_with_the_related_rows(manager, rep1):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(activities: int) -> int:
        a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
        for i in range(activities):
            make_activity(rep1, f"Call {i}", lead=b)
            lead_services.touch_point_add(
                by=manager, lead=b, channel="api", attribution={"utm_source": f"s{i}"}
            )
        with CaptureQueriesContext(connection) as ctx:
            lead_services.lead_merge(by=manager, survivor=a, merged=[b])
        return len(ctx)

    queries(1)  # caches filled (custom fields, scoring profile, permission ids)
    assert queries(1) == queries(8)


def test_merged_leads_leave_the_metrics(api_as, manager, rep1):
    a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
    client = api_as(manager)
    assert client.get("/api/v1/metrics/leads/").json()["total_leads"] == 2
    lead_services.lead_merge(by=manager, survivor=a, merged=[b])
    assert client.get("/api/v1/metrics/leads/").json()["total_leads"] == 1


def test_the_survivor_history_says_what_was_merged_even_for_long_names(manager, rep1):
    from leads import selectors as lead_selectors

    a = make_lead(rep1, "A" * 200, company_name="Acme")
    b = make_lead(rep1, "B" * 200, company_name="Acme")
    lead_services.lead_merge(by=manager, survivor=a, merged=[b], fields={"name": a.pk})
    entries = lead_selectors.lead_history_view(lead=Lead.objects.get(pk=a.pk)).entries
    assert entries[0].reason.startswith("Merged with “BBB")
    assert len(entries[0].reason) == 100


def test_admin_restore_leaves_merged_records_merged(admin_user, manager, rep1):
    from django.contrib.admin.sites import site
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    a, b, c = (make_lead(rep1, n) for n in "ABC")
    lead_services.lead_merge(by=manager, survivor=a, merged=[b])
    lead_services.lead_delete(by=admin_user, lead=c)
    request = RequestFactory().post("/admin/leads/lead/")
    request.user = admin_user
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin = site._registry[Lead]
    model_admin.restore_selected(request, Lead.all_objects.filter(pk__in=[b.pk, c.pk]))
    assert set(Lead.objects.values_list("pk", flat=True)) == {a.pk, c.pk}


def test_email_threads_move(manager, rep1):
    """The mail on a merged lead or person (issue 20) is the kept record's: its Email card
    lists every thread, and replies to them land on it."""
    from emails.models import EmailThread
    from tests.emails.factories import EmailThreadFactory

    kept, other = make_lead(rep1, "Kept"), make_lead(rep1, "Other")
    thread = EmailThreadFactory(lead=other)
    lead_services.lead_merge(by=manager, survivor=kept, merged=[other])
    assert list(EmailThread.objects.filter(lead=kept)) == [thread]
    person, twin = make_person(rep1, "Kept Person"), make_person(rep1, "Twin Person")
    EmailThreadFactory(lead=None, person=twin)
    crm_services.person_merge(by=manager, survivor=person, merged=[twin])
    assert EmailThread.objects.filter(person=person).count() == 1
    assert not EmailThread.objects.filter(person=twin).exists()


def test_consents_move(manager, rep1):
    """A consent is the record's: the kept lead or person holds what the others gave."""
    from privacy.models import Consent
    from privacy.selectors import has_consent
    from privacy.services import consent_record

    kept, other = make_lead(rep1, "Kept"), make_lead(rep1, "Other")
    consent_record(by=manager, lead=other, status=Consent.Status.GRANTED)
    lead_services.lead_merge(by=manager, survivor=kept, merged=[other])
    assert has_consent(lead=kept) and Consent.objects.filter(lead=other).count() == 0
    person, twin = make_person(rep1, "Kept Person"), make_person(rep1, "Twin Person")
    consent_record(by=manager, person=twin, status=Consent.Status.GRANTED)
    crm_services.person_merge(by=manager, survivor=person, merged=[twin])
    assert Consent.objects.filter(person=person).count() == 1
