"""Scripts log in with a token; the site uses its session."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_it_trades_a_password_for_a_token(anon, alice):
    response = anon.post("/api/auth/token/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=alice).key}


def test_it_refuses_a_wrong_password(anon, alice):
    response = anon.post("/api/auth/token/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Token.objects.filter(user=alice).exists()


def test_it_accepts_the_token_for_writes(anon, alice):
    token = anon.post("/api/auth/token/", {"username": "alice", "password": "alice-password-1"}).json()["token"]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = anon.post("/api/novels/", {"title": "토큰으로 쓴 소설"})
    assert response.status_code == 201
    assert response.json()["novel"]["created_by"] == "alice"


def test_it_accepts_the_site_session_with_its_csrf_token(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password="alice-password-1")
    refused = client.post("/api/novels/", {"title": "세션으로 쓴 소설"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"

    secret = "relaynovelcsrfsecret0123456789ab"  # what the site's pages set as the csrftoken cookie
    client.cookies["csrftoken"] = secret
    response = client.post("/api/novels/", {"title": "세션으로 쓴 소설"}, HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 201
