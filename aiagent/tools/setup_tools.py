"""Configuration the agent reads (workflows and their steps, custom fields) and the one piece it
may propose to change (a new custom field, with the user's confirmation)."""

from __future__ import annotations

from aiagent.registry import ToolContext, ToolError, tool
from aiagent.tools.common import short
from customfields.models import EntityType, FieldType
from customfields.permissions import can_manage_custom_fields
from customfields.selectors import field_list
from wfm.models import ProjectType
from wfm.selectors import workflow_list

ENTITY_TYPES = list(EntityType.values)


@tool(
    "list_workflows",
    """The workflows with their steps in order (probability, outcome, minimum score) and the
    allowed moves between steps: the Lead Qualification workflow of leads and the Sales
    Pipeline of deals.""",
    {"entity_type": {"type": "string", "enum": ["lead", "deal"]}},
)
def list_workflows(ctx: ToolContext, args: dict) -> dict:
    workflows = workflow_list(user=ctx.user, active_only=True)
    if args.get("entity_type"):
        project_types = ProjectType.objects.filter(entity_type=args["entity_type"])
        workflows = workflows.filter(project_types__in=project_types).distinct()
    results = []
    for workflow in workflows:
        steps = list(workflow.steps.all())
        names = {s.pk: s.name for s in steps}
        results.append(
            {
                "id": workflow.pk,
                "name": workflow.name,
                "steps": [
                    {
                        "id": s.pk,
                        "name": s.name,
                        "order": s.order,
                        "probability": s.probability,
                        "outcome": s.outcome,
                        "is_final": s.is_final,
                        "min_lead_score": s.min_lead_score,
                    }
                    for s in steps
                ],
                "moves": [
                    f"{names.get(t.from_step_id, '?')} → {names.get(t.to_step_id, '?')}"
                    for t in workflow.transitions.all()
                ],
            }
        )
    return {"results": results}


@tool(
    "list_custom_fields",
    """The custom fields of leads, deals, people or organizations: name (the key to use in
    custom_field_values when creating or changing records, and in the custom_fields filters
    of the searches), label, type, options and whether they are required.""",
    {"entity_type": {"type": "string", "enum": ENTITY_TYPES}},
)
def list_custom_fields(ctx: ToolContext, args: dict) -> dict:
    fields = field_list(user=ctx.user, entity_type=args.get("entity_type"))
    return {
        "results": [
            {
                "entity_type": f.entity_type,
                "name": f.name,
                "label": f.label,
                "field_type": f.type,
                "options": f.options or [],
                "required": f.is_required,
                "active": f.is_active,
                "help_text": short(f.help_text, 200) or None,
            }
            for f in fields
        ]
    }


def _propose_custom_field(ctx: ToolContext, args: dict) -> str:
    if not can_manage_custom_fields(ctx.user, "add"):
        raise ToolError(
            "You do not have permission to manage custom fields.", code="permission_denied"
        )
    options = args.get("options") or []
    extra = f" with options {', '.join(map(str, options[:10]))}" if options else ""
    required = " (required)" if args.get("is_required") else ""
    return (
        f"Add a {args['field_type']} custom field “{short(args['label'], 100)}” "
        f"(name {args['name']}) to {args['entity_type']} records{extra}{required}."
    )


@tool(
    "create_custom_field",
    """Add a custom field to leads, deals, people or organizations (managers only). Needs the
    user's confirmation: calling it creates a proposal; nothing changes before they confirm.""",
    {
        "entity_type": {"type": "string", "enum": ENTITY_TYPES},
        "name": {
            "type": "string",
            "pattern": "^[a-z][a-z0-9_]{0,49}$",
            "description": "The key: lower case letters, digits and underscores.",
        },
        "label": {"type": "string", "minLength": 1, "maxLength": 100},
        "field_type": {"type": "string", "enum": list(FieldType.values)},
        "options": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 50},
        "is_required": {"type": "boolean"},
        "help_text": {"type": "string", "maxLength": 300},
    },
    required=("entity_type", "name", "label", "field_type"),
    propose=_propose_custom_field,
)
def create_custom_field(ctx: ToolContext, args: dict) -> dict:
    from customfields.services import custom_field_create

    field = custom_field_create(
        by=ctx.user,
        entity_type=args["entity_type"],
        name=args["name"],
        label=args["label"],
        type=args["field_type"],
        options=args.get("options") or [],
        is_required=bool(args.get("is_required")),
        help_text=str(args.get("help_text") or ""),
    )
    return {
        "created": True,
        "custom_field": {
            "entity_type": field.entity_type,
            "name": field.name,
            "label": field.label,
            "field_type": field.type,
        },
    }
