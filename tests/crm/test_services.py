import pytest

from crm import permissions, services
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import Event, Person
from tests.factories import OrganizationFactory, PersonFactory


def test_person_create_grants_owner_and_emits_event(rep1, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        person = services.person_create(by=rep1, first_name=" Ann ", email="ANN@X.COM")
    assert person.first_name == "Ann"
    assert person.email == "ann@x.com"
    assert person.owner == rep1 and person.created_by == rep1
    assert permissions.can_delete(rep1, person)
    event = Event.objects.get(name="person.created")
    assert event.payload == {"person_id": str(person.pk)}
    assert event.actor == rep1


def test_analyst_and_viewer_cannot_create(analyst, viewer):
    for user in (analyst, viewer):
        with pytest.raises(PermissionDenied):
            services.person_create(by=user, first_name="X")
    assert not Person.objects.exists()


def test_rep_cannot_create_for_someone_else(rep1, rep2):
    with pytest.raises(PermissionDenied):
        services.person_create(by=rep1, first_name="X", owner=rep2)


def test_manager_can_create_for_a_rep(manager, rep1):
    person = services.person_create(by=manager, first_name="X", owner=rep1)
    assert person.owner == rep1
    assert permissions.can_change(rep1, person)


def test_invalid_email_is_refused_with_field_details(rep1):
    with pytest.raises(ValidationFailed) as exc:
        services.person_create(by=rep1, first_name="X", email="not-an-email")
    assert "email" in exc.value.details
    assert not Person.objects.exists()


def test_linking_an_invisible_organization_is_refused(rep1, rep2):
    hidden = OrganizationFactory(owner=rep2)
    with pytest.raises(ValidationFailed) as exc:
        services.person_create(by=rep1, first_name="X", organization=hidden)
    assert exc.value.details == {"organization": ["Unknown organization."]}


def test_update_saves_only_changed_fields_and_records_history(rep1):
    person = PersonFactory(owner=rep1, job_title="Engineer")
    services.person_update(by=rep1, person=person, data={"job_title": "CTO"})
    person.refresh_from_db()
    assert person.job_title == "CTO"
    assert person.history.count() == 2
    assert Event.objects.filter(name="person.updated", payload__fields=["job_title"]).exists()


def test_update_by_other_rep_is_denied(rep1, rep2):
    person = PersonFactory(owner=rep2)
    with pytest.raises(PermissionDenied):
        services.person_update(by=rep1, person=person, data={"job_title": "CTO"})


def test_update_refuses_unknown_fields(rep1):
    person = PersonFactory(owner=rep1)
    with pytest.raises(ValidationFailed):
        services.person_update(by=rep1, person=person, data={"created_by": rep1})


def test_owner_change_moves_permissions(manager, rep1, rep2):
    org = OrganizationFactory(owner=rep1)
    services.organization_update(by=manager, organization=org, data={"owner": rep2})
    assert not permissions.can_view(rep1, org)
    assert permissions.can_delete(rep2, org)


def test_soft_delete_hides_the_record_and_keeps_the_row(rep1):
    person = PersonFactory(owner=rep1)
    services.person_delete(by=rep1, person=person)
    assert not Person.objects.filter(pk=person.pk).exists()
    assert Person.all_objects.get(pk=person.pk).deleted_at is not None


def test_deleting_a_person_or_an_organization_is_announced(rep1):
    person, org = PersonFactory(owner=rep1), OrganizationFactory(owner=rep1)

    services.person_delete(by=rep1, person=person)
    services.organization_delete(by=rep1, organization=org)

    # what live tables and detail pages (and integrations' webhooks) learn the deletion from
    person_event = Event.objects.get(name="person.updated", payload__person_id=person.pk)
    org_event = Event.objects.get(name="organization.updated", payload__organization_id=org.pk)
    assert person_event.payload["fields"] == org_event.payload["fields"] == ["deleted_at"]
    assert person_event.actor == rep1


def test_manager_may_not_delete(manager, rep1):
    person = PersonFactory(owner=rep1)
    with pytest.raises(PermissionDenied):
        services.person_delete(by=manager, person=person)


def test_organization_domain_is_normalised(rep1):
    org = services.organization_create(by=rep1, name="Acme", domain=" ACME.com ")
    assert org.domain == "acme.com"
    assert Event.objects.filter(name="organization.created").count() == 1
