"""Every REST resource under /api/v1/ (SPEC §7). Each app contributes its viewsets here."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from activities import api as activities_api
from aiagent import api as aiagent_api
from analytics import api as analytics_api
from crm import api as crm_api
from customfields import api as cf_api
from deals import api as deals_api
from duplicates import api as duplicates_api
from emails import api as emails_api
from leads import api as leads_api
from leads.capture import api as capture_api
from leads.scoring_api import LeadRescoreView
from privacy import api as privacy_api
from wfm import api as wfm_api

# No ".json" twins of every route: the API speaks JSON only, the schema never listed them, and
# actions without a ``format`` argument answered them with a server error.
router = DefaultRouter()
router.include_format_suffixes = False
router.include_root_view = False
router.register("people", crm_api.PersonViewSet, basename="person")
router.register("organizations", crm_api.OrganizationViewSet, basename="organization")
router.register("users", crm_api.UserViewSet, basename="user")
router.register("custom-fields", cf_api.CustomFieldViewSet, basename="custom-field")
router.register("workflows", wfm_api.WorkflowViewSet, basename="workflow")
router.register("leads", leads_api.LeadViewSet, basename="lead")
router.register("capture-forms", capture_api.CaptureFormViewSet, basename="capture-form")
activities_api.register(router)
router.register("deals", deals_api.DealViewSet, basename="deal")
router.register("imports", crm_api.ImportViewSet, basename="import")
router.register("ai/conversations", aiagent_api.ConversationViewSet, basename="ai-conversation")
emails_api.register(router)

urlpatterns = [
    path("auth/token/", crm_api.ObtainTokenView.as_view(), name="api-token"),
    path("auth/me/", crm_api.MeView.as_view(), name="api-me"),
    path("auth/tokens/", crm_api.TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<int:pk>/", crm_api.TokenRevokeView.as_view(), name="api-token-revoke"),
    path("leads/<uuid:pk>/rescore/", LeadRescoreView.as_view(), name="lead-rescore"),
    path("leads/<uuid:pk>/analyze/", aiagent_api.LeadAnalyzeView.as_view(), name="lead-analyze"),
    path(
        "leads/<uuid:pk>/duplicates/",
        duplicates_api.LeadDuplicatesView.as_view(),
        name="lead-duplicates",
    ),
    path(
        "people/<uuid:pk>/duplicates/",
        duplicates_api.PersonDuplicatesView.as_view(),
        name="person-duplicates",
    ),
    path(
        "organizations/<uuid:pk>/duplicates/",
        duplicates_api.OrganizationDuplicatesView.as_view(),
        name="organization-duplicates",
    ),
    path("imports/<int:pk>/errors/", crm_api.ImportErrorsView.as_view(), name="api-import-errors"),
    path("metrics/leads/", analytics_api.LeadMetricsView.as_view(), name="metrics-leads"),
    path("metrics/deals/", analytics_api.DealMetricsView.as_view(), name="metrics-deals"),
    path("metrics/ai/", analytics_api.AIMetricsView.as_view(), name="metrics-ai"),
    path("lead-capture/", capture_api.LeadCaptureView.as_view(), name="lead-capture"),
    # Personal data (issue 18).
    path(
        "leads/<uuid:pk>/anonymize/", privacy_api.LeadAnonymizeView.as_view(), name="lead-anonymize"
    ),
    path("leads/<uuid:pk>/export/", privacy_api.LeadExportView.as_view(), name="lead-export"),
    path(
        "people/<uuid:pk>/anonymize/",
        privacy_api.PersonAnonymizeView.as_view(),
        name="person-anonymize",
    ),
    path("people/<uuid:pk>/export/", privacy_api.PersonExportView.as_view(), name="person-export"),
    *router.urls,
]
