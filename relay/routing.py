from __future__ import annotations

from django.urls import path

from relay.live import consumers

websocket_urlpatterns = [
    path("ws/novels/<int:novel_id>/", consumers.NovelConsumer.as_asgi()),
    path("ws/site/", consumers.SiteConsumer.as_asgi()),
]
