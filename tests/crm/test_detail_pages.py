"""The detail pages of leads, deals, people and organizations (one layout, crm.records.details):
what each role is offered, what the page shows, and the regions HTMX refreshes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from activities.models import Activity
from crm import permissions
from crm.errors import ValidationFailed
from crm.records import registry
from tests.activities.factories import ActivityFactory
from tests.customfields.factories import CustomFieldFactory
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory
from wfm.defaults import DealStep, LeadStep
from wfm.models import WorkflowStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def _labels(response) -> dict[str, list[str]]:
    actions = response.context["detail"].actions
    return {
        "primary": [actions.primary.label] if actions.primary else [],
        "buttons": [a.label for a in actions.buttons],
        "moves": [a.label for a in actions.moves],
        "more": [a.label for a in actions.more],
    }


NO_ACTIONS = {"primary": [], "buttons": [], "moves": [], "more": []}


@pytest.fixture
def viewer_with_share(viewer):
    def share(obj):
        permissions.share(viewer, obj)
        return viewer

    return share


# --- leads -------------------------------------------------------------------------------------
def test_lead_owner_gets_the_next_step_first_and_the_other_moves_in_a_menu(web, rep1):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).get(f"/leads/{lead.pk}/")
    assert _labels(response) == {
        "primary": ["Mark contacted"],
        "buttons": ["Assign", "Edit"],
        "moves": ["Convert", "Qualify", "Disqualify"],
        "more": ["Merge with…", "Delete"],
    }
    page = response.content.decode()
    # One label per move: no "Qualify → Qualified" doubles.
    assert "→ Qualified" not in page and "Move to…" in page
    assert 'data-testid="convert-lead"' in page and f'hx-post="/leads/{lead.pk}/delete/"' in page


def test_a_contacted_lead_offers_qualify_and_keeps_convert_in_the_menu(web, rep1):
    lead = LeadFactory(owner=rep1)
    contacted = WorkflowStep.objects.get(
        workflow__name="Lead Qualification", status__name=LeadStep.CONTACTED
    )
    web(rep1).post(f"/leads/{lead.pk}/move/", {"to_step": contacted.pk})
    labels = _labels(web(rep1).get(f"/leads/{lead.pk}/"))
    assert labels["primary"] == ["Qualify"]
    assert labels["moves"] == ["Convert", "Back to New Lead", "Disqualify"]


def test_a_converted_lead_offers_no_workflow_actions(web, rep1):
    lead = LeadFactory(owner=rep1)
    web(rep1).post(
        f"/leads/{lead.pk}/convert/",
        {"person_action": "create", "organization_action": "create", "create_deal": "on"},
    )
    labels = _labels(web(rep1).get(f"/leads/{lead.pk}/"))
    # A converted lead can still be the one others are merged into (issue 18).
    assert labels == {**NO_ACTIONS, "more": ["Merge with…", "Delete"]}


def test_manager_may_change_a_reps_lead_but_not_delete_it(web, rep1, manager):
    lead = LeadFactory(owner=rep1)
    labels = _labels(web(manager).get(f"/leads/{lead.pk}/"))
    assert labels["primary"] == ["Mark contacted"] and labels["buttons"] == ["Assign", "Edit"]
    assert labels["more"] == ["Merge with…"]


def test_readers_of_a_lead_are_offered_nothing(web, rep1, analyst, viewer_with_share):
    lead = LeadFactory(owner=rep1)
    for reader in (analyst, viewer_with_share(lead)):
        response = web(reader).get(f"/leads/{lead.pk}/")
        assert response.status_code == 200 and _labels(response) == NO_ACTIONS
        page = response.content.decode()
        assert 'data-testid="record-actions"' not in page
        for path in ("edit", "assign", "qualify", "convert", "move", "delete"):
            assert f"/leads/{lead.pk}/{path}/" not in page
        assert "Recalculate" not in page


def test_a_lead_of_another_rep_or_unshared_is_not_found(web, rep1, rep2, viewer):
    lead = LeadFactory(owner=rep1)
    assert web(rep2).get(f"/leads/{lead.pk}/").status_code == 404
    assert web(viewer).get(f"/leads/{lead.pk}/").status_code == 404


def test_lead_header_shows_key_facts_with_shared_formatting(web, rep1, rep2):
    lead = LeadFactory(
        owner=rep1, assigned_to=rep2, estimated_value=Decimal("82600"), contact_phone="+1 555 0100"
    )
    page = web(rep1).get(f"/leads/{lead.pk}/").content.decode()
    facts = page.split('data-testid="record-facts"')[1].split("</dl>")[0]
    assert "€82,600" in facts and rep1.display_name in facts and rep2.display_name in facts
    assert "score-badge score-cold" in facts and "Cold" in facts
    assert 'href="tel:+15550100"' in page and f'href="mailto:{lead.contact_email}"' in page
    assert "82,600.00 EUR" not in page


def test_lead_history_shows_labels_and_values_and_the_system_toggle(web, rep1):
    lead = LeadFactory(owner=rep1, name="Before")
    client = web(rep1)
    client.post(
        f"/leads/{lead.pk}/edit/",
        {"name": "After", "source": "web", "priority": "medium", "currency": "EUR"},
        HTTP_HX_REQUEST="true",
    )
    lead.lead_score = 75
    lead.save(update_fields=["lead_score"])  # a rescore's row

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    history = page.split('data-testid="history"')[1]
    assert "<dt>Name</dt>" in history and "Before" in history and "After" in history
    assert "Started in" in history and "lead_score" not in history
    assert "Show system changes (1)" in history

    card = client.get(
        f"/leads/{lead.pk}/?system=1", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="history"
    )
    html = card.content.decode()
    assert 'id="history"' in html and "<html" not in html and 'id="lead-main"' not in html
    assert "<dt>Score</dt>" in html and "Hide system changes" in html


def test_lead_refresh_renders_the_main_region_only(web, rep1):
    lead = LeadFactory(owner=rep1)
    html = web(rep1).get(f"/leads/{lead.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and 'data-testid="record-header"' in html
    assert 'id="lead-main"' not in html and 'id="history"' in html


# --- the frame every type shares (records/detail.html) -----------------------------------------
def _record(kind: str, owner):
    return {
        "lead": lambda: LeadFactory(owner=owner),
        "deal": lambda: make_deal(owner),
        "person": lambda: PersonFactory(owner=owner),
        "organization": lambda: OrganizationFactory(owner=owner),
    }[kind]()


COLLECTIONS = {
    "lead": "leads",
    "deal": "deals",
    "person": "people",
    "organization": "organizations",
}


@pytest.mark.parametrize("kind", ["lead", "deal", "person", "organization"])
def test_every_record_page_has_the_same_frame_and_refresh_region(web, rep1, kind):
    """One live socket and presence outside the region a save or a live change re-fetches
    (``#<kind>-main``, the id crm.records.realtime targets), the assistant's drawer; a refresh
    answers the region's content alone."""
    obj = _record(kind, rep1)
    url = registry.get(kind).url("detail", obj.pk)
    client = web(rep1)
    page = client.get(url).content.decode()
    socket = f'ws-connect="/ws/{COLLECTIONS[kind]}/{obj.pk}/"'
    assert page.count(socket) == 1 and page.count('data-testid="record-socket"') == 1
    region = f'<div id="{kind}-main" hx-get="{url}"'
    assert region in page and f'id="{kind}-refresh"' in page
    assert (
        page.index('id="presence"') < page.index(region) < page.index('data-testid="record-header"')
    )
    assert page.count('data-testid="ai-drawer-toggle"') == 1

    refresh = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"{kind}-main")
    html = refresh.content.decode()
    assert "<html" not in html and 'data-testid="record-header"' in html
    assert f'id="{kind}-main"' not in html and "ws-connect" not in html
    # The swap keeps the timeline element (a half-written quick-log entry keeps its focus); the
    # answer's event reloads it in place.
    assert 'id="timeline"' in html and 'hx-preserve="true"' in html
    assert "recordRefreshed from:body" in html
    assert json.loads(refresh["HX-Trigger"]) == {"recordRefreshed": True}


