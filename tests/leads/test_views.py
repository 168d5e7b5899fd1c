import csv
import io
import json

import pytest

from crm.models import AuditLog, SavedView
from customfields.models import CustomFieldDefinition
from leads.models import Lead
from tests.leads.factories import LeadFactory
from wfm.defaults import LeadStep


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_table_shows_only_visible_leads(web, rep1, rep2):
    LeadFactory(owner=rep1, name="Mine")
    LeadFactory(owner=rep2, name="Theirs")
    html = web(rep1).get("/leads/").content.decode()
    assert "Mine" in html and "Theirs" not in html


def test_manager_sees_all(web, manager, rep1, rep2):
    LeadFactory(owner=rep1, name="Mine")
    LeadFactory(owner=rep2, name="Theirs")
    html = web(manager).get("/leads/").content.decode()
    assert "Mine" in html and "Theirs" in html


def test_detail_of_other_reps_lead_is_404(web, rep1, rep2):
    lead = LeadFactory(owner=rep2)
    assert web(rep1).get(f"/leads/{lead.pk}/").status_code == 404


def test_csv_export_contains_only_visible_filtered_leads_and_is_audited(web, rep1, rep2):
    LeadFactory(owner=rep1, name="Mine A", source="web")
    LeadFactory(owner=rep1, name="Mine B", source="referral")
    LeadFactory(owner=rep2, name="Theirs", source="web")
    response = web(rep1).get("/leads/export.csv?source=web")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["name"] for r in rows] == ["Mine A"]
    assert AuditLog.objects.filter(action="leads.export", user=rep1).exists()


def test_search_and_filters_in_table(web, rep1):
    LeadFactory(owner=rep1, name="Alpha", company_name="Acme")
    LeadFactory(owner=rep1, name="Beta", company_name="Globex", lead_score=90)
    client = web(rep1)
    html = client.get("/leads/?search=acme", HTTP_HX_REQUEST="true").content.decode()
    assert "Alpha" in html and "Beta" not in html
    html = client.get("/leads/?score_min=80", HTTP_HX_REQUEST="true").content.decode()
    assert "Beta" in html and "Alpha" not in html


def test_column_chooser_shows_custom_field_columns(web, manager, rep1):
    CustomFieldDefinition.objects.create(
        entity_type="lead", name="budget", label="Budget", type="number"
    )
    LeadFactory(owner=rep1, custom_field_values={"budget": 12345})
    html = web(manager).get("/leads/?columns=name&columns=cf_budget").content.decode()
    assert "Budget" in html and "12,345" in html


def test_filter_inputs_cover_every_custom_field_type(web, rep1):
    for name, kind in (("tier", "dropdown"), ("vip", "boolean"), ("seats", "number")):
        CustomFieldDefinition.objects.create(
            entity_type="lead",
            name=name,
            label=name.title(),
            type=kind,
            options=["A", "B"] if kind == "dropdown" else [],
        )
    CustomFieldDefinition.objects.create(
        entity_type="lead", name="region", label="Region", type="text"
    )
    html = web(rep1).get("/leads/?cf_tier=B&cf_vip=true&cf_seats_max=9&cf_region=EU").content
    html = html.decode()
    # the shared customfields/_filter_fields.html, small like the other "More" filters
    assert '<option value="B" selected>B</option>' in html
    assert '<option value="true" selected>Yes</option>' in html
    assert 'name="cf_seats_max" value="9"' in html and "input-group input-group-sm" in html
    assert 'name="cf_region" value="EU"' in html and '<div class="filter-item">' in html


def test_detail_shows_custom_fields_with_links_and_readable_values(web, rep1):
    for name, kind in (("site", "url"), ("budget", "decimal"), ("vip", "boolean")):
        CustomFieldDefinition.objects.create(
            entity_type="lead", name=name, label=name.title(), type=kind
        )
    CustomFieldDefinition.objects.create(
        entity_type="lead", name="notes", label="Notes", type="text"
    )
    lead = LeadFactory(
        owner=rep1,
        custom_field_values={"site": "https://acme.example", "budget": "1250.50", "vip": False},
    )
    html = web(rep1).get(f"/leads/{lead.pk}/").content.decode()
    assert 'data-cf="site"><a href="https://acme.example"' in html
    assert 'data-cf="budget">1,250.50<' in html and 'data-cf="vip">No<' in html
    assert 'data-cf="notes">—<' in html


