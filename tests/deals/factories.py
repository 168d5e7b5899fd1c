"""Deals for tests, made through the service so projects, permissions and history are real."""

from __future__ import annotations

from decimal import Decimal

from faker import Faker

from crm.models import User
from deals import services
from deals.models import Deal
from wfm.defaults import DealStep
from wfm.models import WorkflowStep

# The Sales Pipeline's open steps in order: how a deal reaches a step by allowed moves.
PIPELINE_PATH = [
    DealStep.QUALIFICATION,
    DealStep.INITIAL_CONTACT,
    DealStep.DISCOVERY,
    DealStep.PROPOSAL,
    DealStep.NEGOTIATION,
]
ALL_STEPS = [*PIPELINE_PATH, DealStep.CLOSED_WON, DealStep.CLOSED_LOST]

fake = Faker()


def pipeline_step(name: str) -> WorkflowStep:
    """A step of the default Sales Pipeline, by name."""
    return WorkflowStep.objects.select_related("status").get(
        workflow__name="Sales Pipeline", status__name=name
    )


def make_deal(
    owner: User,
    *,
    step: str | None = None,
    name: str | None = None,
    amount: Decimal | int | str = Decimal("1000"),
    by: User | None = None,
    **fields,
) -> Deal:
    """A deal created by ``by`` (default: the owner), moved along the pipeline to ``step``."""
    by = by or owner
    deal = services.deal_create(
        by=by,
        name=name or fake.catch_phrase(),
        amount=Decimal(str(amount)),
        owner=owner if owner != by else None,
        **fields,
    )
    if step:
        move_to(deal, step, by=by)
    return deal


def move_to(deal: Deal, step: str, *, by: User) -> Deal:
    """Walk ``deal`` to ``step`` along the allowed moves of the Sales Pipeline."""
    if step == DealStep.CLOSED_WON:
        return services.deal_mark_won(by=by, deal=deal)
    if step == DealStep.CLOSED_LOST:
        return services.deal_mark_lost(by=by, deal=deal, reason="Chose a competitor")
    current = deal.wfm_project.current_step.name
    path = PIPELINE_PATH
    start, end = path.index(current), path.index(step)
    stride = 1 if end >= start else -1
    for name in path[start + stride : end + stride : stride]:
        services.deal_transition(by=by, deal=deal, to_step=pipeline_step(name))
    return deal
