"""The tool registry: definitions, validation, caps, records, audit and confirmations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aiagent import registry, services
from aiagent.models import Proposal, ToolCall
from crm import permissions
from crm.errors import Conflict, NotFound
from crm.models import AuditLog
from customfields.models import CustomFieldDefinition
from leads.models import Lead

pytestmark = pytest.mark.django_db

REQUIRED = {
    "search_leads",
    "get_lead",
    "create_lead",
    "update_lead",
    "assign_lead",
    "qualify_lead",
    "disqualify_lead",
    "convert_lead",
    "rescore_lead",
    "analyze_lead",
    "suggest_next_actions",
    "search_deals",
    "get_deal",
    "create_deal",
    "update_deal",
    "move_deal_stage",
    "search_people",
    "create_person",
    "search_organizations",
    "create_organization",
    "list_activities",
    "create_activity",
    "complete_activity",
    "list_workflows",
    "list_custom_fields",
    "create_custom_field",
    "lead_metrics",
    "draft_email",
    "send_email",
}
CONFIRM_ONLY = {
    "move_lead",
    "move_deal_stage",
    "qualify_lead",
    "disqualify_lead",
    "assign_lead",
    "assign_deal",
    "convert_lead",
    "delete_lead",
    "delete_deal",
    "bulk_assign_leads",
    "create_custom_field",
    "send_email",
}


def run(actor, tool, arguments=None, **ctx):
    return registry.execute(
        registry.ToolContext(user=actor, source="test", **ctx), tool, arguments or {}
    )


def test_the_registry_has_every_tool_with_a_schema_for_the_model():
    tools = {t.name: t for t in registry.all_tools()}
    assert set(tools) >= REQUIRED
    assert {n for n, t in tools.items() if t.needs_confirmation} == CONFIRM_ONLY
    for tool in tools.values():
        assert len(tool.description) > 30, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        schema = tool.schema_for_model()
        assert set(schema) == {"name", "description", "input_schema"}


def test_invalid_arguments_are_explained(world):
    outcome = run(world.rep1, "search_leads", {"score_min": "lots", "bogus": 1})
    assert outcome.result["error"]["code"] == "invalid_arguments"
    assert "score_min" in outcome.result["error"]["details"]
    assert run(world.rep1, "no_such_tool").result["error"]["code"] == "unknown_tool"
    assert run(world.rep1, "get_lead", {"lead_id": "not-a-uuid"}).result["error"]["code"] == (
        "not_found"
    )


def test_every_call_is_recorded_and_audited(world):
    outcome = run(world.rep1, "search_leads", {"hot": True})
    call = outcome.tool_call
    assert call.tool == "search_leads" and call.user == world.rep1 and call.source == "test"
    assert call.arguments == {"hot": True}
    assert call.arguments_hash == registry.hash_arguments({"hot": True})
    assert call.result_count == 2 and call.result_size > 0
    assert {r["name"] for r in call.records} == {"Acme expansion", "Initech pilot"}
    audit = AuditLog.objects.get(action="ai.tool_call", details__tool_call=call.pk)
    assert audit.user == world.rep1
    assert audit.details == {
        **audit.details,
        "tool": "search_leads",
        "result_count": 2,
        "arguments_hash": call.arguments_hash,
    }
    failed = run(world.rep1, "get_lead", {"lead_id": str(world.leads2[0].pk)})
    assert failed.tool_call.error.startswith("not_found")
    assert AuditLog.objects.filter(action="ai.tool_call", details__error="not_found").exists()


def test_results_are_capped(world, settings):
    settings.AI_TOOL_RESULT_MAX_CHARS = 900
    outcome = run(world.rep1, "search_leads", {"limit": 50})
    assert outcome.result["truncated"] is True
    assert len(outcome.result["results"]) < 3
    assert "narrow the search" in outcome.result["note"]
    assert len(registry.to_json(outcome.result)) <= 900
    assert outcome.tool_call.result_size > 900


def test_confirm_only_tools_create_a_proposal_and_change_nothing(world):
    lead = world.leads1[0]
    outcome = run(world.rep1, "convert_lead", {"lead_id": str(lead.pk)})
    assert outcome.result["status"] == "needs_confirmation"
    assert "Convert the lead “Acme expansion”" in outcome.result["summary"]
    assert "token" not in registry.to_json(outcome.result)  # the model never sees the token
    proposal = outcome.proposal
    assert proposal.status == "pending" and proposal.user == world.rep1
    assert proposal.arguments_hash == registry.hash_arguments({"lead_id": str(lead.pk)})
    assert Lead.objects.get(pk=lead.pk).converted_at is None

    services.proposal_confirm(by=world.rep1, token=proposal.token)
    proposal.refresh_from_db()
    assert proposal.status == "confirmed" and proposal.result["converted"] is True
    assert Lead.objects.get(pk=lead.pk).converted_at is not None
    confirmed_call = ToolCall.objects.filter(proposal=proposal, source="confirm").get()
    assert confirmed_call.error == ""
    with pytest.raises(Conflict):
        services.proposal_confirm(by=world.rep1, token=proposal.token)


def test_only_the_owner_can_confirm_and_not_after_expiry(world):
    outcome = run(world.rep1, "delete_lead", {"lead_id": str(world.leads1[2].pk)})
    with pytest.raises(NotFound):
        services.proposal_confirm(by=world.rep2, token=outcome.proposal.token)
    Proposal.objects.filter(pk=outcome.proposal.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(Conflict):
        services.proposal_confirm(by=world.rep1, token=outcome.proposal.token)
    assert Proposal.objects.get(pk=outcome.proposal.pk).status == "expired"
    assert Lead.objects.filter(pk=world.leads1[2].pk).exists()


def test_confirmation_rechecks_permission_when_it_runs(world, manager):
    lead = world.leads1[1]
    outcome = run(world.rep1, "delete_lead", {"lead_id": str(lead.pk)})
    # Meanwhile the lead changes hands: rep1 loses access before confirming.
    permissions.revoke(world.rep1, lead, permissions.OWNER_ACTIONS)
    proposal = services.proposal_confirm(by=world.rep1, token=outcome.proposal.token)
    assert proposal.status == "failed" and "not_found" in proposal.error
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_custom_fields_need_a_manager_and_a_confirmation(world, manager):
    arguments = {
        "entity_type": "lead",
        "name": "budget",
        "label": "Budget",
        "field_type": "decimal",
    }
    refused = run(world.rep1, "create_custom_field", arguments)
    assert refused.result["error"]["code"] == "permission_denied" and refused.proposal is None
    outcome = run(manager, "create_custom_field", arguments)
    assert not CustomFieldDefinition.objects.filter(name="budget").exists()
    services.proposal_confirm(by=manager, token=outcome.proposal.token)
    assert CustomFieldDefinition.objects.filter(name="budget", type="decimal").exists()


def test_bulk_assign_is_a_proposal_then_runs(world, manager):
    ids = [str(lead.pk) for lead in world.leads1]
    outcome = run(manager, "bulk_assign_leads", {"lead_ids": ids, "user": "rep2"})
    assert "Assign 3 leads to" in outcome.result["summary"]
    assert not Lead.objects.filter(assigned_to=world.rep2, pk__in=ids).exists()
    proposal = services.proposal_confirm(by=manager, token=outcome.proposal.token)
    assert proposal.result["assigned"] == 3
    assert Lead.objects.filter(assigned_to=world.rep2, pk__in=ids).count() == 3


def test_tools_that_write_go_through_services(world):
    lead = world.leads1[0]
    created = run(
        world.rep1,
        "create_lead",
        {
            "name": "New one",
            "estimated_value": "1200.5",
            "estimated_close_date": "2030-01-31",
            "source": "referral",
        },
    )
    assert created.ok, created.result
    new = Lead.objects.get(name="New one")
    assert new.owner == world.rep1 and str(new.estimated_value) == "1200.50"
    assert new.history.count() == 1
    updated = run(world.rep1, "update_lead", {"lead_id": str(lead.pk), "priority": "high"})
    assert updated.ok and Lead.objects.get(pk=lead.pk).priority == "high"
    qualify = {"lead_id": str(lead.pk), "notes": "BANT ok"}
    assert run(world.rep1, "qualify_lead", qualify).result["status"] == "needs_confirmation"
    assert not Lead.objects.get(pk=lead.pk).is_qualified
    assert run(world.rep1, "qualify_lead", qualify, confirmed=True).ok
    assert Lead.objects.get(pk=lead.pk).is_qualified
    moved = run(
        world.rep1,
        "move_deal_stage",
        {"deal_id": str(world.deal1.pk), "step": "initial contact"},
        confirmed=True,
    )
    assert moved.ok and moved.result["deal"]["step"] == "Initial Contact"
    person = run(
        world.rep1, "create_person", {"first_name": "Ann", "organization_id": str(world.org1.pk)}
    )
    assert person.ok and person.result["person"]["organization"] == "Acme Robotics"
    done = run(
        world.rep1,
        "complete_activity",
        {"activity_id": str(world.activity1.pk), "outcome": "Reached"},
    )
    assert done.ok and done.result["activity"]["done"] is True
    rescored = run(world.rep1, "rescore_lead", {"lead_id": str(lead.pk)})
    assert rescored.ok and rescored.result["score_breakdown"]["categories"]


def test_reads_give_compact_records_with_links(world):
    lead = run(world.rep1, "get_lead", {"lead_id": str(world.leads1[0].pk)}).result
    assert lead["url"] == f"/leads/{world.leads1[0].pk}/"
    assert lead["activities"][0]["subject"] == "Call Acme about pricing"
    assert "Contacted" in lead["possible_moves"]
    deal = run(world.rep1, "get_deal", {"deal_id": str(world.deal1.pk)}).result
    assert deal["amount"] == "12000.00 EUR" and deal["organization"] == "Acme Robotics"
    workflows = run(world.rep1, "list_workflows", {"entity_type": "deal"}).result["results"]
    assert [w["name"] for w in workflows] == ["Sales Pipeline"]
    assert "Proposal" in [s["name"] for s in workflows[0]["steps"]]
    users = run(world.rep1, "list_users").result["results"]
    assert {"rep1", "rep2"} <= {u["username"] for u in users}
    assert {u["username"]: u["role"] for u in users if u["username"] in ("rep1", "rep2")} == {
        "rep1": "Sales Rep",
        "rep2": None,  # a sales rep sees others' names, not their roles
    }
    steps = run(world.rep1, "search_leads", {"step": "Nowhere"}).result["error"]
    assert "New Lead" in steps["message"]


def test_nul_characters_are_dropped_before_anything_is_stored(world):
    outcome = run(world.rep1, "search_leads", {"query": "Ac\x00me"})
    assert outcome.ok and outcome.tool_call.arguments == {"query": "Acme"}
    conv = services.conversation_create(by=world.rep1)
    message = services.user_message_add(by=world.rep1, conversation=conv, content="hi\x00!")
    assert message.content == "hi!"


def test_list_users_shows_a_viewer_only_itself(world, viewer, manager):
    # The same directory as /api/v1/users/ (crm.selectors.user_directory).
    users = run(viewer, "list_users").result["results"]
    assert [u["username"] for u in users] == ["viewer"]
    seen = {u["username"]: u["role"] for u in run(manager, "list_users").result["results"]}
    assert seen["rep2"] == "Sales Rep" and seen["viewer"] == "Viewer"
