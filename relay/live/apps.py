from __future__ import annotations

from django.apps import AppConfig


class LiveConfig(AppConfig):
    """The live relay's sockets: registered for what they must hear of outside a socket (a log-out)."""

    name = "relay.live"
    label = "live"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from relay.live.consumers import end_sockets_of_session

        user_logged_out.connect(end_sockets_of_session, dispatch_uid="relay.live.end_sockets_of_session")
