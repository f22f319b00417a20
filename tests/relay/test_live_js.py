"""The page's socket (static/relay/live.js) finds a server that went silent: a ping left unanswered makes it
connect again at once, through the proxy, to a live server (a host lost or cut off: bench/hosts.py).

The module runs in node with a stand-in WebSocket and a clock the test moves by hand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the page's module")

HARNESS = """
let now = 0;
const timers = [];
let nextId = 1;
globalThis.Date = class extends Date { static now() { return now; } };
globalThis.setTimeout = (fn, ms) => { const id = nextId++; timers.push({ id, at: now + ms, fn }); return id; };
globalThis.setInterval = (fn, ms) => {
  const id = nextId++;
  const tick = () => { fn(); timers.push({ id, at: now + ms, fn: tick }); };
  timers.push({ id, at: now + ms, fn: tick });
  return id;
};
globalThis.clearTimeout = globalThis.clearInterval = (id) => {
  for (let i = timers.length - 1; i >= 0; i--) if (timers[i].id === id) timers.splice(i, 1);
};
function advance(ms) {
  const end = now + ms;
  for (;;) {
    timers.sort((a, b) => a.at - b.at);
    if (!timers.length || timers[0].at > end) break;
    const timer = timers.shift();
    now = timer.at;
    timer.fn();
  }
  now = end;
}
const sockets = [];
globalThis.WebSocket = class {
  static OPEN = 1;
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; this.listeners = {}; this.closed = false; sockets.push(this); }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  emit(type, event = {}) { for (const fn of this.listeners[type] || []) fn(event); }
  open() { this.readyState = 1; this.emit("open"); }
  receive(data) { this.emit("message", { data: JSON.stringify(data) }); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.closed = true; this.readyState = 3; }
};
globalThis.location = { protocol: "http:", host: "127.0.0.1:8080" };
globalThis.window = { addEventListener() {} };
globalThis.document = { addEventListener() {}, visibilityState: "visible" };
"""


def run_page(scenario: str, tmp_path: Path) -> dict:
    script = tmp_path / "page.mjs"
    script.write_text(
        HARNESS
        + f"const {{ connectLive, PING_EVERY_MS, ANSWER_WITHIN_MS }} = await import({json.dumps(str(ROOT / 'static/relay/live.js'))});\n"
        + "const statuses = [];\n"
        + "const live = connectLive('/ws/novels/1/', { onMessage() {}, onStatus: (s) => statuses.push(s) });\n"
        + scenario
        + "\nconsole.log(JSON.stringify({ sockets: sockets.map((s) => ({ closed: s.closed, sent: s.sent })), statuses }));\n",
        encoding="utf-8",
    )
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_a_socket_whose_ping_goes_unanswered_is_given_up_and_a_new_one_opens_at_once(tmp_path):
    page = run_page(
        "sockets[0].open();\nadvance(PING_EVERY_MS);\nadvance(ANSWER_WITHIN_MS + 1);",
        tmp_path,
    )

    first, second = page["sockets"]
    assert first["sent"] == [{"type": "ping"}]
    assert first["closed"] and not second["closed"]
    assert page["statuses"][-2:] == ["down", "connecting"]


def test_a_server_that_answers_keeps_its_socket(tmp_path):
    page = run_page(
        "sockets[0].open();\n"
        "for (let i = 0; i < 5; i++) { advance(PING_EVERY_MS); sockets[0].receive({ type: 'pong' }); }\n"
        "advance(ANSWER_WITHIN_MS + 1);",
        tmp_path,
    )

    assert len(page["sockets"]) == 1
    assert not page["sockets"][0]["closed"]
    assert page["sockets"][0]["sent"] == [{"type": "ping"}] * 5


def test_the_given_up_sockets_late_close_does_not_open_a_third(tmp_path):
    page = run_page(
        "sockets[0].open();\nadvance(PING_EVERY_MS + ANSWER_WITHIN_MS + 1);\n"
        "sockets[1].open();\n"
        "sockets[0].emit('close', { code: 1006 });\n"  # the browser's closing handshake times out, much later
        "for (let i = 0; i < 3; i++) { advance(PING_EVERY_MS); sockets[1].receive({ type: 'pong' }); }\n"
        "advance(ANSWER_WITHIN_MS + 1);",
        tmp_path,
    )

    assert len(page["sockets"]) == 2
    assert not page["sockets"][1]["closed"]
