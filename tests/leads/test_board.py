"""The leads board (the shared board of crm/records/boards.py over the lead description)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm import permissions
from leads import services
from tests.leads.factories import LeadFactory
from wfm.defaults import LeadStep


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def card_tag(html: str, pk) -> str:
    """The opening tag of a card (its data attributes)."""
    return re.search(rf'<article[^>]*id="card-{pk}"[^>]*>', html, re.S).group(0)


def sentinel_url(html: str) -> str:
    """The "load more" sentinel's hx-get (one sentinel expected)."""
    (url,) = re.findall(r'data-board-more hx-get="([^"]+)"', html)
    return url.replace("&amp;", "&")


def test_board_has_a_column_per_step_and_only_visible_cards(web, rep1, rep2, steps):
    mine = LeadFactory(owner=rep1, name="Mine")
    LeadFactory(owner=rep2, name="Theirs")
    html = web(rep1).get("/leads/board/").content.decode()
    for step in steps.values():
        assert f'data-step-id="{step.pk}"' in html
    assert f'data-lead-id="{mine.pk}"' in html and "Theirs" not in html
    assert f'id="card-{mine.pk}"' in html


def test_column_header_counts_and_totals_in_the_shared_money_format(web, rep1, steps):
    LeadFactory(owner=rep1, estimated_value=100_000, currency="EUR")
    LeadFactory(owner=rep1, estimated_value=250, currency="EUR")
    html = web(rep1).get("/leads/board/").content.decode()
    head = html[html.index(f'id="board-head-{steps[LeadStep.NEW_LEAD].pk}"') :]
    assert 'data-column-count title="Records in this step">2<' in head
    assert "€100,250" in head.split("</header>")[0]
    assert 'id="pipeline-totals"' in html and "€100,250" in html


def test_cards_show_money_and_a_short_age(web, rep1):
    LeadFactory(owner=rep1, estimated_value=82_600, currency="EUR")
    html = web(rep1).get("/leads/board/").content.decode()
    assert "€82,600" in html and "82,600 EUR" not in html
    assert re.search(r"bi-hourglass-split\" aria-hidden=\"true\"></i> (now|\d+ (min|h|d))<", html)


@pytest.mark.parametrize("cards", [3, 40])
def test_board_query_count_is_constant(web, rep1, rep2, cards, django_assert_max_num_queries):
    for n in range(cards):
        lead = LeadFactory(owner=rep1 if n % 2 else rep2)
        if n % 2 == 0:  # shared with rep1: visible, but not theirs to move
            permissions.share(rep1, lead)
    client = web(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/leads/board/").status_code == 200


def test_cards_join_only_the_assignee_and_read_no_json_document(web, rep1, manager):
    """A card shows its assignee but not the owner or organization (``Board.card_related``),
    and no JSON document (scores' factors, insights, custom values)."""
    LeadFactory(owner=rep1, assigned_to=manager)
    client = web(rep1)
    with CaptureQueriesContext(connection) as captured:
        html = client.get("/leads/board/").content.decode()
    cards = next(q["sql"] for q in captured if "board_step_id" in q["sql"])
    assert '"leads_lead"."assigned_to_id" = ' in cards
    assert '"leads_lead"."owner_id" = ' not in cards and "crm_organization" not in cards
    assert '"leads_lead"."lead_score_factors"' not in cards
    assert manager.display_name in html


def test_drag_move_returns_card_both_headers_and_totals(web, rep1, steps):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/", {"to_step": steps[LeadStep.CONTACTED].pk}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-lead-id="{lead.pk}"' in html
    assert f'id="board-head-{steps[LeadStep.NEW_LEAD].pk}" hx-swap-oob="true"' in html
    assert f'id="board-head-{steps[LeadStep.CONTACTED].pk}" hx-swap-oob="true"' in html
    assert f'id="board-head-{steps[LeadStep.QUALIFIED].pk}"' not in html
    assert 'id="pipeline-totals"' in html and 'hx-swap-oob="true"' in html
    heads = {h.step.name: h.count for h in response.context["heads"]}
    assert heads == {LeadStep.NEW_LEAD: 0, LeadStep.CONTACTED: 1}


def test_move_keeps_the_board_filters_in_the_headers(web, rep1, steps):
    lead = LeadFactory(owner=rep1, source="web")
    LeadFactory(owner=rep1, source="referral")
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/?source=web", {"to_step": steps[LeadStep.CONTACTED].pk}
    )
    heads = {h.step.name: h.count for h in response.context["heads"]}
    assert heads == {LeadStep.NEW_LEAD: 0, LeadStep.CONTACTED: 1}
    assert f"/leads/{lead.pk}/board-move/?source=web" in response.content.decode()


