"""Sign-up, log-in, log-out and the navigation every page shares."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_signing_up_creates_the_account_logs_in_and_returns_to_the_page(client, novel):
    page = reverse("novel", args=[novel.pk])

    response = client.post(
        reverse("signup"),
        {"username": "dana", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9", "next": page},
    )

    assert response.status_code == 302
    assert response["Location"] == page
    assert client.get(page).context["user"].get_username() == "dana"


def test_sign_up_ignores_a_next_address_on_another_site(client, db):
    response = client.post(
        reverse("signup"),
        {
            "username": "dana",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
            "next": "https://evil.example/",
        },
    )

    assert response["Location"] == reverse("home")


def test_sign_up_shows_its_errors_in_korean(client, alice):
    response = client.post(
        reverse("signup"), {"username": "alice", "password1": "a-long-pass-phrase-9", "password2": "different-9"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "비밀번호 확인" in page
    assert get_user_model().objects.count() == 1


def test_logging_in_returns_to_the_novel(client, alice, novel):
    page = reverse("novel", args=[novel.pk])

    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password-1", "next": page})

    assert response["Location"] == page


def test_a_wrong_password_is_refused_with_a_korean_message(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})

    assert "아이디 또는 비밀번호가 맞지 않습니다" in response.content.decode()


def test_logging_out_goes_home(client, alice):
    client.force_login(alice)

    response = client.post(reverse("logout"))

    assert response["Location"] == reverse("home")
    assert "로그인" in client.get(reverse("home")).content.decode()


def test_the_navigation_links_novels_sources_and_models(client, db):
    page = client.get(reverse("home")).content.decode()

    assert f'href="{reverse("sources")}"' in page
    assert 'href="/models/"' in page


def test_staff_see_a_link_to_the_review_queue(client, alice, editor):
    queue = reverse("admin:novels_turn_changelist")
    client.force_login(alice)
    assert queue not in client.get(reverse("home")).content.decode()

    client.force_login(editor)
    assert queue in client.get(reverse("home")).content.decode()


def test_the_pages_that_stand_alone_carry_no_inline_style_or_script():
    from django.template.loader import render_to_string

    for template in ("503.html", "403_csrf.html"):
        page = render_to_string(template)
        assert "<style" not in page and "style=" not in page and "<script>" not in page, template
        assert "relay/site.css" in page, template
