"""Old model folders go: makedata keeps the newest MODEL_KEEP versions' files, the active one's and the one's
before it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from management.models import ModelVersion
from management.retraining import EXIT_BAD_ARGUMENTS
from management.services import ModelFilesMissing, model_files_prune, model_version_activate
from tests.management.conftest import makedata

pytestmark = pytest.mark.django_db


def version(model_dir, label: str, *, age_days: int, active: bool = False) -> ModelVersion:
    """A registered version whose folder holds a checkpoint file, made `age_days` ago."""
    folder = model_dir / label
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"weights")
    made = ModelVersion.objects.create(label=label, directory=label, vocab_hash="h", is_active=active)
    ModelVersion.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return made


def test_it_removes_the_files_of_all_but_the_newest_versions_and_keeps_their_rows(model_dir):
    versions = [version(model_dir, f"v{n}", age_days=10 - n) for n in range(1, 6)]  # v5 is the newest

    pruned = model_files_prune(keep=2)

    assert sorted(v.label for v in pruned) == ["v1", "v2", "v3"]
    assert sorted(p.name for p in model_dir.iterdir()) == ["v4", "v5"]
    assert ModelVersion.objects.count() == len(versions)


def test_the_active_version_keeps_its_files_however_old(model_dir):
    version(model_dir, "old", age_days=30, active=True)
    version(model_dir, "new", age_days=1)
    version(model_dir, "newer", age_days=0)

    pruned = model_files_prune(keep=1)

    assert [v.label for v in pruned] == ["new"]
    assert (model_dir / "old" / "model.pt").is_file()


def test_keep_zero_keeps_everything(model_dir):
    for n in range(3):
        version(model_dir, f"v{n}", age_days=n)

    assert model_files_prune(keep=0) == []
    assert len(list(model_dir.iterdir())) == 3


def test_it_never_removes_a_folder_outside_model_dir(model_dir, tmp_path):
    elsewhere = tmp_path / "not-a-model"
    elsewhere.mkdir()
    version(model_dir, "new", age_days=0)
    ModelVersion.objects.create(label="odd", directory="../not-a-model", vocab_hash="h")
    ModelVersion.objects.filter(label="odd").update(created_at=timezone.now() - timedelta(days=5))

    assert model_files_prune(keep=1) == []
    assert elsewhere.is_dir()


def test_a_pruned_version_cannot_be_put_back(model_dir):
    old = version(model_dir, "old", age_days=2)
    version(model_dir, "new", age_days=0, active=True)
    model_files_prune(keep=1)

    with pytest.raises(ModelFilesMissing):
        model_version_activate(version=old)


def test_the_version_active_before_the_active_one_keeps_its_files(model_dir):
    before = version(model_dir, "before", age_days=3)
    ModelVersion.objects.filter(pk=before.pk).update(activated_at=timezone.now() - timedelta(days=1))
    version(model_dir, "never-used", age_days=2)
    version(model_dir, "now", age_days=1, active=True)
    version(model_dir, "newest", age_days=0)

    pruned = model_files_prune(keep=1)

    assert [v.label for v in pruned] == ["never-used"]
    assert (model_dir / "before" / "model.pt").is_file()
    assert ModelVersion.objects.get(label="never-used").pruned_at is not None


def test_a_makedata_run_prunes_what_is_beyond_keep(model_dir, approved_novel, source_text):
    version(model_dir, "ancient", age_days=30)
    first = makedata()
    assert first.status == "activated"
    lines: list[str] = []

    second = makedata(lines, force=True, keep=1)

    assert second.status == "activated"
    assert not (model_dir / "ancient").exists()
    assert (model_dir / first.version.directory).is_dir()  # the one active before: a rollback away
    assert (model_dir / second.version.directory).is_dir()
    assert any("ancient" in line and "지웠습니다" in line for line in lines)


def test_a_negative_keep_is_refused(model_dir, db):
    assert makedata(keep=-1).exit_code == EXIT_BAD_ARGUMENTS
