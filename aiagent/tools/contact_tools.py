"""People, organizations and users."""

from __future__ import annotations

from django.http import QueryDict

from aiagent.registry import ToolContext, ToolError, tool
from aiagent.tools.common import (
    CUSTOM_FIELD_VALUES,
    LIMIT,
    QUERY,
    UUID,
    custom_field_values_of,
    explained_custom_fields,
    limit_of,
    organization_brief,
    person_brief,
    require_text,
)
from crm import selectors, services
from crm.filters import OrganizationFilter, PersonFilter


def _filtered(filterset_class, data: QueryDict, queryset):
    filterset = filterset_class(data, queryset=queryset)
    if not filterset.is_valid():
        details = {k: [str(m) for m in v] for k, v in filterset.errors.items()}
        raise ToolError("Invalid filters.", code="invalid_arguments", details=details)
    return filterset.qs


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
    rows = _filtered(PersonFilter, data, queryset).order_by("last_name", "first_name", "pk")
    return {"count": rows.count(), "results": [person_brief(p) for p in rows[: limit_of(args)]]}


@tool(
    "create_person",
    """Create a person (contact) owned by the user, optionally in an organization; custom
    fields (required ones included) in custom_field_values.""",
    {
        "first_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "last_name": {"type": "string", "maxLength": 100},
        "email": {"type": "string", "maxLength": 254},
        "phone": {"type": "string", "maxLength": 50},
        "job_title": {"type": "string", "maxLength": 150},
        "organization_id": UUID,
        "custom_field_values": CUSTOM_FIELD_VALUES,
    },
    required=("first_name",),
    writes=True,
)
def create_person(ctx: ToolContext, args: dict) -> dict:
    organization = None
    if args.get("organization_id"):
        organization = selectors.organization_get(
            user=ctx.user, organization_id=args["organization_id"]
        )
    first_name = require_text(args, "first_name")
    with explained_custom_fields():
        person = services.person_create(
            by=ctx.user,
            first_name=first_name,
            last_name=str(args.get("last_name") or ""),
            email=str(args.get("email") or ""),
            phone=str(args.get("phone") or ""),
            job_title=str(args.get("job_title") or ""),
            organization=organization,
            custom_field_values=custom_field_values_of(args),
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
    rows = _filtered(OrganizationFilter, data, selectors.organization_list(user=ctx.user))
    return {
        "count": rows.count(),
        "results": [organization_brief(o) for o in rows[: limit_of(args)]],
    }


@tool(
    "create_organization",
    """Create an organization (company) owned by the user; custom fields (required ones
    included) in custom_field_values.""",
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "domain": {"type": "string", "maxLength": 200},
        "industry": {"type": "string", "maxLength": 100},
        "size": {
            "type": "string",
            "maxLength": 20,
            "description": "Employees as a band: 1-10, 11-50, 51-200, 201-1000, 1000+.",
        },
        "address": {"type": "string", "maxLength": 1000},
        "custom_field_values": CUSTOM_FIELD_VALUES,
    },
    required=("name",),
    writes=True,
)
def create_organization(ctx: ToolContext, args: dict) -> dict:
    name = require_text(args, "name")
    with explained_custom_fields():
        organization = services.organization_create(
            by=ctx.user,
            name=name,
            domain=str(args.get("domain") or ""),
            industry=str(args.get("industry") or ""),
            size=str(args.get("size") or ""),
            address=str(args.get("address") or ""),
            custom_field_values=custom_field_values_of(args),
        )
    return {"created": True, "organization": organization_brief(organization)}


@tool(
    "list_users",
    "The active users records can be assigned to (id, username, name, role).",
    {"query": {"type": "string", "maxLength": 100}},
)
def list_users(ctx: ToolContext, args: dict) -> dict:
    users = selectors.assignable_users()
    query = str(args.get("query") or "").strip().lower()
    rows = [
        {
            "id": u.pk,
            "username": u.username,
            "name": u.display_name,
            "role": u.role,
            "is_me": u.pk == ctx.user.pk,
        }
        for u in users
        if not query or query in f"{u.username} {u.display_name}".lower()
    ]
    return {"count": len(rows), "results": rows[:100]}
