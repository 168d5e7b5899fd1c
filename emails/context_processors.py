"""Whether the user menu links the email templates and the "Sent mail" pages."""

from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """Asked only when a template renders the links."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def can_manage_templates() -> bool:
        from emails.selectors import can_manage_templates

        return can_manage_templates(user)

    def can_see_sent_mail() -> bool:
        from emails.selectors import can_see_sent_mail

        return can_see_sent_mail(user)

    return {
        "can_manage_email_templates": can_manage_templates,
        "can_see_sent_mail": can_see_sent_mail,
    }
