"""Trained models: the list, the active one and its figures (read-only)."""

from __future__ import annotations

import pytest

from management.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def older(active_model) -> ModelVersion:
    return ModelVersion.objects.create(
        label="first", directory="first", vocab_hash="x", vocab_size=10, val_bpc=3.5, config={"hidden": 16}
    )


def test_it_lists_the_models(anon, active_model, older):
    response = anon.get("/api/models/")
    assert response.status_code == 200
    assert [(m["label"], m["is_active"]) for m in response.json()["results"]] == [("first", False), ("tiny", True)]


def test_it_shows_the_active_model_with_its_figures_and_curve(anon, active_model):
    active_model.parent_val_bpc = active_model.val_bpc + 0.5
    active_model.curve = [
        {"epoch": 1, "train_loss": 3.2, "val_bpc": 4.1},
        {"epoch": 2, "train_loss": 2.9, "val_bpc": 3.8},
    ]
    active_model.save()
    response = anon.get("/api/models/active/")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["label"], body["val_bpc"]) == (active_model.pk, "tiny", active_model.val_bpc)
    assert body["improvement"] == 0.5
    assert [point["val_bpc"] for point in body["curve"]] == [4.1, 3.8]
    assert body["trained_on"]["source_texts"] == 1


def test_it_answers_not_found_while_no_model_is_active(anon, db):
    response = anon.get("/api/models/active/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_shows_one_model(anon, older):
    response = anon.get(f"/api/models/{older.pk}/")
    assert response.status_code == 200
    assert (response.json()["config"], response.json()["curve"], response.json()["improvement"]) == (
        {"hidden": 16},
        [],
        None,
    )


def test_it_offers_no_way_to_change_a_model(as_editor, older):
    assert as_editor.post("/api/models/", {}).status_code == 405
    assert as_editor.delete(f"/api/models/{older.pk}/").status_code == 405
    assert ModelVersion.objects.filter(pk=older.pk).exists()


def test_where_a_training_run_runs_is_shown_to_staff_only(anon, as_alice, as_editor):
    from management.services import training_run_start

    run = training_run_start(options={"pid": 4321, "host": "web-7", "size": "tiny", "time_budget_s": 60})

    for client in (anon, as_alice):
        options = client.get(f"/api/training-runs/{run.pk}/").json()["options"]
        assert options == {"size": "tiny", "time_budget_s": 60}
    assert as_editor.get(f"/api/training-runs/{run.pk}/").json()["options"]["host"] == "web-7"
