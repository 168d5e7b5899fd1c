"""Publishing: outbox handlers turn events into small signals, sent after commit only."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from crm import realtime
from crm.events import handlers_for
from deals import services as deal_services
from leads import services
from tests.deals.factories import make_deal, pipeline_step
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, receive_until, run
from wfm.defaults import DealStep, LeadStep
from wfm.models import WorkflowStep


@pytest.fixture
def sent(rt):
    """Every message handed to the channel layer, as (group, message)."""
    calls: list[tuple[str, dict]] = []
    with mock.patch.object(
        realtime, "send_to_groups", side_effect=lambda gs, m: calls.extend((g, m) for g in gs)
    ):
        yield calls


def test_the_issue_events_have_publishing_handlers():
    for name in (
        "lead.created",
        "lead.updated",
        "lead.assigned",
        "lead.score_changed",
        "lead.qualified",
        "lead.disqualified",
        "lead.converted",
        "wfm.status_changed",
    ):
        assert "leads.realtime.publish_lead_change" in handlers_for(name)
    assert "deals.realtime.publish_deal_change" in handlers_for("deal.assigned")


def test_publish_change_goes_to_board_table_and_record_groups_after_commit(sent):
    with transaction.atomic():
        message = realtime.publish_change("lead", "abc", ["name"], 7)
        assert sent == []  # nothing before commit
    assert [g for g, _ in sent] == ["board.7", "record.lead.abc", "table.lead"]
    assert all(m is message for _, m in sent)


def test_nothing_is_published_when_the_transaction_rolls_back(sent):
    with transaction.atomic():
        realtime.publish_change("lead", "abc", ["name"], 7)
        transaction.set_rollback(True)
    assert sent == []


def test_signal_carries_ids_and_field_names_but_no_values(sent, rep1, manager):
    lead = LeadFactory(owner=manager, name="Top Secret Merger", contact_email="ceo@secret.example")
    services.lead_update(by=manager, lead=lead, data={"description": "confidential terms"})
    services.lead_assign(by=manager, lead=lead, assignee=rep1)
    messages = [m for g, m in sent if g.startswith("record.lead.")]
    assert {m["event"] for m in messages} >= {"lead.updated", "lead.assigned"}
    for message in messages:
        text = repr(message)
        assert "Top Secret" not in text and "secret.example" not in text
        assert "confidential" not in text
        assert set(message) == {
            "type", "id", "kind", "pk", "changed", "workflow_id", "from_step_id", "revoked",
            "event", "sent_at",
        }  # fmt: skip
    updated = next(m for m in messages if m["event"] == "lead.updated")
    assert updated["changed"] == ["description"]


def test_status_change_is_published_as_a_step_change_of_the_lead(sent, rep1):
    lead = LeadFactory(owner=rep1)
    contacted = WorkflowStep.objects.get(
        workflow__name="Lead Qualification", status__name=LeadStep.CONTACTED
    )
    services.lead_transition(by=rep1, lead=lead, to_step=contacted)
    moved = [m for g, m in sent if g == f"record.lead.{lead.pk}" and "step" in m["changed"]]
    assert (
        moved
        and moved[0]["from_step_id"] == lead.wfm_project.workflow.steps.get(is_initial=True).pk
    )


def test_reassignment_names_the_previous_assignee_as_revoked(sent, rep1, rep2, manager):
    lead = LeadFactory(owner=manager, assigned_to=rep1)
    services.lead_assign(by=manager, lead=lead, assignee=rep2)
    assigned = next(m for _, m in sent if m["event"] == "lead.assigned")
    assert assigned["revoked"] == [rep1.pk] and assigned["changed"] == ["assignee"]


def test_a_deal_move_is_published_once(sent, rep1):
    deal = make_deal(rep1)
    sent.clear()
    deal_services.deal_transition(
        by=rep1, deal=deal, to_step=pipeline_step(DealStep.INITIAL_CONTACT)
    )
    record = [m for g, m in sent if g == f"record.deal.{deal.pk}"]
    assert len(record) == 1 and record[0]["event"] == "wfm.status_changed"


def test_deal_board_gets_the_moved_card_headers_and_totals(rt, rep1, manager):
    deal = make_deal(rep1, name="Board Deal", amount=5000)
    target = pipeline_step(DealStep.INITIAL_CONTACT)

    async def scenario():
        socket = await rt.connect(f"/ws/boards/{target.workflow_id}/", rep1)
        await db(deal_services.deal_transition)(by=manager, deal=deal, to_step=target)
        html = await receive_until(socket, lambda h: f'id="card-{deal.pk}"' in h)
        assert "Board Deal" in html and f'[data-step-id="{target.pk}"]' in html
        heads = await receive_until(socket, lambda h: "board-head-" in h)  # after the card
        assert f'id="board-head-{target.pk}"' in heads
        assert 'id="pipeline-totals"' in heads and "5,000" in heads

    run(scenario, rt)


def test_deal_reassigned_away_leaves_the_board(rt, rep1, rep2, manager):
    deal = make_deal(manager, name="Passing Deal")
    deal_services.deal_assign(by=manager, deal=deal, assignee=rep1)
    workflow_id = deal.wfm_project.workflow_id

    async def scenario():
        socket = await rt.connect(f"/ws/boards/{workflow_id}/", rep1)
        await db(deal_services.deal_assign)(by=manager, deal=deal, assignee=rep2)
        html = await receive_until(socket, lambda h: f"card-{deal.pk}" in h)
        assert 'hx-swap-oob="delete"' in html and "Passing Deal" not in html

    run(scenario, rt)


def test_activity_changes_are_published_to_the_activity_group_with_ids_only(sent, rep1):
    """Created and completed (their events' handler), changed, reopened and deleted (their
    services):
    each a signal on ``table.activity`` naming the activity and what changed, after commit."""
    from activities import services as activity_services

    assert "activities.realtime.publish_activity_event" in handlers_for("activity.created")
    activity = activity_services.activity_create(by=rep1, type="task", subject="Secret plan")
    activity_services.activity_update(
        by=rep1, activity=activity, data={"due_at": timezone.now() + timedelta(days=1)}
    )
    activity_services.activity_update(by=rep1, activity=activity, data={})  # nothing changed
    activity_services.activity_complete(by=rep1, activity=activity)
    activity_services.activity_reopen(by=rep1, activity=activity)
    pk = activity.pk
    with transaction.atomic():
        activity_services.activity_delete(by=rep1, activity=activity)
        assert [m["changed"] for g, m in sent if g == "table.activity"] == [
            ["created"],
            ["updated"],
            ["completed"],
            ["reopened"],
        ]  # the deletion waits for the commit
    published = [m for g, m in sent if g == "table.activity"]
    assert [m["changed"] for m in published] == [
        ["created"],
        ["updated"],
        ["completed"],
        ["reopened"],
        ["deleted"],
    ]
    assert {m["pk"] for m in published} == {str(pk)} and {m["kind"] for m in published} == {
        "activity"
    }
    assert "Secret plan" not in repr(published)


def test_a_merge_removes_the_merged_leads_and_refreshes_the_survivor(sent, rep1, manager):
    keep, gone = LeadFactory(owner=rep1), LeadFactory(owner=rep1)
    services.lead_merge(by=manager, survivor=keep, merged=[gone], fields={"name": gone.pk})
    merged = [m for g, m in sent if m["event"] == "lead.merged"]
    by_pk = {m["pk"]: m["changed"] for m in merged}
    assert by_pk[str(gone.pk)] == ["deleted"]
    assert {"merged", "name"} <= set(by_pk[str(keep.pk)])
    assert "leads.realtime.publish_lead_change" in handlers_for("lead.merged")
    assert "crm.handlers.publish_person_change" in handlers_for("person.merged")
