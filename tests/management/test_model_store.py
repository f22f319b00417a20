"""Models travel without a shared disk: the model store (database or S3) and each host's SHA-256 cache of it."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.utils import timezone

from management import engine_adapter, model_cache, model_store, storage
from management.model_cache import Follower, fetch, follow_loop
from management.models import ModelArtifact, ModelVersion, StoredChunk, StoredFile
from management.services import model_files_prune, model_version_activate, model_version_create
from tests.management.conftest import makedata

pytestmark = pytest.mark.django_db

FILES = {"model.pt": os.urandom(3000), "ngram.npz": os.urandom(1500), "names.json": b'{"names": []}'}


@pytest.fixture
def database_store(settings, model_dir):
    """Both profiles run the database store (SQLite or PostgreSQL); chunks of 1,000 bytes so files span several."""
    settings.MODEL_STORE = "database"
    settings.MODEL_STORE_MAX_BYTES = 10**6
    original = storage.CHUNK_BYTES
    storage.CHUNK_BYTES = 1000
    yield model_dir
    storage.CHUNK_BYTES = original


def trained(label: str, files: dict[str, bytes] = FILES) -> ModelVersion:
    """A version trained on this host: its folder under MODEL_DIR, recorded and published."""
    folder = engine_adapter.model_root() / f"v-{label}"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return model_version_create(
        label=label, directory=folder.name, vocab_hash="h", vocab_size=1, config={}, trained_on={}, val_bpc=1.0
    )


def another_host(settings, tmp_path, name: str = "host-b") -> Path:
    """From here on this test is a second host: a MODEL_DIR of its own, nothing of the first one's."""
    settings.MODEL_DIR = tmp_path / name
    return settings.MODEL_DIR


def test_the_database_store_keeps_a_file_in_chunks_and_reads_it_back(database_store):
    data = os.urandom(4321)
    store = storage.DatabaseStorage()

    assert store.save("sha256/abc", ContentFile(data)) == "sha256/abc"

    assert StoredChunk.objects.filter(file__name="sha256/abc").count() == 5
    assert store.size("sha256/abc") == 4321 and store.exists("sha256/abc")
    with store.open("sha256/abc") as handle:
        assert handle.read() == data
        handle.seek(2500)
        assert handle.read(10) == data[2500:2510]
    assert store.listdir("sha256") == ([], ["abc"])
    store.delete("sha256/abc")
    assert not store.exists("sha256/abc") and not StoredChunk.objects.exists()


def test_a_stored_file_reads_back_whatever_chunk_size_the_reader_is_set_to(database_store):
    data = os.urandom(2500)
    store = storage.DatabaseStorage()
    store.save("written-in-1000s", ContentFile(data))
    storage.CHUNK_BYTES = 4096  # a process set differently (a later release), reading the same rows

    with store.open("written-in-1000s") as handle:
        assert handle.read() == data


def test_the_database_store_refuses_to_open_a_file_for_writing_or_a_missing_one(database_store):
    store = storage.DatabaseStorage()
    with pytest.raises(FileNotFoundError):
        store.open("sha256/none")
    store.save("x", ContentFile(b"1"))
    with pytest.raises(ValueError, match="reading only"):
        store.open("x", "wb")


def test_a_trained_version_is_published_by_hash(database_store):
    version = trained("v1")

    artifacts = {a.name: a for a in version.artifacts.all()}
    assert sorted(artifacts) == sorted(FILES)
    for name, data in FILES.items():
        assert artifacts[name].sha256 == hashlib.sha256(data).hexdigest()
        assert artifacts[name].size == len(data)
        assert StoredFile.objects.get(name=artifacts[name].key).size == len(data)


def test_the_same_file_in_two_versions_is_stored_once(database_store):
    trained("v1")
    trained("v2", {**FILES, "model.pt": b"other weights"})

    assert StoredFile.objects.filter(name__startswith="sha256/").count() == len(FILES) + 1


def test_another_host_fetches_a_version_into_its_cache_keyed_by_hash(database_store, settings, tmp_path):
    version = trained("v1")
    host_b = another_host(settings, tmp_path)
    assert not model_cache.is_here(version)

    fetched = fetch(version)

    assert fetched.files == 3 and fetched.bytes == sum(len(d) for d in FILES.values())
    for name, data in FILES.items():
        placed = host_b / version.directory / name
        assert placed.read_bytes() == data
        blob = host_b / "cache" / "sha256" / hashlib.sha256(data).hexdigest()
        assert os.path.samefile(placed, blob)
    assert fetch(version).files == 0  # here now: nothing moves again


def test_a_corrupted_artifact_is_refused_and_nothing_of_the_version_is_put_in_place(database_store, settings, tmp_path):
    version = trained("v1")
    checkpoint = version.artifacts.get(name="model.pt")
    StoredChunk.objects.filter(file__name=checkpoint.key, index=1).update(data=b"\0" * 1000)
    host_b = another_host(settings, tmp_path)

    with pytest.raises(model_store.ArtifactCorrupt, match="model.pt"):
        fetch(version)

    assert not (host_b / version.directory).exists()
    assert not (host_b / "cache" / "sha256" / checkpoint.sha256).exists()
    assert not list((host_b / "cache" / "sha256").glob("*.part"))


