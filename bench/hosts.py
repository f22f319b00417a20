"""Several hosts on one machine: the scaled profile across Linux network namespaces, nginx in front, a host lost.

    .venv/bin/python bench/hosts.py                 # the drill, as root: ~6 minutes -> bench/results/hosts.txt
    .venv/bin/python bench/hosts.py --quick --json F  # what tests/deploy/test_hosts.py runs (under two minutes)

Every host is a network namespace of its own (`ip netns`), plugged by a veth pair into a bridge that lives
in one more namespace, the switch; every address exists only inside namespaces this script created, and they
are all removed on exit, after Ctrl-C or SIGTERM too. Nothing is shared but this checkout's code and static
files: no host reads another's MODEL_DIR.

- data: its own PostgreSQL (initdb in a temporary folder) and Redis, reachable only from the other namespaces;
- web A and web B: two daphne processes (one with --quick) and one relay worker each, each host with its own
  MODEL_DIR, fetching models from the database model store (management.model_store);
- train: runs `manage.py makedata` with a MODEL_DIR of its own;
- edge: nginx (Debian's), its upstream rules generated from deploy/nginx/relay.conf, balancing HTTP and
  websockets over every daphne; the clients (bench/harness.py, bench/load.py's clients) run here too and
  reach the site only through nginx.

What it measures and reports (bench/results/hosts.txt): votes' tally latency through nginx over one web host
and over two; how long after a makedata activation each host writes with the new model, and the bytes moved;
a host lost (every process of A killed with SIGKILL and its link cut while its worker writes an AI turn):
the clients' reconnections, accepted votes against the database, every client's tally against the
database, the AI turn written once by B; a host cut off but alive, then mended: no duplicate turn, no vote
counted twice; a host C joining mid-round: fetches the model, serves pages and jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench.harness import WsClient, ws_connect  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
DAPHNE = str(Path(PYTHON).parent / "daphne")
RESULTS = ROOT / "bench" / "results" / "hosts.txt"
NET = "10.77.0"
DATA, TRAIN, EDGE = f"{NET}.2", f"{NET}.20", f"{NET}.1"
EDGE_PORT = 8080
WEB_PORTS = (8001, 8002)
STALE_S = 6  # RELAY_JOB_STALE_SECONDS on the hosts: a dead worker's job is taken up after this long
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1] if Path("/usr/lib/postgresql").is_dir() else None


def missing() -> str:
    """Why this machine cannot run the drill, or ""."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "redis-server", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/usr/sbin/nginx").exists():
        return "nginx is not installed (make system-packages)"
    if PG_BIN is None:
        return "PostgreSQL's server binaries are not installed"
    return ""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


# --- the network ------------------------------------------------------------------------------------


