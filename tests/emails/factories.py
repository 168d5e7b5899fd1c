"""factory-boy factories of the emails app. Rows are made directly (no service): the tests of
the services go through the services."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from emails.models import EmailMessage, EmailTemplate, EmailThread
from tests.leads.factories import LeadFactory


class EmailTemplateFactory(DjangoModelFactory):
    class Meta:
        model = EmailTemplate

    name = factory.Sequence(lambda n: f"Follow-up {n}")
    subject = "Following up on {{ lead.name }}"
    body = "Hi {{ lead.contact_name }},\n\nThanks for your time.\n\n{{ sender.first_name }}"
    is_active = True


class EmailThreadFactory(DjangoModelFactory):
    """A thread on a lead (pass ``lead=``, ``person=`` or ``deal=``)."""

    class Meta:
        model = EmailThread

    subject = "Fleet telematics"
    lead = factory.SubFactory(LeadFactory)


class EmailMessageFactory(DjangoModelFactory):
    """A sent outbound message on a thread (``direction="inbound"``, ``status="received"``
    and a ``from_address`` for one received)."""

    class Meta:
        model = EmailMessage

    thread = factory.SubFactory(EmailThreadFactory)
    direction = EmailMessage.Direction.OUTBOUND
    status = EmailMessage.Status.SENT
    message_id = factory.Sequence(lambda n: f"msg-{n}@pipecrm.localhost")
    from_address = "crm@pipecrm.localhost"
    from_name = "PipeCRM"
    to = factory.LazyFunction(lambda: ["ann@example.com"])
    subject = factory.SelfAttribute("thread.subject")
    text_body = "Hello"
    sent_at = factory.LazyFunction(timezone.now)
