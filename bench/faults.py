"""Faults of the scaled profile, staged for real on this machine (results: bench/results/faults.txt).

    .venv/bin/python bench/faults.py                 # all four, ~3 minutes
    .venv/bin/python bench/faults.py worker daphne   # some of them

worker    the relayworker is killed (SIGKILL) while it streams a generation: the job must be taken
          up again, the pages told ("generation.restarted"), and the novel get exactly one turn.
daphne    one of the two daphne processes is killed: its clients reconnect to the other one, get a
          fresh snapshot, and see the next vote's tally.
redis     Redis is restarted during a round: no accepted vote is lost (votes live in PostgreSQL),
          and once it is back the server sends every open page a fresh snapshot. A private redis-server on port 6390 is
          used, so the Redis that others' tests share is never touched.
postgres  the database becomes unreachable (a TCP proxy in between is cut): pages answer 503 with a
          clear message, websockets are refused; when it returns, everything works again without
          a restart.

The servers are the processes `make run-scaled` starts (two daphne, one relayworker), run by the
same supervisor, against a fresh database `relay_faults`. Only 127.0.0.1 is used; every wait is
bounded and the run stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import load  # noqa: E402
from bench.harness import HttpPool, WsClient, ws_connect  # noqa: E402

HOST = "127.0.0.1"
# The two daphne processes' ports: bound when the servers start (any free ones), read by everything after.
PORTS: list[int] = []
REDIS_PORT = 6390
DATABASE_URL = os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/relay_faults")
RESULTS = ROOT / "bench" / "results" / "faults.txt"
VAR = ROOT / "var" / "bench" / "faults"
PASSAGE = "수아는 편지를 접어 주머니에 넣었다. 등대의 불빛이 물결 위에서 흔들렸다."

report: list[str] = []


def say(line: str) -> None:
    print(line, flush=True)
    report.append(line)


# --- servers ---------------------------------------------------------------------------------


def env_for(database_url: str) -> dict[str, str]:
    """bench/load.py's server environment, on this run's database, private Redis and settings."""
    env = load.base_env()
    env.update(
        DJANGO_SETTINGS_MODULE="bench.fault_settings",
        VAR_DIR=str(VAR),
        MODEL_DIR=str(VAR / "models"),
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        GENERATION_IN_PROCESS="0",
    )
    return env


def start_redis() -> None:
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--save", "",
         "--appendonly", "no", "--dir", str(VAR), "--logfile", str(VAR / "redis.log"),
         "--pidfile", str(VAR / "redis.pid")],
        check=True,
    )  # fmt: skip
    wait_until(lambda: redis_answers(), 10, "redis-server did not start")


def stop_redis() -> None:
    subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], capture_output=True)
    wait_until(lambda: not redis_answers(), 10, "redis-server did not stop")


def redis_answers() -> bool:
    proc = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, text=True)
    return proc.stdout.strip() == "PONG"


def wait_until(check: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.1)


def prepare() -> dict:
    """A fresh database and private Redis, migrated, a model, users with tokens and sessions, a novel."""
    import psycopg
    from psycopg import sql

    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    with psycopg.connect(DATABASE_URL, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists relay_faults with (force)"))
        conn.execute(sql.SQL("create database relay_faults"))
    start_redis()
    subprocess.run(
        [sys.executable, __file__, "_setup", str(VAR / "manifest.json")],
        cwd=ROOT,
        env=env_for(DATABASE_URL),
        check=True,
    )
    return json.loads((VAR / "manifest.json").read_text())


def cmd_setup(manifest: Path) -> None:
    """Inside the profile: reuse bench/load.py's setup, with a model slow enough and a continuation
    long enough (20 sentences) to be caught mid-stream: a chunk goes out every 100 ms."""
    load.cmd_setup(manifest, listeners=60, voters=200, writers=4, model_size=(64, 384, 2))
    from novels.models import Novel  # (Django is set up by now)

    Novel.objects.update(min_sentences=20, max_sentences=20)


class Servers:
    def __init__(self, database_url: str) -> None:
        from run_scaled import Child, Supervisor, daphne_child, listen

        # Bound here and served by daphne (--fd): nothing else can take the port before the server runs.
        listeners = [listen(HOST) for _ in range(2)]
        PORTS[:] = [sock.getsockname()[1] for sock in listeners]
        children = [
            daphne_child(f"daphne-{port}", sock, options=["-v", "0"])
            for port, sock in zip(PORTS, listeners, strict=True)
        ]
        children.append(
            Child(name="relayworker", argv=[sys.executable, "manage.py", "relayworker", "--name", "faults"])
        )
        self.supervisor = Supervisor(children, env=env_for(database_url), quiet=True)

    def __enter__(self) -> Servers:
        self.supervisor.start_all()
        if not self.supervisor.wait_for_ports(HOST, timeout_s=60):
            raise RuntimeError("the servers did not come up")
        return self

    def __exit__(self, *exc) -> None:
        self.supervisor.stop_all()

    def child(self, name: str):
        return next(c for c in self.supervisor.children if c.name == name)

    def watch(self) -> None:
        """Let the supervisor notice deaths and restart (called from the scenarios' loops)."""
        self.supervisor.check_once()


# --- clients ---------------------------------------------------------------------------------------


class Page:
    """What a browser tab does: one socket, reconnecting to any daphne when it closes."""

    def __init__(self, ident: int, manifest: dict, session: str | None) -> None:
        self.ident, self.manifest, self.session = ident, manifest, session
        self.messages: list[dict] = []
        self.client: WsClient | None = None
        self.connects = 0
        self.snapshots = 0
        self.closed_codes: list[int | None] = []

    def on_text(self, client: WsClient, payload: bytes, now: float) -> None:
        message = json.loads(payload)
        # A batch frame holds events that waited for a busy server, in order (docs/websocket.md).
        for event in message["events"] if message["type"] == "batch" else [message]:
            event["_at"] = now
            self.messages.append(event)
            if event["type"] == "snapshot":
                self.snapshots += 1

    async def connect(self, ports: list[int]) -> bool:
        for port in ports:
            try:
                self.client = await ws_connect(
                    HOST, port, f"/ws/novels/{self.manifest['novel']}/", self.on_text, origin=f"http://{HOST}:{port}",
                    cookie=f"sessionid={self.session}" if self.session else None, ident=self.ident, timeout=10,
                )  # fmt: skip
            except (OSError, TimeoutError):
                continue
            self.connects += 1
            self.port = port
            return True
        return False

    async def stay_connected(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.client is None or not self.client.open:
                if self.client is not None:
                    self.closed_codes.append(self.client.close_code)
                others = [p for p in PORTS if p != getattr(self, "port", None)] + PORTS
                if not await self.connect(others):
                    await asyncio.sleep(0.5)
                    continue
            await asyncio.sleep(0.05)

    def seen(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind]

    def last_total(self) -> int | None:
        totals = [m["total"] for m in self.messages if m["type"] == "tally"]
        snapshots = [m["round"]["total"] for m in self.seen("snapshot") if m.get("round")]
        return max(totals + snapshots, default=None)


async def open_pages(manifest: dict, count: int) -> tuple[list[Page], asyncio.Event, list[asyncio.Task]]:
    stop = asyncio.Event()
    pages = [Page(i, manifest, manifest["listener_sessions"][i]) for i in range(count)]
    for i, page in enumerate(pages):
        await page.connect([PORTS[i % 2], PORTS[(i + 1) % 2]])
    tasks = [asyncio.create_task(p.stay_connected(stop)) for p in pages]
    await wait_for(lambda: all(p.snapshots for p in pages), 30)
    return pages, stop, tasks


async def close_pages(pages: list[Page], stop: asyncio.Event, tasks: list[asyncio.Task]) -> None:
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for page in pages:
        if page.client:
            page.client.close()
    await asyncio.sleep(0.3)


async def wait_for(check: Callable[[], bool], timeout: float, tick: Callable[[], None] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        if tick:
            tick()
        await asyncio.sleep(0.05)
    return True


async def api(method: str, path: str, *, token: str | None = None, body: dict | None = None, port: int | None = None):
    pool = HttpPool(HOST, port or PORTS[0], 1)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        status, _, data = await pool.request(method, path, headers=headers, body=json.dumps(body or {}).encode())
    finally:
        pool.close()
    return status, data


async def vote(manifest: dict, voter: int, *, port: int | None = None) -> int:
    status, _ = await api(
        "POST", f"/api/rounds/{manifest['round']}/vote/", token=manifest["voter_tokens"][voter],
        body={"proposal": manifest["proposals"][voter % len(manifest["proposals"])]}, port=port,
    )  # fmt: skip
    return status


def database_votes(manifest: dict) -> int:
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        return conn.execute("select count(*) from voting_vote where round_id = %s", [manifest["round"]]).fetchone()[0]


def database_row(query: str, args: list) -> tuple:
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        return conn.execute(query, args).fetchone()


# --- the scenarios -----------------------------------------------------------------------------------------


async def worker_fault(manifest: dict, servers: Servers) -> bool:
    say("\n## worker: kill the relayworker in the middle of a stream")
    pages, stop, tasks = await open_pages(manifest, 10)
    status, data = await api(
        "POST", f"/api/novels/{manifest['novel']}/turns/", token=manifest["writer_tokens"][0],
        body={"text": PASSAGE, "continue_with_ai": True},
    )  # fmt: skip
    say(f"passage with continue_with_ai: HTTP {status}")
    started = await wait_for(lambda: all(p.seen("generation.chunk") for p in pages), 30)
    worker = servers.child("relayworker")
    killed_pid = worker.pid
    os.kill(killed_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    chunks_before = len(pages[0].seen("generation.chunk"))
    say(f"first chunk reached all pages: {started}; killed relayworker pid {killed_pid} after {chunks_before} chunk(s)")
    restarted = await wait_for(lambda: all(p.seen("generation.restarted") for p in pages), 40, servers.watch)
    finished = await wait_for(lambda: all(p.seen("generation.finished") for p in pages), 60, servers.watch)
    took = time.monotonic() - killed_at
    job = database_row(
        "select id, status, attempts from voting_generationjob where novel_id = %s order by id desc limit 1",
        [manifest["novel"]],
    )
    ai_turns = database_row(
        "select count(*) from novels_turn where novel_id = %s and kind = 'ai'", [manifest["novel"]]
    )[0]
    restart = pages[0].seen("generation.restarted")
    say(f"supervisor restarted the worker: pid {worker.pid} (was {killed_pid})")
    say(
        f"generation.restarted on every page: {restarted} {restart[:1] and {k: restart[0][k] for k in ('job', 'attempt', 'reason')}}"
    )
    say(f"generation.finished on every page: {finished}, {took:.1f} s after the kill")
    say(f"job {job[0]}: status {job[1]}, attempts {job[2]}; AI turns in the novel: {ai_turns}")
    await close_pages(pages, stop, tasks)
    ok = started and restarted and finished and job[1] == "done" and ai_turns == 1
    say(f"RESULT worker: {'PASS' if ok else 'FAIL'}")
    return ok


async def daphne_fault(manifest: dict, servers: Servers) -> bool:
    say("\n## daphne: kill one of the two daphne processes")
    pages, stop, tasks = await open_pages(manifest, 40)
    victims = [p for p in pages if p.port == PORTS[0]]
    os.kill(servers.child(f"daphne-{PORTS[0]}").pid, signal.SIGKILL)
    killed_at = time.monotonic()
    moved = await wait_for(lambda: all(p.connects >= 2 and p.snapshots >= 2 for p in victims), 30)
    took = time.monotonic() - killed_at
    say(
        f"{len(victims)} pages were on daphne-{PORTS[0]}; all reconnected with a fresh snapshot: {moved} "
        f"in {took:.1f} s; close codes seen: {sorted({c or 1006 for p in victims for c in p.closed_codes})} (1006: no close frame)"
    )
    before = database_votes(manifest)
    status = await vote(manifest, 150, port=PORTS[1])
    counted = await wait_for(lambda: all((p.last_total() or 0) >= before + 1 for p in pages), 10, servers.watch)
    say(f"a vote after the kill (HTTP {status}) reached all {len(pages)} pages: {counted}")

    # The port itself is held by the supervisor while daphne is down: ask for a page.
    back = await wait_for_answer(PORTS[0], 40, servers.watch)
    say(f"the supervisor started daphne-{PORTS[0]} again and it answers: {back}")
    await close_pages(pages, stop, tasks)
    ok = moved and counted and status == 200
    say(f"RESULT daphne: {'PASS' if ok else 'FAIL'}")
    return ok


async def redis_fault(manifest: dict, servers: Servers) -> bool:
    say("\n## redis: restart Redis during a round")
    pages, stop, tasks = await open_pages(manifest, 20)
    already = database_votes(manifest)  # what earlier scenarios left in the round
    accepted = 0
    for voter in range(20, 30):
        accepted += await vote(manifest, voter, port=PORTS[voter % 2]) == 200
    stop_redis()
    down_statuses = [await vote(manifest, voter, port=PORTS[voter % 2]) for voter in range(30, 35)]
    accepted += down_statuses.count(200)
    start_redis()
    say(f"votes while Redis was down: HTTP {down_statuses}")
    time.sleep(1.0)
    after = [await vote(manifest, voter, port=PORTS[voter % 2]) for voter in range(35, 40)]
    accepted += after.count(200)
    stored = database_votes(manifest)
    expected = already + accepted
    say(f"accepted {accepted} votes around the restart; database holds {stored} (expected {expected})")
    # The server sends every open page a fresh snapshot once Redis answers again (relay.transport.layer_watch):
    # the events broadcast while it was down never arrived.
    resynced = await wait_for(lambda: all(p.snapshots >= 2 and p.last_total() == stored for p in pages), 10)
    closed = sum(1 for p in pages if p.connects >= 2)
    say(
        f"pages sent a fresh snapshot by the server after Redis returned, holding the database total {stored}: "
        f"{resynced} ({closed} of {len(pages)} reconnected on their own)"
    )
    # And the broadcasts flow again: each process's subscriptions came back with Redis.
    snapshots = [p.snapshots for p in pages]
    accepted += await vote(manifest, 40, port=PORTS[0]) == 200
    live = await wait_for(lambda: all(p.last_total() == stored + 1 for p in pages), 10)
    live = live and [p.snapshots for p in pages] == snapshots  # by a tally, not by another snapshot
    say(f"the next vote's tally reached all {len(pages)} pages over the socket: {live}")
    await close_pages(pages, stop, tasks)
    ok = stored == expected and resynced and live
    say(f"RESULT redis: {'PASS' if ok else 'FAIL'} (no vote lost: {stored == expected})")
    return ok


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones closed at once) and restored.

    It keeps its port (any free one, `port` once started) while cut: a port given up could be taken
    by another socket on the machine before the proxy is restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.is_cut = False

    async def start(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self.handle, HOST, 0)
            self.port = self.server.sockets[0].getsockname()[1]
        self.is_cut = False

    async def cut(self) -> None:
        self.is_cut = True
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


async def postgres_fault(manifest: dict) -> bool:
    say("\n## postgres: the database becomes unreachable, then returns")
    proxy = CuttableProxy(("127.0.0.1", 5432))
    await proxy.start()
    proxied = DATABASE_URL.replace(":5432/", f":{proxy.port}/")
    loop = asyncio.get_running_loop()
    servers = Servers(proxied)
    await loop.run_in_executor(None, servers.__enter__)
    try:
        pages, stop, tasks = await open_pages(manifest, 4)
        page_url = f"/novels/{manifest['novel']}/"
        status_up, _ = await api("GET", page_url)
        await proxy.cut()
        status_down, body = await api("GET", page_url)
        api_down, api_body = await api("GET", f"/api/novels/{manifest['novel']}/")
        vote_down = await vote(manifest, 60)
        refused = Page(99, manifest, None)
        connected = await refused.connect([PORTS[1]])
        await wait_for(lambda: refused.client is not None and not refused.client.open, 10)
        say(
            f"page before the cut: {status_up}; during: {status_down} «{body.decode('utf-8', 'replace')[-120:].strip()}»"
        )
        say(f"API during the cut: {api_down} {api_body.decode('utf-8', 'replace')[:110]}; a vote: HTTP {vote_down}")
        say(
            f"a new websocket during the cut: handshake {'accepted' if connected else 'refused'}, then closed with code "
            f"{refused.client.close_code if refused.client else None}, snapshot received: {bool(refused.snapshots)}"
        )
        await proxy.start()
        back = await wait_for_status(page_url, 200, 20)
        vote_back = await vote(manifest, 61)
        fresh = Page(98, manifest, manifest["listener_sessions"][50])
        reconnected = await fresh.connect([PORTS[1]]) and await wait_for(lambda: fresh.snapshots > 0, 10)
        say(
            f"after the database returned, without a restart: page {back}, vote HTTP {vote_back}, websocket snapshot {reconnected}"
        )
        if fresh.client:
            fresh.client.close()
        await close_pages(pages, stop, tasks)
        ok = status_down == 503 and api_down == 503 and back == 200 and vote_back == 200 and reconnected
        say(f"RESULT postgres: {'PASS' if ok else 'FAIL'}")
        return ok
    finally:
        await loop.run_in_executor(None, servers.__exit__, None, None, None)
        await proxy.cut()
        await proxy.close()


async def wait_for_answer(port: int, timeout: float, tick: Callable[[], None]) -> bool:
    """Whether the daphne on `port` answers a page within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tick()
        try:
            status, _ = await asyncio.wait_for(api("GET", "/api/novels/", port=port), 2)
        except (OSError, TimeoutError):
            status = 0
        if status == 200:
            return True
        await asyncio.sleep(0.2)
    return False


async def wait_for_status(path: str, wanted: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        status, _ = await api("GET", path)
        if status == wanted:
            break
        await asyncio.sleep(0.5)
    return status


async def run(names: list[str], manifest: dict) -> dict[str, bool]:
    results: dict[str, bool] = {}
    servers = Servers(DATABASE_URL)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, servers.__enter__)
    try:
        await asyncio.sleep(1.0)
        if "worker" in names:
            results["worker"] = await worker_fault(manifest, servers)
        if "daphne" in names:
            results["daphne"] = await daphne_fault(manifest, servers)
        if "redis" in names:
            results["redis"] = await redis_fault(manifest, servers)
    finally:
        await loop.run_in_executor(None, servers.__exit__, None, None, None)
    if "postgres" in names:
        results["postgres"] = await postgres_fault(manifest)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_setup":
        cmd_setup(Path(argv[1]))
        return 0
    names = argv or ["worker", "daphne", "redis", "postgres"]
    say(f"Relay Novel fault run, {time.strftime('%Y-%m-%d %H:%M')}: {', '.join(names)}")
    manifest = prepare()
    try:
        results = asyncio.run(run(names, manifest))
    finally:
        stop_redis()
    say("\n" + ", ".join(f"{name}: {'PASS' if ok else 'FAIL'}" for name, ok in results.items()))
    out = Path(os.environ.get("FAULTS_RESULTS", RESULTS))  # a test's run writes elsewhere than the kept results
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
