from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from crm import rest as crm_rest
from crm import views as crm_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("crm.auth_urls")),
    path("healthz", crm_views.healthz, name="healthz"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", crm_rest.api_not_found),  # any other /api/ path: the JSON 404
    path("", include("analytics.urls")),  # "/": the dashboard that fits the role
    path("", include("crm.urls")),
    path("wfm/", include("wfm.urls")),
    path("leads/", include("leads.urls")),
    path("deals/", include("deals.urls")),
    path("activities/", include("activities.urls")),
    path("ai/", include("aiagent.urls")),
    path("custom-fields/", include("customfields.urls")),
    path("privacy/", include("privacy.urls")),
    path("duplicates/", include("duplicates.urls")),
    path("", include("leads.capture.urls")),  # /settings/capture-forms/…, /f/<slug>/
    path("", include("emails.urls")),  # /settings/email-templates/…, /email/…
]

handler400 = "crm.rest.bad_request"
handler403 = "crm.rest.permission_denied"
handler404 = "crm.rest.page_not_found"
handler500 = "crm.rest.server_error"
