"""A long finished book downloaded by many at once, while a reader's socket pings the same server (issue 34).

    .venv/bin/python bench/book.py                    # 400,000 characters, 20 downloads at once
    .venv/bin/python bench/book.py --chars 100000 --downloads 5 --out /tmp/book.txt

One embedded server (daphne, SQLite, generation in the process), on a fresh
var/bench/book. A novel of about --chars characters of approved passages (the
KoCoNovel texts beside the project, ../shared/corpus) is finished through the
API; the server has its book's files built by a process of its own
(novels/book/files.py). Eight reader sockets on the novel page ping the server
five times a second each throughout (a socket takes 10 messages a second), and
the benchmark reports the ping before anything happens, while the files are
being built, and while --downloads clients fetch the PDF (and the EPUB) at once. For scale: how long the PDF takes to write in
one process, which each download cost the web process before the files were
built once per state of the book. Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import load  # noqa: E402
from bench.harness import HttpPool, ws_connect  # noqa: E402

HOST = "127.0.0.1"
VAR = ROOT / "var" / "bench" / "book"
RESULTS = ROOT / "bench" / "results" / "book.txt"
CORPUS = ROOT.parent / "shared" / "corpus" / "koconovel"
PING_EVERY_S = 0.2  # the socket allows 10 messages a second (relay.live.throttle)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=400_000, help="characters of the book (default 400,000)")
    parser.add_argument("--downloads", type=int, default=20, help="downloads at once (default 20)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of pings before anything happens")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def env() -> dict[str, str]:
    values = load.base_env()
    values.update(VAR_DIR=str(VAR), MODEL_DIR=str(VAR / "models"), GENERATION_IN_PROCESS="1")
    return values


def in_site(*args: str) -> None:
    subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env(), check=True, timeout=900)


# --- inside the site (Django) ---------------------------------------------------------------------------


def cmd_setup(manifest: Path, chars: int) -> None:
    """A staff writer with a token, a reader's session, and a novel of `chars` characters of approved passages."""
    load.django_setup()
    from django.core.management import call_command
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from novels.models import Novel, Turn
    from voting.services import novel_create

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    users = get_user_model()
    editor = users.objects.create_user(username="bench-editor", password="bench-password-1", is_staff=True)
    reader = users.objects.create_user(username="bench-reader", password="bench-password-1")
    paragraphs = [
        line.strip()
        for path in sorted(CORPUS.glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.strip()) > 20
    ]
    with transaction.atomic():
        novel = novel_create(title="긴 책 한 권", created_by=editor, first_passage=paragraphs[0])
        Novel.objects.filter(pk=novel.pk).update(vote_quorum=0)
        total, position, passage = len(paragraphs[0]), 1, []
        turns = []
        for paragraph in paragraphs[1:]:
            passage.append(paragraph)
            if sum(len(p) for p in passage) >= 800:  # a passage of a few sentences, as people and the AI write
                position += 1
                text = " ".join(passage)
                turns.append(Turn(novel=novel, position=position, text=text, kind=Turn.Kind.HUMAN, author=editor,
                                  status=Turn.Status.APPROVED))  # fmt: skip
                total += len(text)
                passage = []
                if total >= chars:
                    break
        Turn.objects.bulk_create(turns)
    manifest.write_text(
        json.dumps(
            {
                "novel": novel.pk,
                "chars": total,
                "passages": position,
                "token": Token.objects.create(user=editor).key,
                "session": load.sessions_for([reader])[0],
            }
        )
    )


def cmd_pdf_seconds(novel_id: int, out: Path) -> None:
    """How long the book's PDF takes to write in one process (what each download cost before)."""
    load.django_setup()
    from novels.book import Book, credit

    try:
        from novels.book.formats import as_pdf
    except ImportError:  # the code before novels/book/
        from novels.book import as_pdf
    from novels.models import Novel
    from novels.selectors import story_turns

    novel = Novel.objects.get(pk=novel_id)  # not finished yet: the run finishes it through the API
    book = Book(novel.pk, novel.title, novel.premise, "", [credit(turn) for turn in story_turns(novel)])
    started = time.process_time()
    size = len(as_pdf(book))
    out.write_text(json.dumps({"cpu_s": time.process_time() - started, "bytes": size}))


# --- the benchmark -------------------------------------------------------------------------------------------


PINGING_SOCKETS = 8


class Pinger:
    """Reader sockets that each ping every PING_EVERY_S; each round trip is kept, labelled by phase."""

    def __init__(self) -> None:
        self.sent: dict[int, list[float]] = {}  # socket -> when its unanswered pings went
        self.phase = "idle"
        self.rtts: dict[str, list[float]] = {}
        self.clients: list = []

    def on_text(self, client, payload: bytes, now: float) -> None:
        message = json.loads(payload)
        for event in message["events"] if message.get("type") == "batch" else [message]:
            waiting = self.sent.get(client.ident)
            if event.get("type") == "pong" and waiting:
                self.rtts.setdefault(self.phase, []).append((now - waiting.pop(0)) * 1000)

    async def ping(self, client, stop: asyncio.Event, offset: float) -> None:
        await asyncio.sleep(offset)
        while not stop.is_set():
            self.sent.setdefault(client.ident, []).append(time.monotonic())
            client.send_text('{"type": "ping"}')
            await asyncio.sleep(PING_EVERY_S)

    async def run(self, stop: asyncio.Event) -> None:
        step = PING_EVERY_S / len(self.clients)
        await asyncio.gather(*(self.ping(c, stop, i * step) for i, c in enumerate(self.clients)))


