"""ASGI entry point: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relay.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from relay.handler import PooledASGIHandler  # noqa: E402

django_asgi_app = PooledASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from relay.proxies import TrustedProxies  # noqa: E402
from relay.routing import websocket_urlpatterns  # noqa: E402
from relay.transport.wire import DirectFrames, leave_form_bodies_to_django  # noqa: E402

leave_form_bodies_to_django()

# The client's address from X-Forwarded-For on connections from TRUSTED_PROXIES alone (relay.proxies).
application = TrustedProxies(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": DirectFrames(
                AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
                enabled=settings.RELAY_DIRECT_FRAMES,
            ),
        }
    )
)

# Embedded profile: this process also runs generation and the round timers
# (a daemon thread; it closes rounds that fell due while the server was down).
from voting.generation.worker import should_start_embedded_worker, start_embedded_worker  # noqa: E402

if should_start_embedded_worker():
    start_embedded_worker()

# With a model store (the scaled profile), this process follows the active version: it fetches a new one's
# files to this host's MODEL_DIR, then reads its training names (management.model_cache).
from management.model_cache import start_following  # noqa: E402

start_following()

# Everything imported so far lives as long as the process: take it out of the
# collector's sight. A full collection then scans only what the connections
# made, and no longer stops the event loop for 60-150 ms every few seconds
# under 500 sockets (bench/load.py measured 25-60 ms after this).
gc.freeze()
