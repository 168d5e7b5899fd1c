"""Factories of activities and automation (rows straight into the tables; the tests of the
services create activities through ``activities.services``)."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from activities.models import (
    Activity,
    AssignmentRule,
    AutomationAction,
    AutomationCondition,
    AutomationRule,
    Sequence,
    SequenceStep,
    WebhookSubscription,
)


class ActivityFactory(DjangoModelFactory):
    class Meta:
        model = Activity

    type = Activity.Type.TASK
    subject = factory.Faker("sentence", nb_words=4)
    assigned_to = None
    created_by = factory.SelfAttribute("assigned_to")


class AssignmentRuleFactory(DjangoModelFactory):
    class Meta:
        model = AssignmentRule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rule {n}")
    order = factory.Sequence(int)

    @factory.post_generation
    def users(self, create, extracted, **kwargs):
        if create and extracted:
            self.users.set(extracted)


class AutomationRuleFactory(DjangoModelFactory):
    class Meta:
        model = AutomationRule

    name = factory.Sequence(lambda n: f"Automation {n}")
    trigger = "lead.created"


class ConditionFactory(DjangoModelFactory):
    class Meta:
        model = AutomationCondition

    rule = factory.SubFactory(AutomationRuleFactory)
    field = "source"
    operator = "eq"
    value = "web"


class ActionFactory(DjangoModelFactory):
    class Meta:
        model = AutomationAction

    rule = factory.SubFactory(AutomationRuleFactory)
    order = factory.Sequence(int)
    type = AutomationAction.Type.CREATE_ACTIVITY
    activity_type = Activity.Type.TASK
    subject = "Follow up {lead.name}"


class SequenceFactory(DjangoModelFactory):
    class Meta:
        model = Sequence
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Nurture {n}")

    @factory.post_generation
    def steps(self, create, extracted, **kwargs):
        """``steps=[(delay_days, type, subject), …]``"""
        if create and extracted:
            for order, (delay, type_, subject) in enumerate(extracted, start=1):
                SequenceStep.objects.create(
                    sequence=self,
                    order=order,
                    delay_days=delay,
                    activity_type=type_,
                    subject=subject,
                )


class WebhookFactory(DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    name = factory.Sequence(lambda n: f"Hook {n}")
    url = "http://127.0.0.1:9/hook"
    events = factory.LazyFunction(lambda: ["lead.created"])
