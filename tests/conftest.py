"""Fixtures shared by the whole suite: named users, the profile, a tiny active model."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

SCALED = os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(os.environ.get("REDIS_URL"))

TINY_STORY = (
    "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다. “내일 다시 올게.” 바람이 불었다. "
    "오리는 물 위에서 잠이 들었다. 마을 사람들은 저녁마다 등불을 켰다. 비가 오면 모두 집으로 돌아갔다. "
) * 6


def pytest_collection_modifyitems(config, items) -> None:
    if SCALED:
        return
    skip = pytest.mark.skip(reason="scaled profile only (DATABASE_URL=postgres://…, REDIS_URL)")
    for item in items:
        # The marker, not the keyword: tests/scaled/ holds tests of both profiles.
        if item.get_closest_marker("scaled"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The test database, and every thread's connection to it closed before it is dropped.

    Pool threads, the tally thread and the workers keep connections of their
    own; PostgreSQL refuses to drop a database that a session still uses."""
    import weakref

    from django.db.backends.signals import connection_created

    opened: weakref.WeakSet = weakref.WeakSet()

    def remember(sender, connection, **kwargs) -> None:
        opened.add(connection)

    connection_created.connect(remember, weak=False)
    yield
    connection_created.disconnect(remember)
    for wrapper in list(opened):
        # Another thread's wrapper: its own close() would refuse to be called from here.
        raw = wrapper.connection
        if raw is not None:
            raw.close()
            wrapper.connection = None


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Users are created per test; the production hasher costs about a second each here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttle counters and other cached values must not leak from one test into the next."""
    yield
    from django.core.cache import cache

    if SCALED:
        # Not FLUSHDB: the channel layer lives in the same Redis database.
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def book_builders(request, monkeypatch, tmp_path) -> list[int]:
    """The novels whose book files a test asked to have built: the builder process is not started.

    A builder is a process of its own on the database; most tests' rows are never committed for it
    to read. The tests of the book build in the test's own process (novels.book.files.build), and
    one test starts the real process. (Nothing to do where Django is not loaded: engine tests.)"""
    asked: list[int] = []
    if not request.config.pluginmanager.hasplugin("django"):
        return asked
    from novels.book import files

    request.getfixturevalue("settings").BOOK_DIR = tmp_path / "books"
    monkeypatch.setattr(files, "start_builder", asked.append)
    return asked


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="bob-password-1")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user(username="charlie", password="charlie-password-1")


@pytest.fixture
def editor(django_user_model):
    """A staff member who reviews passages."""
    return django_user_model.objects.create_user(username="editor", password="editor-password-1", is_staff=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny GRU trained once per test session on a short Korean text."""
    from engine.model import GRUConfig
    from engine.train import Source, TrainConfig, train
    from engine.vocab import Vocab

    root = tmp_path_factory.mktemp("models")
    out = root / "tiny"
    out.mkdir()
    sources = [Source(name="tiny", text=TINY_STORY)]
    vocab = Vocab.build([TINY_STORY], styles=["tiny"])
    config = GRUConfig(vocab_size=len(vocab), n_styles=1, embed=16, hidden=32, layers=1, dropout=0.0)
    result = train(
        sources,
        out_dir=out,
        vocab=vocab,
        model_config=config,
        train_config=TrainConfig(epochs=2, batch_size=4, seq_len=32, device="cpu", seed=7, num_threads=1),
        progress=False,
    )
    (root / "result.txt").write_text(f"{result.best_path.name}\n{result.val_bpc}\n", encoding="utf-8")
    return root


