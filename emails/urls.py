"""Pages of email: templates settings, "Sent mail", unsubscribe; the provider webhooks."""

from django.urls import include, path

from emails import views

app_name = "emails"

urlpatterns = [
    path("settings/email-templates/", views.template_list, name="template_list"),
    path("settings/email-templates/new/", views.template_create, name="template_create"),
    path("settings/email-templates/preview/", views.template_preview, name="template_preview"),
    path("settings/email-templates/<int:template_id>/", views.template_edit, name="template_edit"),
    path(
        "settings/email-templates/<int:template_id>/deactivate/",
        views.template_deactivate,
        name="template_deactivate",
    ),
    path("email/sent/", views.sent_mail, name="sent_mail"),
    path("email/sent/<str:key>/", views.sent_mail_detail, name="sent_mail_detail"),
    path("email/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    # The provider's inbound and tracking webhooks (anymail's views, EMAIL_PROVIDER).
    path("email/hooks/", include("emails.webhooks")),
    path("", include("emails.record_views")),  # email on record pages, bulk email
]
