"""The model store: every trained version's files where every host can fetch them (MODEL_STORE).

makedata (on any host) trains into its own MODEL_DIR, then publishes the
version's files here: each under sha256/<hash> of its bytes, through Django's
storage API (STORAGES["models"]: the database by default in the scaled
profile, or an S3-compatible bucket), and one ModelArtifact row per file says
which hash each name of the version's folder has. Hosts fetch them into their
own MODEL_DIR (management.model_cache). With MODEL_STORE=files there is no
store: one host, and the files stay where training put them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction

from management.models import ModelArtifact, ModelVersion
from relay.common.errors import DomainError

log = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024


class ModelStoreError(DomainError):
    code = "model_store_error"
    status = 409
    message = "모델 저장소를 쓸 수 없습니다."


class ModelTooLarge(ModelStoreError):
    code = "model_too_large"
    status = 413
    message = "모델 파일이 저장소 한도보다 큽니다."


class ArtifactCorrupt(ModelStoreError):
    code = "model_artifact_corrupt"
    message = "받은 모델 파일이 기록된 해시와 다릅니다."


def enabled() -> bool:
    """Whether versions are published to a store (MODEL_STORE is not "files")."""
    return settings.MODEL_STORE != "files"


def store() -> Storage:
    return storages["models"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def version_files(folder: Path) -> list[Path]:
    """The files of a version's folder that generation loads (hidden files are a host's own)."""
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))


def check_size(folder: Path) -> int:
    """The folder's bytes; ModelTooLarge when they are over MODEL_STORE_MAX_BYTES."""
    total = sum(path.stat().st_size for path in version_files(folder))
    if enabled() and total > settings.MODEL_STORE_MAX_BYTES:
        raise ModelTooLarge(
            f"모델 파일이 {total:,}바이트로 저장소 한도 {settings.MODEL_STORE_MAX_BYTES:,}바이트"
            "(MODEL_STORE_MAX_BYTES)를 넘어 저장하지 않았습니다."
        )
    return total


def publish(*, version: ModelVersion, folder: Path) -> list[ModelArtifact]:
    """Put a version's files in the store (a hash already there is not sent again) and record them."""
    if not enabled():
        return []
    check_size(folder)
    artifacts = []
    for path in version_files(folder):
        artifact = ModelArtifact(version=version, name=path.name, sha256=file_sha256(path), size=path.stat().st_size)
        if not store().exists(artifact.key):
            with open(path, "rb") as handle:
                saved = store().save(artifact.key, File(handle, name=path.name))
            if saved != artifact.key:  # a storage that renamed it would break fetching by hash
                raise ModelStoreError(f"저장소가 {artifact.key}를 {saved}로 저장했습니다.")
        artifacts.append(artifact)
    created = ModelArtifact.objects.bulk_create(artifacts)
    log.info("model %s published: %d files, %d bytes", version.label, len(created), sum(a.size for a in created))
    return created


def is_stored(version: ModelVersion) -> bool:
    """Whether the store holds the version's files (as far as the database says)."""
    return enabled() and version.pruned_at is None and version.artifacts.exists()


def forget(versions: Iterable[ModelVersion]) -> int:
    """Remove the versions' files from the store (a hash another version still names stays); how many went."""
    ids = [version.pk for version in versions]
    if not ids:
        return 0
    hashes = set(ModelArtifact.objects.filter(version_id__in=ids).values_list("sha256", flat=True))
    ModelArtifact.objects.filter(version_id__in=ids).delete()
    still_named = set(ModelArtifact.objects.filter(sha256__in=hashes).values_list("sha256", flat=True))
    unnamed = sorted(hashes - still_named)

    def delete() -> None:  # once the rows are gone for good: a rollback must not leave rows naming no file
        for sha in unnamed:
            store().delete(f"sha256/{sha}")

    transaction.on_commit(delete)
    return len(unnamed)
