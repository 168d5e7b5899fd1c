"""No role escalation through assignment (issue 14, finding 1; SPEC §9).

What a user may do is the intersection of the role's capabilities and the access to the
object: being owner or assignee never grants a capability the role lacks. Records (leads,
deals, activities, people, organizations) are only given to users whose role may own them;
the pickers list only those users; a refused assignment is a 400 naming the field.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission

from activities import services as activity_services
from activities.admin import AssignmentRuleForm
from activities.automation import check_action
from activities.models import Activity, AutomationAction
from crm import assignment, permissions, selectors
from crm import services as crm_services
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import Organization, Person, User
from crm.roles import Role
from deals import services as deal_services
from deals.models import Deal
from leads import services as lead_services
from leads.models import Lead
from tests.activities.conftest import run_events
from tests.activities.factories import (
    ActivityFactory,
    AssignmentRuleFactory,
    AutomationRuleFactory,
)
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory, UserFactory
from tests.leads.factories import LeadFactory

MODELS = (Lead, Deal, Activity, Person, Organization)


@pytest.fixture
def users(admin_user, manager, rep1, rep2, analyst, viewer):
    return {
        "admin": admin_user,
        "manager": manager,
        "rep1": rep1,
        "rep2": rep2,
        "analyst": analyst,
        "viewer": viewer,
    }


def error_details(response) -> dict:
    return response.json()["error"]["details"]


def options(html: str, name: str) -> set[str]:
    """The values offered by the ``<select name=name>`` of a page."""
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select {name!r}"
    return {v for v in re.findall(r'<option value="([^"]*)"', match.group(1)) if v}


def ids(*users: User) -> set[str]:
    return {str(u.pk) for u in users}


# --- the one rule: crm.permissions ------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_only_roles_that_work_on_a_model_may_own_it(users, model):
    owners = {name for name, user in users.items() if permissions.may_own(user, model)}
    assert owners == {"admin", "manager", "rep1", "rep2"}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_pickers_list_exactly_who_may_own(users, model):
    inactive = UserFactory(username="gone", role=Role.SALES_REP, is_active=False)
    picked = set(selectors.assignable_users(model=model, with_roles=False))
    assert picked == {u for u in users.values() if permissions.may_own(u, model)}
    assert inactive not in picked and not permissions.may_own(inactive, model)
    assert crm_services.system_user() not in picked
    # Without a model (filters): everyone with a role.
    assert set(selectors.assignable_users(with_roles=False)) == set(users.values())


def test_a_role_granted_a_work_permission_may_own(viewer):
    viewer.user_permissions.add(Permission.objects.get(codename="add_deal"))
    viewer = User.objects.get(pk=viewer.pk)  # fresh permission cache
    assert permissions.may_own(viewer, Deal) and not permissions.may_own(viewer, Lead)
    assert viewer in selectors.assignable_users(model=Deal)
    assert viewer not in selectors.assignable_users(model=Lead)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_object_permissions_never_grant_a_capability_the_role_lacks(rep1, role):
    user = UserFactory(username=f"holder-{role}", role=role)
    lead = LeadFactory(owner=rep1)
    permissions.grant_owner(user, lead)  # however it came about
    user = User.objects.get(pk=user.pk)
    assert permissions.can_view(user, lead)
    assert not permissions.can_change(user, lead)
    assert not permissions.can_delete(user, lead)
    assert not permissions.visible(user, Lead.objects.all(), "change").exists()
    assert permissions.changeable_ids(user, [lead]) == set()


def test_custom_field_managers_come_from_the_one_place(settings, manager, rep1, viewer):
    from customfields.permissions import can_manage_custom_fields

    assert can_manage_custom_fields(manager) and not can_manage_custom_fields(rep1)
    settings.CUSTOM_FIELDS_EDITABLE_BY_REPS = True
    assert permissions.has_capability(rep1, "customfields.add_customfielddefinition")
    assert can_manage_custom_fields(rep1, "add") and can_manage_custom_fields(rep1, "change")
    assert not can_manage_custom_fields(viewer)


# --- services: a refused assignment is a 400 naming the field -----------------------------------
@pytest.mark.parametrize("target", ["analyst", "viewer"])
def test_services_refuse_to_give_records_to_a_role_that_may_not_own_them(users, target):
    rep1, manager, user = users["rep1"], users["manager"], users[target]
    lead = LeadFactory(owner=rep1)
    deal = make_deal(rep1)
    cases = [
        ("assigned_to", lambda: lead_services.lead_assign(by=rep1, lead=lead, assignee=user)),
        ("assigned_to", lambda: lead_services.lead_create(by=rep1, name="X", assigned_to=user)),
        ("owner", lambda: lead_services.lead_create(by=manager, name="X", owner=user)),
        ("assigned_to", lambda: deal_services.deal_assign(by=rep1, deal=deal, assignee=user)),
        (
            "assigned_to",
            lambda: deal_services.deal_update(by=rep1, deal=deal, data={"assigned_to": user}),
        ),
        (
            "owner",
            lambda: deal_services.deal_update(by=manager, deal=deal, data={"owner": user}),
        ),
        (
            "assigned_to",
            lambda: activity_services.activity_create(
                by=rep1, type="task", subject="Call", lead=lead, assigned_to=user
            ),
        ),
        ("owner", lambda: crm_services.person_create(by=manager, first_name="A", owner=user)),
        ("owner", lambda: crm_services.organization_create(by=manager, name="B", owner=user)),
    ]
    for field, call in cases:
        with pytest.raises(ValidationFailed) as exc:
            call()
        assert field in exc.value.details, (field, exc.value.details)
    lead.refresh_from_db()
    deal.refresh_from_db()
    assert lead.assigned_to is None and deal.assigned_to is None and deal.owner == rep1
    assert not Lead.objects.filter(owner=user).exists()


def test_a_rep_still_hands_records_to_another_rep(rep1, rep2):
    lead = LeadFactory(owner=rep1)
    lead_services.lead_assign(by=rep1, lead=lead, assignee=rep2)
    activity = activity_services.activity_create(
        by=rep1, type="task", subject="Call", lead=lead, assigned_to=rep2
    )
    assert lead.assigned_to == rep2 and activity.assigned_to == rep2


def test_refusing_the_role_comes_before_refusing_the_hand_over(rep1, rep2, viewer):
    # rep2 may change the lead (assignee) but not give it away: a viewer is refused as such.
    lead = LeadFactory(owner=rep1, assigned_to=rep2)
    with pytest.raises(ValidationFailed):
        lead_services.lead_assign(by=rep2, lead=lead, assignee=viewer)
    with pytest.raises(PermissionDenied):
        lead_services.lead_assign(by=rep2, lead=lead, assignee=UserFactory(role=Role.SALES_REP))


# --- API ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["analyst", "viewer"])
def test_api_assign_to_a_role_that_may_not_own_is_400_naming_the_field(api_as, users, target):
    rep1, user = users["rep1"], users[target]
    client = api_as(rep1)
    lead = LeadFactory(owner=rep1)
    deal = make_deal(rep1)

    response = client.post(f"/api/v1/leads/{lead.pk}/assign/", {"user": user.pk}, format="json")
    assert response.status_code == 400 and "user" in error_details(response)
    response = client.post(f"/api/v1/deals/{deal.pk}/assign/", {"user": user.pk}, format="json")
    assert response.status_code == 400 and "user" in error_details(response)
    response = client.patch(f"/api/v1/leads/{lead.pk}/", {"assigned_to": user.pk}, format="json")
    assert response.status_code == 400 and "assigned_to" in error_details(response)
    response = client.patch(f"/api/v1/deals/{deal.pk}/", {"assigned_to": user.pk}, format="json")
    assert response.status_code == 400 and "assigned_to" in error_details(response)
    response = client.post(
        "/api/v1/activities/",
        {"type": "task", "subject": "Call", "lead": str(lead.pk), "assigned_to": user.pk},
        format="json",
    )
    assert response.status_code == 400 and "assigned_to" in error_details(response)
    activity = activity_services.activity_create(by=rep1, type="task", subject="A", lead=lead)
    response = client.patch(
        f"/api/v1/activities/{activity.pk}/", {"assigned_to": user.pk}, format="json"
    )
    assert response.status_code == 400 and "assigned_to" in error_details(response)

    lead.refresh_from_db()
    deal.refresh_from_db()
    activity.refresh_from_db()
    assert lead.assigned_to is None and deal.assigned_to is None
    assert activity.assigned_to == rep1


def test_api_owner_of_a_role_that_may_not_own_is_400_naming_the_field(api_as, manager, viewer):
    client = api_as(manager)
    response = client.post(
        "/api/v1/people/", {"first_name": "Ann", "owner": viewer.pk}, format="json"
    )
    assert response.status_code == 400 and "owner" in error_details(response)
    org = OrganizationFactory()
    response = client.patch(f"/api/v1/organizations/{org.pk}/", {"owner": viewer.pk}, format="json")
    assert response.status_code == 400 and "owner" in error_details(response)


def test_api_assign_to_a_rep_still_works(api_as, rep1, rep2):
    lead = LeadFactory(owner=rep1)
    response = api_as(rep1).post(
        f"/api/v1/leads/{lead.pk}/assign/", {"user": rep2.pk}, format="json"
    )
    assert response.status_code == 200 and response.json()["assigned_to"] == rep2.pk


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_an_owner_or_assignee_without_the_capability_cannot_act(api_as, rep1, role):
    """The state the old bug left behind: an Analyst or a Viewer holding owner and assignee
    object permissions. They see the records, and may do nothing the role does not allow."""
    user = UserFactory(username=f"legacy-{role}", role=role)
    lead = LeadFactory(owner=rep1)
    Lead.objects.filter(pk=lead.pk).update(assigned_to=user)
    permissions.grant_owner(user, lead)
    activity = ActivityFactory(assigned_to=user, created_by=user, lead=lead)
    client = api_as(user)

    assert client.get(f"/api/v1/leads/{lead.pk}/").status_code == 200
    assert client.patch(f"/api/v1/leads/{lead.pk}/", {"name": "Mine"}).status_code == 403
    assert client.post(f"/api/v1/leads/{lead.pk}/qualify/", {}).status_code == 403
    assert client.post(f"/api/v1/leads/{lead.pk}/assign/", {"user": None}).status_code == 403
    assert client.delete(f"/api/v1/leads/{lead.pk}/").status_code == 403
    assert client.post(f"/api/v1/activities/{activity.pk}/complete/").status_code == 403
    assert client.patch(f"/api/v1/activities/{activity.pk}/", {"subject": "X"}).status_code == 403
    assert client.delete(f"/api/v1/activities/{activity.pk}/").status_code == 403
    lead.refresh_from_db()
    activity.refresh_from_db()
    assert lead.name != "Mine" and not lead.is_qualified and not lead.deleted_at
    assert not activity.is_done and activity.subject != "X"


def test_html_actions_refuse_an_assignee_without_the_capability(web, rep1, viewer):
    lead = LeadFactory(owner=rep1, assigned_to=viewer)
    activity = ActivityFactory(assigned_to=viewer, created_by=viewer, lead=lead)
    client = web(viewer)
    assert client.get(f"/leads/{lead.pk}/").status_code == 200
    assert client.post(f"/leads/{lead.pk}/qualify/", {"notes": ""}).status_code == 403
    assert client.post(f"/leads/{lead.pk}/edit/", {"name": "Mine"}).status_code == 403
    assert client.post(f"/activities/{activity.pk}/complete/").status_code == 403
    activity.refresh_from_db()
    assert not activity.is_done


# --- pickers --------------------------------------------------------------------------------------
def test_assign_modals_offer_only_users_who_may_own(web, users):
    rep1, manager = users["rep1"], users["manager"]
    allowed = ids(users["admin"], manager, rep1, users["rep2"])
    lead = LeadFactory(owner=rep1)
    deal = make_deal(rep1)
    assert options(web(rep1).get(f"/leads/{lead.pk}/assign/").content.decode(), "assignee") == (
        allowed
    )
    html = web(rep1).get(f"/deals/{deal.pk}/assign/").content.decode()
    assert options(html, "assigned_to") == allowed


def test_forms_offer_only_owners_and_assignees_who_may_own(web, users):
    manager = users["manager"]
    allowed = ids(users["admin"], manager, users["rep1"], users["rep2"])
    client = web(manager)
    deal_form = client.get("/deals/new/").content.decode()
    assert options(deal_form, "owner") == allowed
    assert options(deal_form, "assigned_to") == allowed
    assert options(client.get("/people/new/").content.decode(), "owner") == allowed
    assert options(client.get("/organizations/new/").content.decode(), "owner") == allowed
    lead = LeadFactory(owner=users["rep1"])
    activity = activity_services.activity_create(by=manager, type="task", subject="A", lead=lead)
    edit = client.get(f"/activities/{activity.pk}/edit/").content.decode()
    assert options(edit, "assigned_to") == allowed
    timeline = client.get(f"/activities/timeline/lead/{lead.pk}/").content.decode()
    assert options(timeline, "assigned_to") == allowed


def test_activity_form_refuses_a_viewer_assignee(web, manager, rep1, viewer):
    lead = LeadFactory(owner=rep1)
    response = web(manager).post(
        f"/activities/timeline/lead/{lead.pk}/log/",
        {"type": "task", "subject": "Call back", "assigned_to": viewer.pk},
    )
    assert not Activity.objects.filter(subject="Call back").exists()
    assert response.status_code in (200, 400, 422)


@pytest.mark.parametrize("kind", ["lead", "deal"])
def test_bulk_bar_offers_only_users_who_may_own_while_the_filter_lists_everyone(web, users, kind):
    if kind == "lead":
        LeadFactory(owner=users["rep1"])
    else:
        make_deal(users["rep1"])
    html = web(users["manager"]).get(f"/{kind}s/").content.decode()
    # The filter lists everyone (to find what anyone holds, a legacy Viewer assignee too).
    assert options(html, "assigned_to") - {"0", "none"} == ids(*users.values())
    assert options(html, "assignee") == ids(
        users["admin"], users["manager"], users["rep1"], users["rep2"]
    )


def test_bulk_assign_to_a_viewer_is_400_naming_the_field(web, manager, rep1, viewer):
    lead = LeadFactory(owner=rep1)
    response = web(manager).post(
        "/leads/bulk/",
        {"action": "assign", "ids": [str(lead.pk)], "assignee": viewer.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.assigned_to is None


def test_assign_modal_refuses_a_viewer(web, rep1, viewer):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(f"/leads/{lead.pk}/assign/", {"assignee": viewer.pk})
    assert response.status_code == 422
    lead.refresh_from_db()
    assert lead.assigned_to is None


# --- assignment rules, round robin, automation ----------------------------------------------------
def test_round_robin_skips_users_whose_role_may_not_own_leads(manager, rep1, analyst, viewer):
    AssignmentRuleFactory(users=[viewer, analyst, rep1])
    for _ in range(3):
        lead = lead_services.lead_create(by=manager, name="Inbound")
        run_events()
        lead.refresh_from_db()
        assert lead.assigned_to == rep1


def test_a_rule_with_nobody_who_may_own_leads_leaves_the_lead_unassigned(manager, analyst, viewer):
    AssignmentRuleFactory(users=[viewer, analyst])
    lead = lead_services.lead_create(by=manager, name="Inbound")
    run_events()
    lead.refresh_from_db()
    assert lead.assigned_to is None


def test_assignment_rule_form_offers_only_users_who_may_own_leads(users):
    form = AssignmentRuleForm()
    assert set(form.fields["users"].queryset) == {
        users["admin"],
        users["manager"],
        users["rep1"],
        users["rep2"],
    }


def test_automation_cannot_hand_records_to_a_role_that_may_not_own(viewer, rep1):
    from django.core.exceptions import ValidationError

    rule = AutomationRuleFactory(trigger="lead.created")
    for type_, extra in (
        (AutomationAction.Type.ASSIGN, {}),
        (AutomationAction.Type.CREATE_ACTIVITY, {"activity_type": "task", "subject": "Hi"}),
    ):
        action = AutomationAction(rule=rule, type=type_, user=viewer, **extra)
        with pytest.raises(ValidationError) as exc:
            check_action(action)
        assert "user" in exc.value.message_dict
        check_action(AutomationAction(rule=rule, type=type_, user=rep1, **extra))


def test_automated_work_leaves_a_legacy_assignee_out_instead_of_failing(manager, viewer):
    """A lead already held by a Viewer (before this rule): conversion still works and the
    records it makes are not given to the Viewer."""
    lead = LeadFactory(owner=manager, contact_name="Ann Lee", company_name="Lee Ltd")
    Lead.objects.filter(pk=lead.pk).update(assigned_to=viewer)
    lead.refresh_from_db()
    result = lead_services.lead_convert(by=manager, lead=lead, deal={"name": "Lee deal"})
    run_events()
    assert result.deal.assigned_to is None and result.deal.owner == manager
    note = Activity.objects.get(lead=lead, metadata__automation_trigger="lead.converted")
    assert note.assigned_to is None


def test_eligible_names_only_users_who_may_own(rep1, viewer):
    assert assignment.eligible(rep1, Activity) == rep1
    assert assignment.eligible(viewer, Activity) is None
    assert assignment.eligible(None, Activity) is None


def test_people_records_follow_the_same_rule(manager, rep1, viewer):
    person = PersonFactory(owner=rep1)
    with pytest.raises(ValidationFailed) as exc:
        crm_services.person_update(by=manager, person=person, data={"owner": viewer})
    assert "owner" in exc.value.details
    crm_services.person_update(by=manager, person=person, data={"owner": manager})
    person.refresh_from_db()
    assert person.owner == manager
