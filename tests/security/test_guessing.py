"""Passwords cannot be guessed at any door: the log-in page, the admin's and the API's token share one
limit per account; accounts cannot be made in bulk, nor decide a blind round once it is open."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def page_log_in(password: str, *, address: str, door: str = "/accounts/login/", username: str = "alice") -> int:
    return Client(REMOTE_ADDR=address).post(door, {"username": username, "password": password}).status_code


def token(password: str, *, address: str, username: str = "alice") -> int:
    client = APIClient(REMOTE_ADDR=address)
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json").status_code


def test_the_admin_log_in_is_limited_and_then_refuses_the_right_password_too(editor):
    codes = [page_log_in(f"guess-{i}", address="10.9.0.1", door="/admin/login/", username="editor") for i in range(15)]
    right = Client(REMOTE_ADDR="10.9.0.1").post(
        "/admin/login/", {"username": "editor", "password": "editor-password-1"}
    )

    assert codes[0] == 200 and 429 in codes
    assert right.status_code == 429 and "로그인 시도가 너무 많습니다" in right.content.decode()
    assert int(right["Retry-After"]) > 0 and "_auth_user_id" not in right.client.session


def test_wrong_page_log_ins_lock_the_account_at_the_token_door_too(alice):
    for i in range(5):
        page_log_in(f"guess-{i}", address=f"10.9.1.{i}")

    assert token("alice-password-1", address="10.9.1.99") == 429
    assert token("bob-password-1", address="10.9.1.98", username="bob") == 400  # another account: not locked


def test_wrong_token_requests_lock_the_account_at_the_page_and_the_admin(alice):
    for i in range(5):
        token(f"guess-{i}", address=f"10.9.2.{i}")

    assert page_log_in("alice-password-1", address="10.9.2.99") == 429
    assert page_log_in("alice-password-1", address="10.9.2.98", door="/admin/login/") == 429


def sign_up(name: str, *, address: str) -> int:
    form = {"username": name, "password1": "a-long-pass-8472", "password2": "a-long-pass-8472"}
    return Client(REMOTE_ADDR=address).post("/accounts/signup/", form).status_code


def test_sign_ups_are_limited_per_address(settings, django_user_model):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "signup": "3/hour"},
    }

    codes = [sign_up(f"newcomer{i}", address="10.9.3.1") for i in range(5)]
    refused = Client(REMOTE_ADDR="10.9.3.1").post("/accounts/signup/", {"username": "late"})

    assert codes == [302, 302, 302, 429, 429]
    assert "너무 많은 계정" in refused.content.decode() and int(refused["Retry-After"]) > 0
    assert django_user_model.objects.filter(username__startswith="newcomer").count() == 3
    assert sign_up("elsewhere", address="10.9.3.2") == 302
