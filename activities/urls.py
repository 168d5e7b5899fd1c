from django.urls import path, register_converter

from activities import views


class TimelineKind:
    regex = "lead|deal|person|organization"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TimelineKind, "timeline_kind")

app_name = "activities"

urlpatterns = [
    path("", views.activity_list, name="list"),
    path("badge/", views.badge, name="badge"),
    path("timeline/<timeline_kind:kind>/<uuid:pk>/", views.timeline, name="timeline"),
    path("timeline/<timeline_kind:kind>/<uuid:pk>/log/", views.quick_log, name="log"),
    path("<uuid:pk>/complete/", views.complete, name="complete"),
    path("<uuid:pk>/reopen/", views.reopen, name="reopen"),
    path("<uuid:pk>/edit/", views.edit, name="edit"),
    path("<uuid:pk>/delete/", views.delete, name="delete"),
    path("enroll/<uuid:lead_id>/", views.enroll, name="enroll"),
    path("enrollments/<int:pk>/stop/", views.enrollment_stop, name="enrollment_stop"),
]
