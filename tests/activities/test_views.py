"""HTML views: timelines on detail pages, quick log, complete/reopen in place, My activities."""

from datetime import timedelta

import pytest
from django.utils import timezone

from activities import services
from activities.models import Activity, SequenceEnrollment
from tests.activities.factories import ActivityFactory, SequenceFactory
from tests.deals.factories import make_deal
from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def timeline_url(kind, record):
    return f"/activities/timeline/{kind}/{record.pk}/"


# --- detail pages lazy-load the timeline ---------------------------------------------------------
def test_detail_pages_load_the_timeline_region(web, rep1):
    lead = LeadFactory(owner=rep1)
    deal = make_deal(rep1)
    person = PersonFactory(owner=rep1)
    org = OrganizationFactory(owner=rep1)
    client = web(rep1)
    for page, kind, record in [
        (f"/leads/{lead.pk}/", "lead", lead),
        (f"/deals/{deal.pk}/", "deal", deal),
        (f"/people/{person.pk}/", "person", person),
        (f"/organizations/{org.pk}/", "organization", org),
    ]:
        html = client.get(page).content.decode()
        assert f'hx-get="{timeline_url(kind, record)}"' in html, page
        assert 'hx-trigger="load' in html and "activitySaved from:body" in html


def test_timeline_lists_open_then_done_with_system_marked(web, rep1, lead):
    services.activity_create(by=rep1, type="call", subject="Discovery call", lead=lead)
    services.activity_create(
        by=rep1, type="task", subject="Send proposal", due_at=timezone.now() + timedelta(days=1),
        lead=lead,
    )  # fmt: skip
    from crm.services import system_user

    services.activity_create(
        by=system_user(), type="task", subject="Welcome & review", assigned_to=rep1, lead=lead
    )
    html = web(rep1).get(timeline_url("lead", lead), **HTMX).content.decode()
    assert html.index("Planned") < html.index("Send proposal") < html.index("History")
    assert html.index("History") < html.index("Discovery call")
    assert "bi-robot" in html and "System" in html
    assert 'data-testid="quick-log"' in html and "Start a sequence" in html


def test_timeline_of_an_invisible_record_is_404(web, rep2, lead):
    assert web(rep2).get(timeline_url("lead", lead), **HTMX).status_code == 404


def test_unknown_timeline_kind_is_404(web, rep1, lead):
    assert web(rep1).get(f"/activities/timeline/invoice/{lead.pk}/").status_code == 404


def test_analyst_sees_the_timeline_without_the_log_form(web, analyst, lead):
    ActivityFactory(lead=lead, subject="Visible call", type="call")
    html = web(analyst).get(timeline_url("lead", lead), **HTMX).content.decode()
    assert "Visible call" in html and 'data-testid="quick-log"' not in html
    assert "Start a sequence" not in html  # cannot change the lead


@pytest.mark.parametrize("rows", [2, 25])
def test_timeline_query_count_is_constant(web, rep1, lead, rows, django_assert_max_num_queries):
    for n in range(rows):
        ActivityFactory(lead=lead, assigned_to=rep1, is_done=n % 2 == 0)
    client = web(rep1)
    with django_assert_max_num_queries(10):
        response = client.get(timeline_url("lead", lead), **HTMX)
    assert response.content.decode().count('data-testid="activity-entry"') == rows


