"""Offline mode: requests understood (``aiagent.intents``), done with the same tools as Claude,
and answered for people."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from activities.models import Activity
from aiagent import intents, services
from aiagent.models import Message, Proposal, ToolCall
from leads import services as lead_services
from leads.models import Lead
from tests.aiagent.factories import make_lead
from tests.aiagent.intent_corpus import CORPUS, NOW, VOCABULARY

pytestmark = pytest.mark.django_db


def ask(user, text, **conversation):
    conv = services.conversation_create(by=user, **conversation)
    added = services.conversation_send(by=user, conversation=conv, content=text)
    answer = [m for m in added if m.role == Message.Role.ASSISTANT][-1]
    return conv, answer


def confirm(user, conv) -> Proposal:
    proposal = Proposal.objects.get(conversation=conv)
    return services.proposal_confirm(by=user, token=proposal.token)


# --- understanding -------------------------------------------------------------------------------
def test_the_intent_corpus(capsys):
    """At least 150 phrasings; the issue asks 90 %. Printed so the figure is in the run's log."""
    assert len(CORPUS) >= 150
    wrong = []
    for text, name, args in CORPUS:
        got = intents.parse(text, vocab=VOCABULARY, now=NOW)
        if (got.name, got.args) != (name, args):
            wrong.append(f"{text!r}: wanted {name} {args}, got {got.name} {got.args}")
    accuracy = 1 - len(wrong) / len(CORPUS)
    with capsys.disabled():
        print(f"\nintent corpus: {len(CORPUS) - len(wrong)} of {len(CORPUS)} ({accuracy:.1%})")
    assert accuracy >= 0.9, "\n".join(wrong)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("show my hott leds", "show my hot leads"),
        ("summerize this lead", "summarize this lead"),
        ("Acme Robotcs leads", "Acme Robotcs leads"),  # names are left alone
    ],
)
def test_typos_of_the_products_words_are_corrected(text, words):
    assert intents.normalize(text) == words


# --- the three defects of the issue --------------------------------------------------------------
def test_show_my_hot_leads_lists_only_my_open_hot_leads(world):
    disqualified = make_lead(world.rep1, "Hot but dropped", score=90, company_name="Gone Co")
    lead_services.lead_disqualify(by=world.rep1, lead=disqualified, reason="No budget")
    conv, answer = ask(world.rep1, "show my hot leads")
    assert "Acme expansion" in answer.content and "Initech pilot" in answer.content
    assert "Hot but dropped" not in answer.content  # disqualified: not open
    assert "Cold prospect" not in answer.content  # score 20
    assert "Globex" not in answer.content and "Rival" not in answer.content  # rep2's
    assert f"(/leads/{world.leads1[0].pk}/)" in answer.content
    call = ToolCall.objects.get(message__conversation=conv, tool="search_leads")
    assert call.arguments == {"limit": 10, "mine": True, "temperature": "hot"}
    assert call.source == "offline" and answer.data["intent"] == "list_leads"


def test_the_show_in_table_link_lists_the_same_leads(world, client):
    make_lead(world.rep1, "Warm one", score=50, company_name="Mild Co")
    _, answer = ask(world.rep1, "show my hot leads")
    link = answer.content.split("](/leads/?", 1)[1].split(")", 1)[0]
    client.force_login(world.rep1)
    page = client.get(f"/leads/?{link}").content.decode()
    assert "Acme expansion" in page and "Initech pilot" in page
    assert "Warm one" not in page and "Rival hot lead" not in page


def test_summarize_this_lead_in_the_drawer_is_about_that_lead(world):
    lead = world.leads1[0]
    Lead.objects.filter(pk=lead.pk).update(
        estimated_value=Decimal("46700"), currency="EUR", source="email_campaign"
    )
    conv, answer = ask(world.rep1, "summarize this lead", context_type="lead", context_id=lead.pk)
    assert answer.content.startswith(f"**[Acme expansion](/leads/{lead.pk}/)**")
    assert "Initech" not in answer.content  # not a list of other leads
    assert "€46,700" in answer.content and "46700.00" not in answer.content
    assert "Email campaign" in answer.content and "email_campaign" not in answer.content
    assert "Call Acme about pricing" in answer.content  # its open activity
    tools = set(ToolCall.objects.filter(message__conversation=conv).values_list("tool", flat=True))
    assert "get_lead" in tools and "search_leads" not in tools


