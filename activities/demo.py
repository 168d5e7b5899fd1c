"""Demo activities and automation: each demo lead's history (web visits, downloads, form
submissions, calls, emails both ways, meetings, notes) and, for open leads, its next planned
step (some overdue, some due today); calls, emails and plans on the demo deals; an assignment
rule, an automation rule and a sequence.

Idempotent: the activities are made once (marked ``metadata.demo``); rules and the sequence are
found by name. Planned activities and the deals' are created through the services; the leads'
past is bulk-inserted with its own dates (see ``_seed_lead_histories``); only dates are then
moved into the past so the timelines and "My activities" look lived in.

The demo leads and deals were created earlier in the same transaction, so their events (and
the built-in automations: welcome tasks, conversion notes) have not run yet. They are run
here, in line, after the leads' histories exist (a conversion carries the lead's activities
to its deal), before the assignment rule exists (it would otherwise hand out the demo's
deliberately unassigned leads) and so that the welcome tasks of older leads can be completed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from activities import services
from activities.models import (
    Activity,
    AssignmentRule,
    AutomationAction,
    AutomationCondition,
    AutomationRule,
    Sequence,
    SequenceStep,
)
from activities.selectors import end_of_today
from crm import events
from crm.models import Event, User
from wfm.defaults import LeadStep

T = Activity.Type

CALLS = [
    ("Discovery call", "Walked through current process; pain is manual data entry.", "Interested"),
    ("Follow-up call", "Answered pricing questions; wants a proposal by Friday.", "Proposal asked"),
    ("Intro call", "Left a voicemail, will try again Thursday.", "Voicemail"),
    ("Check-in call", "Budget confirmed for next quarter.", "Budget confirmed"),
]
EMAILS = [
    ("Sent case study", "Shared the logistics case study and ROI sheet."),
    ("Re: pricing", "Customer replied asking about volume discounts."),
    ("Proposal sent", "Attached proposal v2 with the revised timeline."),
]
MEETINGS = [
    ("Product demo", 45),
    ("On-site workshop", 120),
    ("Stakeholder review", 30),
]
TASKS = [
    "Prepare proposal",
    "Send contract draft",
    "Book demo with IT",
    "Update forecast notes",
    "Confirm decision timeline",
]


def seed(users: dict[str, User], out) -> None:
    first_time = not Activity.objects.filter(metadata__demo=True).exists()
    if first_time:
        _seed_lead_histories(users)
    _run_pending_events()
    if first_time:
        _seed_activities(users)
        _settle_welcome_tasks()
        _settle_system_notes()
    _seed_rules(users)
    demo = Activity.objects.filter(metadata__demo=True).count()
    out.write(
        f"  {Activity.objects.count()} activities ({demo} demo), "
        f"{AssignmentRule.objects.count()} assignment rule(s), "
        f"{AutomationRule.objects.count()} automation rule(s), {Sequence.objects.count()} "
        "sequence(s)"
    )


def _run_pending_events() -> None:
    """Process the events of the records seeded so far (their handlers include ours)."""
    for _ in range(5):  # handlers emit events too (welcome tasks → activity.created …)
        pending = list(
            Event.objects.filter(status=Event.Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not pending:
            return
        for event_id in pending:
            events.process(event_id)


def _seed_activities(users: dict[str, User]) -> None:
    """The deals' calls, emails and plans (the leads' own are ``_seed_lead_histories``)."""
    from deals.models import Deal

    rng = random.Random(7)
    now = timezone.now()
    reps = [users["rep1"], users["rep2"], users["manager"]]
    deals = list(
        Deal.objects.filter(Q(assigned_to__in=reps) | Q(owner__in=reps))
        .select_related("assigned_to", "owner", "person", "organization")
        .order_by("created_at")[:30]
    )
    records = [("deal", deal, deal.assigned_to or deal.owner) for deal in deals]
    for n, (kind, record, worker) in enumerate(records):
        log = {kind: record}
        # What happened: a call and an email in the past, done.
        subject, notes, outcome = CALLS[n % len(CALLS)]
        _past(
            worker,
            log,
            now - timedelta(days=rng.randrange(3, 30), hours=rng.randrange(0, 8)),
            type=T.CALL,
            subject=subject,
            notes=notes,
            outcome=outcome,
            direction=Activity.Direction.OUTBOUND,
            duration_minutes=rng.choice([10, 15, 25, 30]),
        )
        if n % 2 == 0:
            subject, notes = EMAILS[n % len(EMAILS)]
            direction = (
                Activity.Direction.INBOUND if "Re:" in subject else Activity.Direction.OUTBOUND
            )
            _past(
                worker,
                log,
                now - timedelta(days=rng.randrange(1, 12)),
                type=T.EMAIL,
                subject=subject,
                notes=notes,
                direction=direction,
            )
        # What is planned: a task or a meeting; some overdue, some today, most upcoming, in
        # business hours.
        due = _due(n, now, rng)
        if n % 3 == 0:
            title, minutes = MEETINGS[(n // 3) % len(MEETINGS)]
            _plan(worker, log, due, type=T.MEETING, subject=title, duration_minutes=minutes)
        else:
            _plan(worker, log, due, type=T.TASK, subject=TASKS[n % len(TASKS)])
        if n % 5 == 0:
            _past(
                worker,
                log,
                now - timedelta(days=rng.randrange(1, 20)),
                type=T.NOTE,
                subject="Internal note",
                notes="Champion is the ops lead; procurement needs three quotes.",
            )


def _due(n: int, now, rng: random.Random):
    """When the ``n``-th planned activity of a worker is due: every sixth overdue, every sixth
    today, the rest over the next two weeks, in business hours."""
    roll = n % 6
    if roll == 0:
        return _at(now - timedelta(days=rng.randrange(1, 5)), rng.choice([10, 14, 16]))
    if roll == 1:
        latest = end_of_today(now) - timedelta(minutes=1)
        return min(latest, max(now + timedelta(minutes=30), _at(now, 16)))
    return _at(now + timedelta(days=rng.randrange(1, 14)), rng.choice([9, 10, 11, 14, 15]))


# --- the leads' histories -----------------------------------------------------------------------
WEB_PAGES = ["/pricing", "/product/automation", "/customers", "/integrations", "/security"]
DOWNLOADS = ["ROI calculator", "Buyer's guide", "Logistics case study", "Security whitepaper"]
LEAD_NOTES = [
    "Champion is the ops lead; procurement needs three quotes.",
    "Current tool is a spreadsheet; renewal of their old CRM in spring.",
    "Asked for references in their industry.",
]
DEMO_HISTORY = {"demo": True, "history": True}


@dataclass
class _LeadState:
    lead: object
    worker: User | None
    created: datetime
    contacted: datetime | None
    end: datetime  # when it finished, or now for an open lead
    step: str
    outcome: str  # converted, disqualified, open


def _lead_states(now) -> list[_LeadState]:
    from leads.models import Lead
    from wfm.models import StatusHistory

    leads = list(
        Lead.objects.select_related("assigned_to", "owner", "wfm_project__current_step")
        .filter(activities__isnull=True)
        .order_by("created_at", "contact_email")
    )
    contacted: dict = {}
    for project_id, at in (
        StatusHistory.objects.filter(
            project__lead__in=leads,
            from_step__is_initial=True,
            to_step__is_final=False,  # marked contacted (not disqualified unseen)
        )
        .order_by("at")
        .values_list("project_id", "at")
    ):
        contacted.setdefault(project_id, at)
    states = []
    for lead in leads:
        step = lead.wfm_project.current_step
        outcome = "open"
        end = now
        if lead.converted_at:
            outcome, end = "converted", lead.converted_at
        elif step.is_final:
            outcome, end = "disqualified", lead.wfm_project.updated_at
        worker = lead.assigned_to or (lead.owner if lead.owner_id and outcome != "open" else None)
        states.append(
            _LeadState(
                lead=lead,
                worker=worker,
                created=lead.created_at,
                contacted=contacted.get(lead.wfm_project_id),
                end=max(end, lead.created_at),
                step=step.name,
                outcome=outcome,
            )
        )
    return states


def _heat(state: _LeadState, rng: random.Random) -> float:
    """How engaged the lead is, 0–1: high for converted leads, low for disqualified ones,
    spread for open ones (more for those already qualified)."""
    if state.outcome == "converted":
        return rng.uniform(0.35, 1.0)
    if state.outcome == "disqualified":
        return rng.uniform(0.0, 0.6)
    if state.step == LeadStep.QUALIFIED:
        return rng.uniform(0.55, 1.0)
    if state.step == LeadStep.NEW_LEAD:
        return rng.uniform(0.0, 0.5)
    return rng.choices(
        [rng.uniform(0.0, 0.3), rng.uniform(0.3, 0.65), rng.uniform(0.65, 1.0)],
        weights=[35, 40, 25],
    )[0]


def _seed_lead_histories(users: dict[str, User]) -> None:
    """What happened on each lead so far, as a history: web visits, form submissions and
    downloads from the contact, the rep's first response when the lead was contacted, calls,
    meetings, emails both ways and notes up to the lead's end (or now); then, for open leads,
    the next planned call, task or meeting (some overdue, some today), except for a few hot
    leads nobody planned anything for and the stale ones.

    The past is bulk-inserted with its own dates, like an import of the team's history: its
    ``activity.created`` events would only rescore leads (the finish step rescores them all)
    and run automations about things that happened months ago. The planned activities are
    made through the service, as the rep."""
    now = timezone.now()
    rows: list[Activity] = []
    planned: list[tuple[_LeadState, float, random.Random]] = []
    for state in _lead_states(now):
        rng = random.Random(state.lead.contact_email or str(state.created))
        heat = _heat(state, rng)
        stale = state.outcome == "open" and heat < 0.45 and rng.random() < 0.4
        until = state.end
        if stale and (now - state.created).days > 20:
            until = now - timedelta(days=rng.uniform(15, min(40, (now - state.created).days)))
        rows.extend(_history(state, heat, until, rng))
        if state.outcome == "open" and state.worker is not None and not stale:
            planned.append((state, heat, rng))
    Activity.objects.bulk_create(rows, batch_size=500)
    Activity.objects.filter(pk__in=[a.pk for a in rows]).update(
        updated_at=Coalesce(F("done_at"), F("created_at"))
    )
    per_worker: Counter = Counter()
    for state, heat, rng in planned:
        if heat >= 0.65 and rng.random() < 0.3:
            continue  # a hot lead with no next step: My day shows it
        k = per_worker[state.worker.pk]
        per_worker[state.worker.pk] += 1
        due = _due(k, now, rng)
        log = {"lead": state.lead}
        if heat >= 0.6 and k % 3 == 0:
            title, minutes = MEETINGS[k % len(MEETINGS)]
            _plan(state.worker, log, due, type=T.MEETING, subject=title, duration_minutes=minutes)
        elif k % 2:
            _plan(
                state.worker,
                log,
                due,
                type=T.CALL,
                subject=f"Call {state.lead.contact_name}",
                direction=Activity.Direction.OUTBOUND,
            )
        else:
            _plan(state.worker, log, due, type=T.TASK, subject=TASKS[k % len(TASKS)])
    # The service moved last_activity_at to now for the planned ones, made now; they are
    # dated in the past (``_plan``), and so is the lead's last activity.
    _move_last_activity(list({a.lead_id for a in rows} | {s.lead.pk for s, _, _ in planned}))


def _move_last_activity(lead_ids: list) -> None:
    """What ``activity_create`` does for each activity it logs, once per lead."""
    from leads.models import Lead

    last = (
        Activity.objects.filter(lead_id=OuterRef("pk"), is_system_activity=False)
        .order_by()
        .values("lead_id")
        .annotate(at=Max("created_at"))
        .values("at")
    )
    Lead.all_objects.filter(pk__in=lead_ids).update(last_activity_at=Subquery(last))
    services.lead_first_activity_refresh(lead_ids=lead_ids)


def _history(state: _LeadState, heat: float, until, rng: random.Random) -> list[Activity]:
    lead, worker = state.lead, state.worker
    start = state.created
    out: list[Activity] = []

    def at_fraction(low: float = 0.0, high: float = 1.0, after=None):
        begin = after or start
        window = max(until - begin, timedelta(minutes=30))
        return begin + window * rng.uniform(low, high)

    def add(at, **fields):
        at = min(at, until)
        out.append(
            Activity(
                lead=lead,
                # Where a conversion put the lead's activities (``conversion_follow``).
                deal_id=lead.converted_to_deal_id,
                person_id=lead.converted_to_person_id,
                organization_id=lead.converted_to_organization_id,
                created_at=at,
                done_at=at,
                is_done=True,
                assigned_to=fields.pop("assigned_to", worker),
                created_by=fields.pop("created_by", worker),
                metadata={**DEMO_HISTORY, **fields.pop("metadata", {})},
                **fields,
            )
        )

    # The contact's own behaviour, from before the first contact on.
    scale = heat * rng.uniform(0.7, 1.3)
    for _ in range(round(9 * scale)):
        add(
            at_fraction(),
            type=T.NOTE,
            subject=f"Visited {rng.choice(WEB_PAGES)}",
            metadata={"kind": "web_visit"},
            assigned_to=None,
            created_by=None,
        )
    for _ in range(round(2.5 * scale)):
        add(
            at_fraction(),
            type=T.NOTE,
            subject=f"Downloaded “{rng.choice(DOWNLOADS)}”",
            metadata={"kind": "content_download"},
            assigned_to=None,
            created_by=None,
        )
    for _ in range(round(2.2 * scale)):
        add(
            at_fraction(),
            type=T.NOTE,
            subject="Submitted the contact form again",
            metadata={"kind": "form_submission"},
            assigned_to=None,
            created_by=None,
        )
    if worker is None or state.contacted is None:
        return out
    # The first response, when the lead was marked contacted.
    first_call = rng.random() < 0.6
    subject, notes, outcome = CALLS[2 if heat < 0.3 else rng.randrange(len(CALLS))]
    if first_call:
        add(
            state.contacted,
            type=T.CALL,
            subject=subject,
            notes=notes,
            outcome=outcome,
            direction=Activity.Direction.OUTBOUND,
            duration_minutes=rng.choice([5, 10, 15, 25]),
        )
    else:
        add(
            state.contacted,
            type=T.EMAIL,
            subject=f"Intro: {lead.name}"[:255],
            notes="Thanks for your interest; two slots for a first call.",
            direction=Activity.Direction.OUTBOUND,
        )
    after = state.contacted
    for _ in range(round(3 * heat * rng.uniform(0.6, 1.3)) - (1 if first_call else 0)):
        subject, notes, outcome = CALLS[rng.randrange(len(CALLS))]
        add(
            at_fraction(after=after),
            type=T.CALL,
            subject=subject,
            notes=notes,
            outcome=outcome,
            direction=Activity.Direction.OUTBOUND,
            duration_minutes=rng.choice([10, 15, 25, 30, 45]),
        )
    for _ in range(round(4.5 * scale)):
        subject, notes = EMAILS[1]
        add(
            at_fraction(after=after),
            type=T.EMAIL,
            subject=f"Re: {lead.name}"[:255],
            notes=rng.choice(
                [
                    "Customer replied asking about volume discounts.",
                    "They want to loop in their IT lead.",
                    "Confirmed the date for the demo.",
                ]
            ),
            direction=Activity.Direction.INBOUND,
        )
    if heat > 0.35:
        for k in range(round(2.2 * heat * rng.uniform(0.6, 1.3))):
            title, minutes = MEETINGS[k % len(MEETINGS)]
            add(
                at_fraction(0.3, 1.0, after=after),
                type=T.MEETING,
                subject=title,
                duration_minutes=minutes,
            )
    if rng.random() < 0.4:
        add(
            at_fraction(after=after),
            type=T.NOTE,
            subject="Internal note",
            notes=rng.choice(LEAD_NOTES),
        )
    return out


def _at(moment, hour: int):
    """``moment``'s local day at ``hour``:00."""
    return timezone.localtime(moment).replace(hour=hour, minute=0, second=0, microsecond=0)