def test_sort_by_score(web, manager, rep1):
    LeadFactory(owner=rep1, name="Low", lead_score=5)
    LeadFactory(owner=rep1, name="High", lead_score=95)
    html = web(manager).get("/leads/?ordering=-lead_score").content.decode()
    rows = html[html.index('data-table="lead"') :]  # past the filters' "High"/"Low" options
    assert rows.index("High") < rows.index("Low")


def test_saved_view_round_trip(web, rep1):
    client = web(rep1)
    response = client.post(
        "/leads/views/save/", {"view_name": "Hot", "query": "score_min=70&page=3&columns=name"}
    )
    view = SavedView.objects.get(user=rep1, screen="leads")
    assert view.query == "score_min=70&columns=name"
    assert response.status_code == 302 and "score_min=70" in response.url
    assert "Hot" in client.get("/leads/views/").content.decode()


@pytest.mark.parametrize("rows", [3, 50])
def test_table_query_count_is_constant_with_custom_columns(
    web, rep1, rows, django_assert_max_num_queries
):
    for i in range(10):
        CustomFieldDefinition.objects.create(
            entity_type="lead", name=f"f{i}", label=f"F{i}", type="text", show_in_table=True
        )
    for _ in range(rows):
        LeadFactory(owner=rep1, custom_field_values={"f1": "x"})
    client = web(rep1)
    with django_assert_max_num_queries(10):
        response = client.get("/leads/?page_size=50")
    assert response.status_code == 200
    assert response.content.decode().count("data-lead-id") == rows
    # Filtered by a custom field: the definitions are still read once.
    with django_assert_max_num_queries(10):
        response = client.get("/leads/?page_size=50&cf_f1=x&ordering=-cf_f2")
    assert response.status_code == 200
    assert response.content.decode().count("data-lead-id") == rows