def test_refused_drag_is_409_with_the_reason(web, rep1, steps):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/", {"to_step": steps[LeadStep.QUALIFIED].pk}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_not_allowed" and LeadStep.CONTACTED in error["message"]


def test_drag_without_a_step_is_400(web, rep1):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(f"/leads/{lead.pk}/board-move/", {"to_step": "x"})
    assert response.status_code == 400 and response.json()["error"]["message"] == "Choose a step."


def test_drag_of_an_invisible_lead_is_404(web, rep1, rep2, steps):
    lead = LeadFactory(owner=rep2)
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/", {"to_step": steps[LeadStep.CONTACTED].pk}
    )
    assert response.status_code == 404


def test_analyst_and_viewer_get_no_drag_and_no_new_button(web, analyst, viewer, rep1):
    lead = LeadFactory(owner=rep1)
    permissions.share(viewer, lead)
    for user in (analyst, viewer):
        html = web(user).get("/leads/board/").content.decode()
        assert f'data-lead-id="{lead.pk}"' in html
        assert "data-move-url" not in html and 'data-testid="new-lead"' not in html
    rep_html = web(rep1).get("/leads/board/").content.decode()
    assert "data-move-url" in rep_html and 'data-testid="new-lead"' in rep_html


def test_shared_lead_is_shown_but_not_draggable(web, rep1, rep2):
    theirs = LeadFactory(owner=rep2)
    mine = LeadFactory(owner=rep1)
    permissions.share(rep1, theirs)
    html = web(rep1).get("/leads/board/").content.decode()
    assert "data-move-url" not in card_tag(html, theirs.pk)
    assert "data-move-url" in card_tag(html, mine.pk)


def test_load_more_continues_after_the_last_card_even_when_cards_moved(web, rep1, steps):
    for n in range(25):
        LeadFactory(owner=rep1, name=f"Lead {n:02}")
    client = web(rep1)
    first = client.get("/leads/board/").content.decode()
    assert first.count("data-lead-id") == 20 and "data-board-more" in first
    url = sentinel_url(first)
    assert f"column={steps[LeadStep.NEW_LEAD].pk}" in url and "after=" in url
    assert 'hx-trigger="intersect once"' in first and 'hx-swap="outerHTML"' in first
    shown = re.findall(r'data-lead-id="([^"]+)"', first)
    # Meanwhile two of the cards shown move away: the next page neither skips nor repeats.
    from leads.models import Lead

    for lead in Lead.objects.filter(pk__in=shown[:2]):
        services.lead_transition(by=rep1, lead=lead, to_step=steps[LeadStep.CONTACTED])
    more = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    rest = re.findall(r'data-lead-id="([^"]+)"', more)
    assert len(rest) == 5 and not set(rest) & set(shown)
    assert "data-board-more" not in more


def test_board_ignores_the_step_filter_its_columns_are_the_steps(web, rep1, steps):
    lead = LeadFactory(owner=rep1)
    html = web(rep1).get(f"/leads/board/?step={steps[LeadStep.CONTACTED].pk}").content.decode()
    assert f'data-lead-id="{lead.pk}"' in html and 'id="f-step"' not in html


def test_board_filters_are_the_table_filters_and_the_toggle_keeps_them(web, rep1):
    web_lead = LeadFactory(owner=rep1, source="web", name="From the web")
    LeadFactory(owner=rep1, source="referral", name="Referred")
    html = web(rep1).get("/leads/board/?source=web&page=3&ordering=name").content.decode()
    assert f'data-lead-id="{web_lead.pk}"' in html and "Referred" not in html
    assert 'id="filters"' in html and 'hx-target="#board"' in html
    assert 'href="/leads/?source=web"' in html  # Table | Board, without the board's params
    assert 'ws-connect="/ws/boards/' in html and '/?source=web"' in html


