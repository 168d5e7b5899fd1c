"""The surfaces: the form warning, the convert modal, detail notices, the Duplicates page and
the API, each over HTTP with the roles that use them."""

import pytest

from crm.models import User
from duplicates import services
from duplicates.models import DuplicateCandidate

pytestmark = pytest.mark.django_db


def test_the_lead_form_warns_of_a_visible_duplicate_with_a_link(web, rep1, make_lead):
    existing = make_lead(contact_email="ann@acme.example", name="Acme renewal")
    page = web(rep1).get("/leads/new/").content.decode()
    assert 'id="duplicate-warning"' in page and "/duplicates/check/?kind=lead" in page
    html = web(rep1).get("/duplicates/check/?kind=lead&contact_email=ANN@acme.example ")
    html = html.content.decode()
    assert "Possible duplicate of" in html and f"/leads/{existing.pk}/" in html
    assert "Same email ann@acme.example" in html


def test_the_warning_holds_nothing_the_user_may_not_see(web, rep2, make_lead):
    make_lead(contact_email="ann@acme.example")  # rep1's
    html = web(rep2).get("/duplicates/check/?kind=lead&contact_email=ann@acme.example")
    assert html.status_code == 200 and html.content.decode().strip() == ""


def test_a_submitted_form_with_errors_shows_the_warning_and_saving_stays_possible(
    web, rep1, make_lead
):
    make_lead(contact_email="ann@acme.example")
    client = web(rep1)
    response = client.post("/leads/new/", {"contact_email": "ann@acme.example"})
    assert response.status_code == 422 and "Possible duplicate of" in response.content.decode()
    response = client.post(
        "/leads/new/",
        {
            "name": "Again",
            "source": "web",
            "priority": "medium",
            "currency": "EUR",
            "contact_email": "ann@acme.example",
        },
    )
    assert response.status_code == 302


def test_person_and_organization_forms_check_as_the_user_types(web, rep1, make_org, make_person):
    client = web(rep1)
    for url, kind in (("/people/new/", "person"), ("/organizations/new/", "organization")):
        page = client.get(url).content.decode()
        assert f"/duplicates/check/?kind={kind}" in page
    person = make_person(first_name="Ann", last_name="Lee", email="ann@lee.example")
    edit = client.get(f"/people/{person.pk}/edit/").content.decode()
    assert f"exclude={person.pk}" in edit
    org = make_org(name="Fourth Coffee", domain="fourthcoffee.example")
    html = client.get("/duplicates/check/?kind=organization&domain=https://fourthcoffee.example/")
    assert f"/organizations/{org.pk}/" in html.content.decode()


def test_a_bad_kind_is_refused(web, rep1):
    assert web(rep1).get("/duplicates/check/?kind=deal").status_code == 400