@dataclass
class Host:
    net: Net
    name: str
    address: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return f"{self.net.tag}-{self.name}"

    @property
    def port_name(self) -> str:
        return f"p{self.address.rsplit('.', 1)[1]}"  # its end of the veth pair, in the switch

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """A process in this host's namespace, its output in <work>/logs/<host>-<name>.log."""
        log = open(self.net.logs / f"{self.name}-{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode:
            raise RuntimeError(
                f"{self.name}: {' '.join(argv[:3])} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def log(self, name: str) -> Path:
        return self.net.logs / f"{self.name}-{name}.log"

    def pids(self) -> list[int]:
        return [int(pid) for pid in sh("ip", "netns", "pids", self.ns, check=False).stdout.split()]

    def kill_all(self) -> int:
        """SIGKILL every process in the namespace, as a host that loses power; how many there were."""
        pids = [pid for pid in self.pids() if pid != os.getpid()]  # the drill itself lives at the edge
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        return len(pids)


class Net:
    """The namespaces of one run: a switch (a bridge) and hosts plugged into it."""

    def __init__(self, work: Path) -> None:
        remove_abandoned()
        self.tag = f"rn{os.getpid()}"
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.hosts: list[Host] = []
        self.switch = f"{self.tag}-sw"
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")

    def host(self, name: str, address: str) -> Host:
        host = Host(self, name, address)
        self.hosts.append(host)
        sh("ip", "netns", "add", host.ns)
        sh(
            "ip",
            "-n",
            self.switch,
            "link",
            "add",
            host.port_name,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.ns,
        )
        sh("ip", "-n", self.switch, "link", "set", host.port_name, "master", "br0", "up")
        sh("ip", "-n", host.ns, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", host.ns, "link", "set", "eth0", "up")
        sh("ip", "-n", host.ns, "link", "set", "lo", "up")
        return host

    def cut(self, host: Host) -> None:
        sh("ip", "-n", self.switch, "link", "set", host.port_name, "down")

    def mend(self, host: Host) -> None:
        sh("ip", "-n", self.switch, "link", "set", host.port_name, "up")

    def close(self) -> None:
        for host in reversed(self.hosts):
            host.kill_all()
            sh("ip", "netns", "del", host.ns, check=False)
        sh("ip", "netns", "del", self.switch, check=False)


def remove_abandoned() -> None:
    """Namespaces a drill killed outright (SIGKILL: no cleanup) left behind: rn<pid>-… of a pid that is gone."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(r"rn(\d+)-\w+", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", name, check=False)


def enter(ns: str) -> None:
    """Move this process (its threads to come too) into a namespace: the clients and the checks run at the edge."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{ns}") as handle:
        if libc.setns(handle.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {ns}")


# --- the hosts' services ------------------------------------------------------------------------------


def start_data(host: Host) -> str:
    """PostgreSQL and Redis on the data host; the database URL."""
    pgdata = host.net.work / "pgdata"
    pgdata.mkdir()
    shutil.chown(pgdata, "postgres", "postgres")
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    sh(
        *as_postgres,
        str(PG_BIN / "initdb"),
        "-D",
        str(pgdata),
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
        "-E",
        "UTF8",
    )
    with open(pgdata / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {NET}.0/24 trust\n")
    host.start(
        "postgres",
        [
            *as_postgres,
            str(PG_BIN / "postgres"),
            "-D",
            str(pgdata),
            "-c",
            f"listen_addresses={host.address}",
            "-c",
            f"unix_socket_directories={pgdata}",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=300",
        ],
    )
    host.start(
        "redis",
        [
            "redis-server",
            "--bind",
            host.address,
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
    )
    deadline = time.monotonic() + 60
    while sh(
        "ip", "netns", "exec", host.ns, str(PG_BIN / "pg_isready"), "-h", host.address, "-q", check=False
    ).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError("the data host's PostgreSQL did not start")
        time.sleep(0.2)
    host.run([*as_postgres, str(PG_BIN / "createdb"), "-h", host.address, "-U", "postgres", "relay"])
    return f"postgres://postgres@{host.address}:5432/relay"


def site_env(work: Path, database_url: str, model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "MODEL_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="relay.settings",
        DEBUG="0",
        SECRET_KEY="hosts-drill-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://{DATA}:6379/0",
        GENERATION_IN_PROCESS="0",
        VAR_DIR=str(work / "var"),  # static files and books: deployed with the code, not models
        MODEL_DIR=str(model_dir),
        MODEL_STORE="database",
        RELAY_JOB_STALE_SECONDS=str(STALE_S),
        TRUSTED_PROXIES=EDGE,
        SOCKETS_PER_ADDRESS="100000",
        SOCKETS_PER_SESSION="100000",
        LOG_LEVEL="INFO",
        TEST_DB_SUFFIX="",
        MAKEDATA_MIN_HELDOUT_CHARS="0",
        BLIND_ROUNDS="0",
    )
    return env


@dataclass
class WebHost:
    host: Host
    env: dict[str, str]
    ports: tuple[int, ...]

    @property
    def upstreams(self) -> list[str]:
        return [f"{self.host.address}:{port}" for port in self.ports]

    def start(self) -> None:
        for port in self.ports:
            self.host.start(
                f"daphne-{port}", [DAPHNE, "-b", self.host.address, "-p", str(port), "relay.asgi:application"], self.env
            )
        self.host.start("worker", [PYTHON, "manage.py", "relayworker", "--name", f"{self.host.name}-worker"], self.env)

    @property
    def worker(self) -> subprocess.Popen:
        return self.host.processes["worker"]


def wait_for_line(path: Path, pattern: str, *, timeout: float, since: int = 0) -> tuple[float, str]:
    """(the monotonic time it was seen, the line) once a log holds a line matching `pattern` after byte `since`."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        if path.exists():
            with open(path, "rb") as handle:
                handle.seek(since)
                for line in handle.read().decode(errors="replace").splitlines():
                    if regex.search(line):
                        return time.monotonic(), line
        time.sleep(0.05)
    raise TimeoutError(f"{path.name}: no line like {pattern!r} in {timeout:.0f} s")


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


# --- nginx, from deploy/nginx/relay.conf ----------------------------------------------------------------


def nginx_conf(upstreams: list[str], *, listen: str, prefix: Path) -> str:
    """deploy/nginx/relay.conf's upstream, map and proxied locations, with these daphne processes, plain HTTP on
    `listen` (TLS, the redirect and the static alias are the real host's)."""
    text = (ROOT / "deploy" / "nginx" / "relay.conf").read_text()
    upstream = re.search(r"upstream relay_web \{.*?\n\}", text, re.S).group(0)
    server_line = re.search(r"\n    server \S+( [^\n]*;)", upstream)
    servers = "".join(f"\n    server {address}{server_line.group(1)}" for address in upstreams)
    upstream = re.sub(r"(\n    server \S+ [^\n]*;)+", lambda _: servers, upstream, count=1)
    mapping = re.search(r"map \$http_upgrade .*?\n\}", text, re.S).group(0)
    site = next(block for block in re.findall(r"\nserver \{.*?\n\}", text, re.S) if "location /ws/" in block)
    site = re.sub(r"\n    (listen|server_name|ssl_\w+) [^\n]*;", "", site)
    site = re.sub(r"\n    location /static/ \{.*?\n    \}", "", site, flags=re.S)
    site = site.replace("server {", f"server {{\n    listen {listen};", 1)
    temp = "".join(
        f"    {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"worker_processes 1;\nworker_rlimit_nofile 16384;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        f"events {{ worker_connections 8192; }}\nhttp {{\n    access_log off;\n{temp}{upstream}\n{mapping}\n{site}\n}}\n"
    )


class Edge:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.prefix = host.net.work / "nginx"
        self.prefix.mkdir()

    def configure(self, upstreams: list[str]) -> None:
        conf = nginx_conf(upstreams, listen=f"{EDGE_PORT}", prefix=self.prefix)
        (self.prefix / "nginx.conf").write_text(conf)
        sh("/usr/sbin/nginx", "-t", "-q", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"))

    def start(self, upstreams: list[str]) -> None:
        self.configure(upstreams)
        self.host.start(
            "nginx",
            ["/usr/sbin/nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-g", "daemon off;"],
        )

    def reload(self, upstreams: list[str]) -> None:
        self.configure(upstreams)
        self.host.processes["nginx"].send_signal(signal.SIGHUP)
        time.sleep(0.5)  # nginx starts new workers and lets the old ones finish; nothing here waits on it


# --- inside the data's reach: setup and checks (Django) ---------------------------------------------------


def django_setup() -> None:
    import django

    django.setup()


def cmd_setup(manifest: Path, clients: int) -> None:
    """Run on the training host: migrate, the demo sources approved, a first model trained by makedata, users."""
    django_setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from bench.load import KEYWORDS, create_users, novel_with_proposals, sessions_for, tokens_for
    from management.retraining import Options, run_makedata
    from voting.demo import ensure_sources

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    password = make_password("drill-password-1")
    staff = create_users("drill-staff-", 1, password, staff=True)[0]
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    ensure_sources(say=lambda line: None)
    outcome = run_makedata(Options(initial=True, size="tiny", max_steps=60, threads=1, progress=False), say=print)
    if outcome.version is None:
        raise SystemExit(f"makedata: {outcome.message}")
    seeds = create_users("drill-seed-", len(KEYWORDS), password)
    listeners = create_users("drill-l-", clients, password)
    novel, round_, proposals = novel_with_proposals(staff=staff, seeds=seeds, title="여러 서버 소설", premise="훈련")
    manifest.write_text(
        json.dumps(
            {
                "novel": novel.pk,
                "round": round_.pk,
                "proposals": proposals,
                "sessions": sessions_for(listeners),
                "writer_token": tokens_for([staff])[0],
                "model": outcome.version.label,
            }
        )
    )


def database_state(round_id: int) -> dict:
    """The round's votes as the database holds them."""
    from django.db.models import Count

    from voting.models import Vote

    votes = Vote.objects.filter(round_id=round_id)
    per_user = votes.values("user_id").annotate(n=Count("id")).filter(n__gt=1).count()
    tallies = {row["proposal_id"]: row["n"] for row in votes.values("proposal_id").annotate(n=Count("id"))}
    return {
        "total": votes.count(),
        "tallies": tallies,
        "users_twice": per_user,
        "voters": set(votes.values_list("user_id", flat=True)),
    }


def queue_job(novel_id: int, sentences: int) -> int:
    from django.db import transaction

    from novels.models import Novel
    from voting.services import job_queue

    with transaction.atomic():
        novel = Novel.objects.select_for_update().get(pk=novel_id)
        return job_queue(novel=novel, keyword="등대", sentences=sentences).pk


def job_state(job_id: int) -> dict:
    from novels.models import Turn
    from voting.models import GenerationJob

    job = GenerationJob.objects.get(pk=job_id)
    turns = Turn.objects.filter(job=job).count() if job.turn_id else 0
    return {
        "status": job.status,
        "worker": job.worker,
        "attempts": job.attempts,
        "partial": len(job.partial_text),
        "turn": job.turn_id,
        "turns_of_job": turns,
        "ai_turns": Turn.objects.filter(novel_id=job.novel_id, kind="ai").count(),
    }


async def job_when(job: int, predicate: Callable[[dict], object], what: str, timeout: float = 120) -> dict:
    """The job's state once `predicate` holds of it (polled every 20 ms); TimeoutError with its last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = await asyncio.to_thread(job_state, job)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: job {job} is {state}")
        await asyncio.sleep(0.02)


def active_label() -> str | None:
    from management.models import ModelVersion

    return ModelVersion.objects.filter(is_active=True).values_list("label", flat=True).first()


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> object:
    from django.db import close_old_connections

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what}: {value!r}")


# --- the clients, through nginx -----------------------------------------------------------------------------


def page_timing() -> tuple[float, float]:
    """The page's ping interval and how long it waits for an answer (static/relay/live.js), in seconds."""
    text = (ROOT / "static" / "relay" / "live.js").read_text()
    every, within = (
        int(re.search(rf"{name} = (\d+);", text).group(1)) / 1000 for name in ("PING_EVERY_MS", "ANSWER_WITHIN_MS")
    )
    return every, within


def back_off(attempt: int) -> float:
    """Seconds before the page's next try after `attempt` failures (static/relay/live.js)."""
    return min(30.0, 0.5 * 2 ** min(attempt - 1, 6)) * random.uniform(0.8, 1.2)


class Reader:
    """One browser on the novel page, as static/relay/live.js behaves: pings, gives up on a socket that leaves
    its ping unanswered, reconnects when its socket goes; votes when told."""

    def __init__(self, crowd: Crowd, index: int, session: str) -> None:
        self.crowd, self.index, self.session = crowd, index, session
        self.client: WsClient | None = None
        self.totals: list[tuple[float, int]] = []  # (when, total) each time the tally it shows grows
        self.tally: dict[int, int] = {}
        self.snapshots: list[float] = []
        self.voted: list[int] = []  # proposals the server said it counted for us
        self.gave_up = False

    def on_text(self, client: WsClient, payload: bytes, now: float) -> None:
        message = json.loads(payload)
        for event in message["events"] if message.get("type") == "batch" else [message]:
            self.on_event(event, now)

    def on_event(self, event: dict, now: float) -> None:
        kind = event.get("type")
        if kind == "snapshot":
            round_ = event.get("round") or {}
            self.show({t["proposal"]: t["votes"] for t in round_.get("tallies", [])}, now)
            self.snapshots.append(now)
        elif kind == "tally" and event.get("phase") == "proposals":
            self.show({t["proposal"]: t["votes"] for t in event["tallies"]}, now)
        elif kind == "voted":
            self.voted.append(event.get("proposal"))

    def show(self, tally: dict[int, int], now: float) -> None:
        self.tally = tally
        total = sum(tally.values())
        if not self.totals or total > self.totals[-1][1]:
            self.totals.append((now, total))

    async def keep_connected(self) -> None:
        attempt = 0
        while not self.crowd.stopping:
            try:
                self.client = await ws_connect(
                    "127.0.0.1",
                    EDGE_PORT,
                    f"/ws/novels/{self.crowd.novel}/",
                    self.on_text,
                    origin=f"http://127.0.0.1:{EDGE_PORT}",
                    cookie=f"sessionid={self.session}",
                    timeout=20,
                )
            except (OSError, TimeoutError):
                attempt += 1
                await asyncio.sleep(back_off(attempt))
                continue
            attempt = 0
            watch = asyncio.create_task(self.ping(self.client))
            await self.client.closed
            watch.cancel()
            attempt += 1
            if self.gave_up:  # the page connects again at once
                self.gave_up = False
            else:  # closed by the server or the proxy: the page waits a little
                await asyncio.sleep(back_off(attempt))

    async def ping(self, client: WsClient) -> None:
        every, within = self.crowd.timing
        await asyncio.sleep(random.random() * every)  # pages opened at different moments
        while client.open:
            heard = client.received
            if not client.send_text('{"type": "ping"}'):
                return
            await asyncio.sleep(within)
            if client.received == heard:  # nothing since the ping: the server is gone without a word
                self.gave_up = True
                client.transport.abort()
                return
            await asyncio.sleep(every - within)

    def vote(self, proposal: int) -> bool:
        return (
            self.client is not None
            and self.client.open
            and self.client.send_text(json.dumps({"type": "vote", "proposal": proposal}))
        )


class Crowd:
    def __init__(self, novel: int, sessions: list[str]) -> None:
        self.novel = novel
        self.readers = [Reader(self, i, s) for i, s in enumerate(sessions)]
        self.timing = page_timing()
        self.stopping = False
        self.tasks: list[asyncio.Task] = []

    async def connect(self, timeout: float = 120) -> None:
        for i, reader in enumerate(self.readers):
            self.tasks.append(asyncio.create_task(reader.keep_connected()))
            if i % 20 == 19:
                await asyncio.sleep(0.05)
        deadline = time.monotonic() + timeout
        while any(not r.snapshots for r in self.readers):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sum(1 for r in self.readers if not r.snapshots)} readers got no snapshot")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.stopping = True
        for reader in self.readers:
            if reader.client is not None:
                reader.client.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def vote_at(crowd: Crowd, voters: list[Reader], proposals: list[int], rate: float) -> list[float]:
    """Each voter votes once, `rate` a second; the times the votes were sent (for those sent)."""
    sent = []
    start = time.monotonic()
    for i, reader in enumerate(voters):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        if reader.vote(proposals[i % len(proposals)]):
            sent.append(time.monotonic())
    return sent


def tally_latencies(readers: list[Reader], sent: list[float], base: int) -> list[float]:
    """Latency of vote j: from its sending until every reader showed a total of at least base + j."""
    latencies = []
    for j, at in enumerate(sent, start=1):
        seen = []
        for reader in readers:
            totals = [t for _, t in reader.totals]
            k = bisect.bisect_left(totals, base + j)
            if k == len(totals):
                break
            seen.append(reader.totals[k][0])
        else:
            latencies.append(max(seen) - at)
    return latencies


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def settle(crowd: Crowd, round_id: int, timeout: float = 30) -> dict:
    """Wait until every reader shows the database's tally; the database's state and how many readers differ."""
    deadline = time.monotonic() + timeout
    while True:
        state = await asyncio.to_thread(database_state, round_id)
        differ = [r.index for r in crowd.readers if {k: v for k, v in r.tally.items() if v} != state["tallies"]]
        if not differ or time.monotonic() > deadline:
            return {**state, "readers_differing": len(differ)}
        await asyncio.sleep(0.5)


# --- the drill ---------------------------------------------------------------------------------------------------


class Drill:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="relay-hosts-"))
        self.work.chmod(0o755)
        self.net = Net(self.work)
        self.report: dict = {"clients": args.clients}
        self.say = print if not args.quiet else (lambda *a: None)

    def build(self) -> None:
        net = self.net
        self.data = net.host("data", DATA)
        self.train = net.host("train", TRAIN)
        self.edge_host = net.host("edge", EDGE)
        ports = WEB_PORTS[: 1 if self.args.quick else 2]
        self.webs = {}
        database_url = start_data(self.data)
        self.database_url = database_url
        self.train_env = site_env(self.work, database_url, self.work / "train" / "models")
        for name, octet in (("a", 11), ("b", 12)):
            host = net.host(name, f"{NET}.{octet}")
            self.webs[name] = WebHost(host, site_env(self.work, database_url, self.work / name / "models"), ports)
        self.say("setup: migrate, sources, a first model by makedata on the training host …")
        manifest = self.work / "manifest.json"
        self.train.run(
            [PYTHON, __file__, "setup", "--manifest", str(manifest), "--clients", str(self.args.clients)],
            self.train_env,
        )
        self.manifest = json.loads(manifest.read_text())
        for web in self.webs.values():
            web.start()
        for name, web in self.webs.items():
            _, line = wait_for_line(web.host.log("worker"), r"running", timeout=180)
            self.report.setdefault("first_fetch", {})[name] = fetched_line(web.host)
        self.edge = Edge(self.edge_host)
        self.edge.start(self.upstreams("a", "b"))
        os.environ.update(self.train_env)
        enter(self.edge_host.ns)  # from here on this process is at the edge: nginx on 127.0.0.1, the data host
        django_setup()
        from django.contrib.sessions.models import Session

        self.manifest_users = [
            int(Session.objects.get(session_key=key).get_decoded()["_auth_user_id"])
            for key in self.manifest["sessions"]
        ]

    def upstreams(self, *names: str) -> list[str]:
        return [u for name in names for u in self.webs[name].upstreams]

    def close(self) -> None:
        self.net.close()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # The scenes ------------------------------------------------------------------------------------------

    async def tally_over(self, crowd: Crowd, voters: list[Reader], label: str) -> dict:
        """Votes at --rate while AI turns are written one after another; each vote's tally latency."""
        base = sum(crowd.readers[0].tally.values())
        stop = asyncio.Event()
        writing = asyncio.create_task(self.keep_writing(stop))
        try:
            sent = await vote_at(crowd, voters, self.manifest["proposals"], self.args.rate)
        finally:
            stop.set()
            jobs = await writing
        state = await settle(crowd, self.manifest["round"])
        latencies = tally_latencies(crowd.readers, sent, base)
        result = {
            "votes": len(sent),
            "p50_ms": round(percentile(latencies, 0.5) * 1000),
            "p99_ms": round(percentile(latencies, 0.99) * 1000),
            "counted": len(latencies),
            "readers_differing": state["readers_differing"],
            "ai_turns_meanwhile": jobs,
        }
        self.say(f"tally over {label}: {result}")
        return result

    async def keep_writing(self, stop: asyncio.Event) -> int:
        """AI turns back to back until `stop` (as readers' passages ask for them); how many were written."""
        written = 0
        while not stop.is_set():
            job = await asyncio.to_thread(queue_job, self.manifest["novel"], 3)
            await job_when(job, lambda s: s["status"] in ("done", "failed"), "an AI turn while votes come", 180)
            written += 1
        return written

    async def model_switch(self) -> dict:
        """makedata on the training host; when each web host's processes write with the new version."""
        marks = {
            (name, proc): log_size(web.host.log(proc)) for name, web in self.webs.items() for proc in web.host.processes
        }
        trainer = self.train.start(
            "makedata",
            [PYTHON, "manage.py", "makedata", "--force", "--size", "tiny", "--max-steps", "60", "--threads", "1"],
            self.train_env,
        )
        old = await asyncio.to_thread(active_label)
        new = await asyncio.to_thread(
            wait_for, lambda: (lambda a: a if a != old else None)(active_label()), 600, "a new active model", 0.02
        )
        activated = time.monotonic()
        await asyncio.to_thread(trainer.wait, 120)
        seen = {}
        for (name, proc), since in marks.items():
            at, _ = await asyncio.to_thread(
                wait_for_line,
                self.webs[name].host.log(proc),
                rf"model {new}: this process writes with it now",
                timeout=120,
                since=since,
            )
            seen[f"{name}/{proc}"] = round(at - activated, 2)
        moved = {name: fetched_line(web.host, label=new) for name, web in self.webs.items()}
        result = {"version": new, "seconds_after_activation": seen, "slowest_s": max(seen.values()), "fetched": moved}
        self.say(f"model switch: {result}")
        return result

    async def lose_host(self, crowd: Crowd, *, partition: bool) -> dict:
        """Web host A goes (killed and cut, or only cut) while its worker writes an AI turn and votes come in."""
        a, b = self.webs["a"], self.webs["b"]
        voters = [r for r in crowd.readers if r.index not in self.voted][: max(10, self.args.clients // 10)]
        b.worker.send_signal(signal.SIGSTOP)  # A's worker takes the job
        try:
            voting = asyncio.create_task(vote_at(crowd, voters, self.manifest["proposals"], self.args.rate))
            job = await asyncio.to_thread(queue_job, self.manifest["novel"], self.args.sentences)
            # Taken and running on A: not "with text saved", which comes every SAVE_INTERVAL_S (0.5 s) while a
            # tiny model can write the whole turn in less (a fresh clone's CI never saw it running with text).
            writing = await job_when(
                job, lambda s: s["worker"].startswith("a-") and s["status"] == "running", "A writes"
            )
            lost_at = time.monotonic()
            killed = 0 if partition else a.host.kill_all()
            self.net.cut(a.host)
        finally:
            b.worker.send_signal(signal.SIGCONT)
        await voting
        self.voted.update(r.index for r in voters)
        done = await job_when(job, lambda s: s["status"] == "done", "the job done by B", timeout=180)
        result: dict = {"killed_processes": killed, "job_when_lost": writing, "job": done}
        if partition:
            self.net.mend(a.host)
            since = log_size(a.host.log("worker"))
            try:
                await asyncio.to_thread(
                    wait_for_line, a.host.log("worker"), rf"job {job} was taken from|job {job}", timeout=60, since=0
                )
            except TimeoutError:
                pass
            await asyncio.sleep(STALE_S)
            result["after_mend"] = await asyncio.to_thread(job_state, job)
            result["a_worker_log"] = a.host.log("worker").read_bytes()[since:].decode(errors="replace")[-400:]
        every, within = crowd.timing
        await asyncio.sleep(max(0.0, lost_at + every + within + 5 - time.monotonic()))  # every page has noticed
        # From the loss to each reader's first snapshot after it: those whose socket was on A.
        delays = [
            min(t for t in r.snapshots if t > lost_at) - lost_at for r in crowd.readers if r.snapshots[-1] > lost_at
        ]
        state = await settle(crowd, self.manifest["round"])
        accepted = {r.index for r in crowd.readers if r.voted}
        result.update(
            readers_reconnected=len(delays),
            reconnect_p50_s=round(percentile(delays, 0.5), 2),
            reconnect_p99_s=round(percentile(delays, 0.99), 2),
            votes_sent_during=len(voters),
            votes_accepted_during=sum(len(r.voted) for r in voters),
            votes_accepted_in_all=sum(len(r.voted) for r in crowd.readers),
            database_votes_in_all=state["total"] - len(self.manifest["proposals"]),
            accepted_missing=len([i for i in accepted if self.manifest_users[i] not in state["voters"]]),
            users_counted_twice=state["users_twice"],
            readers_differing=state["readers_differing"],
            since_loss_s=round(time.monotonic() - lost_at, 1),
        )
        self.say(f"{'partition' if partition else 'host lost'}: {result}")
        return result

    async def join(self) -> dict:
        """Web host C starts mid-round with an empty MODEL_DIR: it fetches the model, serves pages and a job."""
        c_host = self.net.host("c", f"{NET}.13")
        c = WebHost(c_host, site_env(self.work, self.database_url, self.work / "c" / "models"), WEB_PORTS[:1])
        self.webs["c"] = c
        started = time.monotonic()
        c.start()
        await asyncio.to_thread(wait_for_line, c_host.log("worker"), r"running", timeout=180)
        ready = time.monotonic() - started
        self.edge.reload(self.upstreams("b", "c"))
        status, _, _ = await direct_get(c_host.address, WEB_PORTS[0], f"/novels/{self.manifest['novel']}/")
        self.webs["b"].worker.send_signal(signal.SIGSTOP)
        try:
            job = await asyncio.to_thread(queue_job, self.manifest["novel"], 2)
            done = await job_when(job, lambda s: s["status"] == "done", "C's job", timeout=180)
        finally:
            self.webs["b"].worker.send_signal(signal.SIGCONT)
        result = {
            "ready_s": round(ready, 1),
            "fetched": fetched_line(c_host),
            "page_status": status,
            "job": done,
        }
        self.say(f"joining: {result}")
        return result

    async def run(self) -> dict:
        self.voted: set[int] = set()
        crowd = Crowd(self.manifest["novel"], self.manifest["sessions"])
        started = time.monotonic()
        await crowd.connect()
        self.report["connect_s"] = round(time.monotonic() - started, 1)
        try:
            if not self.args.quick:
                share = self.args.clients * 2 // 5  # and a tenth each for the partition and the lost host
                self.edge.reload(self.upstreams("a"))
                await self.reconnect_all(crowd)
                self.report["tally_one_host"] = await self.tally_over(crowd, crowd.readers[:share], "one web host")
                self.edge.reload(self.upstreams("a", "b"))
                await self.reconnect_all(crowd)
                self.report["tally_two_hosts"] = await self.tally_over(
                    crowd, crowd.readers[share : 2 * share], "two web hosts"
                )
                self.voted.update(range(2 * share))
            self.report["model_switch"] = await self.model_switch()
            if not self.args.quick:
                self.report["partition"] = await self.lose_host(crowd, partition=True)
            self.report["host_lost"] = await self.lose_host(crowd, partition=False)
            if not self.args.quick:
                self.report["joining"] = await self.join()
        finally:
            await crowd.close()
        return self.report

    async def reconnect_all(self, crowd: Crowd) -> None:
        """Every reader reconnects, so nginx spreads them over its new upstreams: 50 at a time, as pages
        reloaded over a few seconds, not a stampede."""
        for i, reader in enumerate(crowd.readers):
            reader.snapshots.clear()
            if reader.client is not None:
                reader.client.close()
            if i % 50 == 49:
                await asyncio.sleep(0.5)
        deadline = time.monotonic() + 120
        while any(not r.snapshots for r in crowd.readers) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)


async def direct_get(address: str, port: int, path: str) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readline()
    await reader.read()
    writer.close()
    return int(head.split()[1]), {}, b""


def fetched_line(host: Host, label: str | None = None) -> str:
    """The 'model … fetched' line of whichever process of the host fetched (the newest for `label`)."""
    lines = [
        line
        for name in host.processes
        if host.log(name).exists()
        for line in host.log(name).read_text(errors="replace").splitlines()
        if "fetched to" in line and (label is None or f"model {label} " in line)
    ]
    return lines[-1].split("model ", 1)[-1] if lines else "nothing fetched (the files were here)"


def format_report(report: dict, started: str, args: argparse.Namespace) -> str:
    """A few lines a person reads, then every figure as JSON."""
    lines = [
        f"# bench/hosts.py, {started}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end",
        f"# {args.clients} clients through nginx (edge namespace), votes at {args.rate:g}/s; hosts are network"
        " namespaces of this one machine",
        "",
    ]
    if "tally_one_host" in report:
        one, two = report["tally_one_host"], report["tally_two_hosts"]
        lines.append(
            f"tally latency, AI turns written meanwhile: one web host p50 {one['p50_ms']} ms / p99 {one['p99_ms']} ms"
            f" ({one['votes']} votes); two web hosts p50 {two['p50_ms']} ms / p99 {two['p99_ms']} ms ({two['votes']} votes)"
        )
    switch = report["model_switch"]
    lines.append(
        f"model switch: {switch['version']} written with by every process of both hosts {switch['slowest_s']} s after"
        f" activation at the latest; moved: {'; '.join(switch['fetched'].values())}"
    )
    for scene in ("partition", "host_lost"):
        if scene in report:
            r = report[scene]
            lines.append(
                f"{scene.replace('_', ' ')}: the AI turn A was writing finished by {r['job']['worker']} (attempt"
                f" {r['job']['attempts']}), {r['job']['turns_of_job']} turn for the job; {r['readers_reconnected']}"
                f" readers back through nginx, p50 {r['reconnect_p50_s']} s / p99 {r['reconnect_p99_s']} s to a fresh"
                f" snapshot; votes accepted meanwhile {r['votes_accepted_during']} of {r['votes_sent_during']},"
                f" accepted but missing {r['accepted_missing']}, counted twice {r['users_counted_twice']}, readers"
                f" whose tally differs from the database {r['readers_differing']}"
            )
    if "joining" in report:
        j = report["joining"]
        lines.append(
            f"joining: host C ready {j['ready_s']} s after its start ({j['fetched']}), page {j['page_status']},"
            f" a job written by {j['job']['worker']}"
        )
    lines += ["", json.dumps(report, indent=2, ensure_ascii=False, default=str)]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Relay Novel on several hosts (network namespaces) behind nginx.")
    sub = parser.add_subparsers(dest="command")
    setup = sub.add_parser("setup", help="(inside the training host) the database, a first model, users")
    setup.add_argument("--manifest", required=True)
    setup.add_argument("--clients", type=int, required=True)
    parser.add_argument(
        "--quick", action="store_true", help="the suite's run: two web hosts of one daphne, a model switch, a lost host"
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="votes per second")
    parser.add_argument("--sentences", type=int, default=20, help="length of the AI turn a host loses")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) for reading")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == "setup":
        cmd_setup(Path(args.manifest), args.clients)
        return 0
    why = missing()
    if why:
        print(f"bench/hosts.py cannot run here: {why}", file=sys.stderr)
        return 2
    if args.quick and args.clients == 1000:
        args.clients = 40
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    drill = Drill(args)
    try:
        drill.build()
        import uvloop

        report = uvloop.run(drill.run())
    finally:
        drill.close()
    text = format_report(report, started, args)
    print(text)
    if not args.quick:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
