"""The navigation's badges (crm.badges): a page renders a remembered count in place, without a
query and without the request that loads it; the count is forgotten when what it counts
changes through the services."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activities import services as activity_services
from crm import badges, notifications
from tests.activities.factories import ActivityFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
BELL_LOADER = 'hx-get="/notifications/count/"'
BADGE_LOADER = 'hx-trigger="load, activitySaved'


def _page(client) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/people/").content.decode()
    return html, [q["sql"] for q in queries.captured_queries]


def test_the_bell_count_is_shown_in_place_once_remembered(
    web, rep1, django_capture_on_commit_callbacks
):
    notifications.notify(user=rep1, kind="assignment", title="A")
    notifications.notify(user=rep1, kind="assignment", title="B")
    client = web(rep1)
    html, _ = _page(client)
    assert BELL_LOADER in html  # nothing remembered: the count loads after the page

    client.get("/notifications/count/", **HTMX)
    assert badges.cached(badges.UNREAD, rep1.pk) == 2
    html, queries = _page(client)
    assert BELL_LOADER not in html
    assert 'data-testid="notification-count" data-count="2"' in html
    assert not any("crm_notification" in sql for sql in queries)  # no count on the page

    # A new notification makes the remembered count stale: the page loads it again.
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(user=rep1, kind="assignment", title="C")
    assert badges.cached(badges.UNREAD, rep1.pk) is None
    html, _ = _page(client)
    assert BELL_LOADER in html
    assert 'data-count="3"' in client.get("/notifications/count/", **HTMX).content.decode()

    # So does reading them.
    with django_capture_on_commit_callbacks(execute=True):
        notifications.mark_all_read(by=rep1)
    assert badges.cached(badges.UNREAD, rep1.pk) is None


def test_a_pushed_notification_remembers_the_count_it_shows(rep1, rep2):
    note = notifications.notify(user=rep1, kind="other", title="Pushed")
    notifications.notify(user=rep2, kind="other", title="Someone else's")
    html = notifications.render_push(rep1.pk, note.pk)
    assert 'data-count="1"' in html
    assert badges.cached(badges.UNREAD, rep1.pk) == 1
    assert badges.cached(badges.UNREAD, rep2.pk) is None


def test_the_overdue_badge_is_shown_in_place_once_remembered(
    web, rep1, rep2, django_capture_on_commit_callbacks
):
    past = timezone.now() - timedelta(hours=1)
    first = ActivityFactory(assigned_to=rep1, due_at=past)
    ActivityFactory(assigned_to=rep1, due_at=past)
    client = web(rep1)
    html, _ = _page(client)
    assert BADGE_LOADER in html

    client.get("/activities/badge/", **HTMX)
    html, queries = _page(client)
    assert "2 overdue" in html and BADGE_LOADER not in html
    assert not any("activities_activity" in sql for sql in queries)

    # Completing one (or any change through the services) forgets the count.
    with django_capture_on_commit_callbacks(execute=True):
        activity_services.activity_complete(by=rep1, activity=first)
    assert badges.cached(badges.OVERDUE, rep1.pk) is None
    html, _ = _page(client)
    assert BADGE_LOADER in html
    assert "1 overdue" in client.get("/activities/badge/", **HTMX).content.decode()

    # Handing one to a colleague forgets both assignees' counts.
    badges.remember(badges.OVERDUE, rep2.pk, 0)
    other = ActivityFactory(assigned_to=rep1, due_at=past)
    client.get("/activities/badge/", **HTMX)
    with django_capture_on_commit_callbacks(execute=True):
        activity_services.activity_update(by=rep1, activity=other, data={"assigned_to": rep2})
    assert badges.cached(badges.OVERDUE, rep1.pk) is None
    assert badges.cached(badges.OVERDUE, rep2.pk) is None


def test_my_activities_remembers_the_count_it_shows(web, rep1):
    ActivityFactory(assigned_to=rep1, due_at=timezone.now() - timedelta(days=1))
    web(rep1).get("/activities/")
    assert badges.cached(badges.OVERDUE, rep1.pk) == 1