# --- deals -------------------------------------------------------------------------------------
def test_deal_owner_gets_the_next_step_won_lost_and_a_move_menu(web, rep1):
    deal = make_deal(rep1, step=DealStep.DISCOVERY, amount="3600")
    response = web(rep1).get(f"/deals/{deal.pk}/")
    assert _labels(response) == {
        "primary": ["Move to Proposal"],
        "buttons": ["Mark won", "Mark lost", "Assign", "Edit"],
        "moves": ["Back to Initial Contact"],
        "more": ["Delete"],
    }
    page = response.content.decode()
    assert "€3,600" in page and "3,600.00 EUR" not in page


def test_a_lost_deal_offers_reopen_only(web, rep1):
    deal = make_deal(rep1, step=DealStep.CLOSED_LOST)
    labels = _labels(web(rep1).get(f"/deals/{deal.pk}/"))
    assert labels["primary"] == ["Reopen"] and labels["moves"] == []
    assert labels["buttons"] == ["Assign", "Edit"]


def test_readers_of_a_deal_are_offered_nothing(web, rep1, rep2, analyst, viewer_with_share):
    deal = make_deal(rep1)
    for reader in (analyst, viewer_with_share(deal)):
        response = web(reader).get(f"/deals/{deal.pk}/")
        assert response.status_code == 200 and _labels(response) == NO_ACTIONS
        page = response.content.decode()
        for path in ("edit", "assign", "won", "lost", "transition", "delete"):
            assert f"/deals/{deal.pk}/{path}/" not in page
    assert web(rep2).get(f"/deals/{deal.pk}/").status_code == 404


