"""Reference data cached under one version that any change to it moves (crm.reference)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm import reference
from crm.roles import Role
from leads import selectors
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _reference_cache(settings):
    settings.REFERENCE_CACHE = True


def _reads(compute_calls: list):
    def compute():
        compute_calls.append(1)
        return len(compute_calls)

    return compute


def test_a_cached_value_is_computed_once_until_the_data_changes(db):
    calls: list = []
    assert reference.cached("probe", _reads(calls)) == 1
    assert reference.cached("probe", _reads(calls)) == 1
    UserFactory(username="newcomer")
    assert reference.cached("probe", _reads(calls)) == 2


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda u: u.save(update_fields=["first_name"]), id="user renamed"),
        pytest.param(lambda u: u.groups.add(Group.objects.get(name=Role.MANAGER.value)), id="role"),
        pytest.param(lambda u: u.delete(), id="user deleted"),
    ],
)
def test_user_and_role_changes_move_the_version(db, change):
    user = UserFactory()
    before = reference.version()
    change(user)
    assert reference.version() != before


def test_a_sign_in_does_not_move_the_version(db, client):
    user = UserFactory()
    before = reference.version()
    user.save(update_fields=["last_login"])
    assert reference.version() == before


def test_the_version_moves_again_when_the_change_commits(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        UserFactory()
        during = reference.version()
    for callback in callbacks:
        callback()
    assert reference.version() != during


def test_lead_steps_are_read_once_and_follow_a_renamed_status(db):
    first = selectors.lead_steps()
    with CaptureQueriesContext(connection) as captured:
        again = selectors.lead_steps()
    assert len(captured) == 0 and [s.pk for s in again] == [s.pk for s in first]
    status = first[0].status
    status.name = "Fresh"
    status.save()
    assert selectors.lead_steps()[0].name == "Fresh"


def test_the_filter_bar_lists_a_user_added_after_it_was_cached(web, manager):
    client = web(manager)
    assert "Zelda Newhire" not in client.get("/leads/").content.decode()
    UserFactory(first_name="Zelda", last_name="Newhire", role=Role.SALES_REP)
    assert "Zelda Newhire" in client.get("/leads/").content.decode()


def test_without_a_cache_the_data_is_read_from_the_database(db, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(reference.cache, "get", down)
    monkeypatch.setattr(reference.cache, "set", down)
    calls: list = []
    assert reference.cached("probe", _reads(calls)) == 1
    assert reference.cached("probe", _reads(calls)) == 2
    UserFactory()  # a change while the cache is down is no error either


def test_a_role_change_shows_at_once_on_the_same_user_object(db):
    user = UserFactory(role=Role.SALES_REP)
    assert user.role == Role.SALES_REP.value
    user.groups.set([Group.objects.get(name=Role.MANAGER.value)])
    assert user.role == Role.MANAGER.value


def test_permissions_are_read_once_per_grant_version(db, rep1):
    from crm.models import User

    assert rep1.has_perm("leads.add_lead")
    fresh = User.objects.get(pk=rep1.pk)
    with CaptureQueriesContext(connection) as captured:
        assert fresh.has_perm("leads.add_lead")
    assert len(captured) == 0
    rep1.groups.clear()
    assert not User.objects.get(pk=rep1.pk).has_perm("leads.add_lead")


def test_custom_field_definitions_follow_a_change_and_a_deletion(db):
    from customfields.selectors import definitions_for
    from tests.customfields.factories import CustomFieldFactory

    field = CustomFieldFactory(entity_type="lead", name="budget", label="Budget", type="number")
    assert [d.label for d in definitions_for("lead")] == ["Budget"]
    with CaptureQueriesContext(connection) as captured:
        definitions_for("lead")
    assert len(captured) == 0
    field.label = "Budget (EUR)"
    field.save()
    assert [d.label for d in definitions_for("lead")] == ["Budget (EUR)"]
    field.delete()
    assert definitions_for("lead") == []


def test_without_a_shared_cache_nothing_is_cached(db, settings):
    settings.REFERENCE_CACHE = False
    calls: list = []
    assert reference.cached("probe", _reads(calls)) == 1
    assert reference.cached("probe", _reads(calls)) == 2


def test_a_page_reads_the_version_once_and_values_from_the_process(web, manager, monkeypatch):
    client = web(manager)
    client.get("/leads/")  # fills this process's values
    reads = []
    real_get = reference.cache.get

    def counting_get(key, *args, **kwargs):
        reads.append(key)
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(reference.cache, "get", counting_get)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/leads/").status_code == 200
    assert reads.count(reference.VERSION_KEY) == 1
    assert not any("auth_permission" in q["sql"] for q in captured)
    assert not any('FROM "wfm_workflowstep"' in q["sql"] for q in captured)
