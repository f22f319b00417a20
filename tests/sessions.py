"""A logged-in session for tests that connect sockets or browsers directly."""

from __future__ import annotations

from django.conf import settings
from django.test import Client


def session_cookie(user) -> str:
    """The value of a session cookie in which `user` is logged in."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value