def test_a_truncated_artifact_is_refused(database_store, settings, tmp_path):
    version = trained("v1")
    checkpoint = version.artifacts.get(name="model.pt")
    StoredChunk.objects.filter(file__name=checkpoint.key, index__gte=1).delete()
    StoredFile.objects.filter(name=checkpoint.key).update(size=1000)
    another_host(settings, tmp_path)

    with pytest.raises(model_store.ArtifactCorrupt, match="1,000바이트"):
        fetch(version)


def test_a_fetch_killed_halfway_is_started_over_and_never_loaded(database_store, settings, tmp_path):
    version = trained("v1")
    host_b = another_host(settings, tmp_path)
    checkpoint = version.artifacts.get(name="model.pt")
    # What a worker killed during its download leaves: half a file and a staging folder.
    (host_b / "cache" / "sha256").mkdir(parents=True)
    (host_b / "cache" / "sha256" / f"{checkpoint.sha256}.part").write_bytes(FILES["model.pt"][:1000])
    (host_b / f".fetch-{version.directory}").mkdir()
    (host_b / f".fetch-{version.directory}" / "model.pt").write_bytes(b"half")
    assert not model_cache.is_here(version)

    fetch(version)

    assert (host_b / version.directory / "model.pt").read_bytes() == FILES["model.pt"]
    assert not (host_b / f".fetch-{version.directory}").exists()


def test_a_version_over_the_store_limit_is_refused_and_not_recorded(database_store, settings):
    settings.MODEL_STORE_MAX_BYTES = 4000

    with pytest.raises(model_store.ModelTooLarge, match="MODEL_STORE_MAX_BYTES"):
        trained("v1")

    assert not ModelVersion.objects.exists() and not StoredFile.objects.exists()


def test_makedata_with_a_model_over_the_store_limit_fails_clearly_and_activates_nothing(
    database_store, settings, approved_novel, source_text
):
    settings.MODEL_STORE_MAX_BYTES = 1000

    outcome = makedata()

    assert outcome.status == "failed" and "MODEL_STORE_MAX_BYTES" in outcome.message
    assert not ModelVersion.objects.exists()
    assert not [p for p in database_store.iterdir() if p.name.startswith("v")]


def test_a_version_trained_on_another_host_can_be_activated_here(database_store, settings, tmp_path):
    version = trained("v1")
    another_host(settings, tmp_path)

    assert model_version_activate(version=version).is_active


def test_pruning_removes_a_version_from_the_store_but_keeps_files_another_version_names(
    database_store, django_capture_on_commit_callbacks
):
    shared = {"names.json": FILES["names.json"]}
    old = trained("old", {"model.pt": b"old weights", **shared})
    ModelVersion.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    model_version_activate(version=trained("new", {"model.pt": b"new weights", **shared}))

    with django_capture_on_commit_callbacks(execute=True):
        pruned = model_files_prune(keep=1)

    assert [v.label for v in pruned] == ["old"]
    assert not ModelArtifact.objects.filter(version=old).exists()
    assert not StoredFile.objects.filter(name=f"sha256/{hashlib.sha256(b'old weights').hexdigest()}").exists()
    assert StoredFile.objects.filter(name=f"sha256/{hashlib.sha256(shared['names.json']).hexdigest()}").exists()
    assert not model_cache.available(ModelVersion.objects.get(label="old"))


def test_a_host_lets_go_of_what_the_store_pruned_when_it_next_follows(
    database_store, settings, tmp_path, django_capture_on_commit_callbacks
):
    old = trained("old", {"model.pt": b"old weights"})
    ModelVersion.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    host_b = another_host(settings, tmp_path)
    fetch(old)
    settings.MODEL_DIR = database_store  # back on the training host: a new version, the old one pruned
    model_version_activate(version=trained("new", {"model.pt": b"new weights"}))
    with django_capture_on_commit_callbacks(execute=True):
        model_files_prune(keep=1)
    settings.MODEL_DIR = host_b

    assert Follower().follow().label == "new"

    assert not (host_b / old.directory).exists()
    assert sorted(p.name for p in (host_b / "cache" / "sha256").iterdir()) == [
        hashlib.sha256(b"new weights").hexdigest()
    ]


def test_a_process_writes_with_a_new_version_once_its_host_has_fetched_it(database_store, settings, tmp_path):
    first = model_version_activate(version=trained("v1"))
    another_host(settings, tmp_path)
    follower = Follower()
    assert follower.follow() == first  # fetched before its first job

    second = model_version_activate(version=trained_elsewhere(settings, tmp_path, "v2"))

    assert follower.follow() == second
    assert model_cache.is_here(second)


