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


async def get_through_the_server(peer: str, forwarded_for: str) -> int:
    """GET /api/novels/ through the ASGI application, from a connection of `peer`, naming a client in
    X-Forwarded-For; the status."""
    from channels.testing import ApplicationCommunicator

    from relay.asgi import application

    scope = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/api/novels/",
        "raw_path": b"/api/novels/", "query_string": b"", "root_path": "", "client": (peer, 40000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"localhost"), (b"x-forwarded-for", forwarded_for.encode())],
    }  # fmt: skip
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    while (await communicator.receive_output(10)).get("more_body"):
        pass
    return start["status"]


@pytest.mark.django_db(transaction=True)
async def test_behind_a_trusted_proxy_clients_are_told_apart_by_their_forwarded_address(low_rates, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    codes = [await get_through_the_server("127.0.0.1", f"10.0.0.{i}") for i in range(3)]
    again = [await get_through_the_server("127.0.0.1", "10.0.0.7") for _ in range(3)]

    assert codes == [200, 200, 200] and again == [200, 200, 429]


@pytest.mark.django_db(transaction=True)
async def test_a_forwarded_address_from_anyone_but_a_trusted_proxy_is_ignored(low_rates, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    codes = [await get_through_the_server("10.1.1.1", f"10.0.0.{i}") for i in range(3)]

    assert codes == [200, 200, 429]


def test_a_vote_goes_through_while_the_cache_that_counts_is_unreachable(as_alice, round_, proposal, caplog):
    from django.test import override_settings

    from voting.models import Vote

    unreachable = {  # a Redis where nothing listens: the scaled profile with Redis down
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    with override_settings(CACHES=unreachable):
        response = as_alice.post(f"/api/rounds/{round_.pk}/vote/", {"proposal": proposal.pk}, format="json")

    assert response.status_code == 200, response.content
    assert Vote.objects.filter(round=round_, user__username="alice", proposal=proposal).exists()
    assert "cache is unreachable" in caplog.text
