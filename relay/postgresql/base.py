"""Django's PostgreSQL backend, with the connection's health check at most once a second.

CONN_HEALTH_CHECKS sends `SELECT 1` before the first query of every request
and of every socket message (database_sync_to_async closes old connections
around each, which asks for a check again). A socket vote is one statement
(voting.services.vote_cast_by_id), so the check doubled its round trips, and
under load each answer makes a pool thread wait for the GIL again: py-spy put
17 % of a daphne's samples at 250 votes/s in that wait.

A connection checked, or opened, less than HEALTH_CHECK_EVERY_S ago is
trusted. Should the server have gone away within that second, the request
fails as it would have without checks (503, or database_unavailable on the
socket) and Django closes the connection after it (errors_occurred); after a
longer outage every connection is checked again before its first use.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_EVERY_S = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    checked_at = float("-inf")  # monotonic time of the last check or connect

    def connect(self) -> None:
        super().connect()
        self.checked_at = time.monotonic()

    def close_if_health_check_failed(self) -> None:
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        now = time.monotonic()
        if now - self.checked_at >= HEALTH_CHECK_EVERY_S:
            self.checked_at = now
            super().close_if_health_check_failed()
        self.health_check_done = True
