"""Websocket routes of every app, collected in one place."""

from analytics.routing import websocket_urlpatterns as analytics_ws
from crm.routing import websocket_urlpatterns as crm_ws

# The dashboard's route comes first: crm's catch-all record route would take /ws/dashboard/.
websocket_urlpatterns = [*analytics_ws, *crm_ws]