def test_a_host_keeps_its_model_when_the_new_one_is_refused(database_store, settings, tmp_path, caplog):
    first = model_version_activate(version=trained("v1"))
    another_host(settings, tmp_path)
    follower = Follower()
    follower.follow()
    second = trained_elsewhere(settings, tmp_path, "v2")
    StoredChunk.objects.filter(file__name=second.artifacts.get(name="model.pt").key).update(data=b"bad")
    model_version_activate(version=second)

    with caplog.at_level(logging.ERROR, logger="management.model_cache"):
        assert follower.follow() == first

    assert "model v2 refused, keeping the one this host has" in caplog.text
    assert not model_cache.is_here(second)


@pytest.mark.django_db(transaction=True)
def test_the_follower_keeps_its_model_while_the_database_is_away_and_switches_when_it_is_back(
    database_store, settings, tmp_path, monkeypatch
):
    first = model_version_activate(version=trained("v1"))
    another_host(settings, tmp_path)
    follower = Follower()
    follower.follow()
    second = model_version_activate(version=trained_elsewhere(settings, tmp_path, "v2"))
    real = engine_adapter.active_version
    calls = []

    def away_then_back():
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("connection refused")
        return real()

    monkeypatch.setattr(engine_adapter, "active_version", away_then_back)
    stop = threading.Event()
    loop = threading.Thread(target=follow_loop, kwargs={"follower": follower, "stop": stop, "every_s": 0.01})

    loop.start()
    try:
        assert wait_until(lambda: follower.current == second.pk)
    finally:
        stop.set()
        loop.join(10)
    assert len(calls) >= 3 and follower.current != first.pk


def trained_elsewhere(settings, tmp_path, label: str) -> ModelVersion:
    """A version trained on a third host (its own MODEL_DIR); this test stays the host it was."""
    here = settings.MODEL_DIR
    settings.MODEL_DIR = tmp_path / f"trainer-{label}"
    try:
        return trained(label, {"model.pt": label.encode() * 100, "names.json": b"{}"})
    finally:
        settings.MODEL_DIR = here


def wait_until(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def s3_store(settings, model_dir, monkeypatch):
    """django-storages' S3 store against moto's in-process fake of S3 (no network)."""
    moto = pytest.importorskip("moto")
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="relay-models")
        monkeypatch.setenv("MODEL_STORE_BUCKET", "relay-models")
        settings.MODEL_STORE = "s3"
        settings.MODEL_STORE_MAX_BYTES = 10**6
        settings.STORAGES = {**settings.STORAGES, "models": settings_module().model_storage("s3")}
        yield boto3.client("s3", region_name="us-east-1")


def settings_module():
    import relay.settings

    return relay.settings


def test_the_s3_store_carries_a_version_to_another_host(s3_store, settings, tmp_path):
    version = trained("v1")
    keys = sorted(o["Key"] for o in s3_store.list_objects_v2(Bucket="relay-models")["Contents"])
    assert keys == sorted(f"relay-models/sha256/{hashlib.sha256(d).hexdigest()}" for d in FILES.values())
    host_b = another_host(settings, tmp_path)

    fetch(version)

    assert (host_b / version.directory / "model.pt").read_bytes() == FILES["model.pt"]


def test_the_s3_store_refuses_an_object_changed_behind_its_back(s3_store, settings, tmp_path):
    version = trained("v1")
    checkpoint = version.artifacts.get(name="model.pt")
    s3_store.put_object(Bucket="relay-models", Key=f"relay-models/{checkpoint.key}", Body=b"tampered")
    another_host(settings, tmp_path)

    with pytest.raises(model_store.ArtifactCorrupt):
        fetch(version)


def test_makedata_on_another_host_fine_tunes_the_active_version_it_fetches(
    database_store, settings, tmp_path, approved_novel, source_text
):
    first = makedata()
    assert first.status == "activated"
    another_host(settings, tmp_path, "trainer-2")

    second = makedata(force=True)

    assert second.status == "activated", second.message
    assert second.run.options["mode"] == "finetune"
    assert model_cache.is_here(first.version)  # fetched, to fine-tune from


@pytest.mark.django_db(transaction=True)
def test_a_fetch_killed_during_its_download_leaves_nothing_that_loads_and_the_next_one_completes(
    database_store, settings, tmp_path
):
    from tests.browser.conftest import server_env

    settings.MODEL_STORE_MAX_BYTES = 10**8
    weights = os.urandom(4_000_000)  # 4,000 chunks of 1,000 bytes: a download that takes a while
    version = trained("v1", {"model.pt": weights})
    host_b = another_host(settings, tmp_path)
    part = host_b / "cache" / "sha256" / f"{hashlib.sha256(weights).hexdigest()}.part"
    env = {**server_env(host_b, in_process=False), "MODEL_STORE": "database"}
    fetching = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from management.models import ModelVersion;"
            f"from management.model_cache import fetch; fetch(ModelVersion.objects.get(pk={version.pk}))",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    try:
        assert wait_until(lambda: part.is_file() and part.stat().st_size > 0 or fetching.poll() is not None)
        fetching.kill()  # the worker killed during its download
    finally:
        fetching.wait(30)
    assert 0 < part.stat().st_size < len(weights)
    assert not model_cache.is_here(version)

    fetch(version)

    assert (host_b / version.directory / "model.pt").read_bytes() == weights
    assert not part.exists()