def test_an_empty_filter_input_is_no_filter(web, rep1):
    LeadFactory(owner=rep1)
    html = web(rep1).get("/leads/board/?source=&assigned_to=&search=").content.decode()
    assert "could not be applied" not in html and html.count("data-lead-id") == 1


def test_board_refresh_keeps_its_socket_and_a_filter_change_moves_it(web, rep1):
    LeadFactory(owner=rep1, source="web")
    client = web(rep1)
    same = client.get(
        "/leads/board/?source=web",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/leads/board/?source=web",
    ).content.decode()
    assert "<nav" not in same and "board-socket" not in same
    moved = client.get(
        "/leads/board/?source=web",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/leads/board/",
    ).content.decode()
    assert 'id="board-socket"' in moved and 'hx-swap-oob="true"' in moved
    assert re.search(r'id="board-socket"[^>]*ws-connect="/ws/boards/\d+/\?source=web"', moved)
    grouped = client.get(
        "/leads/board/?group=source",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/leads/board/",
    ).content.decode()
    assert 'id="board-socket"' in grouped and "ws-connect" not in grouped


@pytest.mark.parametrize("grouping", ["source", "assignee", "priority"])
def test_read_only_grouped_boards(web, rep1, grouping, django_assert_max_num_queries):
    LeadFactory(owner=rep1, source="referral", priority="high", assigned_to=rep1)
    LeadFactory(owner=rep1, source="web", priority="low")
    client = web(rep1)
    with django_assert_max_num_queries(10):
        html = client.get(f"/leads/board/?group={grouping}").content.decode()
    assert 'data-testid="grouped-board"' in html
    assert html.count("data-lead-id") == 2 and "data-move-url" not in html


def _card(html: str, pk) -> str:
    return re.search(rf'<article[^>]*id="card-{pk}".*?</article>', html, re.S).group(0)


def test_cards_escape_what_leads_hold_and_name_their_assignee(web, rep1):
    lead = LeadFactory(
        owner=rep1, assigned_to=rep1, name="<b>Big</b> & co", company_name='"Acme" <x>'
    )
    unassigned = LeadFactory(owner=rep1, assigned_to=None, company_name="")
    html = web(rep1).get("/leads/board/").content.decode()
    card = _card(html, lead.pk)
    assert f'<a class="board-card-title me-auto" href="/leads/{lead.pk}/">' in card
    assert "&lt;b&gt;Big&lt;/b&gt; &amp; co</a>" in card and "<b>" not in card
    assert "bi-building" in card and "&quot;Acme&quot; &lt;x&gt;" in card
    assert f'data-score="{lead.lead_score}"' in card
    assert f'<i class="bi bi-person" aria-hidden="true"></i> {rep1.display_name}</div>' in card
    other = _card(html, unassigned.pk)
    assert "Unassigned" in other and "bi-building" not in other


def test_realtime_renders_the_very_card_the_board_writes(web, rep1, manager):
    """``leads/_card.html`` (what realtime and a move's answer render) and the board's own
    loop give the same card, for a user who may move it and one who may not."""
    from django.template.loader import render_to_string

    from leads import selectors
    from wfm.boards import stamp_cards

    lead = LeadFactory(owner=rep1, company_name="Acme")
    for user, movable in ((rep1, {lead.pk}), (manager, {lead.pk})):
        html = web(user).get("/leads/board/?source=" + lead.source).content.decode()
        (card,) = stamp_cards([selectors.lead_get(user=user, lead_id=lead.pk)])
        alone = render_to_string(
            "leads/_card.html",
            {"card": card, "movable": movable, "board_query": f"source={lead.source}"},
        )
        assert _card(alone, lead.pk) == _card(html, lead.pk)
        assert f"/leads/{lead.pk}/board-move/?source={lead.source}" in alone
    still = render_to_string("leads/_card.html", {"card": card, "movable": set()})
    assert "data-move-url" not in still and "data-reason-url" not in still