def _past(worker: User, links: dict, at, **fields) -> Activity:
    activity = services.activity_create(
        by=worker, assigned_to=worker, is_done=True, metadata={"demo": True}, **links, **fields
    )
    Activity.objects.filter(pk=activity.pk).update(created_at=at, done_at=at, updated_at=at)
    return activity


def _plan(worker: User, links: dict, due, **fields) -> Activity:
    activity = services.activity_create(
        by=worker,
        assigned_to=worker,
        due_at=due,
        is_done=False,
        metadata={"demo": True},
        **links,
        **fields,
    )
    created = min(timezone.now(), due) - timedelta(days=2)
    Activity.objects.filter(pk=activity.pk).update(created_at=created)
    return activity


def _settle_welcome_tasks() -> None:
    """The demo's leads and deals were "assigned" weeks ago: their welcome tasks are done,
    except those of the newest few."""
    now = timezone.now()
    welcome = Activity.objects.filter(
        is_system_activity=True, is_done=False, subject__startswith="Welcome & review"
    ).order_by("-created_at")
    keep = set(welcome.values_list("pk", flat=True)[:6])
    for activity in welcome.exclude(pk__in=keep).select_related("lead", "deal"):
        record = activity.lead or activity.deal
        at = (record.created_at if record else now - timedelta(days=10)) + timedelta(days=1)
        at = min(at, now - timedelta(hours=1))
        Activity.objects.filter(pk=activity.pk).update(
            is_done=True, done_at=at, created_at=at - timedelta(days=1), due_at=at
        )


