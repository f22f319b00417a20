"""Who is here: readers see how many pages are open on a novel, live, in its page and in the list.

In the scaled profile the two browsers talk to different daphne processes, so the count is their sum.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A page that opens the novel's socket and then dies with its process, never sending a close frame.
SILENT_PAGE = """
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection((host, port))
sock.sendall((
    f"GET {path} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nOrigin: http://{host}:{port}\\r\\n"
    "Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Version: 13\\r\\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n"
).encode())
answer = sock.recv(4096)
assert answer.startswith(b"HTTP/1.1 101"), answer
print("open", flush=True)
time.sleep(600)
"""


def readers_count(who):
    return who.page.locator("#readers-count")


def test_two_readers_see_the_count_change_and_a_killed_page_drops_out(reader, novel, alice, bob):
    a = reader(alice, server=0)
    a.open(f"/novels/{novel.pk}/")
    expect(readers_count(a)).to_have_text("1", timeout=10000)

    b = reader(bob, server=1)
    b.open(f"/novels/{novel.pk}/")
    expect(readers_count(a)).to_have_text("2", timeout=10000)
    expect(readers_count(b)).to_have_text("2", timeout=10000)

    # A third page whose process is killed: no close frame, only the connection gone.
    where = urlsplit(a.base_url)
    silent = subprocess.Popen(
        [sys.executable, "-c", SILENT_PAGE, where.hostname, str(where.port), f"/ws/novels/{novel.pk}/"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert silent.stdout.readline().strip() == "open"
        expect(readers_count(b)).to_have_text("3", timeout=10000)
    finally:
        silent.send_signal(signal.SIGKILL)
        silent.wait(timeout=10)
    expect(readers_count(b)).to_have_text("2", timeout=10000)

    b.context.close()
    expect(readers_count(a)).to_have_text("1", timeout=10000)
    assert not a.errors


def test_the_list_shows_how_many_read_each_novel(reader, novel, alice, bob):
    a = reader(alice, server=0)
    a.page.goto(a.base_url + "/")
    expect(a.page.locator("html")).to_have_attribute("data-live", "open", timeout=15000)
    count = a.page.locator(f'[data-readers="{novel.pk}"]')

    b = reader(bob, server=1)
    b.open(f"/novels/{novel.pk}/")
    expect(count).to_have_text("지금 1명이 읽는 중", timeout=10000)

    b.context.close()
    expect(count).to_have_text("지금 0명이 읽는 중", timeout=10000)


def test_someone_typing_a_keyword_shows_without_a_name(reader, novel, alice, bob):
    a = reader(alice, server=0)
    a.open(f"/novels/{novel.pk}/")
    b = reader(bob, server=1)
    b.open(f"/novels/{novel.pk}/")

    b.page.locator("#id_keyword").press_sequentially("등대지기")

    activity = a.page.locator("#presence-activity")
    expect(activity).to_contain_text("누군가 키워드를 제안하고 있어요", timeout=10000)
    assert "bob" not in activity.inner_text()
