"""One error format for every refusal: {"code", "detail"} (+ "fields")."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_an_unknown_novel_with_not_found(anon):
    response = anon.get("/api/novels/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"]


def test_it_answers_an_unknown_api_address_with_json(anon):
    response = anon.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "없는 주소입니다."}


def test_it_answers_an_address_with_a_newline_with_json(anon):
    response = anon.get("/api/rounds/M%0A/proposals/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_asks_for_credentials_when_not_logged_in(anon):
    response = anon.post("/api/novels/", {"title": "새 소설"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_it_refuses_a_bad_token_as_not_authenticated(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon.get("/api/novels/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_it_refuses_staff_actions_to_other_users(as_bob):
    response = as_bob.get("/api/review/turns/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_it_names_the_fields_of_invalid_input(as_alice):
    response = as_alice.post("/api/novels/", {"title": "", "min_sentences": 5, "max_sentences": 2})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"title"}
    assert body["detail"].startswith("title: ")


def test_it_checks_fields_against_each_other(as_alice):
    response = as_alice.post("/api/novels/", {"title": "규칙", "min_sentences": 5, "max_sentences": 2})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["max_sentences"]


def test_it_refuses_an_unknown_list_filter(anon):
    response = anon.get("/api/novels/?status=paused")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "status" in response.json()["fields"]


def test_it_refuses_malformed_json(as_alice):
    response = as_alice.post("/api/novels/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_it_refuses_a_method_the_resource_lacks(as_alice):
    response = as_alice.delete("/api/novels/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
