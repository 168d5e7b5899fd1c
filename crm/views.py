"""HTML views of the crm core: login, health, dashboard shell, people and organizations.

Thin: parse → selector → service → render. People and organizations share one set of view
functions driven by their record descriptions (``crm.record_types``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
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

from crm import notifications, permissions, tokens
from crm.errors import DomainError, NotFound, PermissionDenied
from crm.forms import ApiTokenForm, add_domain_errors
from crm.htmx import paginate, saved
from crm.records import details
from crm.records import privacy as privacy_hooks
from crm.records.types import RecordType


# --- authentication --------------------------------------------------------------------------
class LoginView(auth_views.LoginView):
    """Django's login. Repeated failures are locked out by django-axes (``crm.auth``), which
    answers with this page, a message and 429."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change; the API tokens made before stop working (``crm.tokens``)."""

    def form_valid(self, form):
        response = super().form_valid(form)
        revoked = tokens.tokens_purge_stale(user=self.request.user)
        if revoked:
            messages.info(
                self.request,
                f"Your {revoked} API token(s) stopped working with the old password; "
                "create new ones under API tokens.",
            )
        return response


# --- API tokens (SPEC §7): the user's own, from the user menu ----------------------------------
NEW_TOKEN_KEY = "crm.new_api_token"  # session key: a new token's key, until shown once


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List your API tokens and make one. A new token's key waits in the (server-side)
    session for the page the POST redirects to, which shows it once: a reload shows it no
    more and makes no second token."""
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, key = tokens.token_create(by=request.user, name=form.cleaned_data["name"])
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            request.session[NEW_TOKEN_KEY] = {"id": token.pk, "key": key}
            return redirect("api_tokens")
    new = request.session.pop(NEW_TOKEN_KEY, None) if request.method == "GET" else None
    listed = list(tokens.token_list(user=request.user))
    context = {
        "tokens": listed,
        "form": form,
        "created": next((t for t in listed if new and t.pk == new["id"]), None),
        "key": new["key"] if new else None,
    }
    response = render(request, "crm/api_tokens.html", context, status=422 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the page may show a key
    return response


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    tokens.token_revoke(by=request.user, token_id=token_id)
    messages.success(request, "Token revoked: requests with it are refused from now on.")
    url = reverse("api_tokens")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


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
        # The Redis cache fails soft (crm.cache): ask Redis itself rather than the cache.
        ping = getattr(cache, "ping", None)
        if ping is not None:
            checks["cache"] = {"ok": ping()}
        else:
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
        try:
            beat = cache.get(HEARTBEAT_KEY)
        except Exception:  # a cache that raises: no heartbeat can be read
            beat = None
        at = parse_datetime(beat) if isinstance(beat, str) else None
        age = (timezone.now() - at).total_seconds() if at else None
        fresh = age is not None and age <= settings.WORKER_HEARTBEAT_MAX_AGE
        checks["worker"] = {"ok": fresh, "last_heartbeat": beat, "age_seconds": age}

    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503
    )


# --- people and organizations: the shared detail and edit views of crm.record_types ---------
@login_required
@require_GET
def record_detail(request: HttpRequest, record_type: RecordType, pk) -> HttpResponse:
    rt = record_type
    user = request.user
    try:
        obj = rt.get_selector(user, pk)
    except NotFound:
        moved = details.merged_redirect(request, rt.model, pk, rt.url_name("detail"))
        if moved is None:
            raise
        return moved
    url = reverse(rt.url_name("detail"), args=[obj.pk])
    return details.detail_page(
        request,
        rt,
        obj,
        template=f"crm/{rt.key}_detail.html",
        actions=_detail_actions(user, rt, obj),
        history=details.history_for(
            obj, show_system=details.show_system(request), url=url, custom_fields=rt.key
        ),
        context={"rt": rt},
    )


def _detail_actions(user, rt: RecordType, obj) -> details.Actions:
    actions = details.Actions()
    if permissions.works_on(user, rt.model) and permissions.can_change(user, obj):
        url = rt.url("edit", obj.pk)
        actions.buttons = [details.Action("Edit", url, icon="pencil")]
    actions.more = [
        *privacy_hooks.more_actions(user, obj),
        *details.delete_actions(user, obj, rt.url("delete", obj.pk)),
    ]
    if rt.merging is not None:
        actions.more[:0] = details.merge_actions(user, obj, rt.url("merge"))
    return actions


@login_required
@require_http_methods(["GET", "POST"])
def record_create(request: HttpRequest, record_type: RecordType) -> HttpResponse:
    rt = record_type
    if not permissions.may_create(request.user, rt.model):
        raise PermissionDenied(f"You may not create {rt.noun_plural}.")
    editing = rt.editing
    kwargs = editing.form_kwargs(request.user)
    form = editing.form(request.POST or None, initial=editing.initial(request), **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            obj = editing.create(request.user, form.service_data())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            url = rt.url("detail", obj.pk)
            if request.htmx:
                created = {"kind": rt.key, "id": str(obj.pk), "url": url}
                return saved(f"{rt.noun.capitalize()} “{obj}” created.", recordCreated=created)
            return redirect(url)
    return _form_response(request, rt, form, obj=None)


@login_required
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, record_type: RecordType, pk) -> HttpResponse:
    rt = record_type
    obj = rt.get_selector(request.user, pk, "change")
    editing = rt.editing
    kwargs = editing.form_kwargs(request.user)
    form = editing.form(
        request.POST or None,
        initial=editing.form.initial_for(obj),
        initial_custom_values=obj.custom_field_values,
        **kwargs,
    )
    if request.method == "POST" and form.is_valid():
        try:
            obj = editing.update(request.user, obj, form.service_data())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            if request.htmx:
                return saved(f"{rt.noun.capitalize()} “{obj}” saved.")
            return redirect(rt.url("detail", obj.pk))
    return _form_response(request, rt, form, obj=obj)


def _form_response(request, rt: RecordType, form, *, obj) -> HttpResponse:
    context = {
        "rt": rt,
        "form": form,
        "obj": obj,
        "action": rt.url("edit", obj.pk) if obj else rt.url("create"),
        "title": f"Edit {rt.noun}" if obj else f"New {rt.noun}",
        "cancel_url": reverse(rt.url_name("detail"), args=[obj.pk]) if obj else rt.url("list"),
        "fields_template": rt.editing.fields_template,
    }
    template = "crm/_modal_form.html" if request.htmx else "crm/form_page.html"
    # 422 tells HTMX (see static/js/app.js) to swap the form back in with its errors.
    status = 422 if form.errors else 200
    return render(request, template, context, status=status)


@login_required
@require_POST
def record_delete(request: HttpRequest, record_type: RecordType, pk) -> HttpResponse:
    rt = record_type
    obj = rt.get_selector(request.user, pk, "delete")
    rt.delete(request.user, obj)
    url = rt.url("list")
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
    """The bell's unread count, loaded after the page so the shell costs no query (and
    remembered: the next pages show it in place, ``crm.badges``)."""
    unread = notifications.counted_unread(request.user.pk)
    return render(request, "crm/_bell_count.html", {"unread": unread})
