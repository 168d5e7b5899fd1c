import pytest

from tests.leads.factories import LeadFactory
from wfm.defaults import LeadStep


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_board_has_a_column_per_step_and_only_visible_cards(web, rep1, rep2, steps):
    mine = LeadFactory(owner=rep1, name="Mine")
    LeadFactory(owner=rep2, name="Theirs")
    html = web(rep1).get("/leads/board/").content.decode()
    for step in steps.values():
        assert f'data-step-id="{step.pk}"' in html
    assert f'data-lead-id="{mine.pk}"' in html and "Theirs" not in html


def test_column_header_counts_and_totals(web, rep1, steps):
    LeadFactory(owner=rep1, estimated_value=100)
    LeadFactory(owner=rep1, estimated_value=250)
    html = web(rep1).get("/leads/board/").content.decode()
    assert 'data-column-count title="Records in this step">2<' in html
    assert "350" in html


@pytest.mark.parametrize("cards", [3, 40])
def test_board_query_count_is_constant(web, rep1, cards, django_assert_max_num_queries):
    for _ in range(cards):
        LeadFactory(owner=rep1)
    client = web(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/leads/board/").status_code == 200


def test_drag_move_returns_card_and_both_headers(web, rep1, steps):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/", {"to_step": steps[LeadStep.CONTACTED].pk}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-lead-id="{lead.pk}"' in html
    assert f'id="board-head-{steps[LeadStep.NEW_LEAD].pk}"' in html
    assert f'id="board-head-{steps[LeadStep.CONTACTED].pk}"' in html


def test_refused_drag_is_409_with_the_reason(web, rep1, steps):
    lead = LeadFactory(owner=rep1)
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/", {"to_step": steps[LeadStep.QUALIFIED].pk}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_not_allowed" and LeadStep.CONTACTED in error["message"]


def test_drag_of_an_invisible_lead_is_404(web, rep1, rep2, steps):
    lead = LeadFactory(owner=rep2)
    response = web(rep1).post(
        f"/leads/{lead.pk}/board-move/", {"to_step": steps[LeadStep.CONTACTED].pk}
    )
    assert response.status_code == 404


def test_cards_the_user_cannot_change_are_not_draggable(web, analyst, rep1):
    lead = LeadFactory(owner=rep1)
    html = web(analyst).get("/leads/board/").content.decode()
    assert f'data-lead-id="{lead.pk}"' in html and "data-move-url" not in html


def test_load_more_returns_the_next_cards(web, rep1, steps):
    for _ in range(25):
        LeadFactory(owner=rep1)
    client = web(rep1)
    first = client.get("/leads/board/").content.decode()
    assert first.count("data-lead-id") == 20 and "data-more-url" in first
    more = client.get(f"/leads/board/column/?step={steps[LeadStep.NEW_LEAD].pk}&offset=20")
    assert more.content.decode().count("data-lead-id") == 5


@pytest.mark.parametrize("grouping", ["source", "assignee", "priority"])
def test_read_only_grouped_boards(web, rep1, grouping, django_assert_max_num_queries):
    LeadFactory(owner=rep1, source="referral", priority="high", assigned_to=rep1)
    LeadFactory(owner=rep1, source="web", priority="low")
    client = web(rep1)
    with django_assert_max_num_queries(10):
        html = client.get(f"/leads/board/?group={grouping}").content.decode()
    assert 'data-testid="grouped-board"' in html
    assert html.count("data-lead-id") == 2 and "data-move-url" not in html
