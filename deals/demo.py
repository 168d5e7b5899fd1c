"""Demo deals: ~30 deals over every step of the Sales Pipeline for rep1, rep2 and manager,
linked to the demo organizations and people (``crm.demo``).

Idempotent: a deal whose name exists is skipped. Deals are created and moved through the
services, so permissions, step history, history and events are those of real use. Only the
dates are then spread over the past weeks (creation, and when each deal entered its step), so
the board shows realistic "days in step"; that touches timestamps only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from crm.models import Organization, Person, User
from deals import services
from deals.models import Deal
from wfm.defaults import DealStep
from wfm.models import Project, StatusHistory, WorkflowStep

S = DealStep
OPEN_PATH = [S.QUALIFICATION, S.INITIAL_CONTACT, S.DISCOVERY, S.PROPOSAL, S.NEGOTIATION]

# owner, assignee (None: the owner works it), organization, deal, amount, step, days in step,
# weeks to expected close (None: no date)
DEALS: list[tuple[str, str | None, str, str, int, str, int, int | None]] = [
    ("rep1", None, "Acme Robotics", "Warehouse automation pilot", 48000, S.QUALIFICATION, 2, 12),
    ("rep1", None, "Acme Robotics", "Predictive maintenance", 36500, S.INITIAL_CONTACT, 5, 10),
    ("rep1", None, "Acme Robotics", "Robot fleet analytics", 22000, S.DISCOVERY, 9, 8),
    ("rep1", None, "Acme Robotics", "Spare parts portal", 12500, S.PROPOSAL, 4, 4),
    ("rep1", None, "Globex Health", "Patient intake app", 64000, S.DISCOVERY, 12, 9),
    ("rep1", None, "Globex Health", "HIPAA audit support", 18000, S.NEGOTIATION, 3, 2),
    ("rep1", None, "Globex Health", "Telehealth rollout", 91000, S.QUALIFICATION, 1, 20),
    ("rep1", None, "Globex Health", "Lab results API", 27000, S.INITIAL_CONTACT, 7, None),
    ("rep1", None, "Acme Robotics", "Line 3 retrofit", 54000, S.CLOSED_WON, 15, None),
    ("rep1", None, "Globex Health", "Staff scheduling", 15000, S.CLOSED_LOST, 21, None),
    ("rep2", None, "Initech Software", "TPS report automation", 8500, S.QUALIFICATION, 3, 6),
    ("rep2", None, "Initech Software", "Helpdesk migration", 26000, S.INITIAL_CONTACT, 2, 8),
    ("rep2", None, "Initech Software", "SSO for all apps", 31000, S.DISCOVERY, 6, 7),
    ("rep2", None, "Initech Software", "Data warehouse", 120000, S.PROPOSAL, 11, 5),
    ("rep2", None, "Umbrella Logistics", "Fleet tracking", 78000, S.NEGOTIATION, 8, 3),
    ("rep2", None, "Umbrella Logistics", "Route optimisation", 45000, S.DISCOVERY, 4, 9),
    ("rep2", None, "Umbrella Logistics", "Customs paperwork", 19500, S.QUALIFICATION, 1, 14),
    ("rep2", None, "Umbrella Logistics", "Cold-chain sensors", 62000, S.PROPOSAL, 6, 6),
    ("rep2", None, "Initech Software", "Printer fleet", 9800, S.CLOSED_WON, 30, None),
    ("rep2", None, "Umbrella Logistics", "Driver app", 33000, S.CLOSED_LOST, 12, None),
    ("manager", None, "Stark Renewables", "Grid storage study", 150000, S.NEGOTIATION, 5, 2),
    ("manager", None, "Stark Renewables", "Solar farm monitoring", 87000, S.PROPOSAL, 2, 5),
    ("manager", "rep1", "Stark Renewables", "Wind turbine twins", 132000, S.DISCOVERY, 10, 10),
    ("manager", "rep2", "Stark Renewables", "Field service app", 41000, S.INITIAL_CONTACT, 3, 8),
    ("manager", None, "Stark Renewables", "Carbon reporting", 23000, S.QUALIFICATION, 6, 16),
    ("manager", "rep1", "Acme Robotics", "Enterprise licence", 210000, S.PROPOSAL, 9, 6),
    ("manager", "rep2", "Umbrella Logistics", "Warehouse IoT", 99000, S.QUALIFICATION, 2, 18),
    ("manager", None, "Stark Renewables", "EV charging network", 175000, S.CLOSED_WON, 40, None),
    ("manager", None, "Initech Software", "Security review", 28000, S.CLOSED_LOST, 18, None),
    ("manager", None, "Globex Health", "Clinic network upgrade", 56000, S.NEGOTIATION, 1, 3),
]

LOST_REASONS = ["Chose a competitor", "No budget", "Timing"]


def steps_by_name() -> dict[str, WorkflowStep]:
    return {
        s.name: s
        for s in WorkflowStep.objects.select_related("status").filter(
            workflow__project_types__entity_type="deal"
        )
    }


def walk(deal: Deal, target: str, by: User, steps: dict[str, WorkflowStep], n: int) -> None:
    """Move ``deal`` to ``target`` by allowed moves, as a rep would (a closed deal first goes
    one to three steps down the pipeline, by ``n``)."""
    if target in OPEN_PATH:
        for name in OPEN_PATH[1 : OPEN_PATH.index(target) + 1]:
            services.deal_transition(by=by, deal=deal, to_step=steps[name])
        return
    # Closed deals went some way down the pipeline first.
    for name in OPEN_PATH[1 : 2 + n % 3]:
        services.deal_transition(by=by, deal=deal, to_step=steps[name])
    if target == S.CLOSED_WON:
        services.deal_mark_won(by=by, deal=deal)
    else:
        services.deal_mark_lost(by=by, deal=deal, reason=LOST_REASONS[n % len(LOST_REASONS)])


def backdate(deal: Deal, *, created: datetime, entered: datetime) -> None:
    """Spread the demo over time: the deal was created at ``created`` and entered its step
    (won or lost then, for a closed one) at ``entered``; its earlier moves are spaced in
    between. The services stamp ``now()``; only these timestamps are rewritten. A deal that
    never moved entered its step when it was created."""
    moves = list(StatusHistory.objects.filter(project_id=deal.wfm_project_id).order_by("at", "pk"))
    if len(moves) == 1:
        created = entered
    Deal.all_objects.filter(pk=deal.pk).update(created_at=created)
    Deal.all_objects.filter(pk=deal.pk, won_at__isnull=False).update(won_at=entered)
    Deal.all_objects.filter(pk=deal.pk, lost_at__isnull=False).update(lost_at=entered)
    Project.objects.filter(pk=deal.wfm_project_id).update(created_at=created, updated_at=entered)
    first, *later = deal.history.order_by("history_date", "history_id")
    type(first).objects.filter(pk=first.pk).update(history_date=created)
    type(first).objects.filter(pk__in=[h.pk for h in later]).update(history_date=entered)
    span = entered - created
    for index, move in enumerate(moves):
        at = entered if index == len(moves) - 1 else created + span * index / max(1, len(moves) - 1)
        StatusHistory.objects.filter(pk=move.pk).update(at=at)


def seed(users: dict[str, User], out) -> None:
    steps = steps_by_name()
    if not steps:
        out.write("  no deal pipeline: skipped")
        return
    organizations = {o.name: o for o in Organization.objects.all()}
    people: dict[str, Person] = {}
    for person in Person.objects.select_related("organization").order_by("created_at"):
        if person.organization:
            people.setdefault(person.organization.name, person)
    created = 0
    for n, (owner, assignee, org, title, amount, step, days, close_weeks) in enumerate(DEALS):
        name = f"{org} – {title}"
        if Deal.all_objects.filter(name=name).exists():
            continue
        by = users[owner]
        organization = organizations.get(org)
        deal = services.deal_create(
            by=by,
            name=name,
            amount=Decimal(amount),
            expected_close_date=(
                timezone.localdate() + timedelta(weeks=close_weeks) if close_weeks else None
            ),
            organization=organization,
            person=people.get(org),
            assigned_to=users[assignee] if assignee else None,
        )
        walk(deal, step, by, steps, n)
        now = timezone.now()
        backdate(
            deal,
            created=now - timedelta(days=days + 7 + 3 * (n % 5), hours=3),
            entered=now - timedelta(days=days, hours=1),
        )
        created += 1
    out.write(f"  {Deal.objects.count()} deals ({created} new)")
