from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("<str:kind>/<uuid:pk>/export/", views.export, name="export"),
    path("<str:kind>/<uuid:pk>/export.json", views.export_json, name="export_json"),
    path("<str:kind>/<uuid:pk>/anonymize/", views.anonymize, name="anonymize"),
    path("<str:kind>/<uuid:pk>/consent/", views.consent, name="consent"),
]
