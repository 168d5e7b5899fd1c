"""factory-boy factories of the crm core. Apps keep theirs in ``tests/<app>/factories.py``."""

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from crm import permissions
from crm.models import Organization, Person, User
from crm.roles import Role

PASSWORD = "pipecrm-test-pw"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=Role(extracted).value))


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization
        skip_postgeneration_save = True

    name = factory.Faker("company")
    domain = factory.Faker("domain_name")
    industry = "Software"
    owner = factory.SubFactory(UserFactory, role=Role.SALES_REP)
    created_by = factory.SelfAttribute("owner")

    @factory.post_generation
    def grant_owner(self, create, extracted, **kwargs):
        if create and self.owner:
            permissions.grant_owner(self.owner, self)


class PersonFactory(DjangoModelFactory):
    class Meta:
        model = Person
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    job_title = factory.Faker("job")
    owner = factory.SubFactory(UserFactory, role=Role.SALES_REP)
    created_by = factory.SelfAttribute("owner")

    @factory.post_generation
    def grant_owner(self, create, extracted, **kwargs):
        if create and self.owner:
            permissions.grant_owner(self.owner, self)
