from django.urls import path

from duplicates import views

app_name = "duplicates"

urlpatterns = [
    path("check/", views.duplicate_check, name="check"),
    path("<slug:slug>/", views.duplicate_review, name="review"),
    path(
        "candidates/<int:candidate_id>/dismiss/", views.candidate_dismiss, name="candidate_dismiss"
    ),
    path("<slug:slug>/<uuid:pk>/dismiss/", views.record_dismiss, name="record_dismiss"),
    path("<slug:slug>/<uuid:pk>/notice/", views.record_notice, name="record_notice"),
]
