"""Pages of web-to-lead capture.

- The settings pages (``/settings/capture-forms/``, Managers and Admins): the forms, one form's
  settings with its embed snippet, a copy button and a live preview of its hosted page.
- The hosted page (``/f/<slug>/``): public, no sign-in, works without JavaScript. It posts to
  itself; a submission with errors comes back with them inline and what was typed kept.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import selectors as crm_selectors
from crm.auth import client_ip
from crm.errors import DomainError, PermissionDenied, ValidationFailed
from crm.forms import add_domain_errors
from customfields import selectors as cf_selectors
from leads.capture import abuse, selectors, services
from leads.capture.forms import CaptureFormSettingsForm, CaptureSubmissionForm, lenient_attribution
from leads.models import ATTRIBUTION_FIELDS, CAPTURE_DEFAULT_FIELDS, CaptureForm, Lead


def _require_manage(request: HttpRequest) -> None:
    if not selectors.can_manage_capture_forms(request.user):
        raise PermissionDenied("Only managers and administrators manage capture forms.")


# --- the settings pages --------------------------------------------------------------------------
@login_required
@require_GET
def form_list(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    forms = list(selectors.capture_form_list(user=request.user))
    rows = [{"form": f, "url": hosted_url(request, f)} for f in forms]
    return render(request, "leads/capture/list.html", {"rows": rows})


def _settings_form(request: HttpRequest, *, initial=None, definitions=None):
    return CaptureFormSettingsForm(
        request.POST or None,
        initial=initial,
        owners=crm_selectors.assignable_users(model=Lead, with_roles=False),
        workflows=selectors.lead_workflows(),
        definitions=definitions,
    )


@login_required
@require_http_methods(["GET", "POST"])
def form_create(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    initial = {"is_active": True}
    for item in CAPTURE_DEFAULT_FIELDS:
        initial[f"show_{item['name']}"] = True
        initial[f"required_{item['name']}"] = item["required"]
    form = _settings_form(request, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            capture_form = services.capture_form_create(by=request.user, **form.service_data())
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            return redirect("capture:edit", form_id=capture_form.pk)
    status = 400 if form.errors else 200
    return render(
        request,
        "leads/capture/form.html",
        {"form": form, "capture_form": None, "title": "New capture form"},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def form_edit(request: HttpRequest, form_id) -> HttpResponse:
    _require_manage(request)
    capture_form = selectors.capture_form_get(user=request.user, form_id=form_id)
    definitions = cf_selectors.definitions_for("lead")
    form = _settings_form(
        request, initial=CaptureFormSettingsForm.initial_for(capture_form), definitions=definitions
    )
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            capture_form = services.capture_form_update(
                by=request.user, form=capture_form, data=form.service_data()
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            return redirect(f"{reverse('capture:edit', args=[capture_form.pk])}?saved=1")
    saved = request.GET.get("saved") == "1"
    context = {
        "form": form,
        "capture_form": capture_form,
        "title": capture_form.name,
        "saved": saved,
        "hosted_url": hosted_url(request, capture_form),
        "snippet": embed_snippet(request, capture_form, definitions=definitions),
    }
    return render(request, "leads/capture/form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def form_rotate_key(request: HttpRequest, form_id) -> HttpResponse:
    _require_manage(request)
    capture_form = selectors.capture_form_get(user=request.user, form_id=form_id)
    services.capture_form_rotate_key(by=request.user, form=capture_form)
    return redirect(f"{reverse('capture:edit', args=[capture_form.pk])}?saved=1")


@login_required
@require_POST
def form_delete(request: HttpRequest, form_id) -> HttpResponse:
    _require_manage(request)
    capture_form = selectors.capture_form_get(user=request.user, form_id=form_id)
    services.capture_form_delete(by=request.user, form=capture_form)
    return redirect("capture:list")


def hosted_url(request: HttpRequest, form: CaptureForm) -> str:
    return request.build_absolute_uri(reverse("capture:page", args=[form.slug]))


def endpoint_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("lead-capture"))


def embed_snippet(request: HttpRequest, form: CaptureForm, *, definitions=None) -> str:
    """The HTML a site pastes to show the form: a plain ``<form>`` posting to the capture
    endpoint (it works without JavaScript) and the optional script that fills the attribution
    inputs from the page's address and referrer."""
    inputs = selectors.capture_fields(form, definitions=definitions)
    submission = CaptureSubmissionForm(
        inputs=inputs, definitions=definitions, consent_text=form.consent_text, auto_id="pc_%s"
    )
    context = {
        "capture_form": form,
        "submission": submission,
        "endpoint": endpoint_url(request),
        "script": request.build_absolute_uri("/static/js/capture-embed.js"),
        "attribution_fields": ATTRIBUTION_FIELDS,
        "honeypot": abuse.HONEYPOT,
        "key_field": abuse.KEY_FIELD,
    }
    return render_to_string("leads/capture/_snippet.html", context).strip()


