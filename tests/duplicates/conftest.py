import pytest

from tests.factories import OrganizationFactory, PersonFactory
from tests.leads.factories import LeadFactory


@pytest.fixture
def make_lead(rep1):
    def make(**kw):
        kw.setdefault("owner", rep1)
        kw.setdefault("contact_name", "")
        kw.setdefault("company_name", "")
        kw.setdefault("contact_phone", "")
        return LeadFactory(**kw)

    return make


@pytest.fixture
def make_person(rep1):
    def make(**kw):
        kw.setdefault("owner", rep1)
        return PersonFactory(**kw)

    return make


@pytest.fixture
def make_org(rep1):
    def make(**kw):
        kw.setdefault("owner", rep1)
        return OrganizationFactory(**kw)

    return make