def test_manager_may_move_a_reps_deal_but_not_delete_it(web, rep1, manager):
    deal = make_deal(rep1)
    labels = _labels(web(manager).get(f"/deals/{deal.pk}/"))
    assert labels["primary"] == ["Move to Initial Contact"] and labels["more"] == []


def test_deal_history_merges_step_moves_and_field_changes(web, rep1):
    deal = make_deal(rep1, step=DealStep.INITIAL_CONTACT, amount="1000")
    client = web(rep1)
    client.post(
        f"/deals/{deal.pk}/edit/",
        {"name": deal.name, "amount": "2500.50", "currency": "USD"},
        HTTP_HX_REQUEST="true",
    )
    history = client.get(f"/deals/{deal.pk}/").content.decode().split('data-testid="history"')[1]
    assert "<dt>Amount</dt>" in history and "$2,500.50" in history
    assert "<dt>Currency</dt>" in history
    assert "Qualification" in history and "<strong>Initial Contact</strong>" in history


# --- people and organizations ------------------------------------------------------------------
def test_a_deal_page_links_the_lead_it_was_converted_from(web, rep1, rep2):
    deal = make_deal(rep1, name="From a lead")
    lead = LeadFactory(owner=rep1, name="Origin lead", converted_to_deal=deal)
    page = web(rep1).get(f"/deals/{deal.pk}/").content.decode()
    assert 'data-testid="related-leads"' in page and f'href="/leads/{lead.pk}/"' in page
    assert "From lead" in page
    permissions.share(rep2, deal)
    shared = web(rep2).get(f"/deals/{deal.pk}/").content.decode()
    assert "Origin lead" not in shared and 'data-testid="related-leads"' not in shared
    plain = make_deal(rep1, name="No lead")
    page = web(rep1).get(f"/deals/{plain.pk}/").content.decode()
    assert 'data-testid="related-leads"' not in page


def test_person_page_lists_the_leads_deals_and_open_activities_the_user_sees(web, rep1, rep2):
    person = PersonFactory(owner=rep1, phone="+49 30 1234", email="ann@acme.example")
    permissions.share(rep2, person)
    mine = LeadFactory(owner=rep1, person=person, name="My lead")
    LeadFactory(owner=rep2, person=person, name="Their lead")
    make_deal(rep1, person=person, name="My deal", amount="82600")
    ActivityFactory(assigned_to=rep1, lead=mine, subject="Call Ann back", type=Activity.Type.CALL)

    page = web(rep1).get(f"/people/{person.pk}/").content.decode()

    assert 'data-testid="related-leads"' in page and f'href="/leads/{mine.pk}/"' in page
    assert "My lead" in page and "Their lead" not in page
    assert "My deal" in page and "€82,600" in page and "Call Ann back" in page
    assert 'href="tel:+49301234"' in page and 'href="mailto:ann@acme.example"' in page


def test_organization_page_lists_people_leads_and_deals(web, rep1):
    org = OrganizationFactory(owner=rep1, domain="acme.example", size="11-50")
    PersonFactory(owner=rep1, organization=org, first_name="Ann", last_name="Lee")
    LeadFactory(owner=rep1, organization=org, name="Org lead")
    make_deal(rep1, organization=org, name="Org deal")

    page = web(rep1).get(f"/organizations/{org.pk}/").content.decode()

    for key in ("people", "leads", "deals", "activities"):
        assert f'data-testid="related-{key}"' in page
    assert "Ann Lee" in page and "Org lead" in page and "Org deal" in page
    assert 'href="https://acme.example"' in page and "11-50 employees" in page


