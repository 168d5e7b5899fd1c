import pytest

from crm import events
from crm.models import Event
from tests.leads.factories import LeadFactory


def run_events() -> list[int]:
    """Process the pending outbox events (and those their handlers emit), as the worker
    would after commit. Returns the processed ids."""
    done: list[int] = []
    for _ in range(10):
        pending = list(
            Event.objects.filter(status=Event.Status.PENDING)
            .exclude(pk__in=done)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not pending:
            break
        for event_id in pending:
            events.process(event_id)
            done.append(event_id)
    return done


@pytest.fixture
def process_events():
    return run_events


@pytest.fixture
def lead(rep1):
    """A lead owned by rep1 (no assignee)."""
    return LeadFactory(owner=rep1, name="Acme – Fleet telematics", contact_name="Maria Lopez")


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login
