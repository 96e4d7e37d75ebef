from django.urls import path

from portal.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/<str:kind>/", LiveConsumer.as_asgi()),
]
