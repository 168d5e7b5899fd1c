"""The automation rule engine (SPEC §6): fields, conditions, templates and actions.

A rule's trigger event is about one record, its *subject* (``lead.*`` → the lead, ``deal.*``
→ the deal, ``activity.*`` → the activity …). Conditions compare a field of the subject (its
current state), a custom field (``cf_<name>``) or a detail of the event (``event.<key>``) with a
value typed as that field. Everything an administrator types is checked when the rule is
saved (``check_condition``, ``check_action``, ``check_template``) so that a saved rule can run.

Rules run as the system user (``crm.services.system_user``) through the same services as the
UI. Their effects emit events too; a rule never re-triggers itself and chains stop after
``MAX_CHAIN`` rules (``automation_chain`` tags the events a rule's actions emit).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from activities.models import (
    Activity,
    AutomationAction,
    AutomationCondition,
    AutomationRule,
    AutomationRun,
    subject_kind_of,
)
from crm import assignment
from crm.errors import DomainError
from crm.models import Event

logger = logging.getLogger(__name__)

SUBJECT_MODELS = {
    "lead": "leads.Lead",
    "deal": "deals.Deal",
    "activity": "activities.Activity",
    "person": "crm.Person",
    "organization": "crm.Organization",
}
# Records a template of a rule about ``kind`` may name, besides ``event``.
TEMPLATE_KINDS = {
    "lead": {"lead"},
    "deal": {"deal"},
    "activity": {"activity", "lead", "deal", "person", "organization"},
    "person": {"person"},
    "organization": {"organization"},
}
# Never offered to conditions or templates.
HIDDEN_FIELDS = frozenset({"id", "deleted_at", "wfm_project", "metadata"})

CHAIN_KEY = "automation_rules"
MAX_CHAIN = 3
_chain: ContextVar[tuple[int, ...]] = ContextVar("automation_chain", default=())


def subject_model(kind: str) -> type[models.Model]:
    return apps.get_model(SUBJECT_MODELS[kind])


# --- fields ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """What a condition or template may read: a typed value of the subject."""

    name: str
    kind: str  # text, int, decimal, bool, date, datetime, choice, list, user, step, any
    get: Callable[[Any], Any]
    choices: tuple[str, ...] = ()
    display: Callable[[Any], str] | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return {
            "int": "a whole number",
            "decimal": "a number",
            "bool": "yes/no",
            "date": "a date",
            "datetime": "a date and time",
            "choice": "a choice",
            "list": "a list",
            "user": "a user",
            "step": "a workflow step",
            "text": "text",
        }.get(self.kind, "a value")


def _user_name(user) -> str:
    return user.username if user is not None else ""


def _model_field_spec(model_field: models.Field) -> FieldSpec | None:
    from crm.models import User

    name = model_field.name
    if name in HIDDEN_FIELDS:
        return None
    if model_field.is_relation:
        if model_field.related_model is User:
            return FieldSpec(
                name,
                "user",
                lambda obj, n=name: _user_name(getattr(obj, n)),
                display=lambda obj, n=name: (
                    getattr(obj, n).display_name if getattr(obj, n) is not None else ""
                ),
            )
        return None
    if isinstance(model_field, models.JSONField):
        return None
    getter = lambda obj, n=name: getattr(obj, n)  # noqa: E731
    if model_field.choices:
        return FieldSpec(
            name,
            "choice",
            getter,
            choices=tuple(str(c) for c, _ in model_field.flatchoices),
            display=lambda obj, n=name: getattr(obj, f"get_{n}_display")(),
        )
    if isinstance(model_field, models.BooleanField):
        return FieldSpec(name, "bool", getter)
    if isinstance(model_field, models.DateTimeField):
        return FieldSpec(name, "datetime", getter)
    if isinstance(model_field, models.DateField):
        return FieldSpec(name, "date", getter)
    if isinstance(model_field, models.DecimalField | models.FloatField):
        return FieldSpec(name, "decimal", getter)
    if isinstance(model_field, models.IntegerField):
        return FieldSpec(name, "int", getter)
    return FieldSpec(name, "text", lambda obj, n=name: str(getattr(obj, n) or ""))


def _custom_field_spec(kind: str, name: str) -> FieldSpec | None:
    from customfields.models import FieldType
    from customfields.selectors import definitions_for

    definition = next((d for d in definitions_for(kind) if d.name == name), None)
    if definition is None:
        return None
    kinds = {
        FieldType.NUMBER: "int",
        FieldType.DECIMAL: "decimal",
        FieldType.DATE: "date",
        FieldType.BOOLEAN: "bool",
        FieldType.DROPDOWN: "choice",
        FieldType.MULTI_SELECT: "list",
    }
    spec_kind = kinds.get(definition.type, "text")

    def get(obj):
        value = (obj.custom_field_values or {}).get(name)
        if value is None:
            return None
        if spec_kind == "date" and isinstance(value, str):
            return date.fromisoformat(value)
        if spec_kind == "decimal":
            return Decimal(str(value))
        return value

    choices = tuple(str(o) for o in definition.options or ()) if spec_kind == "choice" else ()
    return FieldSpec(f"cf_{name}", spec_kind, get, choices=choices)


def _step_name(obj) -> str:
    project = getattr(obj, "wfm_project", None)
    return project.current_step.name if project is not None else ""


def field_spec(kind: str, name: str) -> FieldSpec:
    """The readable field ``name`` of a ``kind`` record; ValidationError when there is none."""
    name = (name or "").strip()
    if kind in ("lead", "deal") and name == "step":
        return FieldSpec("step", "step", _step_name)
    if name.startswith("cf_") and kind in ("lead", "deal", "person", "organization"):
        spec = _custom_field_spec(kind, name[3:])
        if spec is not None:
            return spec
        raise ValidationError(
            f"Unknown field “{name}”: there is no {kind} custom field “{name[3:]}”."
        )
    model = subject_model(kind)
    try:
        model_field = model._meta.get_field(name)
    except Exception:
        model_field = None
    spec = (
        _model_field_spec(model_field) if model_field is not None and model_field.concrete else None
    )
    if spec is None:
        raise ValidationError(
            f"Unknown field “{name}” for a {kind}. Known fields: {', '.join(field_names(kind))}."
        )
    return spec


def field_names(kind: str) -> list[str]:
    names = [
        f.name
        for f in subject_model(kind)._meta.concrete_fields
        if _model_field_spec(f) is not None
    ]
    if kind in ("lead", "deal"):
        names.append("step")
    return sorted(names)


# --- values ------------------------------------------------------------------------------------
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def parse_value(spec: FieldSpec, raw: str) -> Any:
    """The admin's text as a value of the field's type; ValidationError naming the mismatch."""
    raw = (raw or "").strip()
    if spec.kind in ("text", "user", "step", "any", "list"):
        if spec.kind == "user" and raw:
            from crm.models import User

            if not User.objects.filter(username=raw).exists():
                raise ValidationError(f"There is no user “{raw}” (give a username).")
        if spec.kind == "step" and raw:
            from wfm.models import WorkflowStep

            if not WorkflowStep.objects.filter(status__name__iexact=raw).exists():
                raise ValidationError(f"There is no workflow step named “{raw}”.")
        return raw
    if raw == "":
        return None
    try:
        if spec.kind == "int":
            return int(raw)
        if spec.kind == "decimal":
            return Decimal(raw)
        if spec.kind == "date":
            return date.fromisoformat(raw)
        if spec.kind == "datetime":
            value = parse_datetime(raw) or datetime.combine(
                date.fromisoformat(raw), datetime.min.time()
            )
            return timezone.make_aware(value) if timezone.is_naive(value) else value
    except (ValueError, TypeError, InvalidOperation):
        raise ValidationError(
            f"“{raw}” is not {spec.label}, which field “{spec.name}” holds."
        ) from None
    if spec.kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValidationError(f"“{raw}” is not yes/no (use true or false) for “{spec.name}”.")
    if spec.kind == "choice":
        if raw not in spec.choices:
            raise ValidationError(
                f"“{raw}” is not a choice of “{spec.name}”. Choices: {', '.join(spec.choices)}."
            )
        return raw
    return raw


ORDERED_KINDS = frozenset({"int", "decimal", "date", "datetime", "any"})
CONTAINS_KINDS = frozenset({"text", "list", "any", "step"})
Op = AutomationCondition.Operator


def _event_spec(name: str) -> FieldSpec:
    key = name.split(".", 1)[1]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
        raise ValidationError(
            f"“{name}” is not an event detail (use event.<key>, e.g. event.reason)."
        )
    return FieldSpec(name, "any", lambda payload, k=key: payload.get(k))


def condition_spec(kind: str, name: str) -> FieldSpec:
    if name.startswith("event."):
        return _event_spec(name)
    return field_spec(kind, name)


def check_condition(condition: AutomationCondition) -> None:
    """Refuse an unknown field, an operator the field's type has not, or a mistyped value."""
    try:
        rule = condition.rule
    except AutomationRule.DoesNotExist:
        return
    if not rule.trigger:
        return  # the rule's own form reports its missing trigger
    try:
        spec = condition_spec(rule.subject_kind, condition.field)
    except ValidationError as exc:
        raise ValidationError({"field": exc.messages}) from None
    operator = condition.operator
    if operator not in Op.values:
        raise ValidationError({"operator": [f"Unknown operator “{operator}”."]})
    if operator in (Op.GT, Op.LT) and spec.kind not in ORDERED_KINDS:
        raise ValidationError(
            {
                "operator": [
                    f"“{Op(operator).label}” needs a number or a date; “{spec.name}” holds "
                    f"{spec.label}."
                ]
            }
        )
    if operator == Op.CONTAINS and spec.kind not in CONTAINS_KINDS:
        raise ValidationError(
            {"operator": [f"“contains” needs text or a list; “{spec.name}” holds {spec.label}."]}
        )
    try:
        _expected(spec, operator, condition.value)
    except ValidationError as exc:
        raise ValidationError({"value": exc.messages}) from None


