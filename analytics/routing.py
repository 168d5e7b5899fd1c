from django.urls import path

from analytics import consumers

websocket_urlpatterns = [path("ws/dashboard/", consumers.DashboardConsumer.as_asgi())]