def summary(values: list[float]) -> str:
    if not values:
        return "no pings"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p99 {p99:6.1f} ms  max {ordered[-1]:6.1f} ms  ({len(ordered)} pings)"


async def measure(manifest: dict, port: int, args: argparse.Namespace) -> list[str]:
    pinger = Pinger()
    novel = manifest["novel"]
    pinger.clients = [
        await ws_connect(
            HOST,
            port,
            f"/ws/novels/{novel}/",
            pinger.on_text,
            origin=f"http://{HOST}:{port}",
            cookie=f"sessionid={manifest['session']}",
            ident=i,
        )  # fmt: skip
        for i in range(PINGING_SOCKETS)
    ]
    stop = asyncio.Event()
    pinging = asyncio.create_task(pinger.run(stop))
    pool = HttpPool(HOST, port, args.downloads + 2)
    lines = []
    try:
        await asyncio.sleep(args.idle)
        pinger.phase = "building"
        headers = {"Authorization": f"Token {manifest['token']}", "Content-Type": "application/json"}
        status, _, _ = await pool.request("POST", f"/api/novels/{novel}/finish/", headers=headers, body=b"{}")
        finished_at = time.monotonic()
        lines.append(f"finish through the API: HTTP {status}")
        ready: dict = {}
        while time.monotonic() - finished_at < 600:
            status, _, body = await pool.request("GET", f"/novels/{novel}/book/files/")
            if status == 404:  # code from before the files were built once (--compare): nothing to wait for
                ready = {"none": False}
                break
            ready = json.loads(body)["ready"]
            if all(ready.values()):
                break
            await asyncio.sleep(0.25)
        built_s = time.monotonic() - finished_at
        if "none" in ready:
            lines.append("no files are built ahead: each download writes its file in the web process")
        else:
            lines.append(
                f"every file built by the builder process: {all(ready.values())}, {built_s:.1f} s after finishing"
            )
        pinger.phase = "idle again"
        await asyncio.sleep(2)

        pinger.phase = "downloads"
        started = time.monotonic()

        async def download(i: int) -> tuple[int, int, float]:
            fmt = "pdf" if i % 2 == 0 else "epub"
            status, _, body = await pool.request("GET", f"/novels/{novel}/book.{fmt}")
            return status, len(body), time.monotonic() - started

        answers = await asyncio.gather(*(download(i) for i in range(args.downloads)))
        pinger.phase = "after"
        await asyncio.sleep(1)
        statuses = sorted({status for status, _, _ in answers})
        took = [t for _, _, t in answers]
        lines.append(
            f"{args.downloads} downloads at once (PDF and EPUB, one address): statuses {statuses}, "
            f"{sum(size for _, size, _ in answers) / 1e6:.1f} MB, all done after {max(took):.2f} s "
            f"(median {statistics.median(took):.2f} s)"
        )
    finally:
        stop.set()
        await pinging
        for client in pinger.clients:
            client.close()
        pool.close()
    lines.append("")
    lines.append(f"websocket ping round trip on the same server ({PINGING_SOCKETS} reader sockets on the novel page):")
    for phase in ("idle", "building", "idle again", "downloads"):
        lines.append(f"  {phase:<11} {summary(pinger.rtts.get(phase, []))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not CORPUS.is_dir():
        print(f"the corpus is not beside the project: {CORPUS}", file=sys.stderr)
        return 2
    from run_scaled import Supervisor, daphne_child, listen

    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    in_site("_setup", str(VAR / "manifest.json"), str(args.chars))
    manifest = json.loads((VAR / "manifest.json").read_text())
    in_site("_pdf", str(manifest["novel"]), str(VAR / "pdf.json"))
    pdf = json.loads((VAR / "pdf.json").read_text())
    listener = listen(HOST)
    port = listener.getsockname()[1]
    supervisor = Supervisor([daphne_child("daphne", listener, options=["-v", "0"])], env=env(), quiet=True)
    supervisor.start_all()
    try:
        if not supervisor.wait_for_ports(HOST, timeout_s=120):
            raise RuntimeError("the server did not come up")
        lines = asyncio.run(measure(manifest, port, args))
    finally:
        supervisor.stop_all()
    report = [
        f"Relay Novel book downloads, {time.strftime('%Y-%m-%d %H:%M')} (embedded profile, one daphne)",
        "",
        f"book: {manifest['chars']:,} characters in {manifest['passages']} approved passages",
        f"its PDF written in one process: {pdf['cpu_s']:.2f} s of CPU, {pdf['bytes'] / 1e6:.1f} MB "
        "(what each download cost the web process before the files were built once per state of the book)",
        *lines,
    ]
    text = "\n".join(report) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        cmd_setup(Path(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_pdf":
        cmd_pdf_seconds(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(main())
