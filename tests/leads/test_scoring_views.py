"""The score panel, the Recalculate button, the rescore API and the scoring admin."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead, LeadScoreSnapshot, ScoringProfile
from leads.scoring import services as scoring
from tests.factories import UserFactory
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def scored_lead(owner, **fields):
    lead = LeadFactory(owner=owner, **fields)
    scoring.lead_rescore(by=owner, lead=lead)
    return lead


# --- the panel ----------------------------------------------------------------------------------
def test_detail_page_explains_the_score(web, rep1):
    lead = scored_lead(rep1, source="referral")

    html = web(rep1).get(f"/leads/{lead.pk}/").content.decode()

    assert 'id="score-area"' in html
    for name in ("Demographic", "Behavioural", "Interaction", "AI-derived"):
        assert name in html
    assert "Referral is valued 100." in html
    assert "No AI analysis yet: neutral 50." in html
    assert "weight 35%" in html
    assert f"= <strong>{lead.lead_score}</strong>" in html
    assert 'hx-post="/leads/' in html and "Recalculate" in html


def test_sparkline_of_the_score_history_is_inline_svg(web, rep1):
    lead = scored_lead(rep1)
    now = timezone.now()
    LeadScoreSnapshot.objects.bulk_create(
        LeadScoreSnapshot(lead=lead, score=s, at=now - timedelta(days=10 - i))
        for i, s in enumerate([10, 40, 25])
    )

    html = web(rep1).get(f"/leads/{lead.pk}/").content.decode()

    assert '<svg class="score-sparkline"' in html
    assert "<polyline points=" in html
    assert "<script" not in html.split('id="score-area"')[1].split('id="timeline"')[0]


def test_unscored_lead_says_so(web, rep1):
    lead = LeadFactory(owner=rep1)

    html = web(rep1).get(f"/leads/{lead.pk}/").content.decode()

    assert "Not scored yet." in html
    assert "score-sparkline" not in html


def test_reader_without_change_permission_gets_no_button(web, analyst, rep1):
    lead = scored_lead(rep1)

    html = web(analyst).get(f"/leads/{lead.pk}/").content.decode()

    assert 'id="score-area"' in html
    assert "Recalculate" not in html


# --- the Recalculate button ---------------------------------------------------------------------
def test_recalculate_answers_the_refreshed_panel(web, rep1):
    lead = LeadFactory(owner=rep1)

    response = web(rep1).post(f"/leads/{lead.pk}/rescore/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<div") and 'id="score-area"' in html
    assert "Referral" not in html and "Website is valued 70." in html
    assert json.loads(response["HX-Trigger"]) == {"recordSaved": True}  # the score moved
    lead.refresh_from_db()
    assert lead.score_updated_at is not None

    again = web(rep1).post(f"/leads/{lead.pk}/rescore/", HTTP_HX_REQUEST="true")
    assert "HX-Trigger" not in again  # nothing moved: only the panel


def test_recalculate_without_htmx_goes_back_to_the_lead(web, rep1):
    lead = LeadFactory(owner=rep1)

    response = web(rep1).post(f"/leads/{lead.pk}/rescore/")

    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/"


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 200), ("teammate", 404), ("manager", 200), ("analyst", 403), ("outsider", 404)],
)
def test_recalculate_needs_change_permission(web, rep1, rep2, manager, analyst, who, status):
    lead = LeadFactory(owner=rep1)
    users = {
        "owner": rep1,
        "teammate": rep2,
        "manager": manager,
        "analyst": analyst,
        "outsider": UserFactory(username="outsider"),
    }

    response = web(users[who]).post(f"/leads/{lead.pk}/rescore/", HTTP_HX_REQUEST="true")

    assert response.status_code == status
    lead.refresh_from_db()
    assert (lead.score_updated_at is not None) == (status == 200)


def test_recalculate_is_post_only(web, rep1):
    lead = LeadFactory(owner=rep1)
    assert web(rep1).get(f"/leads/{lead.pk}/rescore/").status_code == 405


# --- API ----------------------------------------------------------------------------------------
def test_api_rescore_returns_the_score_fields(api_as, rep1):
    lead = LeadFactory(owner=rep1)

    response = api_as(rep1).post(f"/api/v1/leads/{lead.pk}/rescore/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(lead.pk)
    assert body["lead_score"] == 18
    assert body["lead_score_factors"]["total"] == 18
    assert body["score_updated_at"]
    # The lead representation carries the same fields.
    detail = api_as(rep1).get(f"/api/v1/leads/{lead.pk}/").json()
    assert detail["lead_score_factors"] == body["lead_score_factors"]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("teammate", 404, "not_found"),
        ("analyst", 403, "permission_denied"),
        ("manager", 200, None),
    ],
)
def test_api_rescore_permissions(api_as, rep1, rep2, manager, analyst, who, status, code):
    lead = LeadFactory(owner=rep1)
    user = {"teammate": rep2, "analyst": analyst, "manager": manager}[who]

    response = api_as(user).post(f"/api/v1/leads/{lead.pk}/rescore/")

    assert response.status_code == status
    if code:
        assert response.json()["error"]["code"] == code


def test_api_rescore_needs_authentication(api, rep1):
    lead = LeadFactory(owner=rep1)
    response = api.post(f"/api/v1/leads/{lead.pk}/rescore/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_rescore_endpoint_is_in_the_schema(api_as, admin_user):
    schema = api_as(admin_user).get("/api/schema/?format=json").json()
    assert schema["paths"]["/api/v1/leads/{id}/rescore/"]["post"]["operationId"] == "leads_rescore"


# --- admin --------------------------------------------------------------------------------------
def test_admin_refuses_weights_adding_up_to_zero(client, admin_user):
    client.force_login(admin_user)
    profile = ScoringProfile.objects.get(is_active=True)
    url = f"/admin/leads/scoringprofile/{profile.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    for name in (
        "target_industries",
        "target_company_sizes",
        "target_locations",
        "source_values",
        "activity_kinds",
        "response_time_bands",
    ):
        data[name] = json.dumps(getattr(profile, name))
    data.update(
        weight_demographic="0",
        weight_behavioural="0",
        weight_interaction="0",
        weight_ai="0",
        is_active="on",
    )

    response = client.post(url, data)

    assert response.status_code == 200
    assert "The four category weights add up to 0" in response.content.decode()


def test_admin_make_active_switches_the_active_profile(client, admin_user):
    client.force_login(admin_user)
    other = ScoringProfile.objects.create(name="Events team")

    client.post(
        "/admin/leads/scoringprofile/",
        {"action": "make_active", "_selected_action": [other.pk]},
    )

    assert ScoringProfile.objects.get(is_active=True) == other


def test_admin_lists_leads_with_score_fields_read_only(client, admin_user, rep1):
    lead = scored_lead(rep1)
    client.force_login(admin_user)

    assert client.get("/admin/leads/lead/?q=" + lead.company_name[:5]).status_code == 200
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/")
    assert page.status_code == 200
    assert "lead_score" in page.context["adminform"].readonly_fields


# --- the badge on rows and cards ------------------------------------------------------------------
@pytest.mark.parametrize(("score", "band"), [(12, "cold"), (40, "warm"), (69, "warm"), (70, "hot")])
def test_table_rows_and_board_cards_show_the_score_badge_in_its_band(web, rep1, score, band):
    lead = LeadFactory(owner=rep1, name="Badge lead")
    Lead.objects.filter(pk=lead.pk).update(lead_score=score)
    badge = f'class="badge score-badge score-{band}" title="Score {score} ({band})"'
    client = web(rep1)

    assert badge in client.get("/leads/").content.decode()
    assert badge in client.get("/leads/board/").content.decode()
    assert badge in client.get(f"/leads/{lead.pk}/").content.decode()
