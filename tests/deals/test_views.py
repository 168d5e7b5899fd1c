"""HTML screens of deals: table, board, detail, modals, bulk actions."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from crm import permissions
from deals import selectors
from deals.models import Deal, LostReason
from tests.customfields.factories import CustomFieldFactory
from tests.deals.factories import make_deal
from wfm.defaults import DealStep


def html(response) -> str:
    return response.content.decode()


# --- table ------------------------------------------------------------------------------------
def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/deals/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_nav_links_to_deals(web, rep1):
    assert 'href="/deals/"' in html(web(rep1).get("/"))


def test_rep_table_shows_own_and_assigned_deals_only(web, rep1, rep2):
    make_deal(rep1, name="Mine")
    make_deal(rep2, name="Assigned to me", assigned_to=rep1)
    make_deal(rep2, name="Theirs")
    page = html(web(rep1).get("/deals/"))
    assert "Mine" in page and "Assigned to me" in page and "Theirs" not in page


def test_table_shows_step_probability_and_weighted_amount(web, rep1):
    make_deal(rep1, name="Big one", amount="20000", step=DealStep.PROPOSAL)
    page = html(web(rep1).get("/deals/"))
    assert "Proposal" in page and "50%" in page and "€10,000" in page


def test_empty_state_invites_to_add(web, rep1):
    page = html(web(rep1).get("/deals/"))
    assert "No deals yet." in page and "Add the first deal" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("search=robot", {"Robots"}),
        ("amount_min=1000&amount_max=5000", {"Robots"}),
        ("expected_close_after=2030-01-01", {"Cheap"}),
        ("outcome=won", {"Done"}),
        ("assigned_to=none", {"Robots", "Cheap", "Done"}),
    ],
)
def test_table_filters(web, rep1, query, expected):
    from datetime import date

    make_deal(rep1, name="Robots", amount=2000)
    make_deal(rep1, name="Cheap", amount=10, expected_close_date=date(2030, 5, 1))
    make_deal(rep1, name="Done", amount=9000, step=DealStep.CLOSED_WON)
    response = web(rep1).get(f"/deals/?{query}", HTTP_HX_REQUEST="true")
    names = {d.name for d in response.context["page"].object_list}
    assert names == expected
    assert "<nav" not in html(response)  # the rows partial only


def test_table_filters_by_step_and_owner(web, manager, rep1, rep2, steps):
    make_deal(rep1, name="A", step=DealStep.DISCOVERY)
    make_deal(rep2, name="B", step=DealStep.DISCOVERY)
    make_deal(rep2, name="C")
    client = web(manager)
    step = steps[DealStep.DISCOVERY].pk
    names = {d.name for d in client.get(f"/deals/?step={step}").context["page"].object_list}
    assert names == {"A", "B"}
    names = {
        d.name
        for d in client.get(f"/deals/?step={step}&owner={rep2.pk}").context["page"].object_list
    }
    assert names == {"B"}


def test_table_sorts_by_weighted_amount(web, rep1):
    make_deal(rep1, name="Small weighted", amount=1000)  # 10 % → 100
    make_deal(rep1, name="Large weighted", amount=500, step=DealStep.NEGOTIATION)  # → 375
    page = html(web(rep1).get("/deals/?ordering=-weighted_amount"))
    assert page.index("Large weighted") < page.index("Small weighted")


def test_table_custom_field_column_and_filter(web, rep1):
    CustomFieldFactory(
        entity_type="deal",
        name="region",
        label="Region",
        type="dropdown",
        options=["EMEA", "APAC"],
        show_in_table=True,
    )
    make_deal(rep1, name="Europe", custom_field_values={"region": "EMEA"})
    make_deal(rep1, name="Asia", custom_field_values={"region": "APAC"})
    client = web(rep1)
    page = html(client.get("/deals/"))
    assert ">Region<" in page or "Region</a>" in page
    names = {d.name for d in client.get("/deals/?cf_region=APAC").context["page"].object_list}
    assert names == {"Asia"}
    bad = client.get("/deals/?cf_region=Mars")
    assert bad.status_code == 200 and "not valid" in html(bad)


def test_table_cells_and_filter_inputs_read_like_other_records(web, rep1):
    CustomFieldFactory(
        entity_type="deal", name="seats", label="Seats", type="number", show_in_table=True
    )
    CustomFieldFactory(
        entity_type="deal", name="signed", label="Signed", type="boolean", show_in_table=True
    )
    CustomFieldFactory(entity_type="deal", name="note", label="Note", type="text")
    make_deal(rep1, name="Zero", custom_field_values={"seats": 0, "signed": False})
    make_deal(rep1, name="Many", custom_field_values={"seats": 12000, "signed": True})
    page = html(web(rep1).get("/deals/?cf_seats_min=0&cf_note=x"))
    # customfields/_filter_fields.html: a range for numbers, a Yes/No select, a text input
    assert 'name="cf_seats_min" value="0"' in page and 'name="cf_seats_max" value=""' in page
    assert 'name="cf_signed"' in page and 'name="cf_note" value="x"' in page
    assert 'id="more-filters"' in page and 'class="collapse show"' in page  # open: in use
    page = html(web(rep1).get("/deals/"))
    assert '<td class="num">0</td>' in page and "<td>No</td>" in page  # a zero or "no" is a value
    assert '<td class="num">12,000</td>' in page and "<td>Yes</td>" in page


def test_invalid_filter_is_shown_not_failed(web, rep1):
    response = web(rep1).get("/deals/?amount_min=lots")
    assert response.status_code == 200 and "Some filters are not valid" in html(response)


@pytest.mark.parametrize("rows", [3, 40])
def test_table_query_count_is_constant(web, rep1, org, person, rows, django_assert_max_num_queries):
    CustomFieldFactory(entity_type="deal", name="region", type="text", show_in_table=True)
    for n in range(rows):
        make_deal(
            rep1,
            organization=org,
            person=person,
            assigned_to=rep1,
            step=[DealStep.QUALIFICATION, DealStep.DISCOVERY][n % 2],
        )
    client = web(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/deals/").status_code == 200
    with django_assert_max_num_queries(10):  # a custom-field filter reads no more
        assert client.get("/deals/?cf_region=north&ordering=-cf_region").status_code == 200


# --- bulk -------------------------------------------------------------------------------------
def test_bulk_assign_reports_done_and_refused(web, rep1, rep2, manager):
    mine = [make_deal(rep1), make_deal(rep1)]
    not_mine = make_deal(manager, assigned_to=rep1)  # rep1 may change it, not give it away
    response = web(rep1).post(
        "/deals/bulk/",
        {"ids": [d.pk for d in [*mine, not_mine]], "action": "assign", "assignee": rep2.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    toast = json.loads(response["HX-Trigger"])["showToast"]
    assert toast["level"] == "warning"
    assert toast["message"].startswith("2 assigned, 1 refused: Only the owner or a manager")
    assert {d.assigned_to for d in Deal.objects.filter(pk__in=[d.pk for d in mine])} == {rep2}
    assert Deal.objects.get(pk=not_mine.pk).assigned_to == rep1


def test_bulk_move_moves_what_it_can(web, rep1, rep2, steps):
    ok = make_deal(rep1)
    closed = make_deal(rep1, step=DealStep.CLOSED_WON)
    theirs = make_deal(rep2)
    response = web(rep1).post(
        "/deals/bulk/",
        {
            "ids": [ok.pk, closed.pk, theirs.pk],
            "action": "move",
            "to_step": steps[DealStep.INITIAL_CONTACT].pk,
        },
        HTTP_HX_REQUEST="true",
    )
    toast = json.loads(response["HX-Trigger"])["showToast"]
    assert toast["message"].startswith("1 moved, 2 refused")
    ok.wfm_project.refresh_from_db()
    assert ok.wfm_project.current_step.name == DealStep.INITIAL_CONTACT
    theirs.wfm_project.refresh_from_db()
    assert theirs.wfm_project.current_step.name == DealStep.QUALIFICATION


def test_bulk_without_selection_is_400(web, rep1):
    response = web(rep1).post(
        "/deals/bulk/", {"action": "assign", "assignee": rep1.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Select at least one deal."


# --- board ------------------------------------------------------------------------------------
def test_board_columns_carry_step_ids_and_cards_deal_ids(web, rep1, steps):
    deal = make_deal(rep1, name="On the board", step=DealStep.DISCOVERY)
    page = html(web(rep1).get("/deals/board/"))
    for step in steps.values():
        assert f'data-step-id="{step.pk}"' in page
    assert f'data-deal-id="{deal.pk}"' in page
    assert f'data-move-url="/deals/{deal.pk}/move/"' in page
    assert reverse("deals:board_move", args=[deal.pk]) == f"/deals/{deal.pk}/move/"
    assert f'data-reason-url="/deals/{deal.pk}/lost/"' in page
    lost = steps[DealStep.CLOSED_LOST]
    assert f'data-step-id="{lost.pk}" data-step-name="Closed Lost" data-needs-reason' in page
    assert "js/board.js" in page and "Sortable.min.js" in page


def test_board_cards_of_a_shared_deal_are_not_movable(web, rep1, viewer):
    deal = make_deal(rep1)
    permissions.share(viewer, deal)
    page = html(web(viewer).get("/deals/board/"))
    assert f'data-deal-id="{deal.pk}"' in page and "data-move-url" not in page


def test_board_shows_column_totals(web, rep1):
    make_deal(rep1, amount=1000, step=DealStep.PROPOSAL)
    make_deal(rep1, amount=3000, step=DealStep.PROPOSAL)
    response = web(rep1).get("/deals/board/")
    proposal = next(c for c in response.context["columns"] if c.step.name == DealStep.PROPOSAL)
    assert (proposal.count, proposal.total, proposal.weighted_total) == (
        2,
        Decimal("4000"),
        Decimal("2000.00"),
    )
    assert "€4,000" in html(response) and "Weighted €2,000" in html(response)
    assert "4,000.00" not in html(response)


def test_board_workflow_picker_shows_the_chosen_pipeline(web, rep1, steps):
    from tests.wfm.factories import build_workflow
    from wfm.models import Project

    other, other_steps = build_workflow(["Open", "Done"], [("Open", "Done")], name="Renewals")
    moved = make_deal(rep1, name="Renewal deal")
    Project.objects.filter(pk=moved.wfm_project_id).update(
        workflow=other, current_step=other_steps["Open"]
    )
    make_deal(rep1, name="Pipeline deal")
    client = web(rep1)
    default = html(client.get("/deals/board/"))
    assert 'id="board-workflow"' in default and "Renewals" in default
    assert "Pipeline deal" in default and "Renewal deal" not in default
    page = html(client.get(f"/deals/board/?workflow={other.pk}"))
    assert f'data-step-id="{other_steps["Open"].pk}"' in page
    assert f'data-step-id="{steps[DealStep.QUALIFICATION].pk}"' not in page
    assert "Renewal deal" in page and "Pipeline deal" not in page
    assert f'ws-connect="/ws/boards/{other.pk}/"' in page


def test_board_htmx_refresh_renders_the_board_partial(web, rep1):
    make_deal(rep1, name="Findme")
    make_deal(rep1, name="Other")
    response = web(rep1).get("/deals/board/?search=findme", HTTP_HX_REQUEST="true")
    page = html(response)
    assert "Findme" in page and "Other" not in page and "<nav" not in page


@pytest.mark.parametrize("cards", [3, 40])
def test_board_query_count_is_constant(web, rep1, org, cards, django_assert_max_num_queries):
    for n in range(cards):
        make_deal(
            rep1,
            organization=org,
            assigned_to=rep1,
            step=[DealStep.QUALIFICATION, DealStep.DISCOVERY, DealStep.PROPOSAL][n % 3],
        )
    client = web(rep1)
    with django_assert_max_num_queries(10):
        assert client.get("/deals/board/").status_code == 200


def test_board_load_more_returns_the_next_cards_and_a_sentinel(web, rep1, steps):
    for n in range(25):
        make_deal(rep1, name=f"Deal {n:02}")
    client = web(rep1)
    board = client.get("/deals/board/")
    (first, *_) = board.context["columns"]
    assert first.loaded == 20 and first.has_more
    assert "data-board-more" in html(board)

    step = steps[DealStep.QUALIFICATION].pk
    last = first.cards[-1].pk
    assert f'hx-get="/deals/board/column/?column={step}&amp;after={last}"' in html(board)
    more = client.get(f"/deals/board/column/?column={step}&after={last}", HTTP_HX_REQUEST="true")
    page = html(more)
    assert page.count("data-card-id=") == 5 and "data-board-more" not in page
    shown = {c.name for c in first.cards} | {c.name for c in more.context["page"].cards}
    assert shown == {f"Deal {n:02}" for n in range(25)}


def test_board_load_more_keeps_the_filters(web, rep1, steps):
    matches = [make_deal(rep1, name=f"Match {n}") for n in range(3)]
    make_deal(rep1, name="Nope")
    step = steps[DealStep.QUALIFICATION].pk
    newest = matches[-1].pk  # the first card of the column (newest first)
    more = web(rep1).get(f"/deals/board/column/?search=match&column={step}&after={newest}")
    assert [c.name for c in more.context["page"].cards] == ["Match 1", "Match 0"]


# --- board moves ------------------------------------------------------------------------------
def test_move_returns_the_card_and_both_column_headers(web, rep1, steps):
    deal = make_deal(rep1, name="Mover", step=DealStep.DISCOVERY)
    proposal, discovery = steps[DealStep.PROPOSAL], steps[DealStep.DISCOVERY]
    response = web(rep1).post(
        f"/deals/{deal.pk}/move/", {"to_step": proposal.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    page = html(response)
    assert f'data-deal-id="{deal.pk}"' in page and "Mover" in page
    assert f'id="board-head-{proposal.pk}" hx-swap-oob="true"' in page
    assert f'id="board-head-{discovery.pk}" hx-swap-oob="true"' in page
    heads = {h.step.name: h.count for h in response.context["heads"]}
    assert heads == {DealStep.DISCOVERY: 0, DealStep.PROPOSAL: 1}
    assert selectors.deal_get(user=rep1, deal_id=deal.pk).wfm_project.current_step == proposal


def test_refused_move_is_409_with_the_reason(web, rep1, steps):
    deal = make_deal(rep1, step=DealStep.DISCOVERY)
    response = web(rep1).post(
        f"/deals/{deal.pk}/move/",
        {"to_step": steps[DealStep.QUALIFICATION].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_not_allowed"
    assert "Cannot move" in error["message"] and error["trace_id"]


def test_move_to_lost_without_reason_asks_for_it(web, rep1, steps):
    deal = make_deal(rep1)
    response = web(rep1).post(
        f"/deals/{deal.pk}/move/", {"to_step": steps[DealStep.CLOSED_LOST].pk}
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "reason_required"


def test_move_of_another_reps_deal_is_404(web, rep1, rep2, steps):
    deal = make_deal(rep2)
    response = web(rep1).post(
        f"/deals/{deal.pk}/move/", {"to_step": steps[DealStep.INITIAL_CONTACT].pk}
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_analyst_move_is_403(web, analyst, rep1, steps):
    deal = make_deal(rep1)
    response = web(analyst).post(
        f"/deals/{deal.pk}/move/", {"to_step": steps[DealStep.INITIAL_CONTACT].pk}
    )
    assert response.status_code == 403


def test_lost_modal_from_a_board_drop_moves_with_the_reason(web, rep1, steps):
    LostReason.objects.filter(name="No budget").update(order=1)
    deal = make_deal(rep1, step=DealStep.PROPOSAL)
    lost = steps[DealStep.CLOSED_LOST]
    client = web(rep1)
    form = client.get(f"/deals/{deal.pk}/lost/?to_step={lost.pk}", HTTP_HX_REQUEST="true")
    page = html(form)
    assert "modal-content" in page and "No budget" in page and f'value="{lost.pk}"' in page

    empty = client.post(f"/deals/{deal.pk}/lost/", {"to_step": lost.pk}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422 and "Choose a reason or describe it." in html(empty)

    reason = LostReason.objects.get(name="No budget")
    response = client.post(
        f"/deals/{deal.pk}/lost/",
        {"to_step": lost.pk, "reason_choice": reason.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204 and "recordSaved" in response["HX-Trigger"]
    deal.refresh_from_db()
    assert deal.lost_reason == "No budget" and deal.lost_at is not None


def test_lost_free_text_wins_over_the_list(web, rep1):
    deal = make_deal(rep1)
    reason = LostReason.objects.first()
    web(rep1).post(
        f"/deals/{deal.pk}/lost/",
        {"reason_choice": reason.pk, "reason_text": "Went bust"},
        HTTP_HX_REQUEST="true",
    )
    deal.refresh_from_db()
    assert deal.lost_reason == "Went bust"


# --- detail -----------------------------------------------------------------------------------
def test_detail_shows_fields_links_step_history_and_controls(web, rep1, org, person):
    deal = make_deal(
        rep1,
        name="Detailed",
        amount="8000",
        organization=org,
        person=person,
        step=DealStep.DISCOVERY,
    )
    page = html(web(rep1).get(f"/deals/{deal.pk}/"))
    assert "Detailed" in page and "€8,000" in page and "€2,400" in page
    assert reverse("crm:organization_detail", args=[org.pk]) in page
    assert reverse("crm:person_detail", args=[person.pk]) in page
    assert 'aria-current="step">Discovery<' in page
    arrow = '<i class="bi bi-arrow-right" aria-label="to"></i>'
    assert f"Initial Contact {arrow} <strong>Discovery</strong>" in page
    assert "Mark won" in page and "Mark lost" in page and 'id="timeline"' in page
    assert "Move to Proposal" in page and "Back to Initial Contact" in page


def test_detail_of_a_lost_deal_shows_the_reason_and_reopen(web, rep1):
    deal = make_deal(rep1, step=DealStep.CLOSED_LOST)
    page = html(web(rep1).get(f"/deals/{deal.pk}/"))
    assert "Chose a competitor" in page and "Reopen" in page and "Mark won" not in page


def test_detail_shows_custom_field_values(web, rep1):
    CustomFieldFactory(entity_type="deal", name="website", label="Website", type="url")
    deal = make_deal(rep1, custom_field_values={"website": "https://acme.example"})
    page = html(web(rep1).get(f"/deals/{deal.pk}/"))
    assert "Website" in page and 'href="https://acme.example"' in page
    assert 'data-cf="website"' in page  # customfields/_values.html


def test_detail_of_another_reps_deal_is_404(web, rep1, rep2, manager):
    deal = make_deal(rep2)
    assert web(rep1).get(f"/deals/{deal.pk}/").status_code == 404
    assert web(manager).get(f"/deals/{deal.pk}/").status_code == 200


def test_analyst_sees_no_write_controls(web, analyst, rep1):
    deal = make_deal(rep1)
    page = html(web(analyst).get(f"/deals/{deal.pk}/"))
    assert "Mark won" not in page and "Edit" not in page
    assert web(analyst).get(f"/deals/{deal.pk}/edit/").status_code == 403


def test_detail_buttons_move_win_and_reopen(web, rep1, steps):
    deal = make_deal(rep1)
    client = web(rep1)
    response = client.post(
        f"/deals/{deal.pk}/transition/",
        {"to_step": steps[DealStep.INITIAL_CONTACT].pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204 and "recordSaved" in response["HX-Trigger"]
    assert client.post(f"/deals/{deal.pk}/won/", HTTP_HX_REQUEST="true").status_code == 204
    deal.refresh_from_db()
    assert deal.won_at is not None
    refused = client.post(
        f"/deals/{deal.pk}/transition/",
        {"to_step": steps[DealStep.PROPOSAL].pk},
        HTTP_HX_REQUEST="true",
    )
    assert (
        refused.status_code == 409 and refused.json()["error"]["code"] == "transition_not_allowed"
    )


# --- modals -----------------------------------------------------------------------------------
def test_create_deal_in_a_modal(web, rep1, org):
    client = web(rep1)
    form = client.get("/deals/new/", HTTP_HX_REQUEST="true")
    assert "modal-content" in html(form) and 'value="EUR"' in html(form)
    response = client.post(
        "/deals/new/",
        {"name": "New one", "amount": "1500", "currency": "eur", "organization": org.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204 and "closeModal" in response["HX-Trigger"]
    deal = Deal.objects.get()
    assert (deal.name, deal.currency, deal.owner, deal.organization) == (
        "New one",
        "EUR",
        rep1,
        org,
    )


def test_invalid_create_is_rerendered_with_inline_errors(web, rep1):
    CustomFieldFactory(
        entity_type="deal", name="budget", label="Budget", type="number", is_required=True
    )
    response = web(rep1).post(
        "/deals/new/",
        {"name": "", "amount": "-5", "currency": "EUR", "cf_budget": "12"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    page = html(response)
    assert "invalid-feedback" in page and "This field is required." in page
    assert 'name="cf_budget"' in page and 'value="12"' in page
    assert not Deal.objects.exists()


def test_service_refusal_of_a_custom_field_lands_on_its_input(web, rep1, monkeypatch):
    CustomFieldFactory(entity_type="deal", name="budget", label="Budget", type="number")
    from crm.errors import ValidationFailed
    from deals import services

    def refuse(**kwargs):
        raise ValidationFailed(
            "Budget: too big.", details={"custom_field_values.budget": ["Budget: too big."]}
        )

    monkeypatch.setattr(services, "deal_create", refuse)
    response = web(rep1).post(
        "/deals/new/",
        {"name": "X", "amount": "1", "currency": "EUR", "cf_budget": "9"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert response.context["form"].errors["cf_budget"] == ["Budget: too big."]


def test_edit_in_a_modal_keeps_custom_values(web, rep1):
    CustomFieldFactory(entity_type="deal", name="budget", label="Budget", type="number")
    deal = make_deal(rep1, name="Old", custom_field_values={"budget": 5})
    client = web(rep1)
    form = html(client.get(f"/deals/{deal.pk}/edit/", HTTP_HX_REQUEST="true"))
    assert 'value="Old"' in form and 'value="5"' in form
    response = client.post(
        f"/deals/{deal.pk}/edit/",
        {"name": "New", "amount": "1", "currency": "EUR", "cf_budget": "7"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    deal.refresh_from_db()
    assert deal.name == "New" and deal.custom_field_values == {"budget": 7}


def test_assign_modal(web, rep1, rep2):
    deal = make_deal(rep1)
    client = web(rep1)
    assert "modal-content" in html(client.get(f"/deals/{deal.pk}/assign/", HTTP_HX_REQUEST="true"))
    response = client.post(
        f"/deals/{deal.pk}/assign/", {"assigned_to": rep2.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert Deal.objects.get(pk=deal.pk).assigned_to == rep2


def test_assignee_giving_the_deal_away_sees_the_refusal_in_the_form(web, rep1, rep2, manager):
    deal = make_deal(manager, assigned_to=rep1)
    response = web(rep1).post(
        f"/deals/{deal.pk}/assign/", {"assigned_to": rep2.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422 and "Only the owner or a manager" in html(response)


def test_delete_redirects_to_the_table(web, rep1):
    deal = make_deal(rep1)
    response = web(rep1).post(f"/deals/{deal.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/deals/"
    assert not Deal.objects.exists()


def test_bulk_bar_only_for_users_who_can_change_deals(web, analyst, rep1):
    make_deal(rep1)
    assert 'id="bulk-form"' in html(web(rep1).get("/deals/"))
    page = html(web(analyst).get("/deals/"))
    assert 'id="bulk-form"' not in page and "data-bulk-item" not in page


def test_board_cards_show_the_organization_and_why_a_deal_was_lost(web, rep1, org, steps):
    import re

    from deals import services

    deal = make_deal(rep1, organization=org, step=DealStep.NEGOTIATION)
    services.deal_mark_lost(by=rep1, deal=deal, reason="<Price>")
    page = html(web(rep1).get("/deals/board/"))
    card = re.search(rf'<article[^>]*id="card-{deal.pk}".*?</article>', page, re.S).group(0)
    assert f'bi-building" aria-hidden="true"></i> {org.name}</div>' in card
    assert 'text-danger-emphasis text-truncate" title="Lost: &lt;Price&gt;"' in card
    assert f'href="/deals/{deal.pk}/">{deal.name}</a>' in card