def _expected(spec: FieldSpec, operator: str, raw: str) -> Any:
    if operator == Op.IN:
        parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
        if not parts:
            raise ValidationError("Give at least one value, separated by commas.")
        return [parse_value(spec, p) for p in parts]
    if spec.kind == "list" and operator == Op.CONTAINS:
        return (raw or "").strip()
    return parse_value(spec, raw)


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _ordered(actual: Any, expected: Any) -> tuple[Any, Any] | None:
    """Comparable forms of an event detail (numbers, dates) and the expected text."""
    if isinstance(expected, str):
        for parse in (Decimal, date.fromisoformat):
            try:
                return parse(str(actual)), parse(expected)
            except (ValueError, TypeError, InvalidOperation):
                continue
        return None
    if actual is None:
        return None
    if isinstance(actual, datetime) and not isinstance(expected, datetime):
        actual = actual.date() if isinstance(expected, date) else actual
    return _normal(actual), _normal(expected)


def condition_holds(condition: AutomationCondition, kind: str, subject, payload: dict) -> bool:
    spec = condition_spec(kind, condition.field)
    source = payload if spec.kind == "any" else subject
    actual = spec.get(source)
    operator = condition.operator
    expected = _expected(spec, operator, condition.value)
    if operator in (Op.EQ, Op.NE):
        if expected in (None, ""):
            same = actual in (None, "", [])
        elif spec.kind == "any" and not isinstance(actual, str):
            same = str(actual).lower() == str(expected).lower()
        else:
            same = _normal(actual) == _normal(expected)
        return same if operator == Op.EQ else not same
    if operator == Op.IN:
        if spec.kind == "any":
            return str(actual).lower() in {str(e).lower() for e in expected}
        return _normal(actual) in {_normal(e) for e in expected}
    if operator == Op.CONTAINS:
        if isinstance(actual, list | tuple):
            return _normal(expected) in {_normal(a) for a in actual}
        return str(expected).lower() in str(actual or "").lower()
    pair = _ordered(actual, expected)
    if pair is None:
        return False
    left, right = pair
    try:
        return left > right if operator == Op.GT else left < right
    except TypeError:
        return False