def _settle_system_notes() -> None:
    """The system notes that the events wrote just now about earlier moments (a lead's later
    marketing touch, its conversion) are dated when those happened."""
    from leads.models import TouchPoint

    notes = Activity.objects.filter(is_system_activity=True).select_related("lead")
    for note in notes.filter(metadata__automation_trigger="lead.converted"):
        if note.lead is not None and note.lead.converted_at:
            at = note.lead.converted_at
            Activity.objects.filter(pk=note.pk).update(created_at=at, done_at=at, updated_at=at)
    touches = dict(TouchPoint.objects.values_list("pk", "at"))
    for note in notes.filter(metadata__has_key="touch_point"):
        at = touches.get(note.metadata.get("touch_point"))
        if at is not None:
            Activity.objects.filter(pk=note.pk).update(created_at=at, done_at=at, updated_at=at)


def _seed_rules(users: dict[str, User]) -> None:
    from leads.models import Lead

    rule, created = AssignmentRule.objects.get_or_create(
        name="Inbound web and referral leads",
        defaults={
            "order": 10,
            "sources": [Lead.Source.WEB, Lead.Source.REFERRAL],
            "created_by": users["admin"],
        },
    )
    if created:
        rule.users.set([users["rep1"], users["rep2"]])

    sequence, created = Sequence.objects.get_or_create(
        name="New inbound lead nurture",
        defaults={
            "description": "Three touches over a week for inbound leads that have not replied.",
            "created_by": users["admin"],
        },
    )
    if created:
        for order, delay, type_, subject, body in [
            (
                1,
                0,
                T.EMAIL,
                "Intro email to {lead.contact_name}",
                "Thank them for their interest in {lead.name}; offer two slots for a call.",
            ),
            (
                2,
                3,
                T.CALL,
                "Call {lead.contact_name} ({lead.company_name})",
                "Qualify budget, authority, need and timeline.",
            ),
            (
                3,
                4,
                T.EMAIL,
                "Follow-up: case study for {lead.company_name}",
                "Share a relevant case study and ask for the next step.",
            ),
        ]:
            SequenceStep.objects.create(
                sequence=sequence,
                order=order,
                delay_days=delay,
                activity_type=type_,
                subject=subject,
                body=body,
            )

    automation, created = AutomationRule.objects.get_or_create(
        name="Urgent leads: call within a day",
        defaults={
            "description": "When an urgent or high-priority lead is created, its assignee gets "
            "a call task due the next business day.",
            "trigger": "lead.created",
            "order": 10,
            "created_by": users["admin"],
        },
    )
    if created:
        AutomationCondition.objects.create(
            rule=automation, field="priority", operator="in", value="urgent, high"
        )
        AutomationAction.objects.create(
            rule=automation,
            order=1,
            type=AutomationAction.Type.CREATE_ACTIVITY,
            activity_type=T.CALL,
            subject="Call {lead.contact_name} about {lead.name}",
            body="Priority {lead.priority} lead from {lead.source}; value {lead.estimated_value}.",
            due_in_days=1,
        )
    AutomationRule.objects.get_or_create(
        name="Qualified leads: start nurture",
        defaults={
            "description": "Disabled example: qualified web leads get the nurture sequence.",
            "trigger": "lead.qualified",
            "is_active": False,
            "order": 20,
            "created_by": users["admin"],
        },
    )
    qualified = AutomationRule.objects.get(name="Qualified leads: start nurture")
    if not qualified.actions.exists():
        AutomationCondition.objects.create(
            rule=qualified, field="source", operator="eq", value="web"
        )
        AutomationAction.objects.create(
            rule=qualified, order=1, type=AutomationAction.Type.START_SEQUENCE, sequence=sequence
        )
