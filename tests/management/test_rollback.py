"""Staff put an earlier version back in service in one action: service, model page, admin."""

from __future__ import annotations

import shutil

import pytest
from django.urls import reverse

from management import engine_adapter
from management.models import ModelVersion
from management.services import ModelFilesMissing, model_version_rollback
from relay.common.errors import PermissionDenied


@pytest.fixture
def newer(tiny_version, model_dir) -> ModelVersion:
    """A second version (same weights, another folder) that replaced the tiny one."""
    from management.services import model_version_activate

    shutil.copytree(model_dir / "tiny", model_dir / "newer")
    version = ModelVersion.objects.create(
        label="newer",
        directory="newer",
        checkpoint=tiny_version.checkpoint,
        vocab_hash=tiny_version.vocab_hash,
        vocab_size=tiny_version.vocab_size,
        parent=tiny_version,
        val_bpc=4.5,
    )
    return model_version_activate(version=version)


def test_staff_roll_back_to_an_earlier_version(newer, tiny_version, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        model_version_rollback(version=tiny_version, user=editor)

    assert engine_adapter.active_version() == tiny_version
    tiny_version.refresh_from_db()
    assert tiny_version.activated_by == editor and tiny_version.activated_at is not None
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    assert len(callbacks) == 1  # the model.activated broadcast, after commit


def test_a_contributor_cannot_roll_back(newer, tiny_version, alice):
    with pytest.raises(PermissionDenied):
        model_version_rollback(version=tiny_version, user=alice)

    assert engine_adapter.active_version() == newer


def test_a_version_whose_files_are_gone_cannot_be_activated(newer, tiny_version, editor, model_dir):
    shutil.rmtree(model_dir / "tiny")

    with pytest.raises(ModelFilesMissing) as error:
        model_version_rollback(version=tiny_version, user=editor)

    assert error.value.code == "model_files_missing"
    assert engine_adapter.active_version() == newer


def test_the_model_page_rolls_back_for_staff(client, newer, tiny_version, editor):
    client.force_login(editor)

    response = client.post(reverse("model-rollback", args=[tiny_version.pk]), follow=True)

    assert response.status_code == 200
    assert "tiny 모델을 적용했습니다" in response.content.decode()
    assert engine_adapter.active_version() == tiny_version


def test_the_model_page_refuses_a_rollback_from_a_contributor(client, newer, tiny_version, alice):
    client.force_login(alice)

    response = client.post(reverse("model-rollback", args=[tiny_version.pk]))

    assert response.status_code == 403
    assert engine_adapter.active_version() == newer


def test_the_admin_action_rolls_back(client, newer, tiny_version, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="root-password-1")
    client.force_login(admin)

    response = client.post(
        reverse("admin:management_modelversion_changelist"),
        {"action": "activate_version", "_selected_action": [tiny_version.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert engine_adapter.active_version() == tiny_version