# --- templates ---------------------------------------------------------------------------------
PLACEHOLDER = re.compile(r"\{([a-z_]+)\.([a-z_][a-z0-9_]*)\}")


def check_template(text: str, *, kinds: set[str]) -> None:
    """Every ``{kind.field}`` placeholder must name a readable field of an available record."""
    problems = []
    for kind, name in PLACEHOLDER.findall(text or ""):
        if kind == "event":
            continue
        if kind not in kinds:
            problems.append(
                f"{{{kind}.{name}}}: no {kind} here (available: "
                f"{', '.join(sorted(kinds | {'event'}))})."
            )
            continue
        try:
            field_spec(kind, name)
        except ValidationError as exc:
            problems.append(f"{{{kind}.{name}}}: {exc.messages[0]}")
    if problems:
        raise ValidationError(problems)


def _display(spec: FieldSpec, obj) -> str:
    if spec.display is not None:
        return spec.display(obj)
    value = spec.get(obj)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_template(text: str, context: dict[str, Any]) -> str:
    """Replace ``{kind.field}`` placeholders with the record's values (unknown ones: blank)."""

    def replace(match: re.Match) -> str:
        kind, name = match.groups()
        if kind == "event":
            value = (context.get("event") or {}).get(name)
            return "" if value is None else str(value)
        obj = context.get(kind)
        if obj is None:
            return ""
        try:
            return _display(field_spec(kind, name), obj)
        except ValidationError:
            return ""

    return PLACEHOLDER.sub(replace, text or "")


