from django.urls import path

from crm import consumers

# Generic routes: the kinds (lead, deal, person, organization) register their renderers in
# crm.realtime (crm.records.realtime.LiveRecords), and crm knows nothing of them (SPEC §4).
# The specific routes come before the catch-all record one.
websocket_urlpatterns = [
    path("ws/notifications/", consumers.NotificationConsumer.as_asgi()),
    path("ws/boards/<int:workflow_id>/", consumers.BoardConsumer.as_asgi()),
    path("ws/tables/<slug:kind>/", consumers.TableConsumer.as_asgi()),
    path("ws/<slug:collection>/<str:pk>/", consumers.RecordConsumer.as_asgi()),
]
