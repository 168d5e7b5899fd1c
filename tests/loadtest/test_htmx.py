"""What the load generator reads in the app's HTML (``loadtest/htmx.py``): on made-up
fragments, and on the app's own pages, so that a template change that would leave the load
test fetching nothing (or the wrong regions) fails here."""

from __future__ import annotations

import pytest

from crm.roles import Role
from loadtest import htmx
from tests.factories import UserFactory
from tests.leads.factories import LeadFactory

LEAD = "0b8e4c1e-9d5a-4f58-9a47-1d2f3c4b5a69"
OTHER = "7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def test_load_triggered_regions_and_their_targets():
    html = f"""
    <div id="timeline" hx-get="/activities/timeline/lead/{LEAD}/"
         hx-trigger="load, activitySaved from:body"></div>
    <div id="lead-intelligence-region" hx-get="/ai/x/" hx-trigger="load"></div>
    <div id="ai-insights" hx-get="/ai/insights/" hx-trigger="load delay:1s"></div>
    <div class="board-more" hx-get="/leads/board/column/?column=1"
         hx-trigger="intersect once"></div>
    <div id="board-refresh" hx-get="/leads/board/" hx-trigger="recordSaved from:body"></div>
    <div id="lead-refresh" hx-swap-oob="true" hidden hx-get="/leads/{LEAD}/" hx-trigger="load"
         hx-target="#lead-main"></div>
    <a href="/x/" hx-get="/notifications/menu/" hx-target="#notification-menu">bell</a>
    """
    assert htmx.load_fetches(html) == [
        htmx.Fetch(f"/activities/timeline/lead/{LEAD}/", "timeline"),
        htmx.Fetch("/ai/x/", "lead-intelligence-region"),
        htmx.Fetch("/ai/insights/", "ai-insights"),
        htmx.Fetch(f"/leads/{LEAD}/", "lead-main"),
    ]


def test_attributes_are_unescaped_and_either_quote_works():
    html = """<div hx-get="/leads/?a=1&amp;b=2" hx-trigger='load' id='x'></div>"""
    assert htmx.load_fetches(html) == [htmx.Fetch("/leads/?a=1&b=2", "x")]


def test_board_cards_know_their_column_and_whether_they_move():
    html = f"""
    <section class="board-column" data-step-id="1" data-step-name="New">
      <article class="board-card card" id="card-{LEAD}" data-card-id="{LEAD}"
         data-move-url="/leads/{LEAD}/board-move/" data-reason-url="/x/">
    </section>
    <section class="board-column" data-step-id="2" data-step-name="Contacted">
      <article class="board-card card" id="card-{OTHER}" data-card-id="{OTHER}">
    </section>"""
    assert htmx.board_cards(html) == [
        htmx.Card(LEAD, 1, True),
        htmx.Card(OTHER, 2, False),
    ]


def test_links_rows_sockets_and_the_csrf_token():
    html = f"""<body hx-headers='{{"X-CSRFToken": "tok123"}}' ws-connect="/ws/notifications/">
    <a href="/leads/{LEAD}/">A</a><a href="/leads/{LEAD}/">again</a><a href="/leads/{OTHER}/">B</a>
    <input type="checkbox" name="ids" value="{LEAD}">
    <input value="{OTHER}" type="checkbox" name="ids">
    <div id="board-socket" hidden ws-connect="/ws/boards/1/?q=a&amp;step=2"></div>"""
    assert htmx.lead_links(html) == [LEAD, OTHER]
    assert htmx.row_ids(html) == [LEAD, OTHER]
    assert htmx.socket_urls(html) == ["/ws/notifications/", "/ws/boards/1/?q=a&step=2"]
    assert htmx.csrf_token(html) == "tok123"
    assert htmx.csrf_token('<input name="csrfmiddlewaretoken" value="abc">') == "abc"