def test_lists_read_money_sources_and_dates_as_people_do(world):
    lead = world.leads1[0]
    Lead.objects.filter(pk=lead.pk).update(
        estimated_value=Decimal("46700"), currency="EUR", source="email_campaign"
    )
    _, answer = ask(world.rep1, "show my hot leads")
    assert "| [Acme expansion]" in answer.content and "| €46,700 |" in answer.content
    assert "Email campaign" in answer.content and "85 (hot)" in answer.content


# --- context -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["what should I do next", "what's next", "next steps"])
def test_whats_next_in_a_drawer_is_about_its_record(world, text):
    lead = world.leads1[1]
    _, answer = ask(world.rep1, text, context_type="lead", context_id=lead.pk)
    assert answer.content.startswith(f"**Next for [Initech pilot](/leads/{lead.pk}/)**")


def test_this_without_a_context_asks_which(world):
    _, answer = ask(world.rep1, "summarize this lead")
    assert "Which lead?" in answer.content


def test_person_and_organization_pages_are_contexts_too(world):
    _, answer = ask(world.rep1, "summarize", context_type="person", context_id=world.person1.pk)
    assert "Maria Lopez" in answer.content and "Acme Robotics" in answer.content
    _, answer = ask(
        world.rep1, "tell me about it", context_type="organization", context_id=world.org1.pk
    )
    assert "Acme Robotics" in answer.content and "Acme platform deal" in answer.content
    assert "Globex" not in answer.content


def test_a_deal_summary_by_name(world):
    _, answer = ask(world.rep1, "where are we with the Acme platform deal")
    assert f"[Acme platform deal](/deals/{world.deal1.pk}/)" in answer.content
    assert "€12,000" in answer.content or "12,000" in answer.content


# --- counts, metrics, activities -----------------------------------------------------------------
def test_how_many_leads_from_a_source_this_month(world):
    Lead.objects.filter(pk__in=[world.leads1[0].pk, world.leads1[1].pk]).update(source="event")
    _, answer = ask(world.rep1, "how many leads from webinars this month")
    assert answer.content.startswith("**2** open leads from event created")
    assert "](/leads/?" in answer.content


def test_metrics_and_activities(world):
    _, answer = ask(world.rep1, "lead metrics")
    assert "**3 leads**" in answer.content
    _, answer = ask(world.rep1, "my tasks")
    assert "Call Acme about pricing" in answer.content
    assert "Secret Globex" not in answer.content


def test_due_today(world):
    Activity.objects.filter(pk=world.activity1.pk).update(
        due_at=timezone.localtime().replace(hour=23, minute=0)
    )
    _, answer = ask(world.rep1, "what's due today")
    assert "**Due today**" in answer.content and "Call Acme about pricing" in answer.content


# --- plans and logs ------------------------------------------------------------------------------
def test_follow_up_call_for_a_lead_tomorrow(world):
    _, answer = ask(world.rep1, "create a follow-up call for Acme expansion tomorrow")
    activity = Activity.objects.get(lead=world.leads1[0], type="call")
    assert activity.subject.startswith("Follow-up call")
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert timezone.localtime(activity.due_at).date() == tomorrow
    assert activity.assigned_to == world.rep1
    assert "Created the call" in answer.content and "due tomorrow 10:00" in answer.content


def test_remind_me_to_call_a_contact_on_friday(world):
    lead = make_lead(world.rep1, "Dana's project", contact_name="Dana Smith")
    _, answer = ask(world.rep1, "remind me to call Dana on Friday")
    activity = Activity.objects.get(lead=lead, type="call")
    assert activity.subject == "Call Dana"
    assert timezone.localtime(activity.due_at).weekday() == 4
    assert "Created the call" in answer.content


def test_log_a_call_on_this_lead(world):
    lead = world.leads1[0]
    ask(world.rep1, "log a call", context_type="lead", context_id=lead.pk)
    activity = Activity.objects.get(lead=lead, type="call")
    assert activity.is_done


