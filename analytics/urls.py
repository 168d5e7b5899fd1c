from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.team, name="team"),
    path("my-day/", views.my_day, name="my_day"),
    path("dashboard/summary/", views.summary, name="summary"),
]
