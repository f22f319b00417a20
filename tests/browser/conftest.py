"""Real servers and Debian's chromium for the browser tests.

The embedded profile runs one daphne with generation in its own thread. The
scaled profile runs two daphnes (the two browsers connect to different ones)
and one `manage.py relayworker`, all on the test database and the test Redis
prefix, so a change made through one server reaches a page on the other.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import SCALED
from tests.serving import listen
from tests.sessions import session_cookie

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(config, items) -> None:
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (make system-packages installs it)")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def test_database_url() -> str:
    """The URL of the test database pytest-django created, for the server processes."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(name).resolve()}"
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def server_env(model_dir: Path, *, in_process: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="relay.settings",
        DATABASE_URL=test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        TEST_DB_SUFFIX=settings.TEST_DB_SUFFIX,
        MODEL_DIR=str(model_dir),
        GENERATION_IN_PROCESS="1" if in_process else "0",
        DEBUG="1",
        LOG_LEVEL="WARNING",
        TRAINING_WATCH_MS="200",  # pages hear of a training run within a fifth of a second
        PYTHONUNBUFFERED="1",
    )
    env.pop("SECRET_KEY", None)
    return env


def wait_until_up(
    base_url: str, process: subprocess.Popen, timeout_s: float = 60, log: str = "test-artifacts/"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {base_url} exited with {process.returncode} (see {log})")
        try:
            with urllib.request.urlopen(base_url + "/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server at {base_url} did not answer within {timeout_s}s")


def wait_until_said(log: Path, words: str, process: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process writing {log} exited with {process.returncode}")
        if words in log.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{log} did not say {words!r} within {timeout_s}s")


@pytest.fixture(scope="module")
def servers(request, django_db_setup, tiny_model_dir) -> Iterator[list[str]]:
    """Base URLs of the running daphne servers: one (embedded) or two plus a relay worker (scaled).

    Each daphne serves a socket bound here and handed over (`--fd`): a port chosen
    first and bound later by the server could be taken in between by any other
    socket on the machine. Their logs are the module's own, in test-artifacts/.
    Module-scoped: their workers poll the test database, so they must be gone
    before other test modules run jobs of their own."""
    ARTIFACTS.mkdir(exist_ok=True)
    module = request.module.__name__.rsplit(".", 1)[-1]
    processes: list[subprocess.Popen] = []
    listeners: list[socket.socket] = []
    urls = []
    env = server_env(tiny_model_dir, in_process=not SCALED)
    try:
        for n in range(2 if SCALED else 1):
            listener = listen("127.0.0.1")
            listeners.append(listener)
            log = open(ARTIFACTS / f"{module}-daphne-{n}.log", "w")  # noqa: SIM115 (closed with the process)
            command = [str(ROOT / ".venv/bin/daphne"), "--fd", str(listener.fileno()), "relay.asgi:application"]
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()]
                )
            )
            urls.append(f"http://127.0.0.1:{listener.getsockname()[1]}")
        if SCALED:
            log = open(ARTIFACTS / f"{module}-relayworker.log", "w")  # noqa: SIM115
            command = [sys.executable, "manage.py", "relayworker", "--name", "browser-tests"]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        for url, process in zip(urls, processes, strict=False):
            wait_until_up(url, process, log=f"test-artifacts/{module}-daphne-*.log")
        if SCALED:  # the worker says it runs once it has loaded the model: a test's first job waits for nothing
            worker_log = ARTIFACTS / f"{module}-relayworker.log"
            wait_until_said(worker_log, ": running", processes[-1])
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        for listener in listeners:
            listener.close()


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """Chromium for one test module.

    Playwright's sync API keeps an event loop running in this thread, which
    makes Django refuse database calls from the test; Django's own advice for
    Playwright is DJANGO_ALLOW_ASYNC_UNSAFE, set here only while the browser is
    up (and never passed to the servers).
    """
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


class Reader:
    """One person's browser tab on one server: the page, the dialogs it raised, the socket frames it got."""

    def __init__(self, context, page, base_url: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.dialogs: list[str] = []
        self.frames: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: self.frames.append(frame)))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.wait_live()

    def wait_live(self) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("#conn")).to_have_class(re.compile(r"\blive\b"), timeout=15000)

    def messages(self, kind: str) -> list[dict]:
        import json

        parsed = []
        for frame in self.frames:
            message = json.loads(frame if isinstance(frame, str) else frame.decode())
            # A batch frame holds events that waited for a busy server (docs/websocket.md).
            events = message["events"] if message.get("type") == "batch" else [message]
            parsed.extend(event for event in events if event.get("type") == kind)
        return parsed

    def no_horizontal_scroll(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.fixture
def reader(browser, servers):
    """reader(user, server=0, viewport=DESKTOP) -> a logged-in (or anonymous) tab; closed at the end."""
    contexts = []

    def make(user=None, *, server: int = 0, viewport: dict = DESKTOP) -> Reader:
        base_url = servers[server % len(servers)]
        context = browser.new_context(viewport=viewport, locale="ko-KR", device_scale_factor=1)
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user), "url": base_url}]
            )
        return Reader(context, context.new_page(), base_url)

    yield make
    for context in contexts:
        context.close()
