"""Django's PostgreSQL backend, with the connection's health check at most once a second.

CONN_HEALTH_CHECKS sends `SELECT 1` before the first query of every request
and of every socket message (database_sync_to_async closes old connections
around each, which asks for a check again). A socket vote is one statement
(voting.services.vote_cast_by_id), so the check doubled its round trips, and
under load each answer makes a pool thread wait for the GIL again: py-spy put
17 % of a daphne's samples at 250 votes/s in that wait.

A connection checked, or opened, less than HEALTH_CHECK_EVERY_S ago is
trusted, unless a connection of this process has met an operational error
since: then every connection is checked before its next use, so after an
outage (bench/faults.py cuts the database off for about a second) nothing
fails that would not have failed with a check each time. A process that saw
no error while its server was away for less than that second may fail one
request per connection, as it would have without checks (503, or
database_unavailable on the socket); Django closes that connection after it.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

HEALTH_CHECK_EVERY_S = 1.0
# When a connection of this process last met an operational error (monotonic).
trouble_at = float("-inf")


class NoteTrouble(DatabaseErrorWrapper):
    """Django's error wrapper, which also notes when the server could not be reached or answered wrongly."""

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        database = self.wrapper.Database
        if exc_type is not None and issubclass(exc_type, (database.OperationalError, database.InterfaceError)):
            global trouble_at
            trouble_at = time.monotonic()
        return super().__exit__(exc_type, exc_value, traceback)


class DatabaseWrapper(base.DatabaseWrapper):
    checked_at = float("-inf")  # monotonic time of the last check or connect

    @cached_property
    def wrap_database_errors(self) -> NoteTrouble:
        return NoteTrouble(self)

    def connect(self) -> None:
        super().connect()
        self.checked_at = time.monotonic()

    def close_if_health_check_failed(self) -> None:
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        now = time.monotonic()
        if now - self.checked_at >= HEALTH_CHECK_EVERY_S or self.checked_at <= trouble_at:
            self.checked_at = now
            super().close_if_health_check_failed()
        self.health_check_done = True
