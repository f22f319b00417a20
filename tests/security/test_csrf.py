"""CSRF holds on every form: each POST address of the site refuses a logged-in
browser's request that carries no token, and the API refuses one that rides on
the session cookie alone."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

pytestmark = pytest.mark.django_db

CONVERTER = re.compile(r"<(?:(\w+):)?\w+>")
SAMPLE = {"int": "1", "str": "x", "slug": "x", "path": "x", None: "x"}


def route_paths(patterns=None, prefix: str = "") -> list[str]:
    """Every address of the URLconf that is written as a route (converters filled with samples)."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = CONVERTER.sub(lambda m: SAMPLE.get(m.group(1), "x"), str(entry.pattern))
        if isinstance(entry, URLResolver):
            found += route_paths(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            found.append("/" + prefix + route)
    return found


SITE_PATHS = sorted({p for p in route_paths() if not p.startswith(("/api/", "/admin/"))})
ADMIN_PATHS = ["/admin/login/", "/admin/logout/", "/admin/novels/turn/1/change/", "/admin/voting/round/"]


def test_the_site_has_the_forms_this_test_is_about():
    # If the URLconf changes shape, the enumeration must not silently find nothing.
    assert {"/novels/1/vote/", "/novels/1/propose/", "/novels/1/write/", "/accounts/login/"} <= set(SITE_PATHS)


@pytest.mark.parametrize("path", SITE_PATHS + ADMIN_PATHS)
def test_it_refuses_a_post_without_a_csrf_token(path, editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)  # staff, so that no view turns the request away before CSRF would
    response = client.post(path, {"keyword": "등대", "sentences": "2", "proposal": "1", "text": "글"})
    assert response.status_code == 403, path
    assert b"CSRF" in response.content, path


def test_the_same_post_with_the_token_gets_past_csrf(novel, proposal, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(f"/novels/{novel.pk}/")
    token = client.cookies["csrftoken"].value
    response = client.post(f"/novels/{novel.pk}/vote/", {"proposal": proposal.pk}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    assert proposal.votes.filter(user=alice).exists()


@pytest.mark.parametrize(
    "path",
    ["/api/novels/", "/api/rounds/{round}/vote/", "/api/rounds/{round}/proposals/", "/api/sources/"],
)
def test_the_api_refuses_a_session_request_without_a_csrf_token(path, round_, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(path.format(round=round_.pk), {"proposal": 1}, content_type="application/json")
    assert response.status_code == 403
    assert b"CSRF" in response.content