# --- the hosted page -----------------------------------------------------------------------------
def _frame_and_form_policy(response: HttpResponse, form: CaptureForm) -> HttpResponse:
    """The page may be framed by the app itself (the settings page's preview) and the form's
    allowed origins; it may send visitors on to the form's redirect URL."""
    policy = {"frame-ancestors": ["'self'", *(form.allowed_origins or [])]}
    if form.redirect_url:
        policy["form-action"] = ["'self'", form.redirect_url]
    response._csp_replace = policy
    return response


def _page(request: HttpRequest, form: CaptureForm, context: dict, status: int = 200):
    context = {
        "capture_form": form,
        "fill_token": abuse.fill_token(form),
        "honeypot": abuse.HONEYPOT,
        "fill_field": abuse.FILL_TOKEN,
        **context,
    }
    response = render(request, "leads/capture/page.html", context, status=status)
    return _frame_and_form_policy(response, form)


def _attribution_from_visit(request: HttpRequest) -> dict[str, str]:
    """A GET of the hosted page: the UTM parameters of its address, the page that linked to it,
    and its own address as the landing page (kept in hidden inputs until the visitor sends)."""
    data = {k: request.GET.get(k, "") for k in ATTRIBUTION_FIELDS if k.startswith("utm_")}
    data["referrer_url"] = request.headers.get("Referer", "")
    data["landing_page"] = request.build_absolute_uri()
    return lenient_attribution(data)


# Public: no session, no CSRF cookie (third-party frames often get no cookies). Abuse is kept
# off by the rate limits, the honeypot and the signed minimum fill time instead (abuse.py).
@csrf_exempt
@xframe_options_exempt  # framing is governed by the CSP's frame-ancestors (the form's origins)
@require_http_methods(["GET", "POST"])
def hosted_page(request: HttpRequest, slug: str) -> HttpResponse:
    form = selectors.capture_form_for_slug(slug)
    if form is None:
        return render(request, "leads/capture/closed.html", {"missing": True}, status=404)
    if not form.is_active:
        response = render(request, "leads/capture/closed.html", {"capture_form": form}, status=403)
        return _frame_and_form_policy(response, form)  # the settings page previews it too
    definitions = cf_selectors.definitions_for("lead")
    inputs = selectors.capture_fields(form, definitions=definitions)
    if request.method == "GET":
        if request.GET.get("sent") == "1":
            return _page(request, form, {"sent": True})
        submission = CaptureSubmissionForm(
            inputs=inputs, definitions=definitions, consent_text=form.consent_text
        )
        context = {"submission": submission, "attribution": _attribution_from_visit(request)}
        return _page(request, form, context)
    return _hosted_post(request, form, inputs, definitions)


def _hosted_post(request: HttpRequest, form: CaptureForm, inputs, definitions) -> HttpResponse:
    if abuse.body_too_large(request):
        return _refused(request, form, "Your message is too long to send.", 413)
    request.capture_key = form.key
    wait = abuse.throttle_wait(request)
    if wait is not None:
        response = _refused(
            request, form, f"Too many submissions. Please try again in {wait} seconds.", 429
        )
        response["Retry-After"] = str(wait)
        return response
    submission = CaptureSubmissionForm(
        request.POST, inputs=inputs, definitions=definitions, consent_text=form.consent_text
    )
    attribution = lenient_attribution(request.POST)
    context = {"submission": submission, "attribution": attribution}
    if abuse.is_bot_trap_filled(request.POST):
        return thanks(request, form)  # a bot: answered like anyone, stored nowhere
    if not abuse.fill_time_ok(form, request.POST.get(abuse.FILL_TOKEN)):
        submission.is_valid()
        context["too_fast"] = True
        return _page(request, form, context, status=400)
    if submission.is_valid():
        try:
            services.lead_capture(
                form=form,
                values=submission.lead_values(),
                custom_field_values=submission.custom_field_values(),
                attribution=attribution,
                client_ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
                marketing_consent=submission.marketing_consent(),
            )
        except ValidationFailed as exc:
            submission.add_domain_errors(exc)
        else:
            return thanks(request, form)
    return _page(request, form, context, status=400)


def thanks(request: HttpRequest, form: CaptureForm) -> HttpResponse:
    """After a submission: on to the form's redirect URL (303), or its thank-you message."""
    if form.redirect_url:
        return _see_other(form.redirect_url)
    return _see_other(f"{reverse('capture:page', args=[form.slug])}?sent=1")


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def _refused(request: HttpRequest, form: CaptureForm, message: str, status: int) -> HttpResponse:
    return _page(request, form, {"refused": message}, status=status)


def hosted_page_again(request: HttpRequest, form: CaptureForm, context: dict) -> HttpResponse:
    """The hosted page with a submission's errors (the endpoint's answer to a browser post)."""
    return _page(request, form, context, status=400)