def test_create_in_modal_and_duplicate_flag(web, rep1):
    existing = LeadFactory(owner=rep1, contact_email="dup@acme.com")
    client = web(rep1)
    flag = client.get("/duplicates/check/?kind=lead&contact_email=DUP@acme.com").content.decode()
    assert existing.name in flag and "Possible duplicate" in flag
    response = client.post(
        "/leads/new/",
        {"name": "New one", "source": "web", "priority": "medium", "currency": "EUR"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    lead = Lead.objects.get(name="New one", owner=rep1)
    created = json.loads(response["HX-Trigger"])["recordCreated"]
    assert created == {"kind": "lead", "id": str(lead.pk), "url": f"/leads/{lead.pk}/"}


def test_invalid_create_keeps_input_and_shows_errors(web, rep1):
    response = web(rep1).post(
        "/leads/new/",
        {"name": "", "contact_email": "bad", "source": "web", "priority": "medium"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "This field is required." in html and 'value="bad"' in html


def test_custom_field_error_is_shown_on_its_input(web, rep1):
    CustomFieldDefinition.objects.create(
        entity_type="lead",
        name="size",
        label="Size",
        type="dropdown",
        options=["S", "M"],
        is_required=True,
    )
    response = web(rep1).post(
        "/leads/new/",
        {"name": "X", "source": "web", "priority": "medium", "currency": "EUR"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "Size" in response.content.decode()
    assert not Lead.objects.exists()


def test_move_from_detail_and_refused_move(web, rep1, steps):
    lead = LeadFactory(owner=rep1)
    client = web(rep1)
    ok = client.post(
        f"/leads/{lead.pk}/move/", {"to_step": steps[LeadStep.CONTACTED].pk}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 204
    refused = client.post(
        f"/leads/{lead.pk}/move/",
        {"to_step": steps[LeadStep.NEW_LEAD].pk - 999},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 400
    refused = client.post(
        f"/leads/{lead.pk}/move/", {"to_step": steps[LeadStep.CONVERTED].pk}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "use_convert"


def test_qualify_and_disqualify_modals(web, rep1):
    lead = LeadFactory(owner=rep1)
    client = web(rep1)
    assert (
        client.post(
            f"/leads/{lead.pk}/disqualify/", {"reason": ""}, HTTP_HX_REQUEST="true"
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/leads/{lead.pk}/qualify/", {"notes": "Good"}, HTTP_HX_REQUEST="true"
        ).status_code
        == 204
    )
    lead.refresh_from_db()
    assert lead.is_qualified


def test_convert_modal_previews_matches_and_converts(web, rep1):
    from tests.factories import OrganizationFactory, PersonFactory

    org = OrganizationFactory(owner=rep1, domain="acme.com")
    person = PersonFactory(owner=rep1, email="ann@acme.com", organization=org)
    lead = LeadFactory(owner=rep1, contact_email="ann@acme.com", company_name="Acme")
    client = web(rep1)
    html = client.get(f"/leads/{lead.pk}/convert/", HTTP_HX_REQUEST="true").content.decode()
    assert "Found by email" in html and "Found by domain" in html
    response = client.post(
        f"/leads/{lead.pk}/convert/",
        {
            "person_action": "link",
            "person": person.pk,
            "organization_action": "link",
            "organization": org.pk,
            "create_deal": "on",
            "deal_name": "Acme deal",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and response["HX-Redirect"]
    lead.refresh_from_db()
    assert lead.converted_to_person == person and lead.converted_to_deal.name == "Acme deal"


def test_detail_page_renders_history_and_actions(web, rep1):
    lead = LeadFactory(owner=rep1)
    html = web(rep1).get(f"/leads/{lead.pk}/").content.decode()
    # The next step is the primary action; Qualify and Convert wait in the "Move to…" menu.
    assert "Mark contacted" in html and "Move to…" in html
    assert "Qualify" in html and "Convert" in html and "Started in" in html


def test_bulk_assign_move_and_delete_report_refusals(web, rep1, rep2, steps):
    mine = [LeadFactory(owner=rep1) for _ in range(2)]
    theirs = LeadFactory(owner=rep2)
    client = web(rep1)
    ids = [str(lead.pk) for lead in [*mine, theirs]]
    response = client.post(
        "/leads/bulk/",
        {"ids": ids, "action": "move", "to_step": steps[LeadStep.CONTACTED].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    assert "2 moved" in response["HX-Trigger"] and "not visible" in response["HX-Trigger"]
    assert all(
        Lead.objects.get(pk=lead.pk).wfm_project.current_step == steps[LeadStep.CONTACTED]
        for lead in mine
    )
    client.post(
        "/leads/bulk/",
        {"ids": ids[:1], "action": "assign", "assignee": rep2.pk},
        HTTP_HX_REQUEST="true",
    )
    assert Lead.objects.get(pk=mine[0].pk).assigned_to == rep2
    client.post("/leads/bulk/", {"ids": ids[1:2], "action": "delete"}, HTTP_HX_REQUEST="true")
    assert not Lead.objects.filter(pk=mine[1].pk).exists()
    assert Lead.objects.filter(pk=theirs.pk).exists()


def test_convert_modal_names_the_new_records_missing_required_field(web, rep1):
    CustomFieldDefinition.objects.create(
        entity_type="person", name="vat_id", label="VAT id", type="text", is_required=True
    )
    lead = LeadFactory(owner=rep1, contact_name="Ann Lee", company_name="Acme")
    response = web(rep1).post(
        f"/leads/{lead.pk}/convert/",
        {"person_action": "create", "organization_action": "create", "create_deal": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "New person: VAT id: this field is required." in response.content.decode()
    lead.refresh_from_db()
    assert lead.converted_at is None
