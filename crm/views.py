"""HTML views of the crm core: login, health, dashboard shell, people and organizations.

Thin: parse → selector → service → render. People and organizations share one set of view
functions driven by a ``Screen`` description, since their pages differ only in fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm import notifications, permissions, selectors, services
from crm.errors import DomainError
from crm.filters import OrganizationFilter, PersonFilter
from crm.forms import OrganizationForm, PersonForm, add_domain_errors
from crm.htmx import paginate, saved
from crm.models import Organization, Person
from crm.records import details
from customfields import selectors as cf_selectors


# --- authentication --------------------------------------------------------------------------
class LoginView(auth_views.LoginView):
    """Django's login, with a cap on failed attempts per client and username (SPEC §9)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def _key(self) -> str:
        ip = self.request.META.get("REMOTE_ADDR", "")
        username = (self.request.POST.get("username") or "").lower()[:150]
        return f"login-failures:{ip}:{username}"

    def post(self, request, *args, **kwargs):
        if cache.get(self._key(), 0) >= settings.LOGIN_FAILURE_LIMIT:
            form = self.get_form()
            form.errors.clear()
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW // 60)
            form.add_error(None, f"Too many failed attempts. Try again in {minutes} minutes.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        key = self._key()
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete(self._key())
        return super().form_valid(form)


# --- health ----------------------------------------------------------------------------------
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, cache/broker and worker heartbeat. 200 only when every required part is up."""
    from config.celery import app as celery_app
    from crm.tasks import HEARTBEAT_KEY

    checks: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True, "engine": connection.vendor}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": str(exc)[:200]}
    try:
        cache.set("healthz-probe", "1", timeout=10)
        checks["cache"] = {"ok": cache.get("healthz-probe") == "1"}
    except Exception as exc:
        checks["cache"] = {"ok": False, "error": str(exc)[:200]}

    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = {"ok": True, "mode": "embedded (tasks run in-process)"}
        checks["worker"] = {"ok": True, "mode": "embedded (tasks run in-process)"}
    else:
        try:
            with celery_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = {"ok": True}
        except Exception as exc:
            checks["broker"] = {"ok": False, "error": str(exc)[:200]}
        beat = cache.get(HEARTBEAT_KEY)
        at = parse_datetime(beat) if isinstance(beat, str) else None
        age = (timezone.now() - at).total_seconds() if at else None
        fresh = age is not None and age <= settings.WORKER_HEARTBEAT_MAX_AGE
        checks["worker"] = {"ok": fresh, "last_heartbeat": beat, "age_seconds": age}

    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503
    )


# --- dashboard shell -------------------------------------------------------------------------
@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    week_ago = timezone.now() - timedelta(days=7)
    people = selectors.person_list(user=user)
    organizations = selectors.organization_list(user=user)
    context = {
        "kpis": [
            {"label": "People", "value": people.count(), "url": reverse("crm:person_list")},
            {
                "label": "People added this week",
                "value": people.filter(created_at__gte=week_ago).count(),
                "url": reverse("crm:person_list"),
            },
            {
                "label": "Organizations",
                "value": organizations.count(),
                "url": reverse("crm:organization_list"),
            },
        ],
    }
    return render(request, "crm/home.html", context)


# --- people and organizations ----------------------------------------------------------------
@dataclass(frozen=True)
class Screen:
    """What the shared record views need to know about one kind of record."""

    model: type
    slug: str  # url name prefix: "person" / "organization"; also the custom field entity type
    title: str  # "People"
    filterset: type
    form: type
    list_selector: Callable
    get_selector: Callable
    create_service: Callable
    update_service: Callable
    delete_service: Callable
    initial: Callable  # obj -> dict for the edit form
    columns: tuple[tuple[str, str], ...]  # (ordering key, label)

    @property
    def noun(self) -> str:
        return str(self.model._meta.verbose_name)

    def form_kwargs(self, user) -> dict:
        kwargs = {}
        if permissions.has_all_access(user, self.model, "change"):
            kwargs["owners"] = selectors.assignable_users()
        if self.model is Person:
            kwargs["organizations"] = selectors.organization_list(user=user).order_by("name")
        return kwargs


PEOPLE = Screen(
    model=Person,
    slug="person",
    title="People",
    filterset=PersonFilter,
    form=PersonForm,
    list_selector=lambda user: selectors.person_list(user=user),
    get_selector=lambda user, pk, action="view": selectors.person_get(
        user=user, person_id=pk, action=action
    ),
    create_service=lambda user, data: services.person_create(by=user, **data),
    update_service=lambda user, obj, data: services.person_update(by=user, person=obj, data=data),
    delete_service=lambda user, obj: services.person_delete(by=user, person=obj),
    initial=PersonForm.initial_for,
    columns=(
        ("last_name", "Name"),
        ("email", "Email"),
        ("job_title", "Job title"),
        ("organization", "Organization"),
        ("created_at", "Added"),
    ),
)

ORGANIZATIONS = Screen(
    model=Organization,
    slug="organization",
    title="Organizations",
    filterset=OrganizationFilter,
    form=OrganizationForm,
    list_selector=lambda user: selectors.organization_list(user=user),
    get_selector=lambda user, pk, action="view": selectors.organization_get(
        user=user, organization_id=pk, action=action
    ),
    create_service=lambda user, data: services.organization_create(by=user, **data),
    update_service=lambda user, obj, data: services.organization_update(
        by=user, organization=obj, data=data
    ),
    delete_service=lambda user, obj: services.organization_delete(by=user, organization=obj),
    initial=OrganizationForm.initial_for,
    columns=(
        ("name", "Name"),
        ("domain", "Domain"),
        ("industry", "Industry"),
        ("size", "Size"),
        ("created_at", "Added"),
    ),
)


@login_required
@require_GET
def record_detail(request: HttpRequest, screen: Screen, pk) -> HttpResponse:
    user = request.user
    obj = screen.get_selector(user, pk)
    url = reverse(f"crm:{screen.slug}_detail", args=[obj.pk])
    context = {
        "screen": screen,
        "obj": obj,
        "custom_fields": cf_selectors.display_rows(screen.slug, obj.custom_field_values),
        "detail": details.Detail(
            template=f"crm/{screen.slug}_detail.html",
            kind=screen.slug,
            url=url,
            list_url=reverse(f"crm:{screen.slug}_list"),
            list_label=screen.title,
            actions=_detail_actions(user, screen, obj),
            history=details.history_for(
                obj, show_system=details.show_system(request), url=url, custom_fields=screen.slug
            ),
            related=details.related_sections(user, screen.slug, obj),
        ),
    }
    template = f"crm/{screen.slug}_detail.html"
    return details.render_detail(request, template, context, partial="fields")


def _detail_actions(user, screen: Screen, obj) -> details.Actions:
    actions = details.Actions()
    if permissions.works_on(user, screen.model) and permissions.can_change(user, obj):
        url = reverse(f"crm:{screen.slug}_edit", args=[obj.pk])
        actions.buttons = [details.Action("Edit", url, icon="pencil")]
    if permissions.can_delete(user, obj):
        actions.more = [
            details.Action(
                "Delete",
                reverse(f"crm:{screen.slug}_delete", args=[obj.pk]),
                method="post",
                icon="trash",
                style="danger",
                confirm=f"Delete {obj}? It disappears from lists; an administrator can restore it.",
            )
        ]
    return actions


@login_required
@require_http_methods(["GET", "POST"])
def record_create(request: HttpRequest, screen: Screen) -> HttpResponse:
    kwargs = screen.form_kwargs(request.user)
    form = screen.form(request.POST or None, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            obj = screen.create_service(request.user, form.service_data())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved(f"{screen.noun.capitalize()} “{obj}” created.")
            return redirect(f"crm:{screen.slug}_detail", pk=obj.pk)
    return _form_response(request, screen, form, obj=None)


@login_required
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, screen: Screen, pk) -> HttpResponse:
    obj = screen.get_selector(request.user, pk, "change")
    kwargs = screen.form_kwargs(request.user)
    form = screen.form(
        request.POST or None,
        initial=screen.initial(obj),
        initial_custom_values=obj.custom_field_values,
        **kwargs,
    )
    if request.method == "POST" and form.is_valid():
        try:
            obj = screen.update_service(request.user, obj, form.service_data())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved(f"{screen.noun.capitalize()} “{obj}” saved.")
            return redirect(f"crm:{screen.slug}_detail", pk=obj.pk)
    return _form_response(request, screen, form, obj=obj)


def _form_response(request, screen: Screen, form, *, obj) -> HttpResponse:
    context = {
        "screen": screen,
        "form": form,
        "obj": obj,
        "action": reverse(f"crm:{screen.slug}_edit", args=[obj.pk])
        if obj
        else reverse(f"crm:{screen.slug}_create"),
        "title": f"Edit {screen.noun}" if obj else f"New {screen.noun}",
        "cancel_url": reverse(f"crm:{screen.slug}_detail", args=[obj.pk])
        if obj
        else reverse(f"crm:{screen.slug}_list"),
    }
    template = "crm/_modal_form.html" if request.htmx else "crm/form_page.html"
    # 422 tells HTMX (see static/js/app.js) to swap the form back in with its errors.
    status = 422 if form.errors else 200
    return render(request, template, context, status=status)


@login_required
@require_POST
def record_delete(request: HttpRequest, screen: Screen, pk) -> HttpResponse:
    obj = screen.get_selector(request.user, pk, "delete")
    screen.delete_service(request.user, obj)
    url = reverse(f"crm:{screen.slug}_list")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- notifications (SPEC §6): the bell's menu, the full list, mark read ----------------------
@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = paginate(request, notifications.notification_list(user=request.user), per_page=25)
    context = {"page": page, "unread": notifications.unread_count(user=request.user)}
    return render(request, "crm/notifications.html", context)


@login_required
@require_GET
def notification_menu(request: HttpRequest) -> HttpResponse:
    """The bell's dropdown, loaded each time it opens."""
    return _notification_menu(request)


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    notifications.mark_read(by=request.user, notification_id=notification_id)
    if request.htmx:
        return _notification_menu(request)
    return redirect("crm:notifications")


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notifications.mark_all_read(by=request.user)
    if request.htmx:
        return _notification_menu(request)
    return redirect("crm:notifications")


@login_required
@require_GET
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification: it is read now. Only links inside the app are followed."""
    from django.utils.http import url_has_allowed_host_and_scheme

    notification = notifications.mark_read(by=request.user, notification_id=notification_id)
    url = notification.url
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        url = reverse("crm:notifications")
    return redirect(url)


def _notification_menu(request: HttpRequest) -> HttpResponse:
    context = {
        "notifications": list(
            notifications.notification_list(user=request.user)[: notifications.MENU_SIZE]
        ),
        "unread": notifications.unread_count(user=request.user),
        "menu": True,
    }
    return render(request, "crm/_notification_menu.html", context)


@login_required
@require_GET
def notification_count(request: HttpRequest) -> HttpResponse:
    """The bell's unread count, loaded after the page so the shell costs no query."""
    unread = notifications.unread_count(user=request.user)
    return render(request, "crm/_bell_count.html", {"unread": unread})