def test_a_form_submits_what_it_shows():
    html = """<form hx-post="/activities/timeline/lead/x/log/" method="post">
      <input type="hidden" name="csrfmiddlewaretoken" value="t">
      <select name="type"><option value="call">Call</option>
        <option value="note" selected>Note</option></select>
      <input type="text" name="subject" value="">
      <textarea name="notes"></textarea>
      <input type="checkbox" name="done"><input type="checkbox" name="flag" value="1" checked>
      <button type="submit" name="go" value="1">Log</button>
    </form>"""
    (form,) = htmx.forms(html)
    assert form.action == "/activities/timeline/lead/x/log/"
    assert form.fields == {
        "csrfmiddlewaretoken": "t",
        "type": "note",
        "subject": "",
        "notes": "",
        "flag": "1",
    }


def test_realtime_markers_count_each_write_once():
    seen: set[int] = set()
    card = "<article><span>RT 1700000000000</span></article>"
    assert htmx.marker(1700000000000) == "RT 1700000000000"
    assert htmx.new_delays(card, 1700000000250.0, seen) == [250.0]
    # The same card again (another field changed): not a new delivery.
    assert htmx.new_delays(card, 1700000000900.0, seen) == []
    # A clock a little behind the writer's is no negative delay.
    assert htmx.new_delays("RT 1700000001000", 1700000000990.0, seen) == [0.0]
    assert htmx.markers("RT 12 and ART 1700000000000 and RT 17000000000000") == []


# --- the app's own pages -------------------------------------------------------------------------
@pytest.fixture
def rep_with_lead(db):
    rep = UserFactory(username="loadrep", role=Role.SALES_REP)
    lead = LeadFactory(owner=rep, assigned_to=rep, name="Load Test Lead", company_name="RT 0")
    return rep, lead


def test_the_lead_page_is_read_as_a_browser_would(web, rep_with_lead):
    rep, lead = rep_with_lead
    html = web(rep).get(f"/leads/{lead.pk}/").content.decode()
    fetches = htmx.load_fetches(html)
    assert htmx.Fetch(f"/activities/timeline/lead/{lead.pk}/", "timeline") in fetches
    assert htmx.Fetch(f"/leads/{lead.pk}/", "lead-main") not in fetches  # only on a change
    assert htmx.socket_urls(html)[:1] == ["/ws/notifications/"]
    assert f"/ws/leads/{lead.pk}/" in htmx.socket_urls(html)
    assert htmx.csrf_token(html)
    timeline = (
        web(rep)
        .get(f"/activities/timeline/lead/{lead.pk}/", HTTP_HX_REQUEST="true")
        .content.decode()
    )
    log = [f for f in htmx.forms(timeline) if f.action.endswith("/log/")]
    assert log and {"type", "subject"} <= set(log[0].fields)


def test_the_board_and_table_are_read_as_a_browser_would(web, rep_with_lead):
    rep, lead = rep_with_lead
    board = web(rep).get("/leads/board/").content.decode()
    cards = htmx.board_cards(board)
    assert htmx.Card(str(lead.pk), lead.wfm_project.current_step_id, True) in cards
    assert any(url.startswith("/ws/boards/") for url in htmx.socket_urls(board))
    table = web(rep).get("/leads/").content.decode()
    assert str(lead.pk) in htmx.lead_links(table)
    rows = web(rep).get("/leads/?ordering=name", HTTP_HX_REQUEST="true").content.decode()
    assert str(lead.pk) in htmx.lead_links(rows)


def test_the_managers_rows_carry_the_bulk_checkboxes(web, rep_with_lead):
    _, lead = rep_with_lead
    manager = UserFactory(username="loadmanager", role=Role.MANAGER)
    rows = web(manager).get("/leads/?page_size=20", HTTP_HX_REQUEST="true").content.decode()
    assert str(lead.pk) in htmx.row_ids(rows)


def test_the_live_marker_shows_on_the_card_and_the_detail_region(web, rep_with_lead):
    rep, lead = rep_with_lead
    lead.company_name = htmx.marker(1700000000123)
    lead.save(update_fields=["company_name"])
    board = web(rep).get("/leads/board/").content.decode()
    region = web(rep).get(f"/leads/{lead.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 1700000000123 in htmx.markers(board)
    assert 1700000000123 in htmx.markers(region)