def test_quick_log_from_the_lead_page(web, rep1, lead):
    client = web(rep1)
    response = client.post(
        f"/activities/timeline/lead/{lead.pk}/log/",
        {"type": "call", "subject": "Called Maria", "direction": "outbound", "notes": "Keen"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Called Maria" in response.content.decode()
    assert "showToast" in response["HX-Trigger"]
    call = Activity.objects.get(subject="Called Maria")
    assert call.lead == lead and call.is_done and call.assigned_to == rep1
    lead.refresh_from_db()
    assert lead.last_activity_at is not None


def test_quick_log_errors_come_back_as_422(web, rep1, lead):
    response = web(rep1).post(
        f"/activities/timeline/lead/{lead.pk}/log/", {"type": "task", "subject": ""}, **HTMX
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    response = web(rep1).post(
        f"/activities/timeline/lead/{lead.pk}/log/",
        {"type": "task", "subject": "x", "direction": "inbound"},
        **HTMX,
    )
    assert response.status_code == 422 and "Only calls and emails" in response.content.decode()


def test_quick_log_on_someone_elses_lead_is_404(web, rep2, lead):
    response = web(rep2).post(
        f"/activities/timeline/lead/{lead.pk}/log/", {"type": "note", "subject": "x"}, **HTMX
    )
    assert response.status_code == 404
    assert not Activity.objects.exists()


def test_manager_may_log_for_a_rep(web, manager, rep1, lead):
    html = web(manager).get(timeline_url("lead", lead), **HTMX).content.decode()
    assert "Assignee" in html
    web(manager).post(
        f"/activities/timeline/lead/{lead.pk}/log/",
        {"type": "task", "subject": "Call back", "assigned_to": rep1.pk},
        **HTMX,
    )
    assert Activity.objects.get(subject="Call back").assigned_to == rep1


def test_quick_log_without_htmx_redirects_to_the_record(web, rep1):
    person = PersonFactory(owner=rep1)
    response = web(rep1).post(
        f"/activities/timeline/person/{person.pk}/log/", {"type": "note", "subject": "Met"}
    )
    assert response.status_code == 302 and response["Location"] == f"/people/{person.pk}/"


def test_complete_and_reopen_in_place(web, rep1, rep2, lead):
    task = services.activity_create(by=rep1, type="task", subject="Send quote", lead=lead)
    client = web(rep1)
    response = client.post(f"/activities/{task.pk}/complete/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="reopen-activity"' in html
    assert html.strip().startswith("<li") and "Done" in html
    assert Activity.objects.get(pk=task.pk).is_done
    response = client.post(f"/activities/{task.pk}/reopen/", **HTMX)
    assert 'data-testid="complete-activity"' in response.content.decode()
    assert web(rep2).post(f"/activities/{task.pk}/complete/", **HTMX).status_code == 404


def test_complete_without_htmx_goes_back_safely(web, rep1, lead):
    task = services.activity_create(by=rep1, type="task", subject="t", lead=lead)
    response = web(rep1).post(f"/activities/{task.pk}/complete/", {"next": "https://evil.example/"})
    assert response["Location"] == "/activities/"


def test_edit_modal_and_delete(web, rep1, lead):
    task = services.activity_create(by=rep1, type="task", subject="Old", lead=lead)
    client = web(rep1)
    assert "Edit activity" in client.get(f"/activities/{task.pk}/edit/", **HTMX).content.decode()
    response = client.post(
        f"/activities/{task.pk}/edit/",
        {"type": "task", "subject": "New subject", "assigned_to": rep1.pk},
        **HTMX,
    )
    assert response.status_code == 204 and "activitySaved" in response["HX-Trigger"]
    assert Activity.objects.get(pk=task.pk).subject == "New subject"
    bad = client.post(f"/activities/{task.pk}/edit/", {"type": "task", "subject": ""}, **HTMX)
    assert bad.status_code == 422
    assert client.post(f"/activities/{task.pk}/delete/", **HTMX).status_code == 204
    assert not Activity.objects.exists()


def test_enroll_modal_and_stop(web, rep1, rep2, lead):
    sequence = SequenceFactory(name="Nurture", steps=[(0, "email", "Hi"), (2, "call", "Call")])
    client = web(rep1)
    assert "Nurture" in client.get(f"/activities/enroll/{lead.pk}/", **HTMX).content.decode()
    response = client.post(f"/activities/enroll/{lead.pk}/", {"sequence": sequence.pk}, **HTMX)
    assert response.status_code == 204 and "activitySaved" in response["HX-Trigger"]
    enrollment = SequenceEnrollment.objects.get()
    html = client.get(timeline_url("lead", lead), **HTMX).content.decode()
    assert "Nurture · step 2" in html
    again = client.post(f"/activities/enroll/{lead.pk}/", {"sequence": sequence.pk}, **HTMX)
    assert again.status_code == 422 and "already in" in again.content.decode()
    assert web(rep2).get(f"/activities/enroll/{lead.pk}/", **HTMX).status_code == 404
    assert (
        web(rep2).post(f"/activities/enrollments/{enrollment.pk}/stop/", **HTMX).status_code == 404
    )
    client = web(rep1)  # the same test client, logged in as rep1 again
    assert client.post(f"/activities/enrollments/{enrollment.pk}/stop/", **HTMX).status_code == 204
    enrollment.refresh_from_db()
    assert enrollment.status == "stopped"


# --- My activities ------------------------------------------------------------------------------
def make_sections(user, lead, n):
    now = timezone.now()
    for i in range(n):
        ActivityFactory(
            assigned_to=user, lead=lead, subject=f"Overdue {i}", due_at=now - timedelta(days=1)
        )
        ActivityFactory(
            assigned_to=user, lead=lead, subject=f"Upcoming {i}", due_at=now + timedelta(days=3)
        )
        ActivityFactory(
            assigned_to=user,
            lead=lead,
            subject=f"Done {i}",
            is_done=True,
            done_at=now - timedelta(hours=2),
        )


def test_my_activities_sections(web, rep1, rep2, lead):
    make_sections(rep1, lead, 2)
    today = timezone.localtime().replace(hour=23, minute=59)
    if today > timezone.now():
        ActivityFactory(assigned_to=rep1, lead=lead, subject="Due later today", due_at=today)
    ActivityFactory(assigned_to=rep2, subject="Not mine", due_at=timezone.now())
    response = web(rep1).get("/activities/")
    html = response.content.decode()
    assert response.status_code == 200
    for key in ("overdue", "today", "upcoming", "done"):
        assert f'data-testid="section-{key}"' in html
    overdue = html[
        html.index('data-testid="section-overdue"') : html.index('data-testid="section-today"')
    ]
    assert "Overdue 0" in overdue and "Upcoming 0" not in overdue
    assert "Not mine" not in html
    assert lead.name in html  # the record each activity is about
    # The navigation badge: 2 overdue.
    assert 'data-testid="overdue-badge"' in html and "2 overdue" in html


def test_my_activities_filters(web, rep1, lead):
    make_sections(rep1, lead, 1)
    ActivityFactory(
        assigned_to=rep1,
        type="call",
        subject="Loose call",
        due_at=timezone.now() + timedelta(days=1),
    )
    client = web(rep1)
    html = client.get("/activities/?type=call").content.decode()
    assert "Loose call" in html and "Upcoming 0" not in html
    html = client.get("/activities/?record=none").content.decode()
    assert "Loose call" in html and "Overdue 0" not in html
    html = client.get(f"/activities/?lead={lead.pk}").content.decode()
    assert "Overdue 0" in html and "Loose call" not in html
    html = client.get("/activities/?lead=garbage").content.decode()
    assert "Nothing overdue." in html
    partial = client.get("/activities/?type=call", **HTMX).content.decode()
    assert "<nav" not in partial and "Loose call" in partial


def test_manager_can_look_at_a_reps_activities(web, manager, rep1, lead):
    make_sections(rep1, lead, 1)
    html = web(manager).get(f"/activities/?assignee={rep1.pk}").content.decode()
    assert "Overdue 0" in html
    assert "Nothing overdue." in web(manager).get("/activities/").content.decode()


@pytest.mark.parametrize("rows", [1, 20])
def test_my_activities_query_count_is_constant(
    web, rep1, lead, rows, django_assert_max_num_queries
):
    make_sections(rep1, lead, rows)
    client = web(rep1)
    with django_assert_max_num_queries(10):
        response = client.get("/activities/")
    assert response.content.decode().count('data-testid="activity-entry"') == 3 * rows


def test_other_pages_load_the_badge_after_rendering(web, rep1):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ActivityFactory(assigned_to=rep1, due_at=timezone.now() - timedelta(hours=1))
    ActivityFactory(assigned_to=rep1, is_done=True, due_at=timezone.now() - timedelta(hours=1))
    client = web(rep1)
    with CaptureQueriesContext(connection) as page_queries:
        html = client.get("/people/").content.decode()
    # The page itself does not count activities (its query budget stays its own) …
    assert not any("activities_activity" in q["sql"] for q in page_queries.captured_queries)
    assert 'hx-get="/activities/badge/"' in html and 'hx-trigger="load, activitySaved' in html
    # … the badge comes right after: one count, besides the user and the session (none for
    # the session when Redis holds it: cached_db).
    with CaptureQueriesContext(connection) as badge_queries:
        badge = client.get("/activities/badge/", **HTMX).content.decode()
    counts = [q for q in badge_queries.captured_queries if "activities_activity" in q["sql"]]
    assert len(counts) == 1 and len(badge_queries.captured_queries) <= 3
    assert "1 overdue" in badge and 'id="overdue-badge"' in badge
    assert "activityChanged from:body" in badge


def test_no_badge_without_overdue_activities(web, rep1):
    badge = web(rep1).get("/activities/badge/", **HTMX).content.decode()
    assert 'data-testid="overdue-badge"' not in badge and 'id="overdue-badge"' in badge


def test_my_activities_needs_login(client):
    response = client.get("/activities/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
