"""Fixtures of the API tests: clients logged in as the named users, a novel."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def as_alice(alice) -> APIClient:
    return client_for(alice)


@pytest.fixture
def as_bob(bob) -> APIClient:
    return client_for(bob)


@pytest.fixture
def as_editor(editor) -> APIClient:
    return client_for(editor)


@pytest.fixture
def current_round(novel):
    from voting.selectors import current_round

    round_ = current_round(novel)
    assert round_ is not None
    return round_


@pytest.fixture
def as_charlie(charlie) -> APIClient:
    return client_for(charlie)
