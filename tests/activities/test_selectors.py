"""Who sees which activity (SPEC §9): one case per branch of ``visible_activities``."""

import pytest

from activities import selectors
from activities.models import Activity
from crm import permissions
from crm.errors import NotFound, PermissionDenied
from tests.activities.factories import ActivityFactory
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory, UserFactory
from tests.leads.factories import LeadFactory


def visible_ids(user):
    return set(selectors.activity_list(user=user).values_list("pk", flat=True))


@pytest.fixture
def world(rep1, rep2):
    """One activity per way of being visible, all created by an unrelated user."""
    stranger = UserFactory(username="stranger")
    lead1 = LeadFactory(owner=rep1)
    lead2 = LeadFactory(owner=rep2)
    deal1 = make_deal(rep1)
    person1 = PersonFactory(owner=rep1)
    org1 = OrganizationFactory(owner=rep1)
    return {
        "on_lead1": ActivityFactory(created_by=stranger, lead=lead1),
        "on_lead2": ActivityFactory(created_by=stranger, lead=lead2),
        "on_deal1": ActivityFactory(created_by=stranger, deal=deal1),
        "on_person1": ActivityFactory(created_by=stranger, person=person1),
        "on_org1": ActivityFactory(created_by=stranger, organization=org1),
        "assigned_rep1": ActivityFactory(created_by=stranger, assigned_to=rep1, lead=lead2),
        "created_by_rep1": ActivityFactory(created_by=rep1),
        "unlinked": ActivityFactory(created_by=stranger),
        "lead2": lead2,
    }


def test_owner_sees_activities_of_each_record_they_may_view_and_their_own(rep1, world):
    expected = {
        "on_lead1",
        "on_deal1",
        "on_person1",
        "on_org1",
        "assigned_rep1",
        "created_by_rep1",
    }
    assert visible_ids(rep1) == {world[k].pk for k in expected}


def test_teammate_sees_only_their_records_activities(rep2, world):
    assert visible_ids(rep2) == {world["on_lead2"].pk, world["assigned_rep1"].pk}


def test_being_assigned_the_lead_shows_its_activities(rep2, rep1, world):
    lead = world["on_lead1"].lead
    permissions.move_assignee(lead, previous=None, new=rep2, owner=rep1)
    assert world["on_lead1"].pk in visible_ids(rep2)


@pytest.mark.parametrize("role", ["manager", "analyst", "admin_user"])
def test_roles_with_view_all_see_everything(request, role, world):
    user = request.getfixturevalue(role)
    assert visible_ids(user) == set(Activity.objects.values_list("pk", flat=True))


def test_viewer_sees_only_activities_of_records_shared_with_them(viewer, world):
    assert visible_ids(viewer) == set()
    permissions.share(viewer, world["lead2"])
    assert visible_ids(viewer) == {world["on_lead2"].pk, world["assigned_rep1"].pk}


def test_inactive_user_sees_nothing(rep1, world):
    rep1.is_active = False
    assert visible_ids(rep1) == set()


def test_get_is_404_when_invisible_and_403_when_not_changeable(rep1, rep2, world):
    with pytest.raises(NotFound):
        selectors.activity_get(user=rep2, activity_id=world["on_lead1"].pk)
    with pytest.raises(NotFound):
        selectors.activity_get(user=rep2, activity_id="not-a-uuid")
    permissions.share(rep2, world["on_lead1"].lead)  # view only
    assert selectors.activity_get(user=rep2, activity_id=world["on_lead1"].pk)
    with pytest.raises(PermissionDenied):
        selectors.activity_get(user=rep2, activity_id=world["on_lead1"].pk, action="change")
    with pytest.raises(PermissionDenied):
        selectors.activity_get(user=rep2, activity_id=world["on_lead1"].pk, action="delete")


def test_can_change_branches(rep1, rep2, manager, analyst, world):
    on_lead1 = world["on_lead1"]
    assert selectors.can_change_activity(rep1, on_lead1)  # may change the lead
    assert not selectors.can_change_activity(rep2, on_lead1)
    assert selectors.can_change_activity(manager, on_lead1)  # change_all_activities
    assert not selectors.can_change_activity(analyst, on_lead1)  # view all, change none
    assert selectors.can_change_activity(rep1, world["assigned_rep1"])  # assignee
    assert selectors.can_change_activity(rep1, world["created_by_rep1"])  # creator


def test_can_delete_branches(rep1, manager, analyst, world):
    assert selectors.can_delete_activity(rep1, world["created_by_rep1"])
    assert not selectors.can_delete_activity(rep1, world["on_lead1"])  # not the creator
    assert selectors.can_delete_activity(manager, world["on_lead1"])
    assert not selectors.can_delete_activity(analyst, world["on_lead1"])
    world["created_by_rep1"].is_system_activity = True
    assert not selectors.can_delete_activity(rep1, world["created_by_rep1"])


def test_overdue_count_is_one_query(rep1, django_assert_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    ActivityFactory(assigned_to=rep1, due_at=timezone.now() - timedelta(hours=1))
    ActivityFactory(assigned_to=rep1, due_at=timezone.now() + timedelta(hours=1))
    ActivityFactory(assigned_to=rep1, due_at=timezone.now() - timedelta(hours=1), is_done=True)
    with django_assert_num_queries(1):
        assert selectors.overdue_count(user=rep1) == 1
