"""``/ws/leads/<id>/`` and ``/ws/deals/<id>/``: detail pages refresh live; presence."""

from __future__ import annotations

import pytest

from deals import services as deal_services
from leads import services
from tests.deals.factories import make_deal, pipeline_step
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, nothing, receive_until, run
from wfm.defaults import DealStep, LeadStep
from wfm.models import WorkflowStep


def is_refresh(html: str) -> bool:
    return "-refresh" in html and 'hx-trigger="load"' in html


def is_presence(html: str) -> bool:
    return 'id="presence"' in html


@pytest.fixture
def contacted(rt):
    return WorkflowStep.objects.get(
        workflow__name="Lead Qualification", status__name=LeadStep.CONTACTED
    )


# --- handshake ---------------------------------------------------------------------------------
@pytest.mark.parametrize("collection", ["leads", "deals"])
def test_anonymous_is_refused(rt, rep1, collection):
    record = LeadFactory(owner=rep1) if collection == "leads" else make_deal(rep1)

    async def scenario():
        _, accepted, code = await rt.open(f"/ws/{collection}/{record.pk}/", None)
        assert not accepted and code == 4401

    run(scenario, rt)


@pytest.mark.parametrize("collection", ["leads", "deals"])
def test_foreign_origin_is_refused(rt, rep1, collection):
    record = LeadFactory(owner=rep1) if collection == "leads" else make_deal(rep1)

    async def scenario():
        _, accepted, _ = await rt.open(
            f"/ws/{collection}/{record.pk}/", rep1, origin="http://attacker.test"
        )
        assert not accepted

    run(scenario, rt)


@pytest.mark.parametrize("collection", ["leads", "deals"])
def test_invisible_record_is_refused(rt, rep1, rep2, collection):
    record = LeadFactory(owner=rep1) if collection == "leads" else make_deal(rep1)

    async def scenario():
        _, accepted, code = await rt.open(f"/ws/{collection}/{record.pk}/", rep2)
        assert not accepted and code == 4403

    run(scenario, rt)


@pytest.mark.parametrize(
    "path",
    ["/ws/leads/not-a-uuid/", "/ws/leads/00000000-0000-4000-8000-000000000000/", "/ws/widgets/1/"],
)
def test_missing_records_and_unknown_kinds_are_refused(rt, rep1, path):
    async def scenario():
        _, accepted, code = await rt.open(path, rep1)
        assert not accepted and code == 4403

    run(scenario, rt)


def test_manager_may_subscribe_to_any_lead(rt, rep1, manager):
    lead = LeadFactory(owner=rep1)

    async def scenario():
        await rt.connect(f"/ws/leads/{lead.pk}/", manager)

    run(scenario, rt)


# --- changes -----------------------------------------------------------------------------------
def test_a_change_makes_the_lead_page_refetch_its_main_region(rt, rep1, manager, contacted):
    lead = LeadFactory(owner=rep1, name="Detail Co")

    async def scenario():
        socket = await rt.connect(f"/ws/leads/{lead.pk}/", rep1)
        await db(services.lead_transition)(by=manager, lead=lead, to_step=contacted)
        html = await receive_until(socket, is_refresh)
        assert f'hx-get="/leads/{lead.pk}/"' in html and 'hx-target="#lead-main"' in html
        assert 'id="lead-refresh"' in html and "step" in html
        assert "Detail Co" not in html  # a signal, not the record

    run(scenario, rt)


