from django.urls import path

from crm import views
from crm.record_types import ORGANIZATIONS, PEOPLE
from crm.records import import_views, merge_views
from crm.records.tables import table_urls

app_name = "crm"


def record_urls(prefix: str, record_type) -> list:
    """The table's URLs plus the shared detail, create, edit, delete and merge views."""
    slug = record_type.key
    kw = {"record_type": record_type}
    return [
        *table_urls(record_type, f"{prefix}/"),
        path(f"{prefix}/new/", views.record_create, kw, name=f"{slug}_create"),
        path(f"{prefix}/merge/", merge_views.record_merge, kw, name=f"{slug}_merge"),
        path(f"{prefix}/<uuid:pk>/", views.record_detail, kw, name=f"{slug}_detail"),
        path(f"{prefix}/<uuid:pk>/edit/", views.record_edit, kw, name=f"{slug}_edit"),
        path(f"{prefix}/<uuid:pk>/delete/", views.record_delete, kw, name=f"{slug}_delete"),
    ]


urlpatterns = [
    *record_urls("people", PEOPLE),
    *record_urls("organizations", ORGANIZATIONS),
    # Spreadsheet imports (issue 15): the upload is each type's <type>/import/.
    path("imports/", import_views.import_list, name="imports"),
    path("imports/<int:pk>/", import_views.import_detail, name="import_detail"),
    path("imports/<int:pk>/cancel/", import_views.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/undo/", import_views.import_undo, name="import_undo"),
    path("imports/<int:pk>/errors.csv", import_views.import_errors, name="import_errors"),
    # Notifications (issue 9).
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/menu/", views.notification_menu, name="notification_menu"),
    path("notifications/count/", views.notification_count, name="notification_count"),
    path("notifications/read-all/", views.notification_read_all, name="notification_read_all"),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read,
        name="notification_read",
    ),
    path(
        "notifications/<int:notification_id>/open/",
        views.notification_open,
        name="notification_open",
    ),
]
