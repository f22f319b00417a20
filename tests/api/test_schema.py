"""The OpenAPI document is generated from the code, valid and warning-free."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/novels/{id}/turns/" in out.read_text(encoding="utf-8")


def test_it_serves_the_schema_and_the_docs(anon):
    schema = anon.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/auth/token/", "/api/jobs/{id}/", "/api/models/active/", "/api/sources/"} <= set(paths)
    assert anon.get("/api/docs/").status_code == 200


def test_it_documents_the_error_format_on_every_operation(anon):
    paths = anon.get("/api/schema/?format=json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert {"401", "429"} <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }, (method, path, status)


def test_it_describes_both_ways_to_propose_a_source_text(anon):
    body = anon.get("/api/schema/?format=json").json()["paths"]["/api/sources/"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}


def test_it_states_the_rules_the_server_enforces(anon, settings):
    from novels.text_rules import KEYWORD_MAX_CHARS

    schema = anon.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    passage = components["TurnWriteRequest"]["properties"]["text"]
    keyword = components["ProposalCreateRequest"]["properties"]["keyword"]
    upload = components["SourceTextUploadRequest"]["properties"]["file"]
    page_size = next(p for p in schema["paths"]["/api/novels/"]["get"]["parameters"] if p["name"] == "page_size")

    assert (passage["minLength"], passage["maxLength"]) == (
        settings.RELAY_TURN_MIN_CHARS,
        settings.RELAY_TURN_MAX_CHARS,
    )
    assert (keyword["minLength"], keyword["maxLength"]) == (1, KEYWORD_MAX_CHARS) and "3단어" in keyword["description"]
    assert ".txt" in upload["description"]
    assert page_size["schema"]["maximum"] == 100


def test_the_token_endpoint_answers_as_the_schema_and_the_docs_say(anon, alice):
    operation = anon.get("/api/schema/?format=json").json()["paths"]["/api/auth/token/"]["post"]
    wrong = anon.post("/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    right = anon.post("/api/auth/token/", {"username": "alice", "password": "alice-password-1"}, format="json")

    assert str(wrong.status_code) in operation["responses"] and wrong.json()["code"] == "invalid"
    assert right.status_code == 200 and right.json()["token"]
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert "wrong username or password → 400 `invalid`" in docs


def test_a_page_size_outside_what_the_schema_states_is_refused_with_the_field_named(anon, editor):
    from voting.services import novel_create

    for i in range(3):
        novel_create(title=f"소설 {i}", created_by=editor)

    assert len(anon.get("/api/novels/?page_size=100").json()["results"]) == 3
    for size in ("101", "0", "-1", "abc", "²", "9" * 5000):
        answer = anon.get(f"/api/novels/?page_size={size}")
        assert answer.status_code == 400, size
        assert answer.json()["code"] == "invalid" and "page_size" in answer.json()["fields"], size