@pytest.mark.parametrize("kind", ["people", "organizations"])
def test_person_and_organization_actions_per_role(
    web, rep1, rep2, manager, analyst, viewer_with_share, kind
):
    obj = PersonFactory(owner=rep1) if kind == "people" else OrganizationFactory(owner=rep1)
    url = f"/{kind}/{obj.pk}/"
    assert _labels(web(rep1).get(url)) == {
        **NO_ACTIONS,
        "buttons": ["Edit"],
        "more": ["Merge with…", "Delete"],
    }
    assert _labels(web(manager).get(url)) == {
        **NO_ACTIONS,
        "buttons": ["Edit"],
        "more": ["Merge with…"],
    }
    assert _labels(web(analyst).get(url)) == NO_ACTIONS
    assert _labels(web(viewer_with_share(obj)).get(url)) == NO_ACTIONS
    assert web(rep2).get(url).status_code == 404


def test_person_edit_refreshes_the_whole_record_region(web, rep1):
    person = PersonFactory(owner=rep1, first_name="Ann")
    html = web(rep1).get(f"/people/{person.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and "<h1" in html and 'id="history"' in html


def test_organization_history_shows_labels_and_values(web, rep1):
    org = OrganizationFactory(owner=rep1, name="Old", industry="")
    client = web(rep1)
    client.post(
        f"/organizations/{org.pk}/edit/",
        {"name": "New", "industry": "Energy"},
        HTTP_HX_REQUEST="true",
    )
    history = (
        client.get(f"/organizations/{org.pk}/").content.decode().split('data-testid="history"')[1]
    )
    assert "<dt>Industry</dt>" in history and "Energy" in history
    assert "<dt>Name</dt>" in history and "Old" in history


@pytest.mark.parametrize("count", [1, 6])
def test_person_page_queries_do_not_grow_with_related_records(
    web, rep1, count, django_assert_max_num_queries
):
    person = PersonFactory(owner=rep1)
    for i in range(count):
        lead = LeadFactory(owner=rep1, person=person)
        make_deal(rep1, person=person, name=f"Deal {i}")
        ActivityFactory(assigned_to=rep1, lead=lead, subject=f"Task {i}")
    client = web(rep1)
    with django_assert_max_num_queries(16):
        assert client.get(f"/people/{person.pk}/").status_code == 200


# --- create and edit errors (one helper: crm.forms.add_domain_errors) ---------------------------
def test_a_deal_edit_refused_for_a_custom_field_shows_the_error_on_that_input(
    web, rep1, monkeypatch
):
    CustomFieldFactory(entity_type="deal", name="budget", label="Budget", type="number")
    deal = make_deal(rep1)
    from deals import services

    def refuse(**kwargs):
        raise ValidationFailed(
            "Not saved.",
            details={
                "custom_field_values.budget": ["Budget: too big."],
                "amount": ["Amount: over the limit."],
            },
        )

    monkeypatch.setattr(services, "deal_update", refuse)
    response = web(rep1).post(
        f"/deals/{deal.pk}/edit/",
        {"name": "X", "amount": "1", "currency": "EUR", "cf_budget": "9"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["cf_budget"] == ["Budget: too big."]
    assert form.errors["amount"] == ["Amount: over the limit."]
    assert not form.non_field_errors()
    assert 'name="cf_budget"' in response.content.decode()


def test_a_lead_edit_refusal_lands_on_the_same_inputs(web, rep1, monkeypatch):
    CustomFieldFactory(entity_type="lead", name="budget", label="Budget", type="number")
    lead = LeadFactory(owner=rep1)
    from leads import services

    def refuse(**kwargs):
        raise ValidationFailed(
            "Not saved.",
            details={"custom_field_values.budget": ["Budget: too big."], "name": ["Taken."]},
        )

    monkeypatch.setattr(services, "lead_update", refuse)
    response = web(rep1).post(
        f"/leads/{lead.pk}/edit/",
        {"name": "X", "source": "web", "priority": "medium", "currency": "EUR", "cf_budget": "9"},
        HTTP_HX_REQUEST="true",
    )
    form = response.context["form"]
    assert response.status_code == 422
    assert form.errors["cf_budget"] == ["Budget: too big."] and form.errors["name"] == ["Taken."]


def test_moving_a_lead_without_a_step_says_to_choose_one(web, rep1):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(f"/leads/{lead.pk}/move/", {"to_step": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"to_step": ["Choose a step."]}
