"""The capture settings pages and the hosted form pages (the endpoint is in config/api_urls)."""

from django.urls import path

from leads.capture import views

app_name = "capture"

urlpatterns = [
    path("settings/capture-forms/", views.form_list, name="list"),
    path("settings/capture-forms/new/", views.form_create, name="create"),
    path("settings/capture-forms/<uuid:form_id>/", views.form_edit, name="edit"),
    path(
        "settings/capture-forms/<uuid:form_id>/rotate-key/",
        views.form_rotate_key,
        name="rotate_key",
    ),
    path("settings/capture-forms/<uuid:form_id>/delete/", views.form_delete, name="delete"),
    path("f/<slug:slug>/", views.hosted_page, name="page"),
]