def test_follow_up_call_cannot_reach_another_reps_lead(world):
    _, answer = ask(world.rep1, "create a follow-up call for Globex secret deal tomorrow")
    assert "that you can see" in answer.content
    assert not Activity.objects.filter(lead=world.leads2[0], type="call").exists()


# --- changes are proposed, then confirmed --------------------------------------------------------
def test_move_deal_to_proposal_after_confirming(world):
    from tests.deals.factories import move_to

    move_to(world.deal1, "Discovery", by=world.rep1)
    conv, answer = ask(world.rep1, "move Acme platform deal to Proposal")
    world.deal1.wfm_project.refresh_from_db()
    assert world.deal1.wfm_project.current_step.name == "Discovery"  # not before confirming
    assert "from Discovery to Proposal" in answer.content and "Confirm" in answer.content
    confirm(world.rep1, conv)
    world.deal1.wfm_project.refresh_from_db()
    assert world.deal1.wfm_project.current_step.name == "Proposal"


def test_refused_move_says_why_and_proposes_nothing(world):
    conv, answer = ask(world.rep1, "move Acme platform deal to Negotiation")
    assert "could not move" in answer.content and "cannot move from" in answer.content
    assert not Proposal.objects.filter(conversation=conv).exists()


def test_move_this_lead_to_contacted(world):
    lead = world.leads1[0]
    conv, answer = ask(world.rep1, "move it to contacted", context_type="lead", context_id=lead.pk)
    assert "Confirm" in answer.content
    confirm(world.rep1, conv)
    lead.wfm_project.refresh_from_db()
    assert lead.wfm_project.current_step.name == "Contacted"


def test_qualify_assign_and_convert_only_propose(world):
    lead = world.leads1[0]
    for text in ("qualify this lead", "assign it to rep2", "convert this lead"):
        conv, answer = ask(world.rep1, text, context_type="lead", context_id=lead.pk)
        assert Proposal.objects.get(conversation=conv).status == Proposal.Status.PENDING
        assert "Confirm" in answer.content
    lead = Lead.objects.get(pk=lead.pk)
    assert not lead.is_qualified and lead.assigned_to is None and lead.converted_at is None


def test_disqualify_needs_a_reason(world):
    _, answer = ask(world.rep1, "disqualify Cold prospect")
    assert "why" in answer.content.lower()
    conv, _ = ask(world.rep1, "disqualify Cold prospect because no budget")
    confirm(world.rep1, conv)
    assert Lead.objects.get(pk=world.leads1[2].pk).disqualify_reason == "no budget"


# --- never on a record the user cannot see -------------------------------------------------------
ACTIONS_ON_OTHERS = [
    "summarize Globex secret deal",
    "what should I do next on Globex secret deal",
    "remind me to call Globex secret deal tomorrow",
    "schedule a meeting with Globex secret deal on Friday",
    "log a call with Globex secret deal",
    "add a note to Globex secret deal",
    "move Globex secret deal to Contacted",
    "qualify Globex secret deal",
    "disqualify Globex secret deal because spam",
    "assign Globex secret deal to me",
    "convert Globex secret deal",
    "analyse Globex secret deal",
    "draft an email to Globex secret deal",
    "move Globex confidential deal to Proposal",
    "mark Globex confidential deal as won",
    "assign the deal Globex confidential to rep1",
    "summarize Globex confidential deal",
    "tell me about Hank Scorpio",
    "what do we know about Globex Secret",
]


@pytest.mark.parametrize("text", ACTIONS_ON_OTHERS)
def test_never_acts_on_a_record_the_user_cannot_see(world, text):
    before = {
        "activities": Activity.objects.count(),
        "leads": list(Lead.objects.order_by("pk").values_list("pk", "updated_at")),
    }
    conv, answer = ask(world.rep1, text)
    assert not Proposal.objects.filter(conversation=conv).exists()
    assert Activity.objects.count() == before["activities"]
    assert list(Lead.objects.order_by("pk").values_list("pk", "updated_at")) == before["leads"]
    for secret in ("Globex secret deal](", "Globex confidential deal](", "Scorpio](", "hank@"):
        assert secret not in answer.content
    assert "that you can see" in answer.content


def test_a_context_the_user_cannot_see_is_refused(world):
    from crm.errors import NotFound

    with pytest.raises(NotFound):
        services.conversation_create(
            by=world.rep1, context_type="lead", context_id=world.leads2[0].pk
        )


