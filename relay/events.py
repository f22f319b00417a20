"""Events to the browsers: every service calls one of these after its write.

Each schedules a group_send with transaction.on_commit, so nobody is told
about a change that was rolled back. Payloads carry ids, numbers and strings.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def novel_group(novel_id: int) -> str:
    return f"novel-{novel_id}"


def send_now(group: str, payload: dict[str, Any]) -> None:
    """Send at once (for streaming outside a transaction)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "relay.event", "payload": payload})
    except Exception:  # a broken broadcast must never undo a committed write
        log.exception("broadcast to %s failed", group)


def broadcast(novel_id: int, payload: dict[str, Any]) -> None:
    """Send to everyone watching the novel once the current transaction commits."""
    group = novel_group(novel_id)
    transaction.on_commit(lambda: send_now(group, payload))


SITE_GROUP = "site"


def broadcast_site(payload: dict[str, Any]) -> None:
    """Send to every open page (all novels) once the current transaction commits."""
    transaction.on_commit(lambda: send_now(SITE_GROUP, payload))