def test_the_main_partial_the_page_refetches_shows_the_move(rt, client, rep1, manager, contacted):
    lead = LeadFactory(owner=rep1)
    services.lead_transition(by=manager, lead=lead, to_step=contacted)
    client.force_login(rep1)
    html = client.get(f"/leads/{lead.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and LeadStep.CONTACTED in html


def test_losing_sight_of_the_lead_sends_a_notice_and_closes(rt, rep1, rep2, manager):
    lead = LeadFactory(owner=manager, assigned_to=rep1, name="Reassigned Corp")

    async def scenario():
        socket = await rt.connect(f"/ws/leads/{lead.pk}/", rep1)
        await db(services.lead_assign)(by=manager, lead=lead, assignee=rep2)
        html = await receive_until(socket, lambda h: "record-gone" in h)
        assert "no longer visible" in html and "Reassigned Corp" not in html
        output = await socket.receive_output(timeout=2)
        assert output["type"] == "websocket.close" and output["code"] == 4403

    run(scenario, rt)


def test_deleted_lead_page_says_so(rt, rep1):
    lead = LeadFactory(owner=rep1)

    async def scenario():
        socket = await rt.connect(f"/ws/leads/{lead.pk}/", rep1)
        await db(services.lead_delete)(by=rep1, lead=lead)
        html = await receive_until(socket, lambda h: "record-gone" in h)
        assert "was deleted" in html

    run(scenario, rt)


def test_other_records_changes_do_not_reach_the_page(rt, rep1):
    lead = LeadFactory(owner=rep1)
    other = LeadFactory(owner=rep1)

    async def scenario():
        socket = await rt.connect(f"/ws/leads/{lead.pk}/", rep1)
        await db(services.lead_update)(by=rep1, lead=other, data={"name": "Other"})
        assert await nothing(socket)

    run(scenario, rt)


def test_deal_page_refetches_on_a_move(rt, rep1, manager):
    deal = make_deal(rep1)
    target = pipeline_step(DealStep.INITIAL_CONTACT)

    async def scenario():
        socket = await rt.connect(f"/ws/deals/{deal.pk}/", rep1)
        await db(deal_services.deal_transition)(by=manager, deal=deal, to_step=target)
        html = await receive_until(socket, is_refresh)
        assert f'hx-get="/deals/{deal.pk}/"' in html and 'hx-target="#deal-main"' in html

    run(scenario, rt)


# --- presence ----------------------------------------------------------------------------------
def test_presence_shows_who_else_is_viewing_and_who_left(rt, rep1, manager):
    lead = LeadFactory(owner=rep1)
    manager.first_name, manager.last_name = "Mona", "Manager"
    manager.save(update_fields=["first_name", "last_name"])
    path = f"/ws/leads/{lead.pk}/"

    async def scenario():
        first = await rt.connect(path, rep1)
        assert await nothing(first)  # alone: nothing to say
        second = await rt.connect(path, manager)
        joined = await receive_until(first, is_presence)
        assert "Also viewing" in joined and "Mona Manager" in joined
        answered = await receive_until(second, is_presence)
        assert rep1.get_full_name() in answered
        await second.disconnect()
        left = await receive_until(first, is_presence)
        assert "Also viewing" not in left

    run(scenario, rt)


def test_presence_lists_a_user_with_two_tabs_once_and_not_oneself(rt, rep1, manager):
    lead = LeadFactory(owner=rep1)
    path = f"/ws/leads/{lead.pk}/"

    async def scenario():
        watcher = await rt.connect(path, rep1)
        await rt.connect(path, manager)
        await receive_until(watcher, is_presence)
        await rt.connect(path, manager)
        html = await receive_until(watcher, is_presence)
        assert 'data-count="1"' in html
        own_tab = await rt.connect(path, rep1)
        html = await receive_until(own_tab, is_presence)
        assert rep1.get_full_name() not in html

    run(scenario, rt)


def test_people_and_organization_pages_have_their_sockets_too(rt, rep1, rep2):
    from crm import services as crm_services
    from tests.factories import PersonFactory

    person = PersonFactory(owner=rep1, first_name="Grace")

    async def scenario():
        _, accepted, code = await rt.open(f"/ws/people/{person.pk}/", rep2)
        assert not accepted and code == 4403
        socket = await rt.connect(f"/ws/people/{person.pk}/", rep1)
        await db(crm_services.person_update)(by=rep1, person=person, data={"job_title": "Admiral"})
        html = await receive_until(socket, is_refresh)
        assert f'hx-get="/people/{person.pk}/"' in html and 'id="person-refresh"' in html
        assert "job_title" in html and "Admiral" not in html

    run(scenario, rt)


@pytest.mark.parametrize("kind", ["people", "organizations"])
def test_deleted_person_or_organization_page_says_so(rt, rep1, kind):
    from crm import services as crm_services
    from tests.factories import OrganizationFactory, PersonFactory

    if kind == "people":
        obj = PersonFactory(owner=rep1)
        delete = lambda: crm_services.person_delete(by=rep1, person=obj)  # noqa: E731
    else:
        obj = OrganizationFactory(owner=rep1)
        delete = lambda: crm_services.organization_delete(by=rep1, organization=obj)  # noqa: E731

    async def scenario():
        socket = await rt.connect(f"/ws/{kind}/{obj.pk}/", rep1)
        await db(delete)()
        html = await receive_until(socket, lambda h: "record-gone" in h)
        assert "was deleted" in html

    run(scenario, rt)
