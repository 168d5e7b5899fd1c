"""The shared detail page's helpers (crm.records.details): history rows, the primary move,
and the related-records providers the higher apps register."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from activities.models import Activity
from crm import permissions
from crm import services as crm_services
from crm.records import details
from customfields.models import CustomFieldDefinition
from leads import selectors as lead_selectors
from leads import services as lead_services
from leads.models import Lead
from tests.activities.factories import ActivityFactory
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory
from wfm.defaults import DealStep, LeadStep
from wfm.models import WorkflowStep
from wfm.selectors import available_transitions

pytestmark = pytest.mark.django_db


def _changes(history: details.History) -> dict[str, details.Change]:
    return {c.field: c for e in history.entries if e.kind == "changed" for c in e.changes}


# --- history ---------------------------------------------------------------------------------
def test_history_names_fields_by_label_and_shows_display_values(rep1):
    org = OrganizationFactory(owner=rep1, name="Acme Robotics")
    lead = LeadFactory(owner=rep1, estimated_value=Decimal("1000"), source=Lead.Source.WEB)
    lead_services.lead_update(
        by=rep1,
        lead=lead,
        data={
            "estimated_value": Decimal("82600"),
            "estimated_close_date": date(2027, 3, 20),
            "source": Lead.Source.REFERRAL,
            "organization": org,
            "company_name": "Acme",
        },
    )

    changes = _changes(lead_selectors.lead_history_view(lead=lead))

    value = changes["estimated_value"]
    assert (value.label, value.old, value.new) == ("Estimated value", "€1,000", "€82,600")
    close = changes["estimated_close_date"]
    assert (close.label, close.old, close.new) == ("Expected close", "—", "Mar 20, 2027")
    assert (changes["source"].old, changes["source"].new) == ("Website", "Referral")
    assert (changes["organization"].label, changes["organization"].new) == (
        "Organization",
        "Acme Robotics",
    )
    assert changes["company_name"].label == "Company"


def test_history_names_users_and_custom_fields_by_label(rep1, rep2, manager):
    CustomFieldDefinition.objects.create(
        entity_type="organization", name="tier", label="Customer tier", type="text"
    )
    org = OrganizationFactory(owner=rep1, custom_field_values={"tier": "Silver"})
    crm_services.organization_update(
        by=manager, organization=org, data={"owner": rep2, "custom_field_values": {"tier": "Gold"}}
    )

    history = details.history_for(org, show_system=False, custom_fields="organization")

    changes = _changes(history)
    assert (changes["owner"].old, changes["owner"].new) == (rep1.display_name, rep2.display_name)
    assert (changes["cf_tier"].label, changes["cf_tier"].old, changes["cf_tier"].new) == (
        "Customer tier",
        "Silver",
        "Gold",
    )
    assert history.entries[0].user == manager.display_name


def test_a_rescore_alone_is_hidden_until_the_user_asks(rep1):
    lead = LeadFactory(owner=rep1)
    lead.lead_score, lead.score_updated_at = 55, timezone.now()
    lead.save(update_fields=["lead_score", "score_updated_at"])  # a recorded rescore

    hidden = lead_selectors.lead_history_view(lead=lead)
    shown = lead_selectors.lead_history_view(lead=lead, show_system=True)

    assert [e.kind for e in hidden.entries if e.kind == "changed"] == []
    assert hidden.hidden == 1
    rescore = next(e for e in shown.entries if e.kind == "changed")
    assert rescore.system
    assert {c.label for c in rescore.changes} == {"Score", "Score updated at"}
    assert shown.hidden == 0


def test_system_fields_are_dropped_from_a_persons_change_unless_asked(rep1):
    lead = LeadFactory(owner=rep1, name="Old name")
    # Scores and activity times are written without a history row; the next save records them.
    Lead.objects.filter(pk=lead.pk).update(
        lead_score=40, score_updated_at=timezone.now(), last_activity_at=timezone.now()
    )
    lead.refresh_from_db()
    lead_services.lead_update(by=rep1, lead=lead, data={"name": "New name"})

    hidden = _changes(lead_selectors.lead_history_view(lead=lead))
    shown = _changes(lead_selectors.lead_history_view(lead=lead, show_system=True))

    assert set(hidden) == {"name"}
    assert (hidden["name"].old, hidden["name"].new) == ("Old name", "New name")
    assert {"name", "lead_score", "score_updated_at", "last_activity_at"} <= set(shown)


def test_lead_history_merges_step_moves_newest_first(rep1):
    lead = LeadFactory(owner=rep1)
    contacted = WorkflowStep.objects.get(
        workflow__name="Lead Qualification", status__name=LeadStep.CONTACTED
    )
    lead_services.lead_transition(by=rep1, lead=lead, to_step=contacted)

    entries = lead_selectors.lead_history_view(lead=lead).entries

    moves = [e for e in entries if e.kind == "step"]
    assert (moves[0].from_step, moves[0].to_step) == (LeadStep.NEW_LEAD, LeadStep.CONTACTED)
    assert moves[-1].from_step == "" and moves[-1].to_step == LeadStep.NEW_LEAD
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)


def test_the_api_history_keeps_stored_values_beside_the_display_values(rep1):
    lead = LeadFactory(owner=rep1, estimated_value=Decimal("10"))
    lead_services.lead_update(by=rep1, lead=lead, data={"estimated_value": Decimal("3600.5")})

    change = next(
        c
        for row in lead_selectors.lead_timeline_history(lead=lead)
        for c in row.get("changes", [])
        if c["field"] == "estimated_value"
    )

    assert change["label"] == "Estimated value"
    assert (change["old"], change["new"]) == ("10.00", "3600.50")
    assert (change["old_display"], change["new_display"]) == ("€10", "€3,600.50")


# --- the primary move ------------------------------------------------------------------------
def _deal_moves(rep, step):
    deal = make_deal(rep, step=step)
    project = deal.wfm_project
    transitions = available_transitions(project=project, user=rep)
    primary, others = details.split_moves(transitions, current=project.current_step)
    return primary, others


def test_the_next_open_step_is_the_primary_move(rep1):
    primary, others = _deal_moves(rep1, DealStep.DISCOVERY)
    assert primary.to_step.name == DealStep.PROPOSAL
    assert {details.move_label(t) for t in others} == {
        "Back to Initial Contact",
        "Mark won",
        "Mark lost",
    }


def test_from_the_last_open_step_winning_is_primary_and_from_a_final_step_reopening(rep1):
    primary, _ = _deal_moves(rep1, DealStep.NEGOTIATION)
    assert primary.to_step.outcome == "won"
    primary, others = _deal_moves(rep1, DealStep.CLOSED_LOST)
    assert details.move_label(primary) == "Reopen" and others == []


# --- related records -------------------------------------------------------------------------
def test_a_persons_related_records_are_only_those_the_user_sees(rep1, rep2):
    person = PersonFactory(owner=rep1)
    permissions.share(rep2, person)  # rep2 works with the person too, on their own records
    mine = LeadFactory(owner=rep1, person=person, name="Mine")
    theirs = LeadFactory(owner=rep2, person=person, name="Theirs")
    deal = make_deal(rep1, name="My deal", person=person)
    make_deal(rep2, name="Their deal", person=person)
    ActivityFactory(assigned_to=rep1, lead=mine, subject="Call back", due_at=timezone.now())
    ActivityFactory(assigned_to=rep2, lead=theirs, subject="On their lead", due_at=timezone.now())
    ActivityFactory(assigned_to=rep1, deal=deal, subject="Done already", is_done=True)

    sections = {s.key: s for s in details.related_sections(rep1, "person", person)}

    assert [r.title for r in sections["leads"].rows] == ["Mine"]
    assert [r.title for r in sections["deals"].rows] == ["My deal"]
    assert [r.title for r in sections["activities"].rows] == ["Call back"]
    assert sections["leads"].rows[0].url == f"/leads/{mine.pk}/"


def test_an_organizations_related_records_include_its_people_and_converted_leads(rep1, manager):
    org = OrganizationFactory(owner=rep1)
    PersonFactory(owner=rep1, organization=org, first_name="Ann", last_name="Lee")
    LeadFactory(owner=rep1, converted_to_organization=org, name="Converted one")
    make_deal(rep1, organization=org, name="Org deal", step=DealStep.CLOSED_WON)

    sections = {s.key: s for s in details.related_sections(manager, "organization", org)}

    assert list(sections) == ["people", "leads", "deals", "activities"]
    assert [r.title for r in sections["people"].rows] == ["Ann Lee"]
    assert [r.title for r in sections["leads"].rows] == ["Converted one"]
    assert "step-won" in sections["deals"].rows[0].badges[0]
    assert sections["activities"].rows == [] and sections["activities"].total == 0


def test_a_section_counts_what_it_leaves_out(rep1):
    person = PersonFactory(owner=rep1)
    for i in range(details.RELATED_LIMIT + 2):
        LeadFactory(owner=rep1, person=person, name=f"Lead {i}")

    section = next(s for s in details.related_sections(rep1, "person", person) if s.key == "leads")

    assert len(section.rows) == details.RELATED_LIMIT and section.total == details.RELATED_LIMIT + 2


def test_open_activities_come_next_due_first(rep1):
    person = PersonFactory(owner=rep1)
    now = timezone.now()
    for subject, due in (("Later", now + timedelta(days=3)), ("Sooner", now + timedelta(days=1))):
        ActivityFactory(assigned_to=rep1, person=person, subject=subject, due_at=due)
    ActivityFactory(assigned_to=rep1, person=person, subject="Undated", type=Activity.Type.CALL)

    section = next(
        s for s in details.related_sections(rep1, "person", person) if s.key == "activities"
    )

    assert [r.title for r in section.rows] == ["Sooner", "Later", "Undated"]