# --- actions -----------------------------------------------------------------------------------
Action = AutomationAction.Type


def settable_fields(kind: str) -> tuple[str, ...]:
    """What a "set field" action may change on a ``kind`` record: the record type's one field
    list (what its update service takes), less links to other records, which a rule's typed
    value cannot name. Empty: nothing."""
    from crm.models import ORGANIZATION_FIELDS, PERSON_FIELDS
    from deals.models import EDITABLE_FIELDS as DEAL_FIELDS
    from leads.models import EDITABLE_FIELDS as LEAD_FIELDS

    names = {
        "lead": LEAD_FIELDS,
        "deal": DEAL_FIELDS,
        "person": PERSON_FIELDS,
        "organization": ORGANIZATION_FIELDS,
    }.get(kind, ())
    model = subject_model(kind) if names else None
    return tuple(n for n in names if _model_field_spec(model._meta.get_field(n)) is not None)


def _check_user(errors: dict[str, list[str]], user, model: type[models.Model]) -> None:
    """The user an action hands records of ``model`` to must be one who may own them."""
    try:
        assignment.check_assignable(user, model, field="user")
    except DomainError as exc:
        errors.setdefault("user", []).extend(exc.details.get("user") or [exc.message])


def check_action(action: AutomationAction) -> None:
    """The parameters each action type needs, valid for the rule's trigger."""
    rule = getattr(action, "rule", None)
    kind = rule.subject_kind if rule is not None and rule.trigger else None
    errors: dict[str, list[str]] = {}

    def need(name: str, message: str) -> None:
        if not getattr(action, name if not hasattr(action, f"{name}_id") else f"{name}_id"):
            errors.setdefault(name, []).append(message)

    if action.type == Action.CREATE_ACTIVITY:
        need("activity_type", "Choose the type of activity to create.")
        need("subject", "Give the activity a subject.")
        if action.user_id:
            _check_user(errors, action.user, Activity)
        if kind:
            for name in ("subject", "body"):
                try:
                    check_template(getattr(action, name), kinds=TEMPLATE_KINDS[kind])
                except ValidationError as exc:
                    errors.setdefault(name, []).extend(exc.messages)
    elif action.type == Action.ASSIGN:
        if bool(action.user_id) == bool(action.assignment_rule_id):
            errors["user"] = ["Choose either a user or an assignment rule to assign to."]
        elif action.user_id and kind in ("lead", "deal"):
            _check_user(errors, action.user, subject_model(kind))
        if kind and kind not in ("lead", "deal"):
            errors.setdefault("type", []).append("Only leads and deals can be assigned.")
        if action.assignment_rule_id and kind == "deal":
            errors["assignment_rule"] = ["Assignment rules rotate leads only."]
    elif action.type == Action.SET_FIELD:
        need("field", "Name the field to set.")
        if kind and action.field:
            settable = settable_fields(kind)
            if not settable:
                errors.setdefault("type", []).append(f"Fields of a {kind} cannot be set here.")
            elif action.field not in settable and not action.field.startswith("cf_"):
                errors["field"] = [
                    f"“{action.field}” cannot be set on a {kind}. Settable: "
                    f"{', '.join(settable)} or a custom field (cf_<name>)."
                ]
            else:
                try:
                    parse_value(field_spec(kind, action.field), action.value)
                except ValidationError as exc:
                    key = "field" if "Unknown field" in exc.messages[0] else "value"
                    errors.setdefault(key, []).extend(exc.messages)
    elif action.type == Action.MOVE_STEP:
        need("step", "Choose the step to move to.")
        if kind and kind not in ("lead", "deal"):
            errors.setdefault("type", []).append("Only leads and deals move through steps.")
        elif kind and action.step_id:
            from wfm.models import ProjectType

            if not ProjectType.objects.filter(
                entity_type=kind, default_workflow_id=action.step.workflow_id
            ).exists():
                errors["step"] = [f"“{action.step}” is not a step of the {kind} workflow."]
    elif action.type == Action.START_SEQUENCE:
        need("sequence", "Choose the sequence to start.")
        if kind and kind != "lead":
            errors.setdefault("type", []).append("Only leads can be enrolled in a sequence.")
    elif action.type == Action.CALL_WEBHOOK:
        need("webhook", "Choose the webhook to call.")
    else:
        errors["type"] = ["Choose what the action does."]
    if errors:
        raise ValidationError(errors)


