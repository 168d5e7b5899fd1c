"""Pages of email.

- Templates (``/settings/email-templates/``, Managers and Admins): the list, a form to create
  or edit one with a live preview on a sample record, deactivate.
- "Sent mail" (``/email/sent/``, Admins, while the app runs in DEBUG or stores its mail): what
  the embedded default's backend kept instead of sending.
- Unsubscribe (``/email/unsubscribe/<token>/``, public): a page with a confirm button, and the
  one-click POST mail clients send (RFC 8058: ``List-Unsubscribe=One-Click``, no cookies).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.errors import DomainError, PermissionDenied, ValidationFailed
from crm.forms import add_domain_errors
from emails import backends, selectors, services
from emails.forms import EmailTemplateForm, PreviewForm
from emails.models import EmailTemplate


def _require_manage(request: HttpRequest) -> None:
    if not selectors.can_manage_templates(request.user):
        raise PermissionDenied("Only managers and administrators manage email templates.")


# --- templates -----------------------------------------------------------------------------------
@login_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    templates = list(selectors.template_list(user=request.user, include_inactive=True))
    return render(request, "emails/template_list.html", {"templates": templates})


def _preview(request: HttpRequest, *, subject: str, body: str) -> dict:
    """The preview region's context: the merged subject and body on the sample record, or
    what is wrong with the merge fields."""
    record = selectors.sample_record(user=request.user)
    try:
        rendered = services.email_template_preview(
            by=request.user, subject=subject, body=body, record=record
        )
    except ValidationFailed as exc:
        return {"preview_errors": [m for ms in exc.details.values() for m in ms], "record": record}
    return {"preview": rendered, "record": record}


def _form_page(
    request: HttpRequest, form: EmailTemplateForm, template: EmailTemplate | None, **extra
) -> HttpResponse:
    data = form.data if form.is_bound else form.initial
    context = {
        "form": form,
        "template": template,
        "title": template.name if template else "New email template",
        **_preview(request, subject=data.get("subject", ""), body=data.get("body", "")),
        **extra,
    }
    return render(request, "emails/template_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    form = EmailTemplateForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        try:
            template = services.email_template_create(by=request.user, **form.cleaned_data)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            return redirect(f"{reverse('emails:template_edit', args=[template.pk])}?saved=1")
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    _require_manage(request)
    template = selectors.template_get(
        user=request.user, template_id=template_id, include_inactive=True
    )
    form = EmailTemplateForm(request.POST or None, initial=EmailTemplateForm.initial_for(template))
    if request.method == "POST" and form.is_valid():
        try:
            services.email_template_update(
                by=request.user, template=template, data=form.cleaned_data
            )
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            return redirect(f"{reverse('emails:template_edit', args=[template.pk])}?saved=1")
    return _form_page(request, form, template, saved=request.GET.get("saved") == "1")


@login_required
@require_POST
def template_deactivate(request: HttpRequest, template_id: int) -> HttpResponse:
    _require_manage(request)
    template = selectors.template_get(
        user=request.user, template_id=template_id, include_inactive=True
    )
    services.email_template_deactivate(by=request.user, template=template)
    return redirect("emails:template_list")


@login_required
@require_POST
def template_preview(request: HttpRequest) -> HttpResponse:
    """The preview region alone, for the subject and body being typed (HTMX)."""
    _require_manage(request)
    form = PreviewForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    context = _preview(request, subject=data.get("subject", ""), body=data.get("body", ""))
    return render(request, "emails/template_form.html#preview", context)


# --- sent mail (embedded default) ----------------------------------------------------------------
def _require_sent_mail(request: HttpRequest) -> None:
    if not selectors.can_see_sent_mail(request.user):
        # Outside DEBUG and the stored backend the page does not exist for anyone.
        raise Http404("No such page.")


@login_required
@require_GET
def sent_mail(request: HttpRequest) -> HttpResponse:
    _require_sent_mail(request)
    context = {
        "messages_stored": backends.stored_messages(),
        "stored_backend": selectors.stored_backend_active(),
    }
    return render(request, "emails/sent_mail.html", context)


@login_required
@require_GET
def sent_mail_detail(request: HttpRequest, key: str) -> HttpResponse:
    _require_sent_mail(request)
    stored = backends.stored_message(key)
    if stored is None:
        raise Http404("No such message.")
    return render(request, "emails/sent_mail_detail.html", {"stored": stored})


# --- unsubscribe ---------------------------------------------------------------------------------
# Public: mail clients post the one-click form without cookies or a CSRF token (RFC 8058); the
# signed token is the authority. A GET only shows the confirm button (link scanners follow GETs).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    read = services.unsubscribe_read(token)
    if read is None:
        return render(request, "emails/unsubscribe.html", {"invalid": True}, status=404)
    address, _ = read
    if request.method == "GET":
        return render(request, "emails/unsubscribe.html", {"address": address})
    try:
        services.email_unsubscribe(
            token=token,
            evidence={"one_click": request.POST.get("List-Unsubscribe") == "One-Click"},
        )
    except ValidationFailed:
        return render(request, "emails/unsubscribe.html", {"invalid": True}, status=404)
    return render(request, "emails/unsubscribe.html", {"address": address, "done": True})
