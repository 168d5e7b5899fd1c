"""Activity services: create, update, complete, reopen, delete (SPEC §5, §6)."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from activities import services
from activities.models import Activity
from crm import permissions
from crm.errors import Conflict, PermissionDenied, ValidationFailed
from crm.models import Event
from crm.services import SYSTEM_USERNAME, system_user
from leads.models import Lead
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory, UserFactory
from tests.leads.factories import LeadFactory

T = Activity.Type


def test_rep_logs_a_call_on_their_lead(rep1, lead):
    activity = services.activity_create(
        by=rep1, type=T.CALL, subject="Discovery call", direction="outbound", lead=lead
    )
    assert activity.is_done and activity.done_at is not None  # a logged call happened
    assert activity.assigned_to == rep1 and activity.created_by == rep1
    assert not activity.is_system_activity
    event = Event.objects.get(name="activity.created")
    assert event.payload["activity_id"] == str(activity.pk)
    assert event.payload["lead_id"] == str(lead.pk) and event.actor == rep1


def test_rep_may_log_on_a_lead_assigned_to_them(rep1, rep2):
    lead = LeadFactory(owner=rep2, assigned_to=rep1)
    activity = services.activity_create(by=rep1, type=T.NOTE, subject="Met at fair", lead=lead)
    assert activity.lead == lead


def test_logging_on_an_invisible_record_is_refused_as_unknown(rep1, rep2):
    theirs = LeadFactory(owner=rep2)
    with pytest.raises(ValidationFailed) as exc:
        services.activity_create(by=rep1, type=T.CALL, subject="x", lead=theirs)
    assert "lead" in exc.value.details


def test_analyst_and_viewer_cannot_create_activities(analyst, viewer, lead):
    for user in (analyst, viewer):
        permissions.share(user, lead)
        with pytest.raises(PermissionDenied):
            services.activity_create(by=user, type=T.NOTE, subject="x", lead=lead)


def test_default_done_state_follows_the_type(rep1, lead):
    later = timezone.now() + timedelta(days=2)
    cases = {
        (T.NOTE, None): True,
        (T.TASK, None): False,
        (T.DEADLINE, later): False,
        (T.CALL, None): True,
        (T.CALL, later): False,  # a planned call
        (T.MEETING, later): False,
        (T.EMAIL, timezone.now() - timedelta(hours=1)): True,
    }
    for (type_, due), done in cases.items():
        activity = services.activity_create(by=rep1, type=type_, subject="s", due_at=due, lead=lead)
        assert activity.is_done is done, type_


def test_logging_on_a_lead_moves_last_activity_at_in_one_update(
    rep1, lead, django_assert_num_queries
):
    assert lead.last_activity_at is None
    services.activity_create(by=rep1, type=T.CALL, subject="Call", lead=lead)
    lead.refresh_from_db()
    first = lead.last_activity_at
    assert first is not None
    # The touch is a single UPDATE statement.
    with django_assert_num_queries(1) as ctx:
        services._touch_lead(lead.pk, timezone.now())
    assert ctx.captured_queries[0]["sql"].startswith("UPDATE")


def test_last_activity_at_never_moves_backwards(lead):
    now = timezone.now()
    services._touch_lead(lead.pk, now)
    services._touch_lead(lead.pk, now - timedelta(days=3))
    assert Lead.objects.get(pk=lead.pk).last_activity_at == now


def test_system_activities_do_not_count_as_lead_activity(lead):
    services.activity_create(
        by=system_user(), type=T.TASK, subject="Review", lead=lead, is_system_activity=True
    )
    stored = Lead.objects.get(pk=lead.pk)
    assert stored.last_activity_at is None and stored.first_activity_at is None


def test_first_activity_is_set_once_by_the_first_logged(rep1, lead):
    first = services.activity_create(by=rep1, type=T.CALL, subject="Call", lead=lead)
    services.activity_create(by=rep1, type=T.NOTE, subject="Later", lead=lead)
    assert Lead.objects.get(pk=lead.pk).first_activity_at == first.created_at


def test_first_activity_follows_a_delete_and_a_move(rep1, manager, lead):
    other = LeadFactory(owner=rep1)
    first = services.activity_create(by=rep1, type=T.CALL, subject="Call", lead=lead)
    second = services.activity_create(by=rep1, type=T.NOTE, subject="Note", lead=lead)
    Activity.objects.filter(pk=second.pk).update(created_at=first.created_at + timedelta(hours=2))

    services.activity_delete(by=manager, activity=first)
    assert Lead.objects.get(pk=lead.pk).first_activity_at == first.created_at + timedelta(hours=2)

    second.refresh_from_db()
    services.activity_update(by=rep1, activity=second, data={"lead": other})
    assert Lead.objects.get(pk=lead.pk).first_activity_at is None
    assert Lead.objects.get(pk=other.pk).first_activity_at == second.created_at


def test_first_activity_refresh_reads_bulk_written_activities(rep1, lead):
    at = timezone.now() - timedelta(days=3)
    Activity.objects.bulk_create(
        [
            Activity(type=T.CALL, subject="a", lead=lead, created_by=rep1, created_at=at),
            Activity(type=T.NOTE, subject="b", lead=lead, created_by=rep1),
            Activity(
                type=T.TASK,
                subject="system",
                lead=lead,
                created_by=rep1,
                is_system_activity=True,
                created_at=at - timedelta(days=1),
            ),
        ]
    )
    services.lead_first_activity_refresh(lead_ids=[lead.pk])
    assert Lead.objects.get(pk=lead.pk).first_activity_at == at


def test_links_are_inherited_from_the_main_record(rep1):
    org = OrganizationFactory(owner=rep1)
    person = PersonFactory(owner=rep1, organization=org)
    deal = make_deal(rep1, person=person, organization=org)
    on_deal = services.activity_create(by=rep1, type=T.MEETING, subject="Demo", deal=deal)
    assert (on_deal.person, on_deal.organization) == (person, org)
    on_person = services.activity_create(by=rep1, type=T.NOTE, subject="n", person=person)
    assert on_person.organization == org and on_person.deal is None


def test_direction_only_for_calls_and_emails(rep1, lead):
    with pytest.raises(ValidationFailed) as exc:
        services.activity_create(
            by=rep1, type=T.TASK, subject="Do it", direction="inbound", lead=lead
        )
    assert "direction" in exc.value.details


def test_blank_subject_is_refused(rep1, lead):
    with pytest.raises(ValidationFailed) as exc:
        services.activity_create(by=rep1, type=T.NOTE, subject="   ", lead=lead)
    assert "subject" in exc.value.details


def test_inactive_assignee_is_refused(rep1, lead):
    gone = UserFactory(is_active=False)
    with pytest.raises(ValidationFailed):
        services.activity_create(by=rep1, type=T.TASK, subject="x", assigned_to=gone, lead=lead)


def test_complete_and_reopen_are_idempotent_and_emit_completed_once(rep1, lead):
    task = services.activity_create(by=rep1, type=T.TASK, subject="Send quote", lead=lead)
    services.activity_complete(by=rep1, activity=task, outcome="Sent v1")
    services.activity_complete(by=rep1, activity=task)
    task.refresh_from_db()
    assert task.is_done and task.outcome == "Sent v1"
    assert Event.objects.filter(name="activity.completed").count() == 1
    assert Lead.objects.get(pk=lead.pk).last_activity_at == task.done_at
    services.activity_reopen(by=rep1, activity=task)
    services.activity_reopen(by=rep1, activity=task)
    task.refresh_from_db()
    assert not task.is_done and task.done_at is None


def test_who_may_change_an_activity(rep1, rep2, manager, analyst, lead):
    task = services.activity_create(by=rep1, type=T.TASK, subject="Mine", lead=lead)
    services.activity_complete(by=manager, activity=task)  # change_all_activities
    for outsider in (rep2, analyst):
        with pytest.raises(PermissionDenied):
            services.activity_reopen(by=outsider, activity=task)
    # The assignee may, even without access to the lead.
    delegated = services.activity_create(
        by=rep1, type=T.TASK, subject="For rep2", assigned_to=rep2, lead=lead
    )
    services.activity_complete(by=rep2, activity=delegated)


def test_a_lead_changer_may_complete_someone_elses_task_on_it(rep1, rep2, manager):
    lead = LeadFactory(owner=rep1)
    task = services.activity_create(
        by=manager, type=T.TASK, subject="Ask rep2", assigned_to=rep2, lead=lead
    )
    services.activity_complete(by=rep1, activity=task)
    assert task.is_done


def test_update_changes_fields_and_rearms_overdue(rep1, lead):
    task = services.activity_create(
        by=rep1,
        type=T.TASK,
        subject="Old",
        due_at=timezone.now() - timedelta(days=1),
        lead=lead,
    )
    Activity.objects.filter(pk=task.pk).update(metadata={services.OVERDUE_FLAG: "x"})
    task.refresh_from_db()
    later = timezone.now() + timedelta(days=1)
    services.activity_update(by=rep1, activity=task, data={"subject": " New ", "due_at": later})
    task.refresh_from_db()
    assert task.subject == "New" and task.due_at == later
    assert services.OVERDUE_FLAG not in task.metadata


def test_update_with_is_done_completes(rep1, lead):
    task = services.activity_create(by=rep1, type=T.TASK, subject="t", lead=lead)
    services.activity_update(by=rep1, activity=task, data={"is_done": True})
    assert Activity.objects.get(pk=task.pk).is_done


def test_update_refuses_unknown_fields(rep1, lead):
    task = services.activity_create(by=rep1, type=T.TASK, subject="t", lead=lead)
    with pytest.raises(ValidationFailed):
        services.activity_update(by=rep1, activity=task, data={"metadata": {}})


def test_delete_by_creator_and_manager_but_not_teammate(rep1, rep2, manager, lead):
    lead.assigned_to = rep2
    permissions.move_assignee(lead, previous=None, new=rep2, owner=rep1)
    mine = services.activity_create(by=rep1, type=T.NOTE, subject="mine", lead=lead)
    with pytest.raises(PermissionDenied):
        services.activity_delete(by=rep2, activity=mine)
    services.activity_delete(by=rep1, activity=mine)
    other = services.activity_create(by=rep2, type=T.NOTE, subject="theirs", lead=lead)
    services.activity_delete(by=manager, activity=other)
    assert not Activity.objects.exists()


def test_system_activities_cannot_be_deleted_by_reps(rep1, lead):
    system = services.activity_create(
        by=system_user(), type=T.TASK, subject="Welcome", assigned_to=rep1, lead=lead
    )
    assert system.is_system_activity
    with pytest.raises(PermissionDenied):
        services.activity_delete(by=rep1, activity=system)


def test_one_activity_per_source_event_and_trigger(rep1, lead):
    meta = {"source_event": 41, "automation_trigger": "lead.assigned"}
    services.activity_create(by=system_user(), type=T.TASK, subject="a", lead=lead, metadata=meta)
    with pytest.raises(Conflict):
        services.activity_create(
            by=system_user(), type=T.TASK, subject="b", lead=lead, metadata=meta
        )
    services.activity_create(
        by=system_user(),
        type=T.TASK,
        subject="c",
        lead=lead,
        metadata={**meta, "automation_trigger": "rule:1:action:1"},
    )
    assert Activity.objects.count() == 2


# --- the system user ----------------------------------------------------------------------------
def test_system_user_can_act_but_not_log_in_nor_be_picked(client, lead):
    from django.test import RequestFactory

    from crm.selectors import assignable_users

    user = system_user()
    assert user.username == SYSTEM_USERNAME and user.is_active
    assert not user.has_usable_password() and not user.is_staff and not user.is_superuser
    assert system_user() == user  # one row
    assert permissions.can_change(user, lead)
    assert user.has_perm("leads.reassign_lead")
    assert user not in assignable_users()
    # Sign-in protection (django-axes) needs the request that signs in.
    request = RequestFactory().post("/accounts/login/")
    assert not client.login(request=request, username=SYSTEM_USERNAME, password="")


# --- business days ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2025-03-03 10:00", "2025-03-04"),  # Monday → Tuesday
        ("2025-03-07 10:00", "2025-03-10"),  # Friday → Monday
        ("2025-03-08 10:00", "2025-03-10"),  # Saturday → Monday
        ("2025-03-09 23:00", "2025-03-10"),  # Sunday → Monday
    ],
)
def test_next_business_day_skips_weekends(start, expected):
    moment = timezone.make_aware(datetime.fromisoformat(start))
    due = services.next_business_day(moment)
    assert timezone.localtime(due).date().isoformat() == expected
    assert timezone.localtime(due).time() == services.WORKDAY_END


def test_business_days_later_counts_only_weekdays():
    friday = timezone.make_aware(datetime(2025, 3, 7, 9))
    assert timezone.localtime(services.business_days_later(friday, 3)).date().isoformat() == (
        "2025-03-12"
    )
    saturday = timezone.make_aware(datetime(2025, 3, 8, 9))
    assert timezone.localtime(services.business_days_later(saturday, 0)).date().isoformat() == (
        "2025-03-10"
    )
