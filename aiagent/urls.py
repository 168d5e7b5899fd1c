from django.urls import path

from aiagent import views

app_name = "aiagent"

urlpatterns = [
    path("", views.chat_home, name="home"),
    path("new/", views.conversation_start, name="start"),
    path("drawer/", views.drawer, name="drawer"),
    path("<uuid:pk>/", views.chat, name="chat"),
    path("<uuid:pk>/messages/", views.messages, name="messages"),
    path("<uuid:pk>/send/", views.send, name="send"),
    path("<uuid:pk>/run/", views.run, name="run"),
    path("<uuid:pk>/stop/", views.stop, name="stop"),
    path("<uuid:pk>/delete/", views.delete, name="delete"),
    path("proposals/<str:token>/confirm/", views.proposal_confirm, name="proposal_confirm"),
    path("proposals/<str:token>/reject/", views.proposal_reject, name="proposal_reject"),
    path("proposals/<str:token>/edit/", views.proposal_edit, name="proposal_edit"),
    path("leads/<uuid:lead_id>/insights/", views.insights, name="insights"),
    path("leads/<uuid:lead_id>/insights/analyze/", views.insights_analyze, name="analyze"),
    path("leads/<uuid:lead_id>/insights/apply/", views.insights_apply, name="apply"),
    path("leads/<uuid:lead_id>/intelligence/", views.intelligence, name="intelligence"),
    path(
        "leads/<uuid:lead_id>/intelligence/apply/",
        views.intelligence_apply,
        name="intelligence_apply",
    ),
]
