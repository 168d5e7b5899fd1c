"""The in-app management page of custom fields (SPEC §6 Custom fields), for users who may
manage them (``customfields.permissions``): list per entity type, add and edit in modals,
move up and down, deactivate and activate. Thin: parse → selector → service → render.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.errors import DomainError, PermissionDenied
from crm.forms import add_domain_errors
from crm.htmx import render_page, saved, trigger
from customfields import selectors, services
from customfields.forms import CustomFieldCreateForm, CustomFieldEditForm
from customfields.models import CustomFieldDefinition, EntityType
from customfields.permissions import ManageAction, can_manage_custom_fields

DEFAULT_ENTITY_TYPE = EntityType.LEAD.value

# Examples for the empty state of each entity type.
EXAMPLES = {
    "lead": "budget range, decision timeline or lead temperature",
    "deal": "contract length, competitor or renewal date",
    "person": "preferred language, LinkedIn profile or birthday",
    "organization": "annual revenue, customer tier or account number",
}


def _require_manage(request: HttpRequest, action: ManageAction = "change") -> None:
    if not can_manage_custom_fields(request.user, action):
        raise PermissionDenied("You do not have permission to manage custom fields.")


def _entity_type(value: str | None) -> str:
    return value if value in EntityType.values else DEFAULT_ENTITY_TYPE


def _list_url(entity_type: str) -> str:
    return f"{reverse('customfields:list')}?entity_type={entity_type}"


def _page_context(request: HttpRequest, entity_type: str) -> dict:
    counts = selectors.field_counts()
    return {
        "entity_type": entity_type,
        "entity_label": EntityType(entity_type).label,
        "tabs": [
            {"value": value, "label": label, **counts[value]} for value, label in EntityType.choices
        ],
        "fields": list(selectors.field_list(user=request.user, entity_type=entity_type)),
        "example": EXAMPLES[entity_type],
        "can_add": can_manage_custom_fields(request.user, "add"),
    }


def _fields_region(request: HttpRequest, entity_type: str) -> HttpResponse:
    """After a change from the page: its fields region again (HTMX), or the page."""
    if not request.htmx:
        return redirect(_list_url(entity_type))
    context = _page_context(request, entity_type)
    return render(request, "customfields/list.html#fields", context)


@login_required
@require_GET
def field_list(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    entity_type = _entity_type(request.GET.get("entity_type"))
    context = _page_context(request, entity_type)
    return render_page(request, "customfields/list.html", context, partial="fields")


def _form_response(
    request: HttpRequest, form, *, field: CustomFieldDefinition | None, entity_type: str
) -> HttpResponse:
    entity_label = EntityType(entity_type).label.lower()
    context = {
        "form": form,
        "field": field,
        "entity_type": entity_type,
        "title": f"Edit the {entity_label} field “{field.label}”"
        if field
        else f"New {entity_label} field",
        "action": reverse("customfields:edit", args=[field.pk])
        if field
        else f"{reverse('customfields:create')}?entity_type={entity_type}",
        "cancel_url": _list_url(entity_type),
    }
    template = "customfields/_form_modal.html" if request.htmx else "customfields/form_page.html"
    # 422 tells HTMX (static/js/app.js) to swap the form back in with its errors.
    return render(request, template, context, status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def field_create(request: HttpRequest) -> HttpResponse:
    _require_manage(request, "add")
    entity_type = _entity_type(request.POST.get("entity_type") or request.GET.get("entity_type"))
    form = CustomFieldCreateForm(request.POST or None, initial={"entity_type": entity_type})
    if request.method == "POST" and form.is_valid():
        try:
            field = services.custom_field_create(by=request.user, **form.service_data())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved(f"Custom field “{field.label}” added.")
            return redirect(_list_url(field.entity_type))
    return _form_response(request, form, field=None, entity_type=entity_type)


@login_required
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, field_id) -> HttpResponse:
    _require_manage(request)
    field = selectors.field_get(user=request.user, field_id=field_id)
    initial = {
        "label": field.label,
        "options": field.options,
        "help_text": field.help_text,
        "is_required": field.is_required,
        "show_in_table": field.show_in_table,
    }
    form = CustomFieldEditForm(request.POST or None, initial=initial)
    if not field.uses_options:
        del form.fields["options"]
    if request.method == "POST" and form.is_valid():
        try:
            field = services.custom_field_update(
                by=request.user, field=field, **form.service_data()
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved(f"Custom field “{field.label}” saved.")
            return redirect(_list_url(field.entity_type))
    return _form_response(request, form, field=field, entity_type=field.entity_type)


@login_required
@require_POST
def field_move(request: HttpRequest, field_id) -> HttpResponse:
    _require_manage(request)
    field = selectors.field_get(user=request.user, field_id=field_id)
    services.custom_field_move(
        by=request.user, field=field, direction=request.POST.get("direction", "")
    )
    return _fields_region(request, field.entity_type)


@login_required
@require_POST
def field_deactivate(request: HttpRequest, field_id) -> HttpResponse:
    return _set_active(
        request,
        field_id,
        services.custom_field_deactivate,
        "“{label}” deactivated: hidden everywhere, its values are kept.",
    )


@login_required
@require_POST
def field_activate(request: HttpRequest, field_id) -> HttpResponse:
    return _set_active(
        request,
        field_id,
        services.custom_field_activate,
        "“{label}” is active again, with its stored values.",
    )


def _set_active(request: HttpRequest, field_id, service, message: str) -> HttpResponse:
    _require_manage(request)
    field = selectors.field_get(user=request.user, field_id=field_id)
    field = service(by=request.user, field=field)
    response = _fields_region(request, field.entity_type)
    toast = {"message": message.format(label=field.label), "level": "success"}
    return trigger(response, showToast=toast)