# --- the rest ------------------------------------------------------------------------------------
def test_draft_an_email_to_this_lead(world):
    lead = world.leads1[0]
    _, answer = ask(
        world.rep1, "draft an email to this lead", context_type="lead", context_id=lead.pk
    )
    assert "Subject: Following up on Acme expansion" in answer.content
    assert "Hi Pat," in answer.content


def test_unknown_request_says_what_works_with_examples(world):
    _, answer = ask(world.rep1, "write me a poem about spreadsheets")
    assert "AI offline" in answer.content
    assert "show my hot leads" in answer.content and "summarize this lead" in answer.content


def test_query_count_of_a_list_does_not_grow_with_rows(world, django_assert_max_num_queries):
    conv = services.conversation_create(by=world.rep1)
    with django_assert_max_num_queries(60) as first:
        services.conversation_send(by=world.rep1, conversation=conv, content="show my leads")
    for index in range(8):
        make_lead(world.rep1, f"More {index}", score=50)
    with django_assert_max_num_queries(len(first.captured_queries)):
        services.conversation_send(by=world.rep1, conversation=conv, content="show my leads")


def test_a_record_link_in_the_chat_is_its_context(world):
    lead = world.leads1[1]
    conv, answer = ask(world.rep1, f"what about http://testserver/leads/{lead.pk}/ ?")
    assert answer.content.startswith(f"**[Initech pilot](/leads/{lead.pk}/)**")
    added = services.conversation_send(by=world.rep1, conversation=conv, content="what's next")
    assert added[-1].content.startswith("**Next for [Initech pilot]")
    _, answer = ask(world.rep1, f"summarize /leads/{world.leads2[0].pk}/")
    assert "no lead at that link that you can see" in answer.content


def test_in_a_chat_it_is_the_record_named_last_but_a_page_keeps_its_record(world):
    conv, _ = ask(world.rep1, "summarize Acme expansion")
    services.conversation_send(by=world.rep1, conversation=conv, content="log a call with it")
    assert Activity.objects.filter(lead=world.leads1[0], type="call", is_done=True).exists()
    services.conversation_send(by=world.rep1, conversation=conv, content="tell me about Initech")
    conv.refresh_from_db()
    assert conv.context_id == str(world.leads1[1].pk)

    page, _ = ask(
        world.rep1, "summarize Initech pilot", context_type="lead", context_id=world.leads1[0].pk
    )
    page.refresh_from_db()
    assert page.context_id == str(world.leads1[0].pk)  # the page's lead, still


def test_no_hot_leads_offers_the_highest_scoring_ones(world):
    Lead.objects.filter(owner=world.rep1).update(lead_score=55)
    _, answer = ask(world.rep1, "show my hot leads")
    assert "No hot open leads of yours right now." in answer.content
    assert "The highest-scoring ones" in answer.content and "Acme expansion" in answer.content


@pytest.mark.parametrize(
    "text",
    [
        "leads since 2026-13-45",
        "leads from the last 99999999999999 days",
        "remind me to call Dana on 2026-02-31",
        "remind me to call Dana in 99999999999 days",
        "schedule a call with Acme on feb 30",
        "deals over 1.2.3k",
        "\x00\u202e" + "leads" * 50,
        "",
    ],
)
def test_any_text_is_understood_or_not_but_never_fails(text):
    intent = intents.parse(text, vocab=VOCABULARY, now=NOW)
    assert intent.name in {
        "list_leads",
        "list_deals",
        "create_activity",
        "help",
        "unknown",
    }


def _words():
    from hypothesis import strategies as st

    vocabulary = ["leads", "deals", "since", "last", "days", "remind", "me", "to", "call", "on"]
    vocabulary += ["q3", "end", "of", "2026-13-45", "99999999999", "move", "to", "it", "k"]
    return st.lists(st.one_of(st.sampled_from(vocabulary), st.text(max_size=12)), max_size=12)


def test_random_requests_never_fail():
    from hypothesis import given, settings

    @settings(max_examples=300, deadline=None, database=None)
    @given(_words())
    def check(words):
        intents.parse(" ".join(words), vocab=VOCABULARY, now=NOW)

    check()
