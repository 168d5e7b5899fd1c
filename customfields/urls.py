from django.urls import path

from customfields import views

app_name = "customfields"

urlpatterns = [
    path("", views.field_list, name="list"),
    path("new/", views.field_create, name="create"),
    path("<uuid:field_id>/edit/", views.field_edit, name="edit"),
    path("<uuid:field_id>/move/", views.field_move, name="move"),
    path("<uuid:field_id>/deactivate/", views.field_deactivate, name="deactivate"),
    path("<uuid:field_id>/activate/", views.field_activate, name="activate"),
]