# --- running rules -----------------------------------------------------------------------------
@contextlib.contextmanager
def automation_chain(chain: tuple[int, ...]) -> Iterator[None]:
    """While a rule's actions run, the events they emit carry the chain of rules (see
    ``chain_tag``), so the next rules know what caused them."""
    token = _chain.set(chain)
    try:
        yield
    finally:
        _chain.reset(token)


def chain_tag() -> dict:
    """Payload hook of ``crm.events``: every event emitted while a rule's actions run
    records which rules caused it (loop guard), however it is emitted (one, or in bulk)."""
    chain = _chain.get()
    return {CHAIN_KEY: list(chain)} if chain else {}


@dataclass
class RuleContext:
    event: Event
    kind: str
    subject: Any

    def template_context(self) -> dict[str, Any]:
        context: dict[str, Any] = {"event": self.event.payload, self.kind: self.subject}
        if self.kind == "activity":
            context.update(self.subject.links)
        return context


def load_subject(kind: str, payload: dict):
    """The live record an event is about (deleted records are left alone)."""
    model = subject_model(kind)
    pk = payload.get(f"{kind}_id")
    if pk is None:
        return None
    manager = getattr(model, "all_objects", model.objects)
    related = {
        "lead": ("assigned_to", "owner", "wfm_project__current_step__status"),
        "deal": ("assigned_to", "owner", "wfm_project__current_step__status"),
        "activity": ("assigned_to", "lead", "deal", "person", "organization"),
    }.get(kind, ())
    obj = manager.select_related(*related).filter(pk=pk).first()
    if obj is None or getattr(obj, "deleted_at", None) is not None:
        return None
    return obj


def run_rules(event: Event) -> list[AutomationRun]:
    """Evaluate the enabled rules of ``event.name`` in order and run the matching ones.

    Each (rule, event) runs at most once (``AutomationRun`` is unique). A rule's actions are
    atomic; a failure is logged on its run and the other rules still run.
    """
    rules = list(
        AutomationRule.objects.filter(is_active=True, trigger=event.name)
        .prefetch_related("conditions", "actions")
        .order_by("order", "pk")
    )
    if not rules:
        return []
    kind = subject_kind_of(event.name)
    subject = load_subject(kind, event.payload or {})
    if subject is None:
        return []
    done = set(
        AutomationRun.objects.filter(event=event, rule__in=rules).values_list("rule_id", flat=True)
    )
    chain = tuple((event.payload or {}).get(CHAIN_KEY) or ())
    context = RuleContext(event=event, kind=kind, subject=subject)
    runs = []
    for rule in rules:
        if rule.pk in done:
            continue
        if rule.pk in chain or len(chain) >= MAX_CHAIN:
            runs.append(
                AutomationRun.objects.create(
                    rule=rule,
                    event=event,
                    status=AutomationRun.Status.SKIPPED,
                    error="Not run: the event was caused by this rule or by a chain of "
                    f"{len(chain)} rules (loop guard).",
                )
            )
            continue
        run = _run_rule(rule, context, chain)
        if run is not None:
            runs.append(run)
    return runs


