"""Each host's copy of the model store: MODEL_DIR as a cache keyed by SHA-256, and the version a process writes with.

A host fetches a version's files from the store (management.model_store) into
MODEL_DIR/cache/sha256/<hash>, hashing as it downloads: a file whose hash or
size differs from its ModelArtifact row is refused and removed. The version's
folder, MODEL_DIR/<directory>, is put together from hard links in a staging
folder and renamed into place whole, so a folder that exists is complete;
a download killed halfway leaves a .part file that the next fetch starts over.
Processes of one host share the cache; a lock per version makes one of them
fetch while the others wait for it.

Every web and worker process follows the active version (follow): once the
database names a new one, the process fetches it if its host lacks it, then
writes with it; until then, or when its files are refused, it keeps the
version it had. A worker follows before it claims each job, web processes in
a thread (start_following) so that their pages read the new training names.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import close_old_connections, connections

from management import engine_adapter, model_store
from management.models import ModelArtifact, ModelVersion
from relay.common.locks import locked

log = logging.getLogger(__name__)

CACHE = Path("cache") / "sha256"
STAGING_PREFIX = ".fetch-"
RETRY_REFUSED_S = 30.0  # a version whose files were refused is tried again after this long
FOLLOW_EVERY_S = 1.0


@dataclass(frozen=True)
class Fetched:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


def is_here(version: ModelVersion) -> bool:
    """Whether this host has the version's files (a version's folder only ever appears whole)."""
    return engine_adapter.checkpoint_path(version).is_file()


def available(version: ModelVersion) -> bool:
    """Whether the version can be put in service: its files are here, or the store has them for any host."""
    return is_here(version) or model_store.is_stored(version)


def fetch(version: ModelVersion) -> Fetched:
    """Bring a version's files to this host from the store, unless they are here; ArtifactCorrupt when one
    does not match its recorded hash (nothing of the version is then put in place)."""
    if is_here(version):
        return Fetched()
    artifacts = list(version.artifacts.all())
    if not artifacts:
        raise model_store.ModelStoreError(f"{version.label} 모델의 파일이 이 서버에도 저장소에도 없습니다.")
    root = engine_adapter.model_root()
    started = time.monotonic()
    with locked(root / f"{STAGING_PREFIX}{version.directory}.lock"):  # one process of the host fetches
        if is_here(version):  # another process of this host fetched it meanwhile
            return Fetched()
        staging = root / f"{STAGING_PREFIX}{version.directory}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        moved = 0
        for artifact in artifacts:
            blob, sent = _blob(artifact, label=version.label)
            moved += sent
            _link(blob, staging / artifact.name)
        os.rename(staging, root / version.directory)
    fetched = Fetched(files=len(artifacts), bytes=moved, seconds=time.monotonic() - started)
    log.info(
        "model %s fetched to %s: %d files, %d bytes in %.2f s",
        version.label,
        root,
        fetched.files,
        fetched.bytes,
        fetched.seconds,
    )
    return fetched


def _blob(artifact: ModelArtifact, *, label: str) -> tuple[Path, int]:
    """The artifact's file in this host's cache, downloaded and checked if missing; (path, bytes downloaded)."""
    path = engine_adapter.model_root() / CACHE / artifact.sha256
    if path.is_file() and path.stat().st_size == artifact.size:
        return path, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.part")
    digest, size = _download(artifact.key, part)
    if digest != artifact.sha256 or size != artifact.size:
        part.unlink(missing_ok=True)
        raise model_store.ArtifactCorrupt(
            f"{label}/{artifact.name}: 받은 파일의 sha256 {digest[:12]}…, {size:,}바이트가 "
            f"기록({artifact.sha256[:12]}…, {artifact.size:,}바이트)과 달라 쓰지 않습니다."
        )
    os.rename(part, path)
    return path, size


def _download(key: str, part: Path) -> tuple[str, int]:
    """Copy a stored file to `part` (from its start: a .part left by a killed fetch is written over), synced."""
    digest, size = hashlib.sha256(), 0
    with model_store.store().open(key, "rb") as source, open(part, "wb") as target:
        while block := source.read(model_store.READ_BYTES):
            digest.update(block)
            target.write(block)
            size += len(block)
        target.flush()
        os.fsync(target.fileno())
    return digest.hexdigest(), size


def _link(blob: Path, target: Path) -> None:
    try:
        os.link(blob, target)
    except OSError:  # another file system, or links not allowed: a copy does as well
        shutil.copyfile(blob, target)


def remove_here(version: ModelVersion) -> bool:
    """Delete this host's folder of a version (only a version's own folder right under MODEL_DIR)."""
    root = engine_adapter.model_root().resolve()
    folder = (root / version.directory).resolve()
    if folder.parent != root or not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True


def prune_here() -> list[str]:
    """Delete what this host keeps of versions the store has let go (MODEL_KEEP), and cached files no kept
    version names; the folders' names."""
    removed = [v.directory for v in ModelVersion.objects.filter(pruned_at__isnull=False) if remove_here(v)]
    cache = engine_adapter.model_root() / CACHE
    if cache.is_dir():
        named = set(ModelArtifact.objects.values_list("sha256", flat=True))
        for path in cache.iterdir():
            if path.name not in named and not path.name.endswith(".part"):
                path.unlink(missing_ok=True)
    return removed


