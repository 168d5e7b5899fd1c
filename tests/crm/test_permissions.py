"""The one visibility helper, one case per branch (SPEC §9)."""

from crm import permissions
from crm.models import Person
from tests.factories import PersonFactory, UserFactory


def test_owner_sees_changes_and_deletes_own_person(rep1):
    person = PersonFactory(owner=rep1)
    assert permissions.can_view(rep1, person)
    assert permissions.can_change(rep1, person)
    assert permissions.can_delete(rep1, person)


def test_other_rep_cannot_see_or_change(rep1, rep2):
    person = PersonFactory(owner=rep2)
    assert not permissions.can_view(rep1, person)
    assert not permissions.can_change(rep1, person)
    assert list(permissions.visible(rep1, Person.objects.all())) == []


def test_manager_sees_and_changes_all_but_does_not_delete(manager, rep2):
    person = PersonFactory(owner=rep2)
    assert permissions.can_view(manager, person)
    assert permissions.can_change(manager, person)
    assert not permissions.can_delete(manager, person)
    assert list(permissions.visible(manager, Person.objects.all())) == [person]


def test_analyst_reads_all_writes_nothing(analyst, rep2):
    person = PersonFactory(owner=rep2)
    assert permissions.can_view(analyst, person)
    assert not permissions.can_change(analyst, person)


def test_viewer_sees_only_what_is_shared(viewer, rep2):
    shared, private = PersonFactory(owner=rep2), PersonFactory(owner=rep2)
    permissions.share(viewer, shared)
    assert permissions.can_view(viewer, shared)
    assert not permissions.can_change(viewer, shared)
    assert set(permissions.visible(viewer, Person.objects.all())) == {shared}
    assert not permissions.can_view(viewer, private)


def test_superuser_sees_everything(admin_user, rep2):
    person = PersonFactory(owner=rep2)
    assert permissions.can_delete(admin_user, person)
    assert list(permissions.visible(admin_user, Person.objects.all())) == [person]


def test_global_view_permission_does_not_open_every_row(rep1, rep2):
    # guardian would treat a model-level view permission as access to all rows; we do not.
    from django.contrib.auth.models import Permission

    rep1.user_permissions.add(Permission.objects.get(codename="view_person"))
    rep1 = type(rep1).objects.get(pk=rep1.pk)  # drop the permission cache
    PersonFactory(owner=rep2)
    assert list(permissions.visible(rep1, Person.objects.all())) == []


def test_inactive_and_anonymous_users_see_nothing(rep1):
    from django.contrib.auth.models import AnonymousUser

    person = PersonFactory(owner=rep1)
    rep1.is_active = False
    assert not permissions.can_view(rep1, person)
    assert not permissions.can_view(AnonymousUser(), person)
    assert list(permissions.visible(AnonymousUser(), Person.objects.all())) == []


def test_assignee_permissions_move_with_reassignment(rep1, rep2):
    owner = UserFactory(role="Sales Rep")
    person = PersonFactory(owner=owner)
    permissions.move_assignee(person, previous=None, new=rep1, owner=owner)
    assert permissions.can_change(rep1, person)
    permissions.move_assignee(person, previous=rep1, new=rep2, owner=owner)
    assert not permissions.can_view(rep1, person)
    assert permissions.can_change(rep2, person)
    assert not permissions.can_delete(rep2, person)


def test_previous_assignee_who_owns_keeps_access(rep1, rep2):
    person = PersonFactory(owner=rep1)
    permissions.move_assignee(person, previous=rep1, new=rep2, owner=rep1)
    assert permissions.can_delete(rep1, person)


def test_object_checks_cost_one_query_per_record_until_forgotten(
    rep1, rep2, django_assert_num_queries
):
    person = PersonFactory(owner=rep2)
    permissions.grant(rep1, person, ("view",))
    rep1.has_perm("crm.view_person")  # the role's model permissions, loaded once per user
    with django_assert_num_queries(1):  # the user's object permissions on this record
        assert permissions.can_view(rep1, person)
        assert not permissions.can_change(rep1, person)
        assert not permissions.can_delete(rep1, person)
    permissions.grant(rep1, person, ("change",))  # forgets: the next check reads afresh
    with django_assert_num_queries(1):
        assert permissions.can_change(rep1, person)


def test_allowed_actions_agree_with_can_for_every_kind_of_user(
    rep1, rep2, manager, analyst, viewer, admin_user
):
    from django.contrib.auth.models import AnonymousUser

    owner = UserFactory(role="Sales Rep")
    person = PersonFactory(owner=owner)
    permissions.move_assignee(person, previous=None, new=rep1, owner=owner)
    permissions.share(viewer, person)
    inactive = UserFactory(role="Sales Rep", is_active=False)
    users = [owner, rep1, rep2, manager, analyst, viewer, admin_user, inactive]

    allowed = permissions.allowed_actions([*users, AnonymousUser()], person)

    for user in users:
        expected = {a for a in permissions.OWNER_ACTIONS if permissions.can(user, person, a)}
        assert allowed[user.pk] == expected, user.username
    assert allowed[owner.pk] == {"view", "change", "delete"}
    assert allowed[rep1.pk] == {"view", "change"}
    assert allowed[viewer.pk] == {"view"}
    assert allowed[rep2.pk] == set()
    assert allowed[inactive.pk] == set()
    assert allowed[None] == set()


def test_allowed_actions_cost_one_query_whatever_the_number_of_users(
    rep2, manager, django_assert_num_queries
):
    person = PersonFactory(owner=rep2)
    few = [UserFactory(role="Viewer") for _ in range(2)]
    many = few + [UserFactory(role="Sales Rep") for _ in range(8)]
    for user in many:
        permissions.share(user, person)
        user.has_perm("crm.view_person")  # the role's model permissions, loaded once per user
    manager.has_perm("crm.view_person")
    with django_assert_num_queries(1):
        assert set(permissions.allowed_actions(few, person).values()) == {frozenset({"view"})}
    with django_assert_num_queries(1):
        allowed = permissions.allowed_actions([*many, manager], person)
    assert all(allowed[user.pk] == {"view"} for user in many)
    assert allowed[manager.pk] == {"view", "change"}
    with django_assert_num_queries(0):  # the role decides view and change for a manager
        assert permissions.allowed_actions([manager], person, ("view", "change")) == {
            manager.pk: {"view", "change"}
        }


def test_allowed_actions_read_permissions_afresh(rep1, rep2):
    person = PersonFactory(owner=rep2)
    permissions.share(rep1, person)
    assert permissions.allowed_actions([rep1], person)[rep1.pk] == {"view"}
    permissions.revoke(rep1, person, permissions.SHARE_ACTIONS)
    assert permissions.allowed_actions([rep1], person)[rep1.pk] == set()
