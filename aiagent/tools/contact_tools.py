"""People, organizations and users."""

from __future__ import annotations

from django.http import QueryDict

from aiagent.registry import ToolContext, tool
from aiagent.tools.common import (
    CUSTOM_FIELD_VALUES,
    LIMIT,
    QUERY,
    UUID,
    activity_brief,
    custom_field_values_of,
    deal_brief,
    explained_custom_fields,
    field_properties,
    field_values,
    lead_brief,
    organization_brief,
    person_brief,
    require_text,
    search_results,
)
from crm import selectors, services
from crm.filters import OrganizationFilter, PersonFilter
from crm.models import ORGANIZATION_FIELDS, PERSON_FIELDS, Organization, Person
from customfields.selectors import active_values


@tool(
    "search_people",
    """Find people (contacts) the user can see by name, email, job title or organization
    name, or all people of one organization.""",
    {"query": QUERY, "organization_id": UUID, "limit": LIMIT},
)
def search_people(ctx: ToolContext, args: dict) -> dict:
    queryset = selectors.person_list(user=ctx.user)
    data = QueryDict(mutable=True)
    if args.get("query"):
        data["search"] = str(args["query"])
    if args.get("organization_id"):
        organization = selectors.organization_get(
            user=ctx.user, organization_id=args["organization_id"]
        )
        queryset = queryset.filter(organization=organization)
    return search_results(
        PersonFilter, data, queryset, args, person_brief, order_by=("last_name", "first_name", "pk")
    )


@tool(
    "get_person",
    """Read one person (contact): details, organization, custom fields, the open deals and
    leads linked to them that the user can see, and their latest activities.""",
    {"person_id": UUID},
    required=("person_id",),
)
def get_person(ctx: ToolContext, args: dict) -> dict:
    person = selectors.person_get(user=ctx.user, person_id=args.get("person_id"))
    return {
        **person_brief(person),
        "custom_fields": active_values("person", person.custom_field_values),
        **_related(ctx, person, "person"),
    }


@tool(
    "get_organization",
    """Read one organization (company): details, custom fields, its people, the deals and
    leads linked to it that the user can see, and its latest activities.""",
    {"organization_id": UUID},
    required=("organization_id",),
)
def get_organization(ctx: ToolContext, args: dict) -> dict:
    organization = selectors.organization_get(
        user=ctx.user, organization_id=args.get("organization_id")
    )
    people = selectors.person_list(user=ctx.user).filter(organization=organization)
    return {
        **organization_brief(organization),
        "custom_fields": active_values("organization", organization.custom_field_values),
        "people": [person_brief(p) for p in people.order_by("last_name", "first_name")[:10]],
        **_related(ctx, organization, "organization"),
    }


def _related(ctx: ToolContext, record, field: str) -> dict:
    """A person's or organization's deals, leads and latest activities the user may see."""
    from activities.selectors import timeline
    from deals.selectors import deal_list
    from leads.selectors import lead_list

    deals = deal_list(user=ctx.user).filter(**{field: record}).order_by("-created_at")[:10]
    leads = lead_list(user=ctx.user).filter(**{field: record}).order_by("-created_at")[:10]
    open_, done, _more = timeline(record=record, limit=10)
    return {
        "deals": [deal_brief(d) for d in deals],
        "leads": [lead_brief(lead) for lead in leads],
        "activities": [activity_brief(a) for a in [*open_[:5], *done[:5]]],
    }


@tool(
    "create_person",
    """Create a person (contact) owned by the user, optionally in an organization; custom
    fields (required ones included) in custom_field_values.""",
    {**field_properties(Person, PERSON_FIELDS), "custom_field_values": CUSTOM_FIELD_VALUES},
    required=("first_name",),
    writes=True,
)
def create_person(ctx: ToolContext, args: dict) -> dict:
    data = field_values(ctx, Person, PERSON_FIELDS, args)
    data["first_name"] = require_text(args, "first_name")
    with explained_custom_fields():
        person = services.person_create(
            by=ctx.user, custom_field_values=custom_field_values_of(args), **data
        )
    return {"created": True, "person": person_brief(person)}


@tool(
    "search_organizations",
    "Find organizations (companies) the user can see by name, domain or industry.",
    {"query": QUERY, "industry": {"type": "string", "maxLength": 100}, "limit": LIMIT},
)
def search_organizations(ctx: ToolContext, args: dict) -> dict:
    data = QueryDict(mutable=True)
    if args.get("query"):
        data["search"] = str(args["query"])
    if args.get("industry"):
        data["industry"] = str(args["industry"])
    queryset = selectors.organization_list(user=ctx.user)
    return search_results(OrganizationFilter, data, queryset, args, organization_brief)


@tool(
    "create_organization",
    """Create an organization (company) owned by the user; custom fields (required ones
    included) in custom_field_values.""",
    {
        **field_properties(Organization, ORGANIZATION_FIELDS),
        "custom_field_values": CUSTOM_FIELD_VALUES,
    },
    required=("name",),
    writes=True,
)
def create_organization(ctx: ToolContext, args: dict) -> dict:
    data = field_values(ctx, Organization, ORGANIZATION_FIELDS, args)
    data["name"] = require_text(args, "name")
    with explained_custom_fields():
        organization = services.organization_create(
            by=ctx.user, custom_field_values=custom_field_values_of(args), **data
        )
    return {"created": True, "organization": organization_brief(organization)}


@tool(
    "list_users",
    "The active users you may see, for filters and assignment (id, username, name; the role "
    "only for managers and administrators, and your own).",
    {"query": {"type": "string", "maxLength": 100}},
)
def list_users(ctx: ToolContext, args: dict) -> dict:
    # The same directory as /api/v1/users/: a viewer lists nobody but itself, and only
    # managers and administrators see others' roles.
    users = selectors.user_directory(user=ctx.user)
    show_roles = selectors.sees_user_roles(ctx.user)
    query = str(args.get("query") or "").strip().lower()
    rows = [
        {
            "id": u.pk,
            "username": u.username,
            "name": u.display_name,
            "role": u.role if show_roles or u.pk == ctx.user.pk else None,
            "is_me": u.pk == ctx.user.pk,
        }
        for u in users
        if not query or query in f"{u.username} {u.display_name}".lower()
    ]
    return {"count": len(rows), "results": rows[:100]}
