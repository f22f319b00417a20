"""The client's own address behind a proxy, and only behind one we trust.

Every per-address limit (log-in, token and sign-up attempts, anonymous API
reads, sockets per address) counts REMOTE_ADDR, the address of the connection.
Behind nginx that is nginx's; the client's is in X-Forwarded-For. Reading that
header from anyone (daphne's --proxy-headers, DRF's NUM_PROXIES) lets a client
name a new address on every request and never be limited. uvicorn's
ProxyHeadersMiddleware reads it only on a connection from TRUSTED_PROXIES, and
leaves everyone else's address as it is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class TrustedProxies:
    """ASGI middleware (outermost): the client's address and scheme from the proxies in TRUSTED_PROXIES.

    The setting is read per connection, so that a changed setting (a test's) takes effect."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._for: tuple[str, ...] = ()
        self._wrapped: Any = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        trusted = tuple(settings.TRUSTED_PROXIES)
        if trusted != self._for:
            self._wrapped = ProxyHeadersMiddleware(self.app, trusted_hosts=list(trusted)) if trusted else self.app
            self._for = trusted
        return await self._wrapped(scope, receive, send)
