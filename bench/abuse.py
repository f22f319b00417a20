"""Hostile input against real servers of each profile (issue 17); results: bench/results/abuse.txt.

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
import json
import re
import subprocess
import sys
import time
import urllib.parse
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

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, str, str]:
        require_loopback(HOST)
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        sent = {"Host": f"{HOST}:{self.port}", "Origin": f"http://{HOST}:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
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
    writer.post_form("/accounts/login/", {"csrfmiddlewaretoken": token, "username": "bench-w-1", "password": PASSWORD})
    token, key = writer.form_token("/")
    fields = {
        "csrfmiddlewaretoken": token,
        "title": "한 번만 시작",
        "first_passage": "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다.",
        "submission": key,
    }
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda _: writer.post_form("/novels/new/", fields)[0], range(20)))
    made["novels"] += 1 if 302 in codes else 0
    made["turns"] += 1 if 302 in codes else 0
    outcomes += [("new-novel form posted 20 times", "5xx" if c >= 500 else "accepted") for c in codes]
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


# --- one profile ---------------------------------------------------------------------------------------------


def run_profile(name: str) -> dict:
    from run_scaled import Supervisor

    profile = load.make_profile(name)
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
        outcomes += guessing(manifest, profile.ports[-1])
        after = counts(profile)
    finally:
        supervisor.stop_all()
    changed = sum(abs(after[table] - before[table] - made.get(table, 0)) for table in before)
    tally = Counter(outcome for _, outcome in outcomes)
    return {"profile": name, "outcomes": outcomes, "tally": tally, "changed": changed, "before": before, "after": after}


def counts(profile) -> dict[str, int]:
    out = Path(profile.env["VAR_DIR"]) / "counts.json"
    in_profile(profile, "_counts", str(out))
    return json.loads(out.read_text())


def in_profile(profile, *args: str) -> None:
    """A subcommand of this file with the profile's settings (Django configures once per process)."""
    subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=profile.env, check=True, timeout=600)


def cmd_setup(manifest: Path) -> None:
    load.cmd_setup(manifest, listeners=2, voters=5, writers=2)


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