def test_the_convert_modal_offers_existing_people_and_organizations(
    web, rep1, make_lead, make_person, make_org
):
    lead = make_lead(
        contact_name="Ann Lee", contact_email="ann.lee@trey.example", company_name="Trey Research"
    )
    person = make_person(first_name="Anne", last_name="Lee", email="a.lee@trey.example")
    org = make_org(name="Trey Research Inc.", domain="trey.example")
    client = web(rep1)
    html = client.get(f"/leads/{lead.pk}/convert/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="convert-duplicates"' in html
    assert f"?person={person.pk}" in html and f"/organizations/{org.pk}/" in html
    chosen = client.get(
        f"/leads/{lead.pk}/convert/?person={person.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f'<option value="{person.pk}" selected>' in chosen


def test_detail_pages_show_their_candidates(web, rep1, make_lead, make_person):
    a = make_lead(contact_email="ann@acme.example")
    b = make_lead(contact_email="ann@acme.example")
    person = make_person(first_name="Ann", last_name="Lee", email="ann@acme.example")
    page = web(rep1).get(f"/leads/{a.pk}/").content.decode()
    assert f'hx-get="/duplicates/leads/{a.pk}/notice/"' in page  # loaded after the page
    html = web(rep1).get(f"/duplicates/leads/{a.pk}/notice/").content.decode()
    assert 'data-testid="duplicate-notice"' in html
    assert f"/leads/{b.pk}/" in html and f"/people/{person.pk}/" in html
    page = web(rep1).get(f"/people/{person.pk}/").content.decode()
    assert f'hx-get="/duplicates/people/{person.pk}/notice/"' in page
    html = web(rep1).get(f"/duplicates/people/{person.pk}/notice/").content.decode()
    assert f"/leads/{a.pk}/" in html


def test_a_lead_alike_a_person_offers_to_convert_linking_it_to_who_may_change_the_lead(
    web, rep1, analyst, make_lead, make_person
):
    lead = make_lead(contact_email="ann@acme.example")
    person = make_person(first_name="Ann", last_name="Lee", email="ann@acme.example")
    link = f'hx-get="/leads/{lead.pk}/convert/?person={person.pk}"'
    assert link in web(rep1).get(f"/duplicates/leads/{lead.pk}/notice/").content.decode()
    # A disqualified lead is closed: nothing to convert.
    from leads.services import lead_disqualify

    lead_disqualify(by=rep1, lead=lead, reason="No budget")
    html = web(rep1).get(f"/duplicates/leads/{lead.pk}/notice/").content.decode()
    assert 'data-testid="duplicate-notice"' in html and "/convert/" not in html
    # An analyst sees the notice (the role reads every record) but may not convert.
    html = web(analyst).get(f"/duplicates/leads/{lead.pk}/notice/").content.decode()
    assert 'data-testid="duplicate-notice"' in html and "/convert/" not in html


def test_not_a_duplicate_from_a_detail_page(web, rep1, make_lead):
    a = make_lead(contact_email="ann@acme.example")
    b = make_lead(contact_email="ann@acme.example")
    response = web(rep1).post(
        f"/duplicates/leads/{a.pk}/dismiss/",
        {"other_type": "lead", "other_id": str(b.pk)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "showToast" in response["HX-Trigger"]
    assert DuplicateCandidate.objects.get().dismissed_by == rep1
    notice = web(rep1).get(f"/duplicates/leads/{a.pk}/notice/").content.decode()
    assert 'data-testid="duplicate-notice"' not in notice


def test_the_duplicates_page_is_for_managers(web, rep1, manager, make_lead):
    assert web(rep1).get("/duplicates/leads/").status_code == 403
    assert 'data-testid="nav-duplicates"' not in web(rep1).get("/leads/").content.decode()
    assert 'data-testid="nav-duplicates"' in web(manager).get("/leads/").content.decode()


def test_the_duplicates_page_lists_groups_and_dismisses(
    web, manager, make_lead, django_assert_max_num_queries
):
    def add(n):
        for i in range(n):
            make_lead(contact_email=f"p{n}-{i}@acme.example")
            make_lead(contact_email=f"P{n}-{i}@acme.example")
        services.duplicates_find()

    client = web(manager)
    client.get("/duplicates/leads/")  # the session, permissions: read once
    add(2)
    with django_assert_max_num_queries(25) as small:
        html = client.get("/duplicates/leads/").content.decode()
    assert html.count('data-testid="duplicate-group"') == 2
    add(8)
    with django_assert_max_num_queries(25) as large:
        html = client.get("/duplicates/leads/").content.decode()
    assert html.count('data-testid="duplicate-group"') == 10
    assert len(large.captured_queries) == len(small.captured_queries)
    candidate = DuplicateCandidate.objects.first()
    response = client.post(f"/duplicates/candidates/{candidate.pk}/dismiss/")
    assert response.status_code == 302
    html = client.get("/duplicates/leads/").content.decode()
    assert html.count('data-testid="duplicate-group"') == 9


def test_the_duplicates_page_has_an_empty_state(web, manager):
    html = web(manager).get("/duplicates/people/").content.decode()
    assert 'data-testid="duplicates-empty"' in html


def test_api_lists_candidates_with_score_and_reasons(
    api_as, rep1, rep2, make_lead, django_assert_max_num_queries
):
    lead = make_lead(contact_email="ann@acme.example")

    def get():
        client = api_as(User.objects.get(pk=rep1.pk))  # nothing cached on the user
        with django_assert_max_num_queries(12) as ctx:
            response = client.get(f"/api/v1/leads/{lead.pk}/duplicates/")
        assert response.status_code == 200
        return response.json(), len(ctx.captured_queries)

    make_lead(contact_email="ANN@acme.example")
    get()  # both measured requests find the reference data (role, permissions) cached
    body, small = get()
    assert body[0]["record_type"] == "lead" and body[0]["score"] == 95
    assert (
        body[0]["reasons"][0]
        == {
            "rule": "email",
            "label": "Same email ann@acme.example",
            "score": 95,
            "value": "ann@acme.example",
        }
        or body[0]["reasons"][0]["rule"] == "email"
    )
    for _ in range(5):
        make_lead(contact_email="ann@acme.example")
    body, large = get()
    assert len(body) == 6 and large == small
    assert api_as(rep2).get(f"/api/v1/leads/{lead.pk}/duplicates/").status_code == 404


def test_api_of_people_and_organizations(api_as, rep1, make_person, make_org):
    person = make_person(first_name="Ann", last_name="Lee", email="ann@lee.example")
    twin = make_person(first_name="Ann", last_name="Lee", email="ANN@lee.example")
    org = make_org(name="Bellows College", domain="bellows.example")
    twin_org = make_org(name="Bellows College", domain="bellows.example")
    body = api_as(rep1).get(f"/api/v1/people/{person.pk}/duplicates/").json()
    assert [r["id"] for r in body] == [str(twin.pk)]
    body = api_as(rep1).get(f"/api/v1/organizations/{org.pk}/duplicates/").json()
    assert [r["id"] for r in body] == [str(twin_org.pk)]
