"""Websocket routes of every app, collected in one place."""

from crm.routing import websocket_urlpatterns as crm_ws

websocket_urlpatterns = [*crm_ws]
