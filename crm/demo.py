"""Demo data of the crm core: the six demo users and a few people and organizations.

Idempotent: running it twice changes nothing. Records are created through the services, so
permissions, history and events are exactly those of real use.
"""

from __future__ import annotations

from django.contrib.auth.models import Group

from crm import services
from crm.models import Organization, Person, User
from crm.roles import Role

DEMO_PASSWORD = "pipecrm-demo"

DEMO_USERS = [
    # username, first, last, role, superuser
    ("admin", "Ada", "Admin", Role.ADMIN, True),
    ("manager", "Morgan", "Manager", Role.MANAGER, False),
    ("rep1", "Riley", "Rep", Role.SALES_REP, False),
    ("rep2", "Sam", "Seller", Role.SALES_REP, False),
    ("analyst", "Alex", "Analyst", Role.ANALYST, False),
    ("viewer", "Vic", "Viewer", Role.VIEWER, False),
]

ORGANIZATIONS = [
    # name, domain, industry, size, owner
    ("Acme Robotics", "acme-robotics.com", "Manufacturing", "201-1000", "rep1"),
    ("Globex Health", "globexhealth.io", "Healthcare", "51-200", "rep1"),
    ("Initech Software", "initech.dev", "Software", "11-50", "rep2"),
    ("Umbrella Logistics", "umbrella-logistics.com", "Logistics", "1000+", "rep2"),
    ("Stark Renewables", "starkrenew.energy", "Energy", "201-1000", "manager"),
]

PEOPLE = [
    # first, last, email, job title, organization, owner
    ("Maria", "Lopez", "maria.lopez@acme-robotics.com", "VP Operations", "Acme Robotics", "rep1"),
    ("Tom", "Becker", "tom.becker@acme-robotics.com", "Plant Manager", "Acme Robotics", "rep1"),
    ("Priya", "Nair", "priya@globexhealth.io", "CTO", "Globex Health", "rep1"),
    ("John", "Okafor", "john.okafor@initech.dev", "Head of IT", "Initech Software", "rep2"),
    (
        "Lena",
        "Schmidt",
        "lena@umbrella-logistics.com",
        "Procurement Lead",
        "Umbrella Logistics",
        "rep2",
    ),
    ("Kenji", "Sato", "kenji@starkrenew.energy", "CFO", "Stark Renewables", "manager"),
]


def seed(users: dict[str, User], out) -> None:
    for name, domain, industry, size, owner in ORGANIZATIONS:
        if not Organization.objects.filter(name=name).exists():
            owner_user = users[owner]
            services.organization_create(
                by=owner_user, name=name, domain=domain, industry=industry, size=size
            )
    orgs = {o.name: o for o in Organization.objects.all()}
    for first, last, email, title, org, owner in PEOPLE:
        if not Person.objects.filter(email=email).exists():
            services.person_create(
                by=users[owner],
                first_name=first,
                last_name=last,
                email=email,
                job_title=title,
                organization=orgs[org],
            )
    out.write(f"  {Organization.objects.count()} organizations, {Person.objects.count()} people")


def ensure_users() -> dict[str, User]:
    users = {}
    for username, first, last, role, superuser in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, first_name=first, last_name=last)
            user.email = f"{username}@pipecrm.example"
            user.is_superuser = superuser
            user.is_staff = superuser or role == Role.MANAGER
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role.value))
        users[username] = user
    return users
