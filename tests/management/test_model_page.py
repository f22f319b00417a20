"""The model page (/models/) and the admin list show versions with their figures and the loss curve."""

from __future__ import annotations

import shutil

import numpy as np
from django.urls import reverse

from management.charts import loss_curve_svg
from management.models import TrainingRun


def test_it_shows_the_active_model_its_figures_and_loss_curve(client, tiny_version):
    TrainingRun.objects.create(
        status=TrainingRun.Status.KEPT, exit_code=5, reason="새 모델이 더 나빠서", version=tiny_version
    )

    page = client.get(reverse("models")).content.decode()

    assert "지금 쓰는 모델" in page and "tiny" in page and "5.000" in page
    assert '<svg class="loss-curve"' in page and "<polyline" in page
    assert "기존 모델 유지" in page and "새 모델이 더 나빠서" in page
    assert "되돌리기" not in page  # anonymous visitors see no rollback button


def test_staff_see_a_rollback_button_for_inactive_versions(client, tiny_version, editor):
    tiny_version.is_active = False
    tiny_version.save()
    client.force_login(editor)

    page = client.get(reverse("models")).content.decode()

    assert reverse("model-rollback", args=[tiny_version.pk]) in page


def test_it_says_when_there_is_no_model_yet(client, db, settings, tmp_path):
    settings.MODEL_DIR = tmp_path

    page = client.get(reverse("models")).content.decode()

    assert "아직 적용된 모델이 없습니다" in page


def test_the_loss_curve_plots_each_series_on_its_steps():
    svg = loss_curve_svg(
        [{"step": 10, "train_loss": 4.0, "val_bpc": 6.0}, {"step": 20, "train_loss": 3.0, "val_bpc": 5.5}]
    )

    assert svg.count("<polyline") == 2 and "학습 손실" in svg and "검증 bpc" in svg
    assert loss_curve_svg([]) == ""


def test_the_admin_lists_versions_with_figures_and_shows_the_curve(client, tiny_version, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="root-password-1")
    client.force_login(admin)

    listing = client.get(reverse("admin:management_modelversion_changelist")).content.decode()
    detail = client.get(reverse("admin:management_modelversion_change", args=[tiny_version.pk])).content.decode()

    assert "tiny" in listing and "5.0" in listing
    assert '<svg class="loss-curve"' in detail


def test_it_says_what_the_ai_uses_when_it_writes(client, active_model):
    page = client.get(reverse("models")).content.decode()

    assert 'data-memory="on"' in page and "이야기 기억" in page
    assert 'data-copy-guard="on"' in page
    assert 'data-ngram="on"' in page


def test_it_says_when_a_model_has_no_copy_index_yet(client, active_model, settings, tmp_path):
    # A version trained before copy indexes existed: its folder holds the checkpoint alone.
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(settings.MODEL_DIR / active_model.directory / active_model.checkpoint, old)
    settings.MODEL_DIR = tmp_path
    active_model.directory = "old"
    active_model.save()

    page = client.get(reverse("models")).content.decode()

    assert 'data-copy-guard="no-index"' in page
    assert 'data-ngram="not-counted"' in page


def test_it_says_whether_the_model_learned_how_far_to_trust_each_part(client, active_model, settings, tmp_path):
    from engine.mixer import FILE, PARTS, RECALL_FEATURES, Mixer, feature_count

    page = client.get(reverse("models")).content.decode()
    assert 'data-mixing="fixed"' in page and "비중 0.50" in page  # the tiny model has too little text to fit it
    assert 'data-recall="not-fitted"' in page  # no gate, so nothing weighs the recall

    shutil.copytree(settings.MODEL_DIR / active_model.directory, tmp_path / "gated")
    Mixer(np.zeros((feature_count(5), len(PARTS))), 5).save(tmp_path / "gated" / FILE)
    settings.MODEL_DIR = tmp_path
    active_model.directory = "gated"
    active_model.save()

    page = client.get(reverse("models")).content.decode()
    assert 'data-mixing="learned"' in page and "글자마다" in page
    assert 'data-recall="on"' in page and "4096글자" in page

    # A gate fitted before the recall existed: three parts, still learned, the recall not used.
    Mixer(np.zeros((feature_count(5) - RECALL_FEATURES, 3)), 5).save(tmp_path / "gated" / FILE)
    page = client.get(reverse("models")).content.decode()
    assert 'data-mixing="learned"' in page and 'data-recall="not-fitted"' in page

    settings.ENGINE_STORY_RECALL = 0
    assert 'data-recall="off"' in client.get(reverse("models")).content.decode()


def test_it_says_when_the_story_memory_and_copy_guard_are_turned_off(client, active_model, settings):
    settings.ENGINE_STORY_MEMORY = 0.0
    settings.ENGINE_COPY_GUARD = False
    settings.ENGINE_NGRAM = False

    page = client.get(reverse("models")).content.decode()

    assert 'data-memory="off"' in page and 'data-copy-guard="off"' in page and 'data-ngram="off"' in page


def test_it_says_whether_the_ai_adapts_to_the_story_and_picks_among_candidates(client, active_model, settings):
    page = client.get(reverse("models")).content.decode()
    assert 'data-adapt="on"' in page and 'data-candidates="4"' in page

    settings.ENGINE_STORY_ADAPT = 0.0
    settings.ENGINE_CANDIDATES = 1
    page = client.get(reverse("models")).content.decode()
    assert 'data-adapt="off"' in page and 'data-candidates="1"' in page
