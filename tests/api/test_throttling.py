"""Anonymous and logged-in clients are throttled at configurable rates."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "user": "3/min", "auth": "2/min"},
    }


def test_it_throttles_anonymous_clients(anon, low_rates):
    assert [anon.get("/api/novels/").status_code for _ in range(3)] == [200, 200, 429]
    response = anon.get("/api/novels/")
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_it_throttles_logged_in_users_at_their_own_rate(as_alice, as_bob, low_rates):
    assert [as_alice.get("/api/novels/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert as_bob.get("/api/novels/").status_code == 200


def test_it_throttles_password_guessing_for_tokens(anon, alice, low_rates):
    guesses = [anon.post("/api/auth/token/", {"username": "alice", "password": f"guess-{i}"}) for i in range(3)]
    assert [response.status_code for response in guesses] == [400, 400, 429]


def test_it_reads_the_rates_from_the_settings(anon, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1/min", "user": "1/min", "auth": "1/min"},
    }
    assert [anon.get("/api/novels/").status_code for _ in range(2)] == [200, 429]


def test_it_is_not_fooled_by_a_forged_forwarded_address(anon, low_rates):
    codes = [anon.get("/api/novels/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(3)]
    assert codes == [200, 200, 429]


def test_it_tells_clients_apart_behind_a_proxy(anon, low_rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    codes = [anon.get("/api/novels/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(3)]
    assert codes == [200, 200, 200]
