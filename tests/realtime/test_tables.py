"""``/ws/tables/lead/``: rows update in place; new leads show a "N new leads" bar."""

from __future__ import annotations

from leads import services
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, nothing, receive_until, run

TABLE = "/ws/tables/lead/"


def test_anonymous_and_foreign_origin_and_unknown_tables_are_refused(rt, rep1):
    async def scenario():
        _, accepted, code = await rt.open(TABLE, None)
        assert not accepted and code == 4401
        _, accepted, _ = await rt.open(TABLE, rep1, origin="https://elsewhere.example")
        assert not accepted
        _, accepted, code = await rt.open("/ws/tables/widget/", rep1)
        assert not accepted and code == 4403

    run(scenario, rt)


def test_changed_row_is_replaced_in_place_with_the_table_cells(rt, client, rep1):
    lead = LeadFactory(owner=rep1, name="Row Co")

    async def scenario():
        socket = await rt.connect(TABLE, rep1)
        await db(services.lead_update)(by=rep1, lead=lead, data={"name": "Row Co Renamed"})
        html = await receive_until(socket, lambda h: f'id="row-{lead.pk}"' in h)
        assert html.startswith("<tr") and 'hx-swap-oob="true"' in html
        assert "Row Co Renamed" in html

    run(scenario, rt)
    # The very same row markup as the page's.
    client.force_login(rep1)
    page = client.get("/leads/").content.decode()
    assert f'<tr id="row-{lead.pk}" data-id="{lead.pk}" data-lead-id="{lead.pk}">' in page


def test_live_row_uses_the_page_columns(rt, rep1):
    lead = LeadFactory(owner=rep1, priority="high")

    async def scenario():
        socket = await rt.connect(f"{TABLE}?columns=name&columns=priority", rep1)
        await db(services.lead_update)(by=rep1, lead=lead, data={"name": "Two Columns"})
        html = await receive_until(socket, lambda h: f'id="row-{lead.pk}"' in h)
        assert html.count("<td") == 3  # the checkbox, name, priority

    run(scenario, rt)


def test_new_leads_count_in_the_bar_instead_of_jumping_in(rt, rep1, rep2):
    async def scenario():
        socket = await rt.connect(TABLE, rep1)
        other = await rt.connect(TABLE, rep2)
        first = await db(services.lead_create)(by=rep1, name="New One", source="web")
        html = await receive_until(socket, lambda h: "new-rows-bar" in h)
        assert "1 new lead" in html and "New One" not in html
        await db(services.lead_create)(by=rep1, name="New Two", source="web")
        html = await receive_until(socket, lambda h: "2 new leads" in h)
        # Later changes to a counted lead do not count it twice.
        await db(services.lead_update)(by=rep1, lead=first, data={"name": "New One!"})
        assert await nothing(other)

    run(scenario, rt)


def test_new_lead_outside_the_table_filters_is_not_counted(rt, rep1):
    async def scenario():
        socket = await rt.connect(f"{TABLE}?source=referral", rep1)
        await db(services.lead_create)(by=rep1, name="Web lead", source="web")
        assert not any("new-rows-bar" in h for h in await drain(socket))

    run(scenario, rt)


def test_row_of_a_lead_reassigned_away_is_deleted(rt, rep1, rep2, manager):
    lead = LeadFactory(owner=manager, assigned_to=rep1)

    async def scenario():
        socket = await rt.connect(TABLE, rep1)
        await db(services.lead_assign)(by=manager, lead=lead, assignee=rep2)
        html = await receive_until(socket, lambda h: f"row-{lead.pk}" in h)
        assert 'hx-swap-oob="delete"' in html

    run(scenario, rt)


async def drain(socket, timeout: float = 0.6) -> list[str]:
    messages = []
    while not await socket.receive_nothing(timeout=timeout):
        messages.append(await socket.receive_from())
    return messages


# --- the same live table for every record type ---------------------------------------------------
def test_deal_row_is_replaced_in_place_and_reaches_only_who_may_see_it(rt, client, rep1, rep2):
    from deals import services as deal_services
    from tests.deals.factories import make_deal

    deal = make_deal(rep1, name="Table Deal")

    async def scenario():
        mine = await rt.connect("/ws/tables/deal/", rep1)
        theirs = await rt.connect("/ws/tables/deal/", rep2)
        await db(deal_services.deal_update)(by=rep1, deal=deal, data={"name": "Table Deal 2"})
        html = await receive_until(mine, lambda h: f'id="row-{deal.pk}"' in h)
        assert html.startswith("<tr") and 'hx-swap-oob="true"' in html
        assert "Table Deal 2" in html and f'data-id="{deal.pk}"' in html
        assert await nothing(theirs)

    run(scenario, rt)
    client.force_login(rep1)
    page = client.get("/deals/").content.decode()
    assert 'ws-connect="/ws/tables/deal/' in page and f'<tr id="row-{deal.pk}"' in page


def test_new_deal_counts_in_the_bar(rt, rep1):
    from deals import services as deal_services

    async def scenario():
        socket = await rt.connect("/ws/tables/deal/", rep1)
        await db(deal_services.deal_create)(by=rep1, name="Brand new deal", amount=100)
        html = await receive_until(socket, lambda h: "new-rows-bar" in h)
        assert "1 new deal" in html and "Brand new deal" not in html
        assert 'href="/deals/"' in html

    run(scenario, rt)


def test_people_and_organization_rows_update_live(rt, client, rep1, rep2):
    from crm import services as crm_services
    from tests.factories import OrganizationFactory, PersonFactory

    person = PersonFactory(owner=rep1, first_name="Ada", last_name="Lovelace")
    org = OrganizationFactory(owner=rep1, name="Analytical Engines")

    async def scenario():
        people = await rt.connect("/ws/tables/person/", rep1)
        orgs = await rt.connect("/ws/tables/organization/", rep1)
        outsider = await rt.connect("/ws/tables/person/", rep2)
        await db(crm_services.person_update)(by=rep1, person=person, data={"job_title": "Poet"})
        html = await receive_until(people, lambda h: f'id="row-{person.pk}"' in h)
        assert "Lovelace" in html and 'hx-swap-oob="true"' in html
        await db(crm_services.organization_update)(
            by=rep1, organization=org, data={"name": "Difference Engines"}
        )
        html = await receive_until(orgs, lambda h: f'id="row-{org.pk}"' in h)
        assert "Difference Engines" in html
        await db(crm_services.person_create)(by=rep1, first_name="Charles", last_name="Babbage")
        html = await receive_until(people, lambda h: "new-rows-bar" in h)
        assert "1 new person" in html
        assert await nothing(outsider)

    run(scenario, rt)
    client.force_login(rep1)
    for path, kind in (("/people/", "person"), ("/organizations/", "organization")):
        assert f'ws-connect="/ws/tables/{kind}/' in client.get(path).content.decode()