def _run_rule(rule: AutomationRule, context: RuleContext, chain: tuple[int, ...]):
    try:
        with transaction.atomic():
            if not all(
                condition_holds(c, context.kind, context.subject, context.event.payload or {})
                for c in rule.conditions.all()
            ):
                return None
            with automation_chain((*chain, rule.pk)):
                details = [_run_action(action, rule, context) for action in rule.actions.all()]
            return AutomationRun.objects.create(
                rule=rule,
                event=context.event,
                status=AutomationRun.Status.SUCCEEDED,
                details=details,
            )
    except Exception as exc:
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, DomainError | ValidationError):
            logger.exception("Automation rule %s failed on event %s", rule.pk, context.event.pk)
        return AutomationRun.objects.create(
            rule=rule,
            event=context.event,
            status=AutomationRun.Status.FAILED,
            error=message[:4000],
        )


def _run_action(action: AutomationAction, rule: AutomationRule, context: RuleContext) -> dict:
    from activities import services, webhooks
    from crm import services as crm_services
    from deals import services as deal_services
    from leads import services as lead_services

    by = crm_services.system_user()
    subject = context.subject
    kind = context.kind
    step = {"action": action.pk, "type": action.type}

    if action.type == Action.CREATE_ACTIVITY:
        values = context.template_context()
        links = subject.links if kind == "activity" else {kind: subject}
        assignee = action.user or getattr(subject, "assigned_to", None)
        if assignee is None and kind in ("person", "organization"):
            assignee = subject.owner
        activity = services.activity_create(
            by=by,
            type=action.activity_type,
            subject=render_template(action.subject, values)[:255],
            notes=render_template(action.body, values),
            due_at=services.business_days_later(timezone.now(), action.due_in_days)
            if action.due_in_days is not None
            else None,
            assigned_to=assignment.eligible(assignee, Activity),
            is_system_activity=True,
            metadata={
                "automation_trigger": f"rule:{rule.pk}:action:{action.pk}",
                "automation_rule": rule.pk,
                "source_event": context.event.pk,
            },
            **links,
        )
        step["activity"] = str(activity.pk)
    elif action.type == Action.ASSIGN:
        assignee = action.user
        if action.assignment_rule_id:
            assignee = services.assignment_next_user(rule=action.assignment_rule)
            if assignee is None:
                raise DomainError(
                    f"Assignment rule “{action.assignment_rule}” has nobody available."
                )
        if kind == "lead":
            lead_services.lead_assign(by=by, lead=subject, assignee=assignee)
        else:
            deal_services.deal_assign(by=by, deal=subject, assignee=assignee)
        step["assignee"] = assignee.pk
    elif action.type == Action.SET_FIELD:
        spec = field_spec(kind, action.field)
        value = parse_value(spec, action.value)
        if action.field.startswith("cf_"):
            data = {"custom_field_values": {action.field[3:]: value}}
        else:
            data = {action.field: "" if value is None and spec.kind == "text" else value}
        update = {
            "lead": lambda: lead_services.lead_update(by=by, lead=subject, data=data),
            "deal": lambda: deal_services.deal_update(by=by, deal=subject, data=data),
            "person": lambda: crm_services.person_update(by=by, person=subject, data=data),
            "organization": lambda: crm_services.organization_update(
                by=by, organization=subject, data=data
            ),
        }[kind]
        update()
        step["field"] = action.field
    elif action.type == Action.MOVE_STEP:
        if kind == "lead":
            lead_services.lead_transition(by=by, lead=subject, to_step=action.step)
        else:
            deal_services.deal_transition(by=by, deal=subject, to_step=action.step)
        step["step"] = action.step_id
    elif action.type == Action.START_SEQUENCE:
        enrollment = services.sequence_enroll(
            by=by, sequence=action.sequence, lead=subject, skip_if_enrolled=True
        )
        step["enrollment"] = enrollment.pk if enrollment else None
    elif action.type == Action.CALL_WEBHOOK:
        delivery = webhooks.delivery_create(
            subscription=action.webhook, event=context.event, source=f"rule:{rule.pk}"
        )
        step["delivery"] = str(delivery.pk)
    return step
