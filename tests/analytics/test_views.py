"""The dashboard pages, the metrics API, drill-down links and query counts."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def make_leads(owner, n, *, days_ago=1, **fields):
    leads = [LeadFactory(owner=owner, **fields) for _ in range(n)]
    Lead.objects.filter(pk__in=[x.pk for x in leads]).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return leads


def table_count(client, url) -> int:
    html = client.get(url).content.decode()
    match = re.search(r'data-testid="row-count">([^<]*)<', html)
    if match is None:  # an empty table shows no pagination line
        assert client.get(url).status_code == 200
        return 0
    text = match.group(1)
    return int(re.findall(r"(\d+)", text.replace(",", ""))[-1])


def test_home_lands_on_the_dashboard_for_the_role(web, manager, rep1):
    assert 'data-testid="dashboard-body"' in web(manager).get("/").content.decode()
    assert 'data-testid="my-day-body"' in web(rep1).get("/").content.decode()


def test_viewer_sees_a_helpful_empty_state(web, viewer):
    # A viewer owns nothing, so My day would be all zeros: it lands on what it may see.
    assert 'data-testid="dashboard-body"' in web(viewer).get("/").content.decode()
    html = web(viewer).get(reverse("analytics:team")).content.decode()
    assert 'data-testid="dashboard-empty"' in html
    assert "records you may see" in html


def test_bad_filters_do_not_break_the_page(web, manager):
    response = web(manager).get(reverse("analytics:team") + "?date_from=nope&owner=x")
    assert response.status_code == 200
    assert "were not understood" in response.content.decode()


def test_each_kpi_link_shows_as_many_rows_as_the_figure(web, manager, rep1, rep2):
    make_leads(rep1, 3, source="web", lead_score=80, is_qualified=True)
    make_leads(rep2, 2, source="event", lead_score=20)
    make_leads(rep2, 1, source="event", days_ago=100)
    client = web(manager)
    html = client.get(reverse("analytics:team") + "?period=last_30_days").content.decode()
    links = re.findall(r'href="([^"]+)" data-testid="kpi-(\w+)-value"', html)
    checked = 0
    for url, key in links:
        if (
            not url
            or "/leads/" not in url
            or key not in {"total_leads", "qualified", "converted", "new_this_week", "new_today"}
        ):
            continue
        shown = re.search(rf'data-testid="kpi-{key}-value"[^>]*>([^<]*)<', html).group(1)
        assert table_count(client, unescape(url)) == int(shown.replace(",", "")), key
        checked += 1
    assert checked >= 4
    for band in ("cold", "hot"):
        match = re.search(rf'<a href="([^"]+)" data-testid="temperature-{band}">(\d+)<', html)
        assert table_count(client, unescape(match.group(1))) == int(match.group(2))


def test_rep_dashboard_counts_only_own(web, rep1, rep2):
    make_leads(rep1, 2)
    make_leads(rep2, 5)
    html = web(rep1).get(reverse("analytics:team")).content.decode()
    assert re.search(r'data-testid="kpi-total_leads-value"[^>]*>2<', html)


def test_metrics_api_total_matches_lead_list(api_as, manager, rep1, rep2):
    make_leads(rep1, 3, source="web")
    make_leads(rep2, 2, source="referral", days_ago=400)
    for user in (manager, rep1, rep2):
        client = api_as(user)
        metrics = client.get("/api/v1/metrics/leads/").json()
        assert metrics["total_leads"] == client.get("/api/v1/leads/").json()["count"]
        assert sum(metrics["by_source"].values()) == metrics["total_leads"]
    assert api_as(manager).get("/api/v1/metrics/leads/").json()["by_source"] == {
        "web": 3,
        "referral": 2,
    }


@pytest.mark.parametrize(
    "query",
    [
        "date_from=2026-13-01",
        "owner=abc",
        "owner=0",
        "source=nowhere",
        "workflow=99999999999999999999999",
    ],
)
def test_metrics_api_bad_params_are_400(api_as, manager, query):
    for path in ("/api/v1/metrics/leads/", "/api/v1/metrics/deals/"):
        response = api_as(manager).get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert response.json()["error"]["code"]


def test_metrics_api_takes_any_schema_valid_dates(api_as, manager, rep1):
    make_leads(rep1, 2)
    client = api_as(manager)
    reversed_range = client.get("/api/v1/metrics/leads/?date_from=2026-03-05&date_to=2026-03-01")
    assert reversed_range.status_code == 200
    assert reversed_range.json()["total_leads"] == 0
    assert reversed_range.json()["previous"] is None
    wide = client.get("/api/v1/metrics/leads/?date_from=0001-01-01&date_to=9999-12-31").json()
    assert wide["total_leads"] == 2 and wide["period"]["date_from"] == "1900-01-01"
    deals = client.get("/api/v1/metrics/deals/?date_from=0001-01-01&date_to=0001-01-02")
    assert deals.status_code == 200


def test_dashboard_survives_extreme_dates(web, manager):
    for query in ("date_from=0001-01-01&date_to=9999-12-31", "period=custom&date_to=0001-01-01"):
        assert web(manager).get(f"{reverse('analytics:team')}?{query}").status_code == 200


def test_metrics_api_needs_sign_in(api):
    assert api.get("/api/v1/metrics/leads/").status_code == 401


def test_metrics_deals_api(api_as, manager):
    data = api_as(manager).get("/api/v1/metrics/deals/?date_from=2026-01-01").json()
    assert data["won_count"] == 0 and data["win_rate"] is None
    assert len(data["series"]["forecast"]) == 6


@pytest.mark.parametrize("size", [3, 12])
def test_team_dashboard_query_count_is_constant(
    web, manager, rep1, rep2, size, django_assert_max_num_queries
):
    make_leads(rep1, size)
    make_leads(rep2, size, source="event")
    client = web(manager)
    # Warm: content types are cached per process after the first request, as in production.
    client.get(reverse("analytics:team") + "?period=last_90_days")
    with django_assert_max_num_queries(15):
        client.get(reverse("analytics:team") + "?period=last_90_days")


@pytest.mark.parametrize("size", [3, 12])
def test_my_day_query_count_is_constant(web, rep1, size, django_assert_max_num_queries):
    from activities.services import activity_create

    for i, lead in enumerate(make_leads(rep1, size, lead_score=90, days_ago=30)):
        due = timezone.now() + timedelta(hours=-5 if i % 2 else 1)
        activity_create(by=rep1, type="task", subject=f"Task {i}", due_at=due, lead=lead)
    client = web(rep1)
    client.get(reverse("analytics:my_day"))  # warm the content-type cache, as in production
    with django_assert_max_num_queries(10):
        client.get(reverse("analytics:my_day"))


def deal_count(client, url) -> int:
    """The deal API's count for a table link's query (one FilterSet serves both)."""
    query = unescape(url).split("?", 1)[1] if "?" in url else ""
    return client.get(f"/api/v1/deals/?{query}").json()["count"]


def test_deal_links_list_exactly_the_counted_deals(web, api_as, manager, rep1):
    from deals.services import deal_mark_lost
    from tests.deals.factories import make_deal

    make_deal(rep1, amount=1000, step="Proposal")
    make_deal(rep1, amount=2000, step="Proposal")
    make_deal(rep1, amount=500, step="Discovery")
    make_deal(rep1, amount=700, step="Closed Won")
    lost = make_deal(rep1, amount=100)
    deal_mark_lost(by=rep1, deal=lost, reason="Budget")
    client = web(manager)
    api = api_as(manager)
    html = client.get(reverse("analytics:team") + "?period=last_7_days").content.decode()
    stages = re.findall(r'<td><a href="(/deals/\?[^"]*step=\d+[^"]*)">(\d+)</a></td>', html)
    assert sorted(int(n) for _, n in stages) == [1, 2]
    for url, n in stages:
        assert deal_count(api, url) == int(n)
    won = re.search(r'href="([^"]+)" data-testid="kpi-won_value-value"', html).group(1)
    assert deal_count(api, won) == 1
    metrics = api.get("/api/v1/metrics/deals/").json()
    assert metrics["open_deals"] == 3 and metrics["won_count"] == 1 and metrics["lost_count"] == 1
    assert metrics["win_rate"] == 0.5
    assert float(metrics["pipeline_value"]) == 3500


def test_funnel_links_count_the_leads_that_reached_the_step(web, manager, rep1):
    from leads import services

    leads = make_leads(rep1, 3)
    steps = list(leads[0].wfm_project.workflow.steps.order_by("order"))
    services.lead_transition(by=manager, lead=leads[0], to_step=steps[1])
    client = web(manager)
    html = client.get(reverse("analytics:team")).content.decode()
    rows = re.findall(r'<td><a href="(/leads/\?[^"]*reached_step=\d+[^"]*)">(\d+)</a></td>', html)
    assert rows
    for url, n in rows:
        assert table_count(client, unescape(url)) == int(n)


def test_my_day_lists_only_my_records(web, rep1, rep2):
    mine = make_leads(rep1, 1, lead_score=90)[0]
    theirs = make_leads(rep2, 1, lead_score=95)[0]
    html = web(rep1).get(reverse("analytics:my_day")).content.decode()
    assert mine.name in html.replace("&#x27;", "'")
    assert theirs.name not in html.replace("&#x27;", "'")


def test_stale_days_setting(web, rep1, settings):
    lead = make_leads(rep1, 1, days_ago=10)[0]
    settings.DASHBOARD_STALE_DAYS = 14
    client = web(rep1)

    def section() -> str:
        html = client.get(reverse("analytics:my_day")).content.decode()
        return html.split('data-testid="stale-leads"')[1].split("</section>")[0]

    assert f"/leads/{lead.pk}/" not in section()
    settings.DASHBOARD_STALE_DAYS = 7
    assert f"/leads/{lead.pk}/" in section()


def test_each_over_time_segment_links_to_its_leads(web, manager, rep1):
    import json

    make_leads(rep1, 2, source="web", days_ago=3)
    make_leads(rep1, 1, source="event", days_ago=3)
    client = web(manager)
    html = client.get(reverse("analytics:team") + "?period=last_7_days").content.decode()
    raw = re.search(r'id="dashboard-data" type="application/json">(.*?)</script>', html, re.S)
    data = json.loads(raw.group(1))
    for dataset in data["over_time"]["datasets"]:
        for n, url in zip(dataset["data"], dataset["urls"], strict=True):
            if n:
                assert table_count(client, url) == n


@pytest.mark.parametrize("period", ["last_30_days", "all"])
def test_my_day_numbers_link_to_exactly_the_counted_records(
    web, api_as, manager, rep1, rep2, period
):
    from decimal import Decimal

    from django.conf import settings

    from crm import permissions
    from crm.formatting import money
    from tests.deals.factories import make_deal
    from wfm.defaults import DealStep

    now = timezone.now()
    ago = lambda days: now - timedelta(days=days)  # noqa: E731
    qualified = [
        LeadFactory(owner=rep1),  # owned
        LeadFactory(owner=rep2, assigned_to=rep1),  # assigned to me
        LeadFactory(owner=rep1, assigned_to=rep2),  # owned, given to someone else
    ]
    Lead.objects.filter(pk__in=[x.pk for x in qualified]).update(qualified_at=ago(2))
    old = LeadFactory(owner=rep1)  # qualified before this period
    Lead.objects.filter(pk=old.pk).update(qualified_at=ago(45), converted_at=ago(40))
    theirs = LeadFactory(owner=rep2)  # not mine, but shared with me: I see it
    Lead.objects.filter(pk=theirs.pk).update(qualified_at=ago(2), converted_at=ago(1))
    permissions.share(rep1, theirs)
    Lead.objects.filter(pk=qualified[0].pk).update(converted_at=ago(1))
    make_deal(rep1, amount=1000, step=DealStep.PROPOSAL)
    make_deal(rep2, amount=2000, step=DealStep.DISCOVERY, assigned_to=rep1, by=manager)
    shared = make_deal(rep2, amount=4000, step=DealStep.DISCOVERY)  # not mine
    permissions.share(rep1, shared)
    make_deal(rep1, amount=700, step=DealStep.CLOSED_WON)
    permissions.share(rep1, make_deal(rep2, amount=900, step=DealStep.CLOSED_WON))

    client = web(rep1)
    api = api_as(rep1)
    html = client.get(reverse("analytics:my_day") + f"?period={period}").content.decode()

    def figure(key: str) -> tuple[str, str]:
        match = re.search(rf'href="([^"]+)" data-testid="kpi-{key}-value"[^>]*>([^<]*)<', html)
        assert match, f"{key} has no link"
        return unescape(match.group(1)), match.group(2).strip()

    expected = {"qualified": 4 if period == "all" else 3, "converted": 2 if period == "all" else 1}
    for key, count in expected.items():
        url, shown = figure(key)
        assert url.startswith("/leads/?")
        assert int(shown) == count, key
        assert table_count(client, url) == count, key
        assert api.get(f"/api/v1/leads/?{url.split('?', 1)[1]}").json()["count"] == count
    url, shown = figure("won")
    assert url.startswith("/deals/?") and int(shown) == 1
    assert deal_count(api, url) == 1
    url, shown = figure("weighted")
    open_deals = api.get(f"/api/v1/deals/?{url.split('?', 1)[1]}").json()["results"]
    assert len(open_deals) == 2
    total = sum(Decimal(str(d["weighted_amount"])) for d in open_deals)
    assert total and shown == money(total, settings.DEFAULT_CURRENCY)


# --- the AI section ------------------------------------------------------------------------------
def shown(html: str, key: str) -> str:
    match = re.search(rf'data-testid="kpi-{key}-value"[^>]*>([^<]*)<', html)
    assert match, key
    return match.group(1).strip()


def test_ai_section_counts_suggestions_and_analyses(web, api_as, manager, rep1, rep2):
    from tests.aiagent.factories import AnalysisRunFactory, ProposalFactory

    ProposalFactory(user=rep1, status="confirmed")
    ProposalFactory(user=rep2, status="rejected")
    AnalysisRunFactory(user=rep1, suggested=2, applied=1)
    AnalysisRunFactory(user=rep2, stored=False)
    old = AnalysisRunFactory(user=rep1)  # before the period
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=45))

    team = web(manager).get(reverse("analytics:team")).content.decode()
    assert shown(team, "ai_suggestions_shown") == "4"
    assert shown(team, "ai_suggestions_applied") == "2"
    assert shown(team, "ai_apply_rate") == "50%"
    assert shown(team, "ai_analyses") == "2"
    own = web(rep1).get(reverse("analytics:team")).content.decode()
    assert shown(own, "ai_suggestions_shown") == "3" and shown(own, "ai_analyses") == "1"
    assert "(your own)" in own

    metrics = api_as(manager).get("/api/v1/metrics/ai/").json()  # all time
    assert metrics["usage"]["suggestions_shown"] == 4
    assert metrics["usage"]["analyses_run"] == 3
    assert metrics["previous"] is None and metrics["model"] is None
    today = timezone.localdate()
    window = f"date_from={today - timedelta(days=29)}&date_to={today}"
    recent = api_as(rep1).get(f"/api/v1/metrics/ai/?{window}").json()
    # The old analysis (45 days ago) falls in the previous 30 days.
    assert recent["usage"]["analyses_run"] == 1 and recent["previous"]["analyses_run"] == 1
    assert api_as(rep1).get(f"/api/v1/metrics/ai/?owner={rep2.pk}").json()["usage"] == {
        **metrics["usage"],
        **dict.fromkeys(
            (
                "suggestions_shown",
                "suggestions_applied",
                "proposals_shown",
                "proposals_applied",
                "field_suggestions_shown",
                "field_suggestions_applied",
                "analyses_run",
            ),
            0,
        ),
        "apply_rate": None,
    }
    assert api_as(manager).get("/api/v1/metrics/ai/?owner=x").status_code == 400


def trained_model(n_test: int, *, calibration: bool = True):
    import random

    from leads import predictive
    from leads.models import ConversionModel

    rng = random.Random(4)
    scores = [rng.random() for _ in range(n_test)]
    labels = [rng.random() < s for s in scores]
    return ConversionModel.objects.create(
        version=ConversionModel.objects.count() + 1,
        auc=0.81,
        n_train=4 * n_test,
        n_test=n_test,
        calibration=predictive.calibration(scores, labels) if calibration else {},
    )


def test_calibration_is_shown_next_to_the_auc(web, api_as, manager):
    import json

    model = trained_model(40)
    html = web(manager).get(reverse("analytics:team")).content.decode()
    section = html.split('data-testid="model-quality"')[1].split("</section>")[0]
    assert 'data-testid="model-auc">0.810<' in section
    assert f'data-testid="model-brier">{model.calibration["brier"]:.3f}<' in section
    rows = re.findall(r'<tr><th scope="row">(\d+%–\d+%)</th><td class="text-end">(\d+)<', section)
    assert [label for label, _ in rows] == ["0%–20%", "20%–40%", "40%–60%", "60%–80%", "80%–100%"]
    assert sum(int(n) for _, n in rows) == 40
    raw = re.search(r'id="dashboard-data" type="application/json">(.*?)</script>', html, re.S)
    chart = json.loads(raw.group(1))["calibration"]
    assert [c["count"] for c in chart] == [int(n) for _, n in rows]
    first = model.calibration["bins"][0]
    assert chart[0]["predicted"] == pytest.approx(first["predicted"] * 100)

    data = api_as(manager).get("/api/v1/metrics/ai/").json()["model"]
    assert data["version"] == model.version and data["auc"] == 0.81
    assert data["brier"] == model.calibration["brier"] and data["calibration_reliable"]
    assert len(data["calibration"]) == 5


@pytest.mark.parametrize(
    ("n_test", "recorded", "says"),
    [(12, True, "at least 20 leads (this model's had 12)"), (40, False, "was not recorded")],
)
def test_calibration_is_explained_when_it_cannot_be_shown(web, manager, n_test, recorded, says):
    trained_model(n_test, calibration=recorded)
    html = web(manager).get(reverse("analytics:team")).content.decode()
    assert 'data-testid="chart-calibration"' not in html
    explained = html.split('data-testid="calibration-missing">')[1].split("</p>")[0]
    assert says in explained


def test_my_day_shows_the_first_activities_and_links_to_the_rest(web, rep1):
    from activities.models import Activity
    from analytics.selectors import MY_DAY_ACTIVITIES

    lead = make_leads(rep1, 1)[0]
    late = timezone.now() - timedelta(days=2)
    Activity.objects.bulk_create(
        Activity(
            type=Activity.Type.TASK,
            subject=f"Late task {i}",
            due_at=late + timedelta(minutes=i),
            lead=lead,
            assigned_to=rep1,
            created_by=rep1,
        )
        for i in range(MY_DAY_ACTIVITIES + 1)
    )
    html = web(rep1).get(reverse("analytics:my_day")).content.decode()
    section = html.split('data-testid="my-day-activities"')[1].split("</section>")[0]
    assert "Late task 0<" in section or "Late task 0 " in section
    assert f"Late task {MY_DAY_ACTIVITIES}" not in section  # the 16th, due last
    assert f"{MY_DAY_ACTIVITIES + 1} in all" in section
