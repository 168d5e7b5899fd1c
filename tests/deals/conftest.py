import pytest

from tests.deals.factories import ALL_STEPS, pipeline_step
from tests.factories import OrganizationFactory, PersonFactory


@pytest.fixture
def steps(db):
    """The Sales Pipeline's steps by name."""
    return {name: pipeline_step(name) for name in ALL_STEPS}


@pytest.fixture
def org(rep1):
    return OrganizationFactory(owner=rep1, name="Acme Robotics")


@pytest.fixture
def person(rep1, org):
    return PersonFactory(owner=rep1, organization=org, first_name="Maria", last_name="Lopez")


@pytest.fixture
def web(client):
    def login(user):
        client.force_login(user)
        return client

    return login
