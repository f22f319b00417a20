"""relay.postgresql: Django's backend, with the health check at most once a second per connection."""

from __future__ import annotations

import pytest
from django.db import connections

from relay.postgresql.base import HEALTH_CHECK_EVERY_S

pytestmark = [pytest.mark.scaled, pytest.mark.django_db]


@pytest.fixture
def own():
    """A connection of its own to the test database, outside the test's transaction."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


@pytest.fixture
def checks(own, monkeypatch) -> list[int]:
    """One entry for each health check `own` runs."""
    done: list[int] = []
    usable = own.is_usable
    monkeypatch.setattr(own, "is_usable", lambda: done.append(1) or usable())
    return done


def check_due(wrapper) -> None:
    """What a new request or socket message does before its first query."""
    wrapper.health_check_done = False
    wrapper.close_if_health_check_failed()


def test_a_connection_is_checked_at_most_once_a_second(own, checks):
    check_due(own)
    assert checks == []  # opened a moment ago
    own.checked_at -= HEALTH_CHECK_EVERY_S
    check_due(own)
    assert checks == [1]
    check_due(own)
    assert checks == [1]  # checked a moment ago


def test_after_any_connection_meets_an_error_every_connection_is_checked(own, checks):
    from django.db.utils import OperationalError

    other = connections.create_connection("default")
    with pytest.raises(OperationalError), other.wrap_database_errors:
        raise other.Database.OperationalError("the server went away")
    check_due(own)
    assert checks == [1]  # opened a moment ago, but trouble came after
    check_due(own)
    assert checks == [1]


def test_a_dead_connection_is_replaced_once_its_check_is_due(own):
    dead = own.connection
    dead.close()  # as if the server had gone away
    own.checked_at -= HEALTH_CHECK_EVERY_S
    check_due(own)
    with own.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert own.connection is not dead
