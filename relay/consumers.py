from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from relay.events import SITE_GROUP, novel_group


class NovelConsumer(AsyncJsonWebsocketConsumer):
    """The live relay of one novel (protocol in README)."""

    async def connect(self) -> None:
        self.novel_id = int(self.scope["url_route"]["kwargs"]["novel_id"])
        self.group = novel_group(self.novel_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(SITE_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.channel_layer.group_discard(SITE_GROUP, self.channel_name)

    async def relay_event(self, event: dict) -> None:
        await self.send_json(event["payload"])
