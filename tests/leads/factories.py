import factory
from factory.django import DjangoModelFactory

from crm import permissions
from crm.roles import Role
from leads.models import Lead
from tests.factories import UserFactory
from wfm.selectors import project_type_for
from wfm.services import project_start


def _new_project():
    return project_start(by=None, project_type=project_type_for(entity_type="lead"))


class LeadFactory(DjangoModelFactory):
    """A lead at the Lead Qualification initial step, with owner (and assignee) permissions."""

    class Meta:
        model = Lead
        skip_postgeneration_save = True

    name = factory.Faker("catch_phrase")
    source = Lead.Source.WEB
    contact_name = factory.Faker("name")
    contact_email = factory.Sequence(lambda n: f"contact{n}@lead{n}.example.com")
    company_name = factory.Faker("company")
    estimated_value = factory.Faker("pydecimal", left_digits=5, right_digits=2, positive=True)
    owner = factory.SubFactory(UserFactory, role=Role.SALES_REP)
    created_by = factory.SelfAttribute("owner")
    wfm_project = factory.LazyFunction(_new_project)

    @factory.post_generation
    def grant(self, create, extracted, **kwargs):
        if not create:
            return
        if self.owner:
            permissions.grant_owner(self.owner, self)
        if self.assigned_to:
            permissions.move_assignee(self, previous=None, new=self.assigned_to, owner=self.owner)


class CaptureFormFactory(DjangoModelFactory):
    """An active capture form showing the usual contact fields (name required)."""

    class Meta:
        model = "leads.CaptureForm"

    name = factory.Sequence(lambda n: f"Contact form {n}")
    slug = factory.Sequence(lambda n: f"contact-{n}")
    fields = factory.LazyFunction(
        lambda: [
            {"name": "contact_name", "required": True},
            {"name": "company_name", "required": False},
            {"name": "description", "required": False},
        ]
    )