@pytest.fixture
def active_model(db, tiny_model_dir, settings):
    """The tiny model registered and active, as makedata would leave it."""
    from engine.checkpoint import load_checkpoint
    from management.models import ModelVersion
    from voting.generation import engine as writing_engine

    settings.MODEL_DIR = tiny_model_dir
    checkpoint, val_bpc = (tiny_model_dir / "result.txt").read_text(encoding="utf-8").split()
    bundle = load_checkpoint(tiny_model_dir / "tiny" / checkpoint)
    writing_engine.forget_loaded_models()
    version = ModelVersion.objects.create(
        label="tiny",
        directory="tiny",
        checkpoint=checkpoint,
        vocab_hash=bundle.vocab.hash,
        vocab_size=len(bundle.vocab),
        config={"hidden": 32},
        trained_on={"passages": 0, "source_texts": 1, "characters": len(TINY_STORY)},
        val_bpc=float(val_bpc),
        is_active=True,
    )
    yield version
    writing_engine.forget_loaded_models()


OPENING = "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다."


@pytest.fixture
def novel(editor, django_capture_on_commit_callbacks):
    """A novel started by staff from a first passage (approved), its first round open, its events sent.

    Under Playwright's event loop (the browser tests) it is created from a
    thread of its own, as a request would, so that its broadcasts go out.
    """
    import asyncio

    from tests.live import off_loop
    from voting.services import novel_create

    def create():
        with django_capture_on_commit_callbacks(execute=True):
            return novel_create(title="등대 이야기", created_by=editor, first_passage=OPENING)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return create()
    return off_loop(create)


@pytest.fixture
def round_(novel):
    from voting.selectors import current_round

    return current_round(novel)


@pytest.fixture
def proposal(round_, bob):
    """bob's proposal (with bob's vote), saved before the test acts."""
    from voting.services import proposal_create

    return proposal_create(round=round_, author=bob, keyword="등대", sentences=2)[0]


ORIGIN = "http://localhost"


def from_address(application, address: str):
    """The application, its connections coming from `address` (as daphne puts the peer into the scope)."""

    async def app(scope, receive, send):
        return await application({**scope, "client": (address, 50000)}, receive, send)

    return app


@pytest.fixture
async def sockets():
    """sockets(novel_id or path, user=None, *, cookie=None, origin=ORIGIN, expect_snapshot=True,
    address="127.0.0.1") -> a communicator.

    The socket is opened on the real routing as a browser on the site would
    open it (an origin and a host; `origin=None` sends none), from `address`. `accepted` says
    whether the server let it in; when it did and `expect_snapshot`, the first
    frame, the snapshot, is read into `snapshot`. Every socket is disconnected
    at the end, and the connections Channels' threads opened are closed so that
    the test database can be dropped.
    """
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.db import connections

    from relay.asgi import application
    from tests.live import RelayCommunicator
    from tests.sessions import session_cookie

    opened: list[RelayCommunicator] = []

    async def open_socket(
        target: int | str,
        user=None,
        *,
        cookie: str | None = None,
        origin: str | None = ORIGIN,
        expect_snapshot: bool = True,
        address: str = "127.0.0.1",
    ) -> RelayCommunicator:
        path = target if isinstance(target, str) else f"/ws/novels/{target}/"
        headers = [(b"host", b"localhost")]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if user is not None:
            cookie = await sync_to_async(session_cookie)(user)
        if cookie is not None:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = RelayCommunicator(from_address(application, address), path, headers=headers)
        opened.append(communicator)
        communicator.accepted, _ = await communicator.connect(timeout=5)
        communicator.snapshot = None
        if communicator.accepted and expect_snapshot:
            communicator.snapshot = await communicator.receive_json_from(timeout=5)
            assert communicator.snapshot["type"] == "snapshot", communicator.snapshot
        return communicator

    yield open_socket
    # Every socket is closed and every connection released even when one of them fails to close (a test that
    # timed out leaves its application cancelled): one broken teardown once left database rows and connections
    # behind that failed the rest of the run.
    failures: list[BaseException] = []
    try:
        for communicator in opened:
            try:
                await communicator.disconnect()
            except (Exception, asyncio.CancelledError) as e:
                failures.append(e)
    finally:
        await sync_to_async(connections.close_all)()
    if failures:
        raise failures[0]
