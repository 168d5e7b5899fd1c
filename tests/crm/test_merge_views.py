"""The merge screen (issue 18): pick, compare, confirm, merge; for leads, people and
organizations, with each role."""

import pytest
from django.urls import reverse

from crm import permissions
from crm.models import Organization, Person
from leads.models import Lead
from tests.aiagent.factories import make_lead, make_org, make_person
from tests.customfields.factories import CustomFieldFactory

MERGE = "/leads/merge/"


def _url(*objs) -> str:
    return f"{MERGE}?ids={','.join(str(o.pk) for o in objs)}"


def test_detail_page_offers_merge_with_to_who_may_change(web, manager, analyst, rep1):
    lead = make_lead(rep1, "Acme")
    page = web(manager).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert f"/leads/merge/?ids={lead.pk}" in page
    page = web(analyst).get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "/leads/merge/" not in page
    person = make_person(rep1, "Pat")
    page = web(manager).get(reverse("crm:person_detail", args=[person.pk])).content.decode()
    assert f"/people/merge/?ids={person.pk}" in page


def test_pick_step_searches_only_records_the_user_may_change(web, rep1, rep2):
    mine = make_lead(rep1, "Acme rollout")
    other_mine = make_lead(rep1, "Acme expansion")
    theirs = make_lead(rep2, "Acme pilot")
    permissions.share(rep1, theirs)  # visible, not changeable
    client = web(rep1)
    page = client.get(_url(mine)).content.decode()
    assert "Type to search" in page
    found = client.get(_url(mine) + "&q=Acme", HTTP_HX_REQUEST="true").content.decode()
    assert f"ids={mine.pk},{other_mine.pk}" in found
    assert str(theirs.pk) not in found
    assert str(mine.pk) + "," + str(mine.pk) not in found


def test_analyst_may_not_open_the_merge_screen(web, analyst, rep1):
    a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
    assert web(analyst).get(_url(a, b)).status_code == 403


def test_unknown_or_hidden_record_is_a_404(web, rep1, rep2):
    a, hidden = make_lead(rep1, "A"), make_lead(rep2, "Hidden")
    assert web(rep1).get(_url(a, hidden)).status_code == 404


def test_compare_preselects_the_newest_non_empty_value(web, manager, rep1):
    CustomFieldFactory(entity_type="lead", name="budget", label="Budget", type="number")
    a = make_lead(rep1, "Older", contact_email="a@acme.example")
    b = make_lead(rep1, "Newer", custom_field_values={"budget": 700})
    page = web(manager).get(_url(a, b)).content.decode()
    assert f'name="field_name" value="{b.pk}" checked' in page
    assert f'name="field_contact_email" value="{a.pk}" checked' in page
    assert f'name="field_cf_budget" value="{b.pk}" checked' in page
    assert f'name="survivor" value="{a.pk}" checked' in page


def test_compare_shows_amounts_in_the_records_currency(web, manager, rep1):
    a = make_lead(rep1, "In euros", estimated_value=1200, currency="EUR")
    b = make_lead(rep1, "In dollars", estimated_value="3600.50", currency="USD")
    page = web(manager).get(_url(a, b)).content.decode()
    assert "€1,200" in page and "$3,600.50" in page


@pytest.mark.parametrize("size", [2, 6])
def test_compare_page_query_count_is_bounded(
    web, manager, rep1, size, django_assert_max_num_queries
):
    leads = [make_lead(rep1, f"Lead {i}") for i in range(size)]
    client = web(manager)
    with django_assert_max_num_queries(14):
        assert client.get(_url(*leads)).status_code == 200


def test_confirm_then_merge_lands_on_the_survivor(web, manager, rep1):
    a = make_lead(rep1, "Keep me", contact_phone="+1 555 0101")
    b = make_lead(rep1, "Merged name", contact_phone="+1 555 0199")
    client = web(manager)
    form = {
        "ids": f"{a.pk},{b.pk}",
        "survivor": str(a.pk),
        "field_name": str(b.pk),
        "field_contact_phone": str(a.pk),
    }
    page = client.post(_url(a, b), {**form, "step": "confirm"}).content.decode()
    assert 'data-testid="merge-confirm"' in page
    assert "Merged name" in page and "This cannot be undone" in page
    assert Lead.objects.count() == 2  # nothing merged yet
    answer = client.post(_url(a, b), {**form, "step": "merge"})
    assert answer.status_code == 302
    assert answer["Location"] == reverse("leads:detail", args=[a.pk])
    a.refresh_from_db()
    assert (a.name, a.contact_phone) == ("Merged name", "+1 555 0101")
    page = client.get(answer["Location"]).content.decode()
    assert "Merged “Keep me”" not in page and "into this lead" in page


def test_htmx_merge_answers_a_client_redirect(web, manager, rep1):
    a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
    answer = web(manager).post(
        _url(a, b),
        {"ids": f"{a.pk},{b.pk}", "survivor": str(b.pk), "step": "merge"},
        HTTP_HX_REQUEST="true",
    )
    assert answer["HX-Redirect"] == reverse("leads:detail", args=[b.pk])


def test_a_record_the_user_may_not_change_blocks_the_merge(web, rep1, rep2):
    mine, theirs = make_lead(rep1, "Mine"), make_lead(rep2, "Theirs")
    permissions.share(rep1, theirs)
    client = web(rep1)
    page = client.get(_url(mine, theirs)).content.decode()
    assert "You may not change “Theirs”" in page
    answer = client.post(_url(mine, theirs), {"ids": f"{mine.pk},{theirs.pk}", "step": "merge"})
    assert answer.status_code == 200
    assert Lead.objects.count() == 2


def test_a_refused_merge_shows_the_reason(web, manager, rep1):
    from leads import services

    a, b = make_lead(rep1, "A"), make_lead(rep1, "B")
    services.lead_convert(by=manager, lead=b, deal=False, organization=False)
    answer = web(manager).post(
        _url(a, b), {"ids": f"{a.pk},{b.pk}", "survivor": str(a.pk), "step": "merge"}
    )
    assert answer.status_code == 400
    assert "is converted" in answer.content.decode()


def test_people_and_organizations_merge_screens(web, manager, rep1):
    p1, p2 = make_person(rep1, "Pat", email="pat@a.example"), make_person(rep1, "Patricia")
    client = web(manager)
    url = reverse("crm:person_merge") + f"?ids={p1.pk},{p2.pk}"
    assert "Which value to keep" in client.get(url).content.decode()
    answer = client.post(url, {"ids": f"{p1.pk},{p2.pk}", "survivor": str(p1.pk), "step": "merge"})
    assert answer["Location"] == reverse("crm:person_detail", args=[p1.pk])
    assert not Person.objects.filter(pk=p2.pk).exists()
    o1, o2 = make_org(rep1, "Bellows College"), make_org(rep1, "Bellows")
    url = reverse("crm:organization_merge") + f"?ids={o1.pk},{o2.pk}"
    answer = client.post(url, {"ids": f"{o1.pk},{o2.pk}", "survivor": str(o2.pk), "step": "merge"})
    assert answer["Location"] == reverse("crm:organization_detail", args=[o2.pk])
    assert not Organization.objects.filter(pk=o1.pk).exists()
