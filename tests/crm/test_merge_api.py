"""Merge over the API and the old addresses of merged-away records (issue 18)."""

import pytest
from django.urls import reverse

from crm import permissions
from crm.models import Event, Organization, Person
from leads.models import Lead
from tests.aiagent.factories import make_lead, make_org, make_person
from tests.customfields.factories import CustomFieldFactory


@pytest.fixture
def two_leads(rep1):
    a = make_lead(rep1, "Acme rollout", contact_email="ana@acme.example")
    b = make_lead(rep1, "Acme rollout (web)", contact_phone="+1 555 0100")
    return a, b


def test_api_merge_answers_the_survivor(api_as, manager, two_leads):
    a, b = two_leads
    CustomFieldFactory(entity_type="lead", name="budget", label="Budget", type="number")
    Lead.objects.filter(pk=b.pk).update(custom_field_values={"budget": 5000})
    answer = api_as(manager).post(
        "/api/v1/leads/merge/",
        {"survivor": str(a.pk), "merged": [str(b.pk)], "fields": {"name": str(a.pk)}},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["id"] == str(a.pk)
    assert body["name"] == "Acme rollout"
    assert body["contact_phone"] == "+1 555 0100"
    assert body["custom_field_values"] == {"budget": 5000}
    assert Event.objects.filter(name="lead.merged").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"merged": []}, "survivor"),
        ({"survivor": "x", "merged": ["y"]}, "survivor"),
        ({"survivor": None, "merged": "nope"}, "merged"),
    ],
)
def test_api_merge_validation_errors_have_the_error_shape(api_as, manager, body, field):
    answer = api_as(manager).post("/api/v1/leads/merge/", body, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]


