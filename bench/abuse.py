"""Hostile input against real servers of each profile (issues 17 and 34); results: bench/results/abuse.txt.

    .venv/bin/python bench/abuse.py                      # embedded and scaled, about 2 minutes
    .venv/bin/python bench/abuse.py --profiles embedded

The servers are bench/load.py's (one daphne embedded; two daphne and a relayworker
scaled, on PostgreSQL and Redis), on a fresh database. Each input is sent as an outside
client would, over HTTP or a websocket, and its answer is classed: a clear error (an
API error with its code, a page that says what is wrong, an error frame), a 5xx, a
socket closed with 1011, or accepted. The database is counted before and after: rows
that changed beyond what the accepted inputs made are "data changed". For each profile
it prints: inputs tried, clear errors, 5xx, 1011 closes, data changed; all but the first
must be 0 (the exit code says whether they were). Only 127.0.0.1 is used; every wait is
bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import re
import subprocess
import sys
import time
import urllib.parse
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import load  # noqa: E402
from bench.harness import require_loopback, ws_connect  # noqa: E402

HOST = "127.0.0.1"
RESULTS = ROOT / "bench" / "results" / "abuse.txt"
PASSWORD = "bench-password-1"


# --- HTTP as a browser or a script does it ---------------------------------------------------------------


@dataclass
class Browser:
    """Cookies and the CSRF token of one person's browser on one server."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # the last answer's bytes
    location: str = ""  # and where it redirected

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, str, str]:
        require_loopback(HOST)
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        sent = {"Host": f"{HOST}:{self.port}", "Origin": f"http://{HOST}:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            self.body = response.read()  # the bytes, for a file
            self.location = response.headers.get("Location", "")
            text = self.body.decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, response.headers.get("Content-Type", ""), text
        finally:
            connection.close()

    def form_token(self, path: str) -> tuple[str, str]:
        """GET a page with a form: its CSRF token and its one-time submission key (if any)."""
        _, _, page = self.request("GET", path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        key = re.search(r'name="submission" value="([^"]*)"', page)
        return (token.group(1) if token else ""), (key.group(1) if key else "")

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def api_call(port: int, method: str, path: str, body: bytes, content_type: str, token: str) -> tuple[int, str, str]:
    headers = {"Content-Type": content_type, "Authorization": f"Token {token}"}
    return Browser(port).request(method, path, body, headers)


def api_error(answer: tuple[int, str, str]) -> str:
    """ "error", "5xx" or "accepted" for an API answer; an error must be JSON with a code."""
    status, content_type, text = answer
    if status >= 500:
        return "5xx"
    if status >= 400:
        try:
            return "error" if content_type.startswith("application/json") and json.loads(text)["code"] else "unclear"
        except (ValueError, KeyError):
            return "unclear"
    return "accepted"


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- the inputs ---------------------------------------------------------------------------------------------


def http_inputs(manifest: dict, port: int) -> list[tuple[str, str]]:
    """(name, outcome) of each hostile HTTP input."""
    token = manifest["voter_tokens"][0]
    round_id = manifest["round"]
    outcomes = []

    def api(name: str, method: str, path: str, body: bytes, content_type: str = "application/json") -> None:
        outcomes.append((name, api_error(api_call(port, method, path, body, content_type, token))))

    api("novel JSON nested 10,000 deep", "POST", "/api/novels/", deep(10_000).encode())
    keyword = '{"keyword": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + ', "sentences": 2}'
    api("keyword nested 5,000 deep", "POST", f"/api/rounds/{round_id}/proposals/", keyword.encode())
    big = json.dumps({"title": "큰 글", "first_passage": "가" * (7 * 1024 * 1024 // 3)}).encode()
    api("a 7 MB JSON body", "POST", "/api/novels/", big)
    api(
        "a multipart body that cannot be parsed",
        "POST",
        "/api/sources/",
        b"--xyz\r\nbroken",
        "multipart/form-data; boundary=xyz",
    )
    api(
        "a keyword with a lone surrogate",
        "POST",
        f"/api/rounds/{round_id}/proposals/",
        b'{"keyword": "\\ud800", "sentences": 2}',
    )
    api("a title of 10,000 characters", "POST", "/api/novels/", json.dumps({"title": "가" * 10_000}).encode())
    api("a page size of 10^30", "GET", "/api/novels/?page_size=" + "9" * 30, b"")
    return outcomes


def guessing(manifest: dict, port: int) -> list[tuple[str, str]]:
    """50 wrong passwords for one account, then the right one: each a page with a clear message, or 429."""
    browser = Browser(port)
    outcomes = []
    for attempt in range(51):
        token, _ = browser.form_token("/accounts/login/")
        password = PASSWORD if attempt == 50 else f"guess-{attempt}"
        status, _, page = browser.post_form(
            "/accounts/login/", {"csrfmiddlewaretoken": token, "username": "bench-v-1", "password": password}
        )
        clear = status == 429 and "로그인 시도가 너무 많습니다" in page or status == 200 and "맞지 않습니다" in page
        outcomes.append((f"log-in attempt {attempt + 1}", "5xx" if status >= 500 else "error" if clear else "unclear"))
    return outcomes


def races(manifest: dict, port: int) -> tuple[list[tuple[str, str]], Counter]:
    """20 sign-ups with one new name at once, and one new-novel form posted 20 times at once."""
    outcomes: list[tuple[str, str]] = []
    made: Counter = Counter()

    def sign_up(_: int) -> int:
        browser = Browser(port)
        token, _ = browser.form_token("/accounts/signup/")
        fields = {"csrfmiddlewaretoken": token, "username": "abuse-newcomer", "password1": "a-long-pass-8472"}
        return browser.post_form("/accounts/signup/", {**fields, "password2": "a-long-pass-8472"})[0]

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(sign_up, range(20)))
    made["users"] += codes.count(302)
    outcomes += [("sign-up race", "5xx" if c >= 500 else "accepted" if c == 302 else "error") for c in codes]

    writer = Browser(port)
    token, _ = writer.form_token("/accounts/login/")
    writer.post_form(
        "/accounts/login/", {"csrfmiddlewaretoken": token, "username": "bench-w-00000", "password": PASSWORD}
    )
    token, key = writer.form_token("/")
    fields = {
        "csrfmiddlewaretoken": token,
        "title": "한 번만 시작",
        "first_passage": "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다.",
        "submission": key,
    }

    def post(_: int) -> tuple[int, str]:
        browser = Browser(port, cookies=dict(writer.cookies))
        return browser.post_form("/novels/new/", fields)[0], browser.location

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    started = {where for code, where in answers if code == 302 and re.search(r"/novels/\d+/$", where)}
    made["novels"] += len(started)
    made["turns"] += len(started)
    outcomes += [("new-novel form posted 20 times", "5xx" if c >= 500 else "accepted") for c, _ in answers]
    outcomes.append(("... and it started one novel", "accepted" if len(started) == 1 else "unclear"))
    return outcomes, made


SOCKET_FRAMES = [
    deep(2040),
    '{"type": "propose", "keyword": "\\ud800등대", "sentences": 2}',
    '{"type": "propose", "keyword": "\\udc00", "sentences": 2}',
    '{"type": "vote", "proposal": ' + deep(1000) + "}",
    "{not json",
    '{"type": "vote", "proposal": 10000000000000000000000000}',
    '{"type": "propose", "keyword": "바다\\u0000", "sentences": 2}',
    '{"type": "propose", "keyword": "바다", "sentences": -1}',
    '{"type": "drop_tables"}',
    "x" * 5000,
]


async def socket_inputs(manifest: dict, port: int) -> list[tuple[str, str]]:
    """Each frame over one logged-in socket: an error frame, the socket open; then a ping still answered."""
    replies: asyncio.Queue = asyncio.Queue()

    def on_text(client, payload: bytes, now: float) -> None:
        message = json.loads(payload)
        for event in message["events"] if message.get("type") == "batch" else [message]:
            if event.get("type") in ("error", "pong"):
                replies.put_nowait(event)

    cookie = f"sessionid={manifest['listener_sessions'][0]}"
    client = await ws_connect(
        HOST, port, f"/ws/novels/{manifest['novel']}/", on_text, origin=f"http://{HOST}:{port}", cookie=cookie
    )
    outcomes = []
    for frame in SOCKET_FRAMES + ['{"type": "ping"}']:
        client.send_text(frame)
        try:
            reply = await asyncio.wait_for(replies.get(), 10)
            outcome = "error" if reply["type"] == "error" and reply.get("code") else "accepted"
        except TimeoutError:
            outcome = "1011" if getattr(client, "close_code", None) == 1011 else "unclear"
        if not client.open:
            outcome = "1011" if getattr(client, "close_code", None) == 1011 else "closed"
        outcomes.append((f"frame {frame[:30]!r}", outcome))
    client.close()
    return outcomes


# --- the third round (issue 34): what the new features opened -------------------------------------------------


HUGE = "9" * 4301  # one digit more than Python's int() reads
HOSTILE_TITLE = "책\u0001제목\x1b"
WAITING_TEXT = "아직 검토를 기다리는 글이다."


def outcome_of(status: int, content_type: str, text: str) -> str:
    """An API or page answer as the report classes it: a 4xx must say what is wrong."""
    if status >= 500:
        return "5xx"
    if status >= 400:
        if content_type.startswith("application/json"):
            return api_error((status, content_type, text))
        return "error" if "<h1" in text or "errorlist" in text or "errornote" in text else "unclear"
    return "accepted"


def expect(name: str, ok: bool) -> tuple[str, str]:
    """A check whose right outcome is a refusal the client can read: clear when it was, unclear otherwise."""
    return name, "error" if ok else "unclear"


def log_in(browser: Browser, door: str, username: str, password: str, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    _, _, page = browser.request("GET", door, headers=headers)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    fields = {"csrfmiddlewaretoken": token.group(1) if token else "", "username": username, "password": password}
    body = urllib.parse.urlencode(fields).encode()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return browser.request("POST", door, body, headers)[0]


def token_status(port: int, username: str, password: str, forwarded: str | None = None) -> int:
    headers = {"Content-Type": "application/json", **({"X-Forwarded-For": forwarded} if forwarded else {})}
    body = json.dumps({"username": username, "password": password}).encode()
    return Browser(port).request("POST", "/api/auth/token/", body, headers)[0]


def numbers(manifest: dict, port: int) -> list[tuple[str, str]]:
    """Numbers no field holds (4,301 digits) at every door, and the model pages' version numbers."""
    token, round_id, novel = manifest["voter_tokens"][1], manifest["round"], manifest["novel"]
    outcomes = []
    for name, path, body in [
        ("proposal", f"/api/rounds/{round_id}/vote/", {"proposal": HUGE}),
        ("sentences", f"/api/rounds/{round_id}/proposals/", {"keyword": "바다", "sentences": HUGE}),
        ("style", f"/api/rounds/{round_id}/proposals/", {"keyword": "바다", "sentences": 2, "style": HUGE}),
        ("index", f"/api/rounds/{round_id}/candidate-vote/", {"index": HUGE}),
    ]:
        answer = api_call(port, "POST", path, json.dumps(body).encode(), "application/json", token)
        outcomes.append((f"API {name} of 4,301 digits", api_error(answer)))
    browser = Browser(port)
    log_in(browser, "/accounts/login/", "bench-v-00002", PASSWORD)
    csrf, _ = browser.form_token(f"/novels/{novel}/")
    for path, fields in [
        (f"/novels/{novel}/vote/", {"proposal": HUGE}),
        (f"/novels/{novel}/propose/", {"keyword": "바다", "sentences": HUGE}),
        (f"/novels/{novel}/candidate/", {"index": HUGE}),
    ]:
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": csrf}).encode()
        answer = browser.request(
            "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        )
        outcomes.append((f"page form {path.rsplit('/', 2)[-2]} of 4,301 digits", outcome_of(*answer)))
    for path, value in [("/models/?v=", "²"), ("/models/compare/?a=", "²"), ("/models/compare/?b=", "①"),
                        ("/models/?v=", "9" * 5000)]:  # fmt: skip
        answer = Browser(port).request("GET", path + urllib.parse.quote(value))
        outcomes.append((f"model page {path}{value[:6]}", outcome_of(*answer)))
    answer = Browser(port).request("GET", "/api/novels/?page_size=101")
    outcomes.append(("a page of 101 items", api_error(answer)))
    return outcomes


def the_book(manifest: dict, port: int) -> tuple[list[tuple[str, str]], Counter]:
    """A novel titled with control characters, a passage with noncharacters and one waiting for review, finished:
    its EPUB well-formed, the waiting passage not in it, a revert refused; downloads limited per address."""
    from xml.etree import ElementTree

    outcomes: list[tuple[str, str]] = []
    made: Counter = Counter()
    staff = manifest["staff_token"]
    writer = manifest["writer_tokens"][0]
    body = {"title": HOSTILE_TITLE, "first_passage": "바다는 조용했다.\uffff\ufffe 수아는 편지를 읽었다."}
    status, _, text = api_call(port, "POST", "/api/novels/", json.dumps(body).encode(), "application/json", staff)
    outcomes.append(("a title with control characters", "5xx" if status >= 500 else "accepted"))
    if status != 201:
        return [*outcomes, ("the hostile novel", "unclear")], made
    made["novels"] += 1
    made["turns"] += 1
    novel = json.loads(text)["novel"]["id"]
    passage = json.dumps({"text": WAITING_TEXT}).encode()
    status, _, _ = api_call(port, "POST", f"/api/novels/{novel}/turns/", passage, "application/json", writer)
    made["turns"] += status == 201
    status, _, _ = api_call(port, "POST", f"/api/novels/{novel}/finish/", b"{}", "application/json", staff)
    outcomes.append(("finishing it", "5xx" if status >= 500 else "accepted"))
    revert = api_call(port, "POST", f"/api/novels/{novel}/revert/", b"{}", "application/json", staff)
    outcomes.append(expect("a revert of the finished novel: 409", revert[0] == 409 and api_error(revert) == "error"))
    first = Browser(port).request("GET", f"/novels/{novel}/book.epub")
    outcomes.append(expect("a download before the file is made: 503, or the file", first[0] in (200, 503)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready = json.loads(Browser(port).request("GET", f"/novels/{novel}/book/files/")[2])["ready"]
        if ready["epub"]:
            break
        time.sleep(0.5)
    reader = Browser(port)
    status, _, _ = reader.request("GET", f"/novels/{novel}/book.epub")
    epub = reader.body if status == 200 else b""
    try:
        archive = zipfile.ZipFile(io.BytesIO(epub))
        documents = [name for name in archive.namelist() if name.endswith((".xhtml", ".opf", ".ncx"))]
        story = "".join("".join(ElementTree.fromstring(archive.read(name)).itertext()) for name in documents)
        well_formed = bool(documents) and WAITING_TEXT not in story and "수아는 편지를 읽었다." in story
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError):
        well_formed = False
    outcomes.append(("its EPUB, well-formed, without the waiting passage", "accepted" if well_formed else "unclear"))
    codes = [Browser(port).request("GET", f"/novels/{novel}/book.txt")[0] for _ in range(35)]
    outcomes.append(expect("35 downloads from one address: limited (429)", 429 in codes and 500 not in codes))
    return outcomes, made


def passwords(manifest: dict, port: int) -> list[tuple[str, str]]:
    """The admin's log-in, the token door after wrong page log-ins, forged X-Forwarded-For, many sign-ups."""
    outcomes = []
    codes = [log_in(Browser(port), "/admin/login/", "bench-staff-00000", f"guess-{i}") for i in range(15)]
    right = log_in(Browser(port), "/admin/login/", "bench-staff-00000", PASSWORD)
    outcomes.append(expect("admin log-in: 15 wrong, then the right one refused", 429 in codes and right == 429))
    for i in range(5):
        log_in(Browser(port), "/accounts/login/", "bench-v-00003", f"guess-{i}", forwarded=f"10.1.0.{i}")
    outcomes.append(
        expect("token after 5 wrong page log-ins: refused", token_status(port, "bench-v-00003", PASSWORD) == 429)
    )
    forged = [log_in(Browser(port), "/accounts/login/", "nobody", "wrong", forwarded=f"10.2.0.{i}") for i in range(14)]
    outcomes.append(expect("14 log-ins, each with a new X-Forwarded-For: limited", 429 in forged))
    tokens = [token_status(port, "bench-v-00004", f"guess-{i}", forwarded=f"10.3.0.{i}") for i in range(26)]
    outcomes.append(expect("26 wrong tokens, each with a new X-Forwarded-For: limited", 429 in tokens))
    reads = [Browser(port).request("GET", "/api/novels/", headers={"X-Forwarded-For": f"10.4.{i // 250}.{i % 250}"})[0]
             for i in range(130)]  # fmt: skip
    outcomes.append(expect("130 anonymous reads, each with a new X-Forwarded-For: limited", 429 in reads))
    return outcomes


def sign_ups_and_blind_round(manifest: dict, port: int) -> tuple[list[tuple[str, str]], Counter]:
    made: Counter = Counter()
    codes = []
    for i in range(25):
        browser = Browser(port)
        token, _ = browser.form_token("/accounts/signup/")
        fields = {"csrfmiddlewaretoken": token, "username": f"abuse-crowd-{i}", "password1": "a-long-pass-8472"}
        codes.append(browser.post_form("/accounts/signup/", {**fields, "password2": "a-long-pass-8472"})[0])
    made["users"] += codes.count(302)
    outcomes = [expect("25 sign-ups from one address: limited", 429 in codes)]
    verdicts = []
    for i in range(5):
        browser = Browser(port)
        log_in(browser, "/accounts/login/", f"abuse-crowd-{i}", "a-long-pass-8472", forwarded=f"10.5.0.{i}")
        csrf = browser.cookies.get("csrftoken", "")
        body = json.dumps({"choice": "a"}).encode()
        headers = {"Content-Type": "application/json", "X-CSRFToken": csrf}
        answer = browser.request("POST", f"/api/blind-rounds/{manifest['blind']}/vote/", body, headers)
        verdicts.append(answer[0] == 403 and "joined_too_late" in answer[2])
    outcomes.append(expect("5 accounts made after the blind round opened: not counted", all(verdicts)))
    surrogate = api_call(port, "POST", f"/api/blind-rounds/{manifest['blind']}/vote/", b'{"choice": "\\ud800"}',
                         "application/json", manifest["voter_tokens"][2])  # fmt: skip
    outcomes.append(("a blind vote of a lone surrogate", api_error(surrogate)))
    return outcomes, made


def training_and_forms(manifest: dict, port: int) -> tuple[list[tuple[str, str]], Counter]:
    made: Counter = Counter()
    staff = manifest["staff_token"]
    first = api_call(port, "POST", "/api/training-runs/start/", b"", "application/json", staff)
    time.sleep(0.1)
    second = api_call(port, "POST", "/api/training-runs/start/", b"", "application/json", staff)
    outcomes = [expect("two training starts 0.1 s apart: the second 409", first[0] == 202 and second[0] == 409)]
    deadline = time.monotonic() + 60
    runs: list = []
    while time.monotonic() < deadline and not runs:
        runs = json.loads(Browser(port).request("GET", "/api/training-runs/")[2] or "{}").get("results", [])
        time.sleep(0.5)
    if runs:
        shown = json.loads(Browser(port).request("GET", f"/api/training-runs/{runs[0]['id']}/")[2])
        hidden = "host" not in shown["options"] and "pid" not in shown["options"]
    else:
        hidden = False
    time.sleep(3)  # a second process, had one started, would have recorded its run by now
    recorded = json.loads(Browser(port).request("GET", "/api/training-runs/")[2] or "{}").get("count")
    outcomes.append(("... and one run recorded", "accepted" if recorded == 1 else "unclear"))
    outcomes.append(("a training run's host and pid, to anyone", "accepted" if hidden else "unclear"))
    writer = Browser(port)
    log_in(writer, "/accounts/login/", "bench-w-00001", PASSWORD)
    csrf, _ = writer.form_token("/")
    fields = {
        "csrfmiddlewaretoken": csrf,
        "title": "열쇠 없는 양식",
        "first_passage": "바다는 조용했다. 수아는 웃었다.",
    }
    codes = [writer.post_form("/novels/new/", fields)[0] for _ in range(20)]
    outcomes += [("the new-novel form without its key", "error" if code == 400 else "unclear") for code in codes]
    return outcomes, made


async def sockets_third_round(manifest: dict, port: int) -> list[tuple[str, str]]:
    """Forty anonymous sockets are one reader; one over the address's cap is closed 4430; log-out ends a socket."""
    novel = manifest["novel"]
    origin = f"http://{HOST}:{port}"
    path = f"/ws/novels/{novel}/"

    def readers() -> int:
        page = Browser(port).request("GET", path.replace("/ws", ""))[2]
        found = re.search(r'id="readers-count">(\d+)<', page)
        return int(found.group(1)) if found else -1

    ignore = lambda client, payload, now: None  # noqa: E731
    before = readers()
    crowd = [await ws_connect(HOST, port, path, ignore, origin=origin) for _ in range(40)]
    await asyncio.sleep(2.5)  # a presence tick
    after = readers()
    outcomes = [expect(f"40 anonymous sockets: readers {before} -> {after}", after <= before + 1)]
    crowd += [await ws_connect(HOST, port, path, ignore, origin=origin) for _ in range(SOCKET_CAP - 40)]
    over = await ws_connect(HOST, port, path, ignore, origin=origin)
    await asyncio.wait_for(asyncio.shield(over.closed), 10)
    outcomes.append(expect(f"socket {SOCKET_CAP + 1} from one address: closed 4430", over.close_code == 4430))
    for client in crowd:
        client.close()
    session = manifest["listener_sessions"][1]
    page = await ws_connect(HOST, port, path, ignore, origin=origin, cookie=f"sessionid={session}")
    browser = Browser(port, cookies={"sessionid": session})
    csrf, _ = browser.form_token(path.replace("/ws", ""))
    browser.post_form("/accounts/logout/", {"csrfmiddlewaretoken": csrf})
    try:
        await asyncio.wait_for(asyncio.shield(page.closed), 10)
    except TimeoutError:
        pass
    outcomes.append(expect("a socket of a session that logged out: closed 4401", page.close_code == 4401))
    return outcomes


def content_policy(port: int) -> list[tuple[str, str]]:
    outcomes = []
    for path in ["/api/novels/", "/api/blind-rounds/"]:
        status, _, page = Browser(port).request("GET", path, headers={"Accept": "text/html"})
        inline = "<style" in page or re.search(r"<[^>]+ style=", page) is not None
        outcomes.append(
            (f"browsable API {path}: no inline style", "accepted" if status == 200 and not inline else "unclear")
        )
    status, _, page = Browser(port).request(
        "POST", "/accounts/login/", b"username=a&password=b", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    outcomes.append(expect("a CSRF failure page without inline style", status == 403 and "<style" not in page))
    return outcomes


def third_round(manifest: dict, port: int) -> tuple[list[tuple[str, str]], Counter]:
    """After the races (their sign-ups are counted too), before the password guessing of the round before,
    which uses up this address's log-in limit."""
    outcomes = numbers(manifest, port)
    outcomes += passwords(manifest, port)
    time.sleep(61)  # this address's log-in and token limits count per minute: the checks after need their own
    crowd, made = sign_ups_and_blind_round(manifest, port)
    outcomes += crowd
    book, more = the_book(manifest, port)
    outcomes += book
    made.update(more)
    runs, more = training_and_forms(manifest, port)
    outcomes += runs
    made.update(more)
    outcomes += asyncio.run(sockets_third_round(manifest, port))
    outcomes += content_policy(port)
    return outcomes, made


# --- one profile ---------------------------------------------------------------------------------------------


def run_profile(name: str) -> dict:
    from run_scaled import Supervisor

    profile = load.make_profile(name)
    profile.env.update(
        SOCKETS_PER_ADDRESS=str(SOCKET_CAP),
        THROTTLE_SIGNUP="30/hour",  # the sign-up race's 20, then the third round's crowd is stopped at 30
        SITE_RUN_OPTIONS="--time-budget,2,--threads,1",  # a staff-started run, short
        BLIND_ROUND_QUORUM="5",
    )
    load.reset_state(profile)
    manifest_path = Path(profile.env["VAR_DIR"]) / "abuse.json"
    in_profile(profile, "_setup", str(manifest_path))
    manifest = json.loads(manifest_path.read_text())
    supervisor = Supervisor(profile.children(), env=profile.env, quiet=True)
    supervisor.start_all()
    try:
        if not supervisor.wait_for_ports(HOST, timeout_s=120):
            raise RuntimeError("the servers did not come up")
        port = profile.ports[0]
        before = counts(profile)
        outcomes = http_inputs(manifest, port)
        outcomes += asyncio.run(socket_inputs(manifest, port))
        raced, made = races(manifest, port)
        outcomes += raced
        third, more = third_round(manifest, profile.ports[-1])
        outcomes += third
        named = collapsed(third)
        made.update(more)
        outcomes += guessing(manifest, profile.ports[-1])
        after = counts(profile)
    finally:
        supervisor.stop_all()
    changed = sum(abs(after[table] - before[table] - made.get(table, 0)) for table in before)
    tally = Counter(outcome for _, outcome in outcomes)
    return {
        "profile": name, "outcomes": outcomes, "tally": tally, "changed": changed, "before": before, "after": after,
        "made": made, "third": named,
    }  # fmt: skip


def collapsed(outcomes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The checks with one name said once, with how many there were ("... ×20")."""
    seen: dict[tuple[str, str], int] = {}
    for item in outcomes:
        seen[item] = seen.get(item, 0) + 1
    return [(f"{name} ×{n}" if n > 1 else name, outcome) for (name, outcome), n in seen.items()]


def counts(profile) -> dict[str, int]:
    out = Path(profile.env["VAR_DIR"]) / "counts.json"
    in_profile(profile, "_counts", str(out))
    return json.loads(out.read_text())


def in_profile(profile, *args: str) -> None:
    """A subcommand of this file with the profile's settings (Django configures once per process)."""
    subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=profile.env, check=True, timeout=600)


SOCKET_CAP = 50  # sockets per address on the bench servers (SOCKETS_PER_ADDRESS)


def cmd_setup(manifest: Path) -> None:
    """bench/load.py's setup, and a staff token and a blind round open now (readers may judge it)."""
    load.cmd_setup(manifest, listeners=2, voters=5, writers=2)
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from management.models import BlindRound, ModelVersion

    data = json.loads(manifest.read_text())
    staff = get_user_model().objects.get(username="bench-staff-00000")
    incumbent = ModelVersion.objects.get(is_active=True)
    candidate = ModelVersion.objects.create(
        label="bench-candidate", directory=incumbent.directory, checkpoint=incumbent.checkpoint,
        vocab_hash=incumbent.vocab_hash, vocab_size=incumbent.vocab_size,
    )  # fmt: skip
    blind = BlindRound.objects.create(
        candidate=candidate, incumbent=incumbent, story="바다는 조용했다.", keyword="그때", text_a="가", text_b="나",
        candidate_is_a=True, quorum=5, deadline=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    data.update(staff_token=load.tokens_for([staff])[0], blind=blind.pk)
    manifest.write_text(json.dumps(data))


def cmd_counts(out: Path) -> None:
    load.django_setup()
    from django.contrib.auth import get_user_model

    from novels.models import Novel, SourceText, Turn
    from voting.models import Proposal, Vote

    tables = {"users": get_user_model(), "novels": Novel, "turns": Turn, "proposals": Proposal, "votes": Vote}
    tables["sources"] = SourceText
    out.write_text(json.dumps({name: model.objects.count() for name, model in tables.items()}))


def report(results: list[dict]) -> list[str]:
    lines = [f"Relay Novel hostile input, {time.strftime('%Y-%m-%d %H:%M')}", ""]
    lines.append(
        f"{'profile':<10} {'tried':>6} {'clear error':>12} {'5xx':>5} {'1011 closes':>12} {'unclear':>8} {'data changed':>13}"
    )
    for result in results:
        tally = result["tally"]
        tried = sum(tally.values())
        lines.append(
            f"{result['profile']:<10} {tried:>6} {tally['error']:>12} {tally['5xx']:>5} {tally['1011']:>12} "
            f"{tally['unclear'] + tally['closed']:>8} {result['changed']:>13}"
        )
    lines.append("")
    lines.append(
        "(the rest of what was tried was accepted as it should be: the races' one account and one novel, a ping)"
    )
    for result in results:
        bad = [f"  {name}: {outcome}" for name, outcome in result["outcomes"] if outcome not in ("error", "accepted")]
        if bad:
            lines.append(f"{result['profile']}: not a clear answer")
            lines.extend(bad)
        lines.append(f"{result['profile']}: the third round (issue 34), check by check")
        lines += [f"  {outcome:<9} {name}" for name, outcome in result["third"]]
        if result["changed"]:
            before, after, made = result["before"], result["after"], result["made"]
            lines.append(f"{result['profile']}: rows changed beyond what was accepted")
            lines += [
                f"  {table}: {before[table]} -> {after[table]}, accepted {made.get(table, 0)}"
                for table in before
                if after[table] - before[table] != made.get(table, 0)
            ]
    return lines


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["_setup"]:
        cmd_setup(Path(argv[1]))
        return 0
    if argv[:1] == ["_counts"]:
        cmd_counts(Path(argv[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="embedded,scaled")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = [run_profile(name) for name in args.profiles.split(",")]
    lines = report(results)
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = any(
        r["tally"]["5xx"] or r["tally"]["1011"] or r["tally"]["unclear"] or r["tally"]["closed"] or r["changed"]
        for r in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
