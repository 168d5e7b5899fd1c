"""Board column tallies (``crm.records.tallies``): what a board reads instead of counting,
equal to counting after every kind of change, for every viewer."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm import permissions
from crm.records import registry, tallies
from deals import services as deal_services
from leads import services as lead_services
from leads.models import Lead
from tests.deals.factories import make_deal, pipeline_step
from tests.leads.factories import LeadFactory
from wfm import boards
from wfm.defaults import DealStep, LeadStep
from wfm.models import BoardEntry, BoardTally, Workflow, WorkflowStep


def _steps(rt):
    return list(
        WorkflowStep.objects.select_related("workflow")
        .filter(pk__in=[s.pk for s in rt.board.steps()])
        .order_by("order")
    )


def counted(rt, user) -> dict:
    """The column heads as counting gives them (the board's ``GROUP BY``)."""
    rows = boards.column_totals(
        queryset=rt.list_selector(user),
        value_field=rt.board.value_field,
        step_ids=[s.pk for s in _steps(rt)],
    )
    return {
        step_id: {"count": row["count"], "total": row["total"] or Decimal(0)}
        for step_id, row in rows.items()
        if row["count"]
    }


def tallied(rt, user) -> dict:
    """The column heads as the tallies give them, over every workflow of the type."""
    steps = _steps(rt)
    heads = {}
    for workflow in {s.workflow for s in steps}:
        found = tallies.column_counts(
            rt, user, workflow, [s for s in steps if s.workflow == workflow], filtered=False
        )
        assert found is not None, f"{workflow} was never tallied"
        heads.update(found)
    return heads


def assert_same(rt, *users):
    for user in users:
        assert tallied(rt, user) == counted(rt, user), user.username


@pytest.fixture
def leads_rt():
    return registry.get("lead")


@pytest.fixture
def deals_rt():
    return registry.get("deal")


@pytest.fixture
def lead_step():
    def find(name):
        return WorkflowStep.objects.get(workflow__name="Lead Qualification", status__name=name)

    return find


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what commits set off (the events' handlers, the permission signals), as a real
    commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_an_untallied_workflow_counts(leads_rt, manager):
    workflow = _steps(leads_rt)[0].workflow
    assert workflow.tallied_at is None
    assert (
        tallies.column_counts(leads_rt, manager, workflow, _steps(leads_rt), filtered=False) is None
    )


def test_a_rebuild_counts_what_every_viewer_sees(leads_rt, manager, rep1, rep2, viewer, analyst):
    LeadFactory(owner=rep1, estimated_value=100)
    LeadFactory(owner=rep1, estimated_value=None)
    LeadFactory(owner=rep2, assigned_to=rep1, estimated_value=Decimal("20.50"))
    shared = LeadFactory(owner=rep2, estimated_value=7)
    permissions.share(viewer, shared)
    gone = LeadFactory(owner=rep1, estimated_value=1000)
    Lead.objects.filter(pk=gone.pk).update(deleted_at="2026-01-01T00:00:00Z")

    assert tallies.rebuild(leads_rt) == 4

    assert Workflow.objects.get(name="Lead Qualification").tallied_at is not None
    assert_same(leads_rt, manager, rep1, rep2, viewer, analyst)
    new = WorkflowStep.objects.get(workflow__name="Lead Qualification", status__name="New Lead")
    assert tallied(leads_rt, manager)[new.pk] == {"count": 4, "total": Decimal("127.50")}
    assert tallied(leads_rt, rep1)[new.pk] == {"count": 3, "total": Decimal("120.50")}
    assert tallied(leads_rt, viewer) == {new.pk: {"count": 1, "total": Decimal("7")}}


def test_every_change_through_the_services_keeps_them_equal_to_counting(
    leads_rt, manager, rep1, rep2, viewer, lead_step, on_commit
):
    with on_commit():
        first = LeadFactory(owner=rep1, estimated_value=500)
        other = LeadFactory(owner=rep2, estimated_value=300)
    tallies.rebuild(leads_rt)
    everyone = (manager, rep1, rep2, viewer)

    with on_commit():
        lead = lead_services.lead_create(by=rep1, name="Fresh", estimated_value=Decimal("50"))
    assert_same(leads_rt, *everyone)
    with on_commit():
        lead_services.lead_update(by=rep1, lead=lead, data={"estimated_value": Decimal("75")})
    assert_same(leads_rt, *everyone)
    with on_commit():
        lead_services.lead_transition(by=rep1, lead=lead, to_step=lead_step(LeadStep.CONTACTED))
    assert_same(leads_rt, *everyone)
    with on_commit():
        lead_services.lead_assign(by=manager, lead=first, assignee=rep2)
    assert_same(leads_rt, *everyone)
    with on_commit():
        permissions.share(viewer, other)  # a permission alone, no event
    assert_same(leads_rt, *everyone)
    assert tallied(leads_rt, viewer)
    with on_commit():
        permissions.revoke(viewer, other, permissions.SHARE_ACTIONS)
    assert tallied(leads_rt, viewer) == {}
    with on_commit():
        lead_services.lead_merge(by=manager, survivor=other, merged=[first])
    assert_same(leads_rt, *everyone)
    with on_commit():
        lead_services.lead_delete(by=rep1, lead=Lead.objects.get(pk=lead.pk))
    assert_same(leads_rt, *everyone)
    with on_commit():
        lead_services.lead_restore(by=rep1, lead=Lead.all_objects.get(pk=lead.pk))
    assert_same(leads_rt, *everyone)


def test_deals_too_with_their_amounts(deals_rt, manager, rep1, rep2, on_commit):
    make_deal(rep2, amount=900)
    tallies.rebuild(deals_rt)
    with on_commit():
        deal = make_deal(rep1, amount=1200)
        deal_services.deal_transition(
            by=rep1, deal=deal, to_step=pipeline_step(DealStep.INITIAL_CONTACT)
        )
        deal_services.deal_update(by=rep1, deal=deal, data={"amount": Decimal("1500")})
    assert_same(deals_rt, manager, rep1, rep2)
    with on_commit():
        deal_services.deal_mark_won(by=rep1, deal=deal)
    assert_same(deals_rt, manager, rep1, rep2)
    won = pipeline_step(DealStep.CLOSED_WON)
    assert tallied(deals_rt, rep1)[won.pk] == {"count": 1, "total": Decimal("1500")}


def test_a_refresh_is_idempotent(leads_rt, rep1, manager, django_assert_max_num_queries):
    lead = LeadFactory(owner=rep1, estimated_value=10)
    tallies.rebuild(leads_rt)
    before = list(BoardTally.objects.values_list("step_id", "viewer_id", "count", "total"))
    with CaptureQueriesContext(connection) as captured:
        tallies.refresh(leads_rt, [lead.pk, lead.pk])
    writes = [q["sql"] for q in captured if q["sql"].split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    after = list(BoardTally.objects.values_list("step_id", "viewer_id", "count", "total"))
    assert after == before
    assert_same(leads_rt, manager, rep1)


def test_a_rebuild_mends_what_reached_the_records_without_an_event(leads_rt, manager, rep1):
    lead = LeadFactory(owner=rep1, estimated_value=10)
    tallies.rebuild(leads_rt)
    Lead.objects.filter(pk=lead.pk).update(estimated_value=99)  # a bulk UPDATE: no event
    assert tallied(leads_rt, manager) != counted(leads_rt, manager)
    call_command("board_tallies", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert_same(leads_rt, manager, rep1)


def test_the_board_reads_the_tallies_unless_filtered(leads_rt, web, manager, rep1):
    lead = LeadFactory(owner=rep1, estimated_value=10, name="Tallied lead")
    tallies.rebuild(leads_rt)
    # Only the tallies know 10: the board must show it, not the record's 99.
    Lead.objects.filter(pk=lead.pk).update(estimated_value=99)
    client = web(manager)
    column = f'id="board-head-{lead.wfm_project.current_step_id}"'

    def head(html):
        return html[html.index(column) :].split("</header>")[0]

    with CaptureQueriesContext(connection) as captured:
        html = client.get("/leads/board/").content.decode()
    assert "€10" in head(html) and "€99" not in head(html)
    assert not any("GROUP BY" in q["sql"] and "leads_lead" in q["sql"] for q in captured)
    filtered = client.get("/leads/board/?q=Tallied").content.decode()
    assert "€99" in head(filtered)  # a search counts its records


def test_a_moved_card_answers_with_heads_that_count_it(leads_rt, web, rep1, lead_step):
    lead = LeadFactory(owner=rep1, estimated_value=40)
    LeadFactory(owner=rep1, estimated_value=2)
    tallies.rebuild(leads_rt)
    contacted = lead_step(LeadStep.CONTACTED)
    response = web(rep1).post(f"/leads/{lead.pk}/board-move/", {"to_step": contacted.pk})
    assert response.status_code == 200, response.content
    html = response.content.decode()
    head = html[html.index(f'id="board-head-{contacted.pk}"') :].split("</header>")[0]
    assert 'data-column-count title="Records in this step">1<' in head
    assert "€40" in head
    assert_same(leads_rt, rep1)


def test_entries_are_one_per_record_and_viewer(leads_rt, rep1, rep2):
    LeadFactory(owner=rep1, assigned_to=rep2)
    tallies.rebuild(leads_rt)
    assert sorted(BoardEntry.objects.values_list("viewer_id", flat=True), key=str) == sorted(
        [None, rep1.pk, rep2.pk], key=str
    )


def test_the_permission_changes_of_a_transaction_refresh_once(
    leads_rt, rep1, viewer, on_commit, monkeypatch
):
    with on_commit():
        first, second = LeadFactory(owner=rep1), LeadFactory(owner=rep1)
    tallies.rebuild(leads_rt)
    calls, real = [], tallies.refresh

    def counted_refresh(rt, ids):
        calls.append({str(pk) for pk in ids})
        real(rt, ids)

    monkeypatch.setattr(tallies, "refresh", counted_refresh)
    with on_commit(), transaction.atomic():
        permissions.share(viewer, first)
        permissions.share(viewer, second)
    assert calls == [{str(first.pk), str(second.pk)}]
    assert_same(leads_rt, viewer)


def test_a_rolled_back_savepoint_refreshes_nothing_of_its_own(leads_rt, rep1, viewer, on_commit):
    with on_commit():
        kept, undone = LeadFactory(owner=rep1), LeadFactory(owner=rep1)
    tallies.rebuild(leads_rt)
    with on_commit(), transaction.atomic():
        permissions.share(viewer, kept)
        try:
            with transaction.atomic():
                permissions.share(viewer, undone)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
    assert_same(leads_rt, viewer)
    assert sum(row["count"] for row in tallied(leads_rt, viewer).values()) == 1


def test_events_that_move_nothing_refresh_nothing(leads_rt, rep1, on_commit, monkeypatch):
    """Run inline before the realtime publishers: an edit of other fields, an attribution
    touch or a rescore's event skips the refresh."""
    with on_commit():
        lead = lead_services.lead_create(by=rep1, name="Quiet", estimated_value=Decimal("5"))
    tallies.rebuild(leads_rt)
    calls, real = [], tallies.refresh

    def counted_refresh(rt, ids):
        calls.append(list(ids))
        real(rt, ids)

    monkeypatch.setattr(tallies, "refresh", counted_refresh)
    with on_commit():
        lead_services.lead_update(by=rep1, lead=lead, data={"description": "Called twice"})
    assert calls == []
    with on_commit():
        lead_services.lead_update(by=rep1, lead=lead, data={"estimated_value": Decimal("6")})
    assert len(calls) == 1
    assert_same(leads_rt, rep1)


def test_a_batch_of_imported_leads_and_a_conversion_keep_them_equal(
    leads_rt, deals_rt, manager, rep1, rep2, lead_step, on_commit
):
    tallies.rebuild(leads_rt)
    tallies.rebuild(deals_rt)
    rows = [
        {
            "name": f"Imported {n}",
            "owner": rep1,
            "estimated_value": Decimal(n * 10),
            "company_name": f"Company {n}",
            "contact_name": f"Contact {n}",
        }
        for n in range(1, 6)
    ] + [{"name": "Imported for rep2", "owner": rep2, "assigned_to": rep1}]
    with on_commit():
        created = lead_services.lead_create_many(by=manager, rows=rows)
    assert all(isinstance(lead, Lead) for lead in created)
    assert_same(leads_rt, manager, rep1, rep2)
    lead = created[0]
    with on_commit():
        lead_services.lead_transition(by=rep1, lead=lead, to_step=lead_step(LeadStep.CONTACTED))
        lead_services.lead_transition(by=rep1, lead=lead, to_step=lead_step(LeadStep.QUALIFIED))
    with on_commit():
        lead_services.lead_convert(by=rep1, lead=Lead.objects.get(pk=lead.pk))
    assert_same(leads_rt, manager, rep1, rep2)
    assert_same(deals_rt, manager, rep1, rep2)
    converted = lead_step(LeadStep.CONVERTED)
    assert tallied(leads_rt, rep1)[converted.pk]["count"] == 1