def test_api_merge_into_itself_is_a_400(api_as, manager, two_leads):
    a, _ = two_leads
    answer = api_as(manager).post(
        "/api/v1/leads/merge/", {"survivor": str(a.pk), "merged": [str(a.pk)]}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "merge_into_itself"


def test_api_merge_bad_field_choice_names_the_field(api_as, manager, two_leads, rep2):
    a, b = two_leads
    other = make_lead(rep2, "Other")
    answer = api_as(manager).post(
        "/api/v1/leads/merge/",
        {"survivor": str(a.pk), "merged": [str(b.pk)], "fields": {"name": str(other.pk)}},
        format="json",
    )
    assert answer.status_code == 400
    assert "fields.name" in answer.json()["error"]["details"]


def test_api_merge_refused_without_change_access_to_every_record(api_as, rep1, rep2, two_leads):
    a, _ = two_leads
    theirs = make_lead(rep2, "Theirs")
    permissions.share(rep1, theirs)
    answer = api_as(rep1).post(
        "/api/v1/leads/merge/", {"survivor": str(a.pk), "merged": [str(theirs.pk)]}, format="json"
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "merge_not_allowed"
    # A record the rep cannot even see is not found, named in the details.
    hidden = make_lead(rep2, "Hidden")
    answer = api_as(rep1).post(
        "/api/v1/leads/merge/", {"survivor": str(a.pk), "merged": [str(hidden.pk)]}, format="json"
    )
    assert answer.status_code == 404
    assert "merged" in answer.json()["error"]["details"]
    assert Lead.objects.count() == 4


def test_api_merging_an_already_merged_record_is_a_409(api_as, manager, rep1, two_leads):
    a, b = two_leads
    c = make_lead(rep1, "Third")
    client = api_as(manager)
    client.post(
        "/api/v1/leads/merge/", {"survivor": str(a.pk), "merged": [str(b.pk)]}, format="json"
    )
    answer = client.post(
        "/api/v1/leads/merge/", {"survivor": str(c.pk), "merged": [str(b.pk)]}, format="json"
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["details"]["merged"] == [f"Already merged into {a.pk}."]


def test_api_detail_of_a_merged_record_is_a_301_to_the_survivor(api_as, manager, two_leads):
    a, b = two_leads
    client = api_as(manager)
    client.post(
        "/api/v1/leads/merge/", {"survivor": str(a.pk), "merged": [str(b.pk)]}, format="json"
    )
    answer = client.get(f"/api/v1/leads/{b.pk}/")
    assert answer.status_code == 301
    assert answer["Location"].endswith(f"/api/v1/leads/{a.pk}/")
    error = answer.json()["error"]
    assert error["code"] == "merged"
    assert error["details"]["survivor"] == [str(a.pk)]
    assert client.get(answer["Location"]).status_code == 200
    # The merged-away lead is in no list.
    listed = client.get("/api/v1/leads/").json()["results"]
    assert [row["id"] for row in listed] == [str(a.pk)]


def test_api_detail_of_a_merged_record_stays_404_for_who_cannot_see_the_survivor(
    api_as, manager, rep1, rep2
):
    a, b = make_lead(rep2, "Theirs"), make_lead(rep1, "Mine")
    api_as(manager).post(
        "/api/v1/leads/merge/", {"survivor": str(a.pk), "merged": [str(b.pk)]}, format="json"
    )
    # rep1 held the merged-away lead: they hold the survivor now.
    assert api_as(rep1).get(f"/api/v1/leads/{b.pk}/").status_code == 301
    permissions.revoke(rep1, Lead.objects.get(pk=a.pk), permissions.OWNER_ACTIONS)
    assert api_as(rep1).get(f"/api/v1/leads/{b.pk}/").status_code == 404


def test_api_people_and_organizations_merge(api_as, manager, rep1):
    p1, p2 = make_person(rep1, "Pat", email="pat@acme.example"), make_person(rep1, "Patricia")
    answer = api_as(manager).post(
        "/api/v1/people/merge/",
        {"survivor": str(p1.pk), "merged": [str(p2.pk)], "fields": {"first_name": str(p2.pk)}},
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json()["first_name"] == "Patricia"
    assert api_as(manager).get(f"/api/v1/people/{p2.pk}/").status_code == 301
    o1, o2 = make_org(rep1, "Trey Research"), make_org(rep1, "Trey Research Ltd")
    answer = api_as(manager).post(
        "/api/v1/organizations/merge/",
        {"survivor": str(o1.pk), "merged": [str(o2.pk)]},
        format="json",
    )
    assert answer.status_code == 200
    assert not Organization.objects.filter(pk=o2.pk).exists()
    assert Person.objects.filter(pk=p2.pk).count() == 0


# --- the old addresses in the app -------------------------------------------------------------
def test_detail_page_of_a_merged_lead_redirects_to_the_survivor(web, manager, two_leads):
    from leads import services

    a, b = two_leads
    services.lead_merge(by=manager, survivor=a, merged=[b])
    client = web(manager)
    answer = client.get(reverse("leads:detail", args=[b.pk]))
    assert answer.status_code == 302
    assert answer["Location"] == reverse("leads:detail", args=[a.pk])
    page = client.get(answer["Location"])
    assert "was merged into this lead" in page.content.decode()


def test_detail_pages_of_merged_people_and_organizations_redirect(web, manager, rep1):
    from crm import services

    p1, p2 = make_person(rep1, "Pat"), make_person(rep1, "Pat")
    services.person_merge(by=manager, survivor=p1, merged=[p2])
    answer = web(manager).get(reverse("crm:person_detail", args=[p2.pk]))
    assert answer.status_code == 302
    assert answer["Location"] == reverse("crm:person_detail", args=[p1.pk])
    o1, o2 = make_org(rep1, "Org"), make_org(rep1, "Org")
    services.organization_merge(by=manager, survivor=o1, merged=[o2])
    answer = web(manager).get(reverse("crm:organization_detail", args=[o2.pk]))
    assert answer["Location"] == reverse("crm:organization_detail", args=[o1.pk])


def test_detail_page_of_a_merged_lead_is_404_for_who_cannot_see_the_survivor(web, manager, rep1):
    from leads import services

    rep2_lead = make_lead(manager, "Manager's")
    mine = make_lead(rep1, "Mine")
    services.lead_merge(by=manager, survivor=rep2_lead, merged=[mine])
    permissions.revoke(rep1, Lead.objects.get(pk=rep2_lead.pk), permissions.OWNER_ACTIONS)
    assert web(rep1).get(reverse("leads:detail", args=[mine.pk])).status_code == 404
