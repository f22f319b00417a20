"""What an outside tester tried (issue 17): each input gets a clear error, never a 500 or a
dropped socket, nothing saved is lost, look-alike text is the same text, and passwords
cannot be guessed in bulk. Runs in both profiles; the races run against PostgreSQL there."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from novels.models import Novel
from tests.scaled.conftest import answer
from tests.scaled.test_bad_input import saved_state, still_up
from voting.models import Proposal

# Frames that used to close the socket with 1011 (the page lost its live connection).
CRASHING_FRAMES = [
    ("[" * 2040 + "]" * 2040, "bad_json"),  # 4,080 bytes: under the size limit, too deep for json
    ('{"type": "propose", "keyword": "\\ud800등대", "sentences": 2}', "bad_message"),  # lone surrogates
    ('{"type": "propose", "keyword": "\\udc00", "sentences": 2}', "bad_message"),
    ('{"type": "vote", "proposal": 1, "x": ' + "[" * 1000 + "]" * 1000 + "}", "bad_json"),
]


@pytest.mark.django_db(transaction=True)
async def test_frames_that_crashed_the_consumer_get_an_error_frame_and_the_socket_still_votes(
    sockets, novel, proposal, alice
):
    before = await sync_to_async(saved_state)(novel.pk)
    communicator = await sockets(novel.pk, alice)

    for frame, code in CRASHING_FRAMES:
        await communicator.send_to(text_data=frame)
        reply = await answer(communicator)
        assert (reply["type"], reply["code"]) == ("error", code), frame[:60]
        assert reply["message"]
    assert await sync_to_async(saved_state)(novel.pk) == before

    # Look-alikes of bob's "등대" over the same socket: each is that proposal, not a new one.
    for look_alike in ("등\u200d대", "등\u200b대", "\u202e등대"):
        await communicator.send_json_to({"type": "propose", "keyword": look_alike, "sentences": 2})
        assert await answer(communicator) == {"type": "voted", "round": proposal.round_id, "proposal": proposal.pk}
    await communicator.send_json_to({"type": "withdraw"})
    await answer(communicator)

    await communicator.send_json_to({"type": "vote", "proposal": proposal.pk})
    assert await answer(communicator) == {"type": "voted", "round": proposal.round_id, "proposal": proposal.pk}
    await still_up(communicator)


@pytest.mark.django_db(transaction=True)
async def test_an_unexpected_failure_in_an_action_is_an_error_frame_not_a_closed_socket(
    sockets, novel, proposal, alice, monkeypatch
):
    from relay.live import consumers

    def broken(**kwargs):
        raise TypeError("a bug")

    monkeypatch.setitem(consumers.ACTIONS, "withdraw", broken)
    communicator = await sockets(novel.pk, alice)
    await communicator.send_json_to({"type": "withdraw"})

    reply = await answer(communicator)
    assert (reply["type"], reply["code"]) == ("error", "server_error")
    await still_up(communicator)


# HTTP bodies the parser could not take --------------------------------------------------------------------------


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.django_db
def test_json_nested_too_deep_is_a_400_with_the_api_error_format(alice, novel, round_):
    client = APIClient()
    client.force_authenticate(alice)
    before = saved_state(novel.pk)

    novels = client.post("/api/novels/", data=deep(10_000), content_type="application/json")
    keyword = '{"keyword": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + ', "sentences": 2}'
    proposals = client.post(f"/api/rounds/{round_.pk}/proposals/", data=keyword, content_type="application/json")

    for response in (novels, proposals):
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"
    assert saved_state(novel.pk) == before


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_a_413_with_the_api_error_format(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    client = APIClient()
    client.force_authenticate(alice)
    body = json.dumps({"title": "큰 글", "first_passage": "가" * (3 * 1024 * 1024)})

    response = client.post("/api/novels/", data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Novel.objects.filter(title="큰 글").exists()


@pytest.mark.django_db
def test_a_multipart_body_the_server_cannot_parse_gets_a_json_error(alice):
    client = APIClient(enforce_csrf_checks=True)  # as the site's pages call it: a session, its CSRF token
    client.force_login(alice)
    client.get("/")  # the page sets the CSRF cookie

    response = client.generic(
        "POST",
        "/api/sources/",
        b"--xyz\r\nbroken",
        content_type="multipart/form-data; boundary=xyz",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] in ("parse_error", "invalid")


# Races -------------------------------------------------------------------------------------------------------


def at_once(count: int, send) -> list[int]:
    """Run `send` from `count` threads released together; their status codes."""
    start = threading.Barrier(count, timeout=30)

    def one(_: int) -> int:
        try:
            start.wait()
            return send()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.django_db(transaction=True)
def test_twenty_sign_ups_with_one_new_name_at_once_make_one_account_and_no_500(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "signup": "100/min"}}
    form = {"username": "newcomer", "password1": "a-long-pass-8472", "password2": "a-long-pass-8472"}

    codes = at_once(20, lambda: Client(raise_request_exception=False).post("/accounts/signup/", form).status_code)

    assert 500 not in codes
    assert codes.count(302) == 1 and set(codes) <= {302, 200, 400}
    assert get_user_model().objects.filter(username="newcomer").count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_new_novel_form_posted_twenty_times_at_once_makes_one_novel(alice):
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)
    page = browser.get("/").content.decode()
    key = page.split('name="submission" value="', 1)[1].split('"', 1)[0]
    form = {
        "title": "한 번만",
        "first_passage": "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다.",
        "submission": key,
    }

    codes = at_once(20, lambda: browser.post("/novels/new/", form).status_code)

    assert set(codes) == {302}
    assert Novel.objects.filter(title="한 번만").count() == 1
    again = browser.post("/novels/new/", form)  # a retry later: the same novel, not a second
    assert again.status_code == 302 and Novel.objects.filter(title="한 번만").count() == 1
    fresh = Client()
    fresh.force_login(alice)
    assert 'name="submission" value="' + key not in fresh.get("/").content.decode()  # each form a new key


# Look-alike text -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "look_alike", ["바\u200d다", "바\u200b다", "\u202e바다", "바다\u2066", "\ufeff바다", "바\u00ad다", "\u3164바다"]
)
def test_a_keyword_with_invisible_characters_is_the_visible_keyword(alice, bob, round_, look_alike):
    from voting.services import proposal_create

    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)

    same, created = proposal_create(round=round_, author=bob, keyword=look_alike, sentences=2)

    assert (same.pk, created) == (sea.pk, False)
    assert Proposal.objects.filter(round=round_).count() == 1


@pytest.mark.django_db
def test_a_right_to_left_override_is_not_stored_in_a_keyword(alice, round_):
    from voting.services import proposal_create

    proposal, _ = proposal_create(round=round_, author=alice, keyword="\u202e다바", sentences=2)

    assert proposal.keyword == "다바"


@pytest.mark.django_db
def test_titles_and_passages_lose_their_invisible_characters(editor, alice):
    from voting.services import novel_create, turn_write

    novel = novel_create(
        title="등\u200b대\u202e", created_by=editor, first_passage="바다는\u200d 조용했다. 수아가 웃었다."
    )
    turn = turn_write(novel=novel, author=alice, text="그날\u2067 밤 등대의 불빛이 꺼졌다.\u200b")

    assert novel.title == "등대"
    assert novel.turns.order_by("position").first().text == "바다는 조용했다. 수아가 웃었다."
    assert turn.text == "그날 밤 등대의 불빛이 꺼졌다."


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["ali\u200dce", "\u202ealice", "alice\u200b"])
def test_a_username_with_invisible_characters_is_refused_at_sign_up(alice, name):
    form = {"username": name, "password1": "a-long-pass-8472", "password2": "a-long-pass-8472"}

    response = Client().post("/accounts/signup/", form)

    assert response.status_code == 200 and "아이디" in response.content.decode()
    assert get_user_model().objects.count() == 1


# Password guessing ----------------------------------------------------------------------------------------


def log_in(password: str, *, address: str = "10.0.0.1", username: str = "alice") -> int:
    response = Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password})
    return response.status_code


@pytest.mark.django_db
def test_guessing_passwords_on_the_log_in_page_is_stopped_and_then_the_right_one_waits_too(alice):
    codes = [log_in(f"guess-{i}") for i in range(50)]

    assert 429 in codes and codes.index(429) <= 10
    assert all(code == 429 for code in codes[codes.index(429) :])
    refused = Client(REMOTE_ADDR="10.0.0.1").post(
        "/accounts/login/", {"username": "alice", "password": "alice-password-1"}
    )
    assert refused.status_code == 429
    assert "로그인 시도가 너무 많습니다" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0


@pytest.mark.django_db
def test_one_account_guessed_at_from_many_addresses_is_stopped(alice):
    codes = [log_in(f"guess-{i}", address=f"10.0.1.{i}") for i in range(20)]

    assert codes[:3] == [200, 200, 200] and codes[-1] == 429


@pytest.mark.django_db
def test_other_people_log_in_while_one_account_is_being_guessed_at(alice, bob):
    for i in range(20):
        log_in(f"guess-{i}", address=f"10.0.2.{i}")

    assert log_in("bob-password-1", address="10.0.3.1", username="bob") == 302


# Hardening --------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/sources/", "/models/", "/accounts/login/", "/admin/login/", "/api/docs/"])
def test_every_page_sends_a_content_security_policy_without_inline_code(path):
    response = Client().get(path)

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_the_api_docs_load_swagger_ui_from_this_site():
    page = Client().get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "<style" not in page and "<script>" not in page
    assert Client().get("/api/docs/?script=").status_code == 200
