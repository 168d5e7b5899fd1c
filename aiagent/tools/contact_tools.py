"""People, organizations and users."""

from __future__ import annotations

from django.http import QueryDict

from aiagent.registry import ToolContext, tool
from aiagent.tools.common import (
    CUSTOM_FIELD_VALUES,
    LIMIT,
    QUERY,
    UUID,
    custom_field_values_of,
    explained_custom_fields,
    field_properties,
    field_values,
    organization_brief,
    person_brief,
    require_text,
    search_results,
)
from crm import selectors, services
from crm.filters import OrganizationFilter, PersonFilter
from crm.models import ORGANIZATION_FIELDS, PERSON_FIELDS, Organization, Person


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
