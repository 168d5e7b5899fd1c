"""The tool registry: every tool the agent, the offline parser and the MCP server can call.

A tool has a name, a description written for the model, a JSON input schema and a function
``(ctx, arguments) -> dict`` that calls services and selectors as ``ctx.user``: a tool can never
see or do more than its user. ``execute`` is the only way to run one; it validates the
arguments against the schema, turns confirm-only calls into a ``Proposal`` (nothing happens
until the user confirms), caps the result, and records a ``ToolCall`` row and an audit entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from aiagent.models import Conversation, Message, Proposal, ToolCall
from crm import services as crm_services
from crm.errors import DomainError, PermissionDenied
from crm.models import User

logger = logging.getLogger(__name__)


class ToolError(DomainError):
    """The tool could not run with these arguments."""

    code = "tool_error"
    status = 400


@dataclass(frozen=True)
class ToolContext:
    """Who calls, from where. ``confirmed`` is set only by ``services.proposal_confirm``."""

    user: User
    source: str = "chat"  # chat, offline, mcp, api, ui, confirm
    conversation: Conversation | None = None
    confirmed: bool = False


Func = Callable[[ToolContext, dict], dict]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict
    func: Func
    # Confirm-only tools: ``propose`` checks that the user may do it and says what would happen.
    propose: Callable[[ToolContext, dict], str] | None = None
    writes: bool = False
    validator: Draft202012Validator = field(repr=False, compare=False, default=None)

    @property
    def needs_confirmation(self) -> bool:
        return self.propose is not None

    def schema_for_model(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }


TOOLS: dict[str, Tool] = {}


def tool(
    name: str,
    description: str,
    properties: dict | None = None,
    *,
    required: tuple[str, ...] = (),
    writes: bool = False,
    propose: Callable[[ToolContext, dict], str] | None = None,
) -> Callable[[Func], Func]:
    """Register the decorated function as the tool ``name``."""
    schema = {
        "type": "object",
        "properties": properties or {},
        "required": list(required),
        "additionalProperties": False,
    }
    Draft202012Validator.check_schema(schema)

    def register(func: Func) -> Func:
        if name in TOOLS:
            raise ValueError(f"Tool {name!r} is registered twice.")
        TOOLS[name] = Tool(
            name=name,
            description=description.strip(),
            input_schema=schema,
            func=func,
            propose=propose,
            writes=writes or propose is not None,
            validator=Draft202012Validator(schema),
        )
        return func

    return register


def all_tools() -> list[Tool]:
    _load()
    return list(TOOLS.values())


def get(name: str) -> Tool | None:
    _load()
    return TOOLS.get(name)


def model_schemas() -> list[dict]:
    return [t.schema_for_model() for t in all_tools()]


def _load() -> None:
    # The tool modules register themselves on import.
    import aiagent.tools  # noqa: F401


# --- execution --------------------------------------------------------------------------------
def to_json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def hash_arguments(arguments: Any) -> str:
    canonical = json.dumps(
        arguments, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Outcome:
    tool: str
    result: dict  # capped: what the model, the MCP client and the UI see
    error: str = ""
    proposal: Proposal | None = None
    tool_call: ToolCall | None = None
    records: list[dict] = field(default_factory=list)
    result_count: int | None = None

    @property
    def ok(self) -> bool:
        return not self.error


def execute(
    ctx: ToolContext,
    name: str,
    arguments: Any,
    *,
    message: Message | None = None,
    tool_use_id: str = "",
) -> Outcome:
    """Run one tool call as ``ctx.user`` and record it. Never raises for the tool's failures:
    they come back as ``{"error": {"code", "message", "details"}}`` for the model to read."""
    started = time.perf_counter()
    arguments = without_nul(arguments if isinstance(arguments, dict) else {"_invalid": arguments})
    args_hash = hash_arguments(arguments)
    found = get(name)
    proposal: Proposal | None = None
    error = ""
    try:
        if found is None:
            raise ToolError(f"There is no tool named “{str(name)[:80]}”.", code="unknown_tool")
        if not (ctx.user.is_authenticated and ctx.user.is_active):
            raise PermissionDenied("Your account cannot use the AI tools.")
        _validate(found, arguments)
        with transaction.atomic():
            if found.needs_confirmation and not ctx.confirmed:
                summary = found.propose(ctx, arguments)
                proposal = _create_proposal(ctx, found, arguments, args_hash, summary)
                result = {
                    "status": "needs_confirmation",
                    "proposal_id": str(proposal.pk),
                    "summary": summary,
                    "message": "Nothing has been done yet. The user has been shown this "
                    "proposal with a Confirm button; it runs only if they confirm it.",
                }
            else:
                result = found.func(ctx, arguments)
    except DomainError as exc:
        result = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        error = f"{exc.code}: {exc.message}"
    except Exception as exc:  # a bug must not take the conversation down
        logger.exception("AI tool %s failed", name)
        result = {"error": {"code": "server_error", "message": "The tool failed unexpectedly."}}
        error = f"server_error: {exc.__class__.__name__}"
    duration_ms = int((time.perf_counter() - started) * 1000)

    result = without_nul(result)
    full = to_json(result)
    capped = cap_result(result, full)
    records = extract_records(result)
    count = result_count(result)
    tool_call = ToolCall.objects.create(
        message=message,
        user=ctx.user if ctx.user.is_authenticated else None,
        source=ctx.source,
        tool=str(name)[:100],
        tool_use_id=tool_use_id[:100],
        arguments=arguments,
        arguments_hash=args_hash,
        result=capped,
        result_size=len(full),
        result_count=count,
        records=records,
        duration_ms=duration_ms,
        error=error,
        proposal=proposal,
    )
    crm_services.audit(
        by=ctx.user if ctx.user.is_authenticated else None,
        action="ai.tool_call",
        tool=str(name)[:100],
        source=ctx.source,
        arguments_hash=args_hash,
        result_count=count,
        error=error.split(":", 1)[0] if error else "",
        proposal=str(proposal.pk) if proposal else "",
        tool_call=tool_call.pk,
        conversation=str(ctx.conversation.pk) if ctx.conversation else "",
    )
    return Outcome(
        tool=str(name),
        result=capped,
        error=error,
        proposal=proposal,
        tool_call=tool_call,
        records=records,
        result_count=count,
    )


def _validate(found: Tool, arguments: dict) -> None:
    errors = sorted(found.validator.iter_errors(arguments), key=lambda e: list(e.path))
    if not errors:
        return
    details: dict[str, list[str]] = {}
    for err in errors[:10]:
        key = ".".join(str(p) for p in err.path) or "arguments"
        details.setdefault(key, []).append(err.message[:200])
    first_key, first = next(iter(details.items()))
    raise ToolError(
        f"Invalid arguments for {found.name}: {first_key}: {first[0]}",
        code="invalid_arguments",
        details=details,
    )


def _create_proposal(
    ctx: ToolContext, found: Tool, arguments: dict, args_hash: str, summary: str
) -> Proposal:
    return Proposal.objects.create(
        token=secrets.token_urlsafe(32),
        user=ctx.user,
        conversation=ctx.conversation,
        tool=found.name,
        arguments=arguments,
        arguments_hash=args_hash,
        summary=summary,
        expires_at=timezone.now() + timedelta(seconds=settings.AI_PROPOSAL_TTL),
    )


def without_nul(value: Any) -> Any:
    """``value`` with NUL characters removed from every string: PostgreSQL cannot store them
    in text or JSON, and no CRM value needs one."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


