"""Notifications (SPEC §6): the service, the bell's views, assignment notifications and the
live push over ``/ws/notifications/``."""

from __future__ import annotations

import pytest

from crm import notifications
from crm.models import Notification
from deals import services as deal_services
from leads import services
from tests.deals.factories import make_deal
from tests.leads.factories import LeadFactory
from tests.realtime.conftest import db, nothing, receive_until, run


# --- service -----------------------------------------------------------------------------------
def test_notify_creates_an_unread_row(rep1):
    n = notifications.notify(
        user=rep1, kind="overdue", title="Call Acme", body="Due 09:00", url="/x/"
    )
    assert n.user == rep1 and n.read_at is None and n.kind == "overdue"
    assert notifications.unread_count(user=rep1) == 1


def test_notify_skips_missing_or_inactive_users_and_refuses_unknown_kinds(rep1):
    assert notifications.notify(user=None, kind="other", title="x") is None
    rep1.is_active = False
    rep1.save(update_fields=["is_active"])
    assert notifications.notify(user=rep1, kind="other", title="x") is None
    rep1.is_active = True
    with pytest.raises(ValueError):
        notifications.notify(user=rep1, kind="gossip", title="x")


def test_long_titles_are_clipped(rep1):
    n = notifications.notify(user=rep1, kind="other", title="x" * 500)
    assert len(n.title) == 200 and n.title.endswith("…")


def test_mark_read_and_mark_all_read_touch_only_own_rows(rep1, rep2):
    mine = [notifications.notify(user=rep1, kind="other", title=f"n{i}") for i in range(3)]
    theirs = notifications.notify(user=rep2, kind="other", title="theirs")
    notifications.mark_read(by=rep1, notification_id=mine[0].pk)
    assert notifications.unread_count(user=rep1) == 2
    with pytest.raises(notifications.NotFound):
        notifications.mark_read(by=rep1, notification_id=theirs.pk)
    assert notifications.mark_all_read(by=rep1) == 2
    assert notifications.unread_count(user=rep1) == 0
    assert notifications.unread_count(user=rep2) == 1


# --- views -------------------------------------------------------------------------------------
def test_bell_shows_the_unread_count(client, rep1):
    notifications.notify(user=rep1, kind="assignment", title="A")
    notifications.notify(user=rep1, kind="assignment", title="B")
    client.force_login(rep1)
    html = client.get("/").content.decode()
    assert 'id="notification-bell"' in html
    # The count loads after the page (the shell adds no query to page budgets).
    assert 'hx-get="/notifications/count/"' in html
    count = client.get("/notifications/count/").content.decode()
    assert 'data-testid="notification-count" data-count="2"' in count


def test_menu_lists_own_notifications_newest_first(client, rep1, rep2):
    notifications.notify(user=rep1, kind="assignment", title="Older")
    notifications.notify(user=rep1, kind="overdue", title="Newer")
    notifications.notify(user=rep2, kind="assignment", title="Not yours")
    client.force_login(rep1)
    html = client.get("/notifications/menu/", HTTP_HX_REQUEST="true").content.decode()
    assert html.index("Newer") < html.index("Older") and "Not yours" not in html
    assert "Mark all read" in html and 'id="notification-count"' in html


def test_menu_query_count_is_constant(client, rep1, django_assert_max_num_queries):
    for i in range(15):
        notifications.notify(user=rep1, kind="other", title=f"n{i}")
    client.force_login(rep1)
    with django_assert_max_num_queries(6):
        client.get("/notifications/menu/", HTTP_HX_REQUEST="true")


