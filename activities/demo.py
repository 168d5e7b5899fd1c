"""Demo activities and automation: calls, emails, meetings and tasks on the demo leads and
deals (some overdue, some done), an assignment rule, an automation rule and a sequence.

Idempotent: the activities are made once (marked ``metadata.demo``); rules and the sequence are
found by name. Records are created through the services; only dates are then moved into the
past so the timelines and "My activities" look lived in.

The demo leads and deals were created earlier in the same transaction, so their events (and
the built-in automations: welcome tasks, conversion activities) have not run yet. They are run
here, in line, before the assignment rule exists (it would otherwise hand out the demo's
deliberately unassigned leads) and so that the welcome tasks of older leads can be completed.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db.models import Q
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
    _run_pending_events()
    if not Activity.objects.filter(metadata__demo=True).exists():
        _seed_activities(users)
        _settle_welcome_tasks()
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
    from deals.models import Deal
    from leads.models import Lead

    rng = random.Random(7)
    now = timezone.now()
    reps = [users["rep1"], users["rep2"], users["manager"]]
    leads = list(
        Lead.objects.filter(converted_at__isnull=True, assigned_to__in=reps)
        .select_related("assigned_to", "person", "organization")
        .order_by("created_at")[:60]
    )
    deals = list(
        Deal.objects.filter(Q(assigned_to__in=reps) | Q(owner__in=reps))
        .select_related("assigned_to", "owner", "person", "organization")
        .order_by("created_at")[:30]
    )
    records = [("lead", lead, lead.assigned_to) for lead in leads] + [
        ("deal", deal, deal.assigned_to or deal.owner) for deal in deals
    ]
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
        roll = n % 6
        if roll == 0:
            due = _at(now - timedelta(days=rng.randrange(1, 5)), rng.choice([10, 14, 16]))
        elif roll == 1:
            latest = end_of_today(now) - timedelta(minutes=1)
            due = min(latest, max(now + timedelta(minutes=30), _at(now, 16)))
        else:
            due = _at(now + timedelta(days=rng.randrange(1, 14)), rng.choice([9, 10, 11, 14, 15]))
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