# What each process writes with.


class Follower:
    """The version this process writes with, and the versions whose files were refused lately."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: int | None = None
        self.refused: dict[int, float] = {}

    def follow(self) -> ModelVersion | None:
        """The active version once this host has its files (fetched now if it lacks them), else the one this
        process wrote with; None without any active version."""
        active = engine_adapter.active_version()
        if active is None:
            return None
        here = is_here(active)
        if not here and model_store.enabled():
            self._try_fetch(active)
            here = is_here(active)
        if here or not model_store.enabled():
            if self.current != active.pk:
                log.info("model %s: this process writes with it now", active.label)
                self.current = active.pk
                self._prune()
            return active
        return self._kept() or active

    def _try_fetch(self, version: ModelVersion) -> None:
        with self.lock:
            if time.monotonic() < self.refused.get(version.pk, 0.0):
                return
            try:
                fetch(version)
            except (model_store.ModelStoreError, OSError) as error:
                self.refused[version.pk] = time.monotonic() + RETRY_REFUSED_S
                log.error("model %s refused, keeping the one this host has: %s", version.label, error)

    def _prune(self) -> None:
        try:
            removed = prune_here()
        except OSError as error:  # the cache stays a little larger; writing goes on
            log.warning("could not remove old model files: %s", error)
            return
        if removed:
            log.info("removed the files of versions the store let go: %s", ", ".join(removed))

    def _kept(self) -> ModelVersion | None:
        """What to write with while the active version is not here: the one this process had, else the latest
        active one whose files this host has."""
        if self.current is not None:
            version = ModelVersion.objects.filter(pk=self.current).first()
            if version is not None and is_here(version):
                return version
        for version in ModelVersion.objects.filter(activated_at__isnull=False).order_by("-activated_at")[:5]:
            if is_here(version):
                return version
        return None


follower = Follower()


def writing_version() -> ModelVersion | None:
    """The version this process writes with now (follows the active one; see Follower.follow)."""
    return follower.follow()


_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def start_following(*, every_s: float = FOLLOW_EVERY_S) -> threading.Thread | None:
    """A thread of this process that follows the active version (web processes with a model store); once.
    Not under pytest, where tests import the application in their own process (their servers follow)."""
    global _thread
    if not model_store.enabled() or "pytest" in sys.modules:
        return None
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(
                target=follow_loop,
                kwargs={"follower": follower, "stop": threading.Event(), "every_s": every_s},
                name="model-follower",
                daemon=True,
            )
            _thread.start()
        return _thread


def follow_loop(*, follower: Follower, stop: threading.Event, every_s: float = FOLLOW_EVERY_S) -> None:
    """Follow the active version every `every_s` until `stop`; a pass that fails (the database away during an
    activation) keeps the model this process has, and the next pass tries again."""
    while not stop.is_set():
        close_old_connections()
        try:
            follower.follow()
        except Exception:
            log.exception("model follower: pass failed; keeping the model this process has")
        stop.wait(every_s)
    connections.close_all()
