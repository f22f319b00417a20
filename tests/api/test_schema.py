"""The OpenAPI document is generated from the code, valid and warning-free."""

from __future__ import annotations

import pytest
from django.core.management import call_command

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
