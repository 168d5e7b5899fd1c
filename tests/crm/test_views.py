import pytest
from django.urls import reverse

from crm.models import Organization, Person
from tests.factories import PASSWORD, OrganizationFactory, PersonFactory


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_login_page_uses_django_field_names(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in html and 'name="password"' in html


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/people/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_login_is_throttled_after_repeated_failures(client, rep1, settings):
    settings.AXES_FAILURE_LIMIT = 3  # LOGIN_FAILURE_LIMIT (sign-in protection, crm.auth)
    for _ in range(3):
        client.post("/accounts/login/", {"username": "rep1", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "rep1", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()


def test_rep_table_shows_only_own_people(web, rep1, rep2):
    PersonFactory(owner=rep1, first_name="Mine")
    PersonFactory(owner=rep2, first_name="Theirs")
    html = web(rep1).get("/people/").content.decode()
    assert "Mine" in html and "Theirs" not in html


def test_manager_table_shows_everyone(web, manager, rep1, rep2):
    PersonFactory(owner=rep1, first_name="Mine")
    PersonFactory(owner=rep2, first_name="Theirs")
    html = web(manager).get("/people/").content.decode()
    assert "Mine" in html and "Theirs" in html


def test_other_reps_detail_page_is_404(web, rep1, rep2, manager):
    person = PersonFactory(owner=rep2)
    assert web(rep1).get(f"/people/{person.pk}/").status_code == 404
    assert web(manager).get(f"/people/{person.pk}/").status_code == 200


def test_visible_but_unchangeable_edit_is_403(web, analyst, rep2):
    person = PersonFactory(owner=rep2)
    assert web(analyst).get(f"/people/{person.pk}/edit/").status_code == 403


def test_htmx_search_returns_only_the_rows_partial(web, rep1):
    PersonFactory(owner=rep1, first_name="Findme")
    PersonFactory(owner=rep1, first_name="Other")
    response = web(rep1).get("/people/?search=findme", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Findme" in html and "Other" not in html
    assert "<nav" not in html  # no page shell, just the region


def test_sorting_by_column(web, manager, rep1):
    PersonFactory(owner=rep1, last_name="Aaa")
    PersonFactory(owner=rep1, last_name="Zzz")
    html = web(manager).get("/people/?ordering=-last_name").content.decode()
    assert html.index("Zzz") < html.index("Aaa")


def test_empty_state_invites_to_add(web, rep1):
    html = web(rep1).get("/organizations/").content.decode()
    assert "No organizations yet." in html and "Add the first organization" in html


def test_create_organization_in_modal(web, rep1):
    client = web(rep1)
    form = client.get("/organizations/new/", HTTP_HX_REQUEST="true")
    assert "modal-content" in form.content.decode()
    response = client.post(
        "/organizations/new/", {"name": "Acme", "domain": "acme.com"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert "recordSaved" in response["HX-Trigger"] and "closeModal" in response["HX-Trigger"]
    assert Organization.objects.get().owner == rep1


def test_invalid_modal_form_is_rerendered_with_inline_errors(web, rep1):
    response = web(rep1).post(
        "/people/new/", {"first_name": "", "email": "bad"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "invalid-feedback" in html and "Enter a valid email address." in html
    assert 'value="bad"' in html  # the input is kept
    assert not Person.objects.exists()


def test_non_htmx_create_redirects_to_detail(web, rep1):
    response = web(rep1).post("/organizations/new/", {"name": "Acme"})
    org = Organization.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "crm:organization_detail", args=[org.pk]
    )


def test_edit_and_delete(web, rep1):
    org = OrganizationFactory(owner=rep1, name="Old")
    client = web(rep1)
    client.post(f"/organizations/{org.pk}/edit/", {"name": "New"}, HTTP_HX_REQUEST="true")
    org.refresh_from_db()
    assert org.name == "New"
    response = client.post(f"/organizations/{org.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/organizations/"
    assert not Organization.objects.exists()


def test_detail_shows_history(web, rep1):
    org = OrganizationFactory(owner=rep1, name="Old")
    client = web(rep1)
    client.post(
        f"/organizations/{org.pk}/edit/",
        {"name": "New", "industry": "Energy"},
        HTTP_HX_REQUEST="true",
    )
    html = client.get(f"/organizations/{org.pk}/").content.decode()
    assert "Changed" in html and "industry" in html


@pytest.mark.parametrize("rows", [3, 40])
def test_people_table_query_count_is_constant(web, rep1, rows, django_assert_max_num_queries):
    org = OrganizationFactory(owner=rep1)
    for _ in range(rows):
        PersonFactory(owner=rep1, organization=org)
    client = web(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/people/").status_code == 200


@pytest.mark.parametrize("rows", [3, 40])
def test_organization_table_query_count_is_constant(
    web, manager, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        OrganizationFactory()
    client = web(manager)
    with django_assert_max_num_queries(10):
        assert client.get("/organizations/").status_code == 200


def test_security_headers(web, rep1):
    response = web(rep1).get("/people/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_navigation_links_every_area_and_marks_the_current_one(web, rep1):
    html = web(rep1).get(reverse("crm:person_list")).content.decode()
    nav = html[html.index('id="main-nav"') :]
    for name in (
        "leads:list",
        "deals:list",
        "crm:person_list",
        "crm:organization_list",
        "activities:list",
        "aiagent:home",
    ):
        assert f'href="{reverse(name)}"' in nav, name
    assert f'nav-link active" href="{reverse("crm:person_list")}"' in nav
