import pytest

from wfm.defaults import LeadStep
from wfm.models import WorkflowStep


@pytest.fixture
def steps(db):
    """The default Lead Qualification steps by name."""
    return {
        s.name: s
        for s in WorkflowStep.objects.select_related("status").filter(
            workflow__name="Lead Qualification"
        )
    }


@pytest.fixture
def step_names():
    return LeadStep