def test_mark_read_views(client, rep1, rep2):
    n = notifications.notify(user=rep1, kind="other", title="One")
    notifications.notify(user=rep1, kind="other", title="Two")
    theirs = notifications.notify(user=rep2, kind="other", title="Theirs")
    client.force_login(rep1)
    response = client.post(f"/notifications/{n.pk}/read/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-count="1"' in response.content.decode()
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    response = client.post("/notifications/read-all/", HTTP_HX_REQUEST="true")
    assert 'data-count="0"' in response.content.decode()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert client.post("/notifications/read-all/").status_code == 302


def test_opening_a_notification_marks_it_read_and_follows_only_local_links(client, rep1):
    local = notifications.notify(user=rep1, kind="other", title="Local", url="/leads/")
    remote = notifications.notify(user=rep1, kind="other", title="Remote", url="https://evil.test/")
    client.force_login(rep1)
    assert client.get(f"/notifications/{local.pk}/open/")["Location"] == "/leads/"
    assert client.get(f"/notifications/{remote.pk}/open/")["Location"] == "/notifications/"
    assert notifications.unread_count(user=rep1) == 0


def test_notification_views_need_a_login(client):
    assert client.get("/notifications/").status_code == 302
    assert client.post("/notifications/read-all/").status_code == 302


def test_notification_page_lists_everything(client, rep1):
    for i in range(3):
        notifications.notify(user=rep1, kind="other", title=f"Item {i}")
    client.force_login(rep1)
    html = client.get("/notifications/").content.decode()
    assert all(f"Item {i}" in html for i in range(3))


# --- assignments (outbox handlers) -------------------------------------------------------------
def test_lead_assignment_notifies_the_new_assignee(rt, rep1, manager):
    lead = LeadFactory(owner=manager, name="Assign Me", company_name="Acme")
    services.lead_assign(by=manager, lead=lead, assignee=rep1)
    n = Notification.objects.get(user=rep1)
    assert n.kind == "assignment" and n.url == f"/leads/{lead.pk}/"
    assert n.title == "Lead assigned to you: Assign Me"
    assert n.body == f"{manager.display_name} assigned “Assign Me” (Acme) to you."


def test_assigning_to_oneself_notifies_nobody(rt, manager):
    lead = LeadFactory(owner=manager)
    services.lead_assign(by=manager, lead=lead, assignee=manager)
    assert not Notification.objects.exists()


def test_deal_assignment_notifies_the_new_assignee(rt, rep1, manager):
    deal = make_deal(manager, name="Big Deal")
    deal_services.deal_assign(by=manager, deal=deal, assignee=rep1)
    n = Notification.objects.get(user=rep1)
    assert n.title == "Deal assigned to you: Big Deal" and n.url == f"/deals/{deal.pk}/"
    assert n.body == f"{manager.display_name} assigned “Big Deal” to you."


def test_a_rule_assignment_says_so_and_a_hidden_record_notifies_nobody(rt, rep1, rep2, manager):
    from crm import permissions
    from crm.events import emit

    lead = LeadFactory(owner=rep2, name="Routed", company_name="")
    emit("lead.assigned", actor=None, lead_id=lead.pk, assignee_id=rep1.pk, previous_id=None)
    assert not Notification.objects.filter(user=rep1).exists()  # rep1 may not see it
    permissions.grant(rep1, lead, ("view",))
    emit("lead.assigned", actor=None, lead_id=lead.pk, assignee_id=rep1.pk, previous_id=None)
    n = Notification.objects.get(user=rep1)
    assert n.body == "An assignment rule assigned “Routed” to you."


# --- live push ---------------------------------------------------------------------------------
def test_socket_refuses_anonymous_and_foreign_origins(rt, rep1):
    async def scenario():
        _, accepted, code = await rt.open("/ws/notifications/", None)
        assert not accepted and code == 4401
        _, accepted, _ = await rt.open("/ws/notifications/", rep1, origin="https://x.example")
        assert not accepted

    run(scenario, rt)


def test_assignment_is_pushed_to_the_assignee_bell_only(rt, rep1, rep2, manager):
    lead = LeadFactory(owner=manager, name="Pushed Lead")

    async def scenario():
        bell = await rt.connect("/ws/notifications/", rep1)
        other = await rt.connect("/ws/notifications/", rep2)
        await db(services.lead_assign)(by=manager, lead=lead, assignee=rep1)
        html = await receive_until(bell, lambda h: "notification-count" in h)
        assert 'data-count="1"' in html and 'hx-swap-oob="true"' in html
        assert "beforeend:#toasts" in html and "Pushed Lead" in html
        assert "afterbegin:#notification-list" in html
        assert await nothing(other)

    run(scenario, rt)


def test_nothing_is_pushed_when_the_transaction_rolls_back(rt, rep1):
    from django.db import transaction

    async def scenario():
        bell = await rt.connect("/ws/notifications/", rep1)

        def rolled_back():
            with transaction.atomic():
                notifications.notify(user=rep1, kind="other", title="Never")
                transaction.set_rollback(True)

        await db(rolled_back)()
        assert await nothing(bell)

    run(scenario, rt)