# --- results ----------------------------------------------------------------------------------
def cap_result(result: dict, full: str | None = None) -> dict:
    """The result within ``AI_TOOL_RESULT_MAX_CHARS``: list items are dropped from the end
    (and the result says so), anything else is cut."""
    limit = settings.AI_TOOL_RESULT_MAX_CHARS
    full = full if full is not None else to_json(result)
    if len(full) <= limit:
        return result
    items = result.get("results")
    if isinstance(items, list) and items:
        kept = list(items)
        while kept:
            kept.pop()
            trial = {
                **result,
                "results": kept,
                "truncated": True,
                "note": f"Only {len(kept)} of {len(items)} shown: the result was too long. "
                "Ask for fewer or narrow the search.",
            }
            if len(to_json(trial)) <= limit:
                return trial
    return {
        "truncated": True,
        "note": "The result was too long and was cut.",
        "text": full[: max(0, limit - 200)],
    }


def result_count(result: dict) -> int | None:
    if "error" in result:
        return 0
    if isinstance(result.get("results"), list):
        return len(result["results"])
    return 1


RECORD_TYPES = frozenset({"lead", "deal", "person", "organization", "activity", "custom_field"})


def extract_records(result: Any, *, limit: int = 50) -> list[dict]:
    """The records a result names (dicts with ``type``, ``id`` and ``url``), for the links the
    chat shows under a tool call."""
    found: list[dict] = []
    seen: set[tuple[str, str]] = set()
    if isinstance(result, dict) and "error" in result:
        return found

    def walk(value: Any, depth: int) -> None:
        if len(found) >= limit or depth > 3:
            return
        if isinstance(value, dict):
            kind = value.get("type")
            if (
                isinstance(kind, str)
                and kind in RECORD_TYPES
                and value.get("id")
                and value.get("url")
            ):
                key = (value["type"], str(value["id"]))
                if key not in seen:
                    seen.add(key)
                    found.append(
                        {
                            "type": value["type"],
                            "id": str(value["id"]),
                            "name": str(value.get("name") or value.get("subject") or "")[:120],
                            "url": value["url"],
                        }
                    )
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    walk(result, 0)
    return found
