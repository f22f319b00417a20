"""Load benchmark: 1,000 websocket clients on one novel, votes at a rising rate.

    .venv/bin/python bench/load.py                      # floor, embedded and scaled, ~10 minutes
    .venv/bin/python bench/load.py --profiles scaled --clients 300 --rates 10,50 --step 5
    .venv/bin/python bench/load.py --profiles scaled@100 --socket-share 0.9 --rates 100,200,300,400
    .venv/bin/python bench/load.py --profiles embedded --rates 50 --step 30 --training none,nice,plain

Three servers face the same harness in one run:

- floor: bench/floor_server.py under one daphne, which does nothing but count
  and broadcast (the least any websocket server on daphne can do);
- embedded: one daphne, SQLite, the in-memory channel layer, generation in a
  thread of the web process (GENERATION_IN_PROCESS=1);
- scaled: two daphne processes and one `manage.py relayworker` (the processes
  `make run-scaled` starts) against PostgreSQL and Redis.

Every listener is a logged-in user with its own session. A share of the votes
(--socket-share, half by default) goes over the listeners' own sockets, as the
novel page sends them; the rest over HTTP (`POST /api/rounds/R/vote/` with a
token), each from a user of its own. Once every listener has voted, a listener
votes again for another proposal: a move, accepted but not adding to the total.
Meanwhile writers post passages with `continue_with_ai`, so a generation
streams to the same clients while they vote (--generation-gap seconds after
the last one ended; 0: back to back). Two probes first use up the API's
throttles, anonymously and as one user, then keep asking while the votes run,
to see them refused across every web process.

Latency of a vote: the accepted new votes (moves aside), in the order they
were sent, are numbered 1, 2, ...; the latency of vote j is the time from
sending it until the last connected client has received a tally whose total is
at least base + j. (Each new vote adds exactly one to the total, so that is
when every client has a tally that counts j votes.) Everything is measured with
one monotonic clock in one process, which also records how late its own event
loop woke (if the harness falls behind, its latencies are too high by that).
That loop is uvloop's: on the cores the harness shares with the servers it
takes a quarter less CPU than asyncio's, and its p99 lag at 50 votes/s fell
from 50-60 ms to about 20 ms.

At the end the database is asked for the votes of the round: each user's last
accepted vote must be there exactly once, nothing else, and the tally the
clients last received must equal it. CPU and memory of every server process come from
/proc. Results: bench/results/load.txt (and stdout). Only 127.0.0.1 is used;
every step is bounded in time and the run stops by itself.

--training runs each profile again with `manage.py makedata --initial` of the
default size training on the demo stories beside the votes, at its default
lower priority (nice 10 and SCHED_IDLE) or at none (nice 0): the original chatbot's training
froze its server. The report gives the training's characters per second in
each case, so the cost of the lower priority to training shows too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import uvloop  # noqa: E402

from bench.harness import HttpPool, WsClient, ws_connect  # noqa: E402
from bench.procstat import CpuMeter, load_average, pids_named  # noqa: E402

HOST = "127.0.0.1"
VAR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results" / "load.txt"
SCALED_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/relay_bench")
SCALED_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
KEYWORDS = ["등대", "바다", "편지", "고양이"]
OPENING = "안개가 짙은 아침이었다. 선착장 끝에 선 수아는 멀리 등대 쪽을 바라보았다. 바람이 차가웠다."
PASSAGE = "수아는 편지를 접어 주머니에 넣었다. 등대의 불빛이 물결 위에서 흔들렸다."

WEB_PROCESSES = int(os.environ.get("BENCH_WEB_PROCESSES", "2"))  # daphne processes of the scaled profile
PROBE_BURST_MAX = 2000  # requests a probe sends at most to find its throttle's limit
TOTAL = re.compile(rb'"total": (\d+)')
EVENT_TYPE = re.compile(rb'\{"type": "([a-z_.]+)"')
ERROR_CODE = re.compile(rb'"code": "([a-z_]+)"')


# --- the servers -------------------------------------------------------------------


@dataclass
class Profile:
    name: str
    web: int  # daphne processes
    env: dict[str, str]
    app: str = "relay.asgi:application"
    workers: int = 0
    relay: bool = True
    database_url: str = ""
    clients: int | None = None  # None: --clients
    label: str = ""
    ports: list[int] = field(default_factory=list)  # the daphne processes', once children() has bound them

    def children(self):
        """The processes to run: a daphne per port, each serving a socket bound here (any free port, taken
        from this moment on), then the relay workers."""
        from run_scaled import Child, daphne_child, listen

        listeners = [listen(HOST) for _ in range(self.web)]
        self.ports = [sock.getsockname()[1] for sock in listeners]
        kids = [
            daphne_child(f"daphne-{port}", sock, app=self.app, options=["-v", "0"])
            for port, sock in zip(self.ports, listeners, strict=True)
        ]
        kids += [
            Child(name=f"relayworker-{i}", argv=[sys.executable, "manage.py", "relayworker", "--name", f"bench-{i}"])
            for i in range(1, self.workers + 1)
        ]
        return kids


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "GENERATION_IN_PROCESS"}}
    env.update(
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="relay.settings",
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        TEST_DB_SUFFIX="",
        # Every client of the benchmark is one address, this machine's: the caps on sockets per address and per
        # browser session (relay.live.consumers) would close all but the first 120.
        SOCKETS_PER_ADDRESS="100000",
        SOCKETS_PER_SESSION="100000",
    )
    return env


# makedata beside the votes (--training): the same run at the lower priority makedata uses by default, or at none.
TRAINING_MODES = {"nice": "nice 10 + SCHED_IDLE, the default", "plain": "nice 0"}


def make_profile(spec: str) -> Profile:
    """`scaled`, or `scaled@10` for the same servers with 10 clients (write throughput without fan-out)."""
    name, _, clients = spec.partition("@")
    profile = _make_profile(name)
    if clients:
        profile.clients = int(clients)
        profile.label = spec
    return profile


def _make_profile(name: str) -> Profile:
    env = base_env()
    if name == "floor":
        return Profile(name, 1, env, app="bench.floor_server:application", relay=False)
    var = VAR / name
    env.update(VAR_DIR=str(var), MODEL_DIR=str(var / "models"))
    if name == "embedded":
        env.update(GENERATION_IN_PROCESS="1")
        return Profile(name, 1, env)
    env.update(DATABASE_URL=SCALED_DATABASE_URL, REDIS_URL=SCALED_REDIS_URL, GENERATION_IN_PROCESS="0")
    return Profile(name, WEB_PROCESSES, env, workers=1, database_url=SCALED_DATABASE_URL)


def reset_state(profile: Profile) -> None:
    """A fresh database, model directory and channel-layer keys for this run."""
    if not profile.relay:
        return
    var = Path(profile.env["VAR_DIR"])
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    if profile.database_url:
        import psycopg
        import psycopg.conninfo
        import redis
        from psycopg import sql

        name = psycopg.conninfo.conninfo_to_dict(profile.database_url)["dbname"]
        with psycopg.connect(profile.database_url, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        redis.Redis.from_url(SCALED_REDIS_URL).flushdb()


def in_profile(profile: Profile, *args: str, timeout: float = 600) -> None:
    """Run a subcommand of this file with the profile's settings (Django configures once per process)."""
    subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=profile.env, check=True, timeout=timeout)


# --- inside the profile: setup and verification (Django) --------------------------------


def django_setup() -> None:
    import django

    django.setup()


def train_bench_model(size: tuple[int, int, int] = (32, 128, 1)) -> None:
    """A small GRU from the project's demo corpus, registered and activated as makedata would."""
    from engine.model import GRUConfig
    from engine.train import TrainConfig, train
    from engine.vocab import Vocab
    from management import engine_adapter
    from management.services import model_version_activate, register_training_result
    from voting.demo import demo_sources

    directory = engine_adapter.model_root() / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    sources = demo_sources()
    vocab = Vocab.build([s.text for s in sources], styles=[s.name for s in sources])
    result = train(
        sources,
        out_dir=directory,
        vocab=vocab,
        model_config=GRUConfig(
            vocab_size=len(vocab), n_styles=len(vocab.styles), embed=size[0], hidden=size[1], layers=size[2]
        ),
        train_config=TrainConfig(epochs=1, time_budget_s=15, device="cpu", seed=1),
        progress=False,
    )
    version = register_training_result(
        result=result,
        directory=directory,
        label="bench",
        trained_on={"passages": 0, "source_texts": len(sources), "characters": sum(len(s.text) for s in sources)},
    )
    model_version_activate(version=version)


def create_users(prefix: str, count: int, password_hash: str, *, staff: bool = False) -> list:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"{prefix}{i:05d}", password=password_hash, is_staff=staff) for i in range(count)],
        batch_size=1000,
    )
    return list(User.objects.filter(username__startswith=prefix).order_by("username"))


def sessions_for(users: list) -> list[str]:
    """Logged-in sessions made directly (no password hashing per user)."""
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    store, expire, rows, keys = SessionStore(), timezone.now() + timedelta(days=1), [], []
    for user in users:
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        keys.append(key)
    Session.objects.bulk_create(rows, batch_size=1000)
    return keys


def tokens_for(users: list) -> list[str]:
    from rest_framework.authtoken.models import Token

    rows = [Token(user=user, key=Token.generate_key()) for user in users]
    Token.objects.bulk_create(rows, batch_size=1000)
    return [row.key for row in rows]


def novel_with_proposals(*, staff, seeds: list, title: str, premise: str) -> tuple:
    """A novel open for a day with OPENING, and a proposal of each KEYWORDS by each seed user: (novel, round,
    proposal ids)."""
    from voting.selectors import current_round
    from voting.services import novel_create, proposal_create

    novel = novel_create(title=title, premise=premise, created_by=staff, first_passage=OPENING, round_seconds=24 * 3600)
    round_ = current_round(novel)
    proposals = [
        proposal_create(round=round_, author=seed, keyword=word, sentences=2)[0].pk
        for seed, word in zip(seeds, KEYWORDS, strict=True)
    ]
    return novel, round_, proposals


def cmd_setup(
    manifest: Path,
    listeners: int,
    voters: int,
    writers: int,
    model_size: tuple[int, int, int] = (32, 128, 1),
    *,
    sources: bool = False,
) -> None:
    django_setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)  # DEBUG=0 serves the manifest's files
    train_bench_model(model_size)
    password = make_password("bench-password-1")
    staff = create_users("bench-staff-", 1, password, staff=True)[0]
    if sources:  # what a makedata run during the votes trains on: the demo stories, approved
        from voting.demo import ensure_sources

        staff.is_superuser = True
        staff.save(update_fields=["is_superuser"])
        ensure_sources(say=lambda line: None)
    seeds = create_users("bench-seed-", len(KEYWORDS), password)
    listener_users = create_users("bench-l-", listeners, password)
    voter_users = create_users("bench-v-", voters, password)
    writer_users = create_users("bench-w-", writers, password)
    probe = create_users("bench-probe-", 1, password)
    novel, round_, proposals = novel_with_proposals(
        staff=staff, seeds=seeds, title="벤치마크 소설", premise="부하 시험"
    )
    data = {
        "novel": novel.pk,
        "round": round_.pk,
        "proposals": proposals,
        "base_total": len(proposals),
        "seed_user_ids": [u.pk for u in seeds],
        "listener_user_ids": [u.pk for u in listener_users],
        "listener_sessions": sessions_for(listener_users),
        "voter_user_ids": [u.pk for u in voter_users],
        "voter_tokens": tokens_for(voter_users),
        "writer_tokens": tokens_for(writer_users),
        "probe_token": tokens_for(probe)[0],
        "setup_seconds": round(time.monotonic() - started, 1),
    }
    manifest.write_text(json.dumps(data))


def cmd_training(out: Path) -> None:
    """What the makedata run beside the votes reached: its progress as recorded."""
    django_setup()
    from management.models import TrainingRun

    run = TrainingRun.objects.order_by("-id").first()
    out.write_text(json.dumps({"status": run.status, "progress": run.progress} if run else {}))


def start_training(profile: Profile, mode: str, work: Path) -> subprocess.Popen:
    """`manage.py makedata --initial` of the default size on the demo stories, at nice 10 or 0 (mode)."""
    nice = {"nice": "10", "plain": "0"}[mode]
    log = open(work / "makedata.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "makedata",
            "--initial",
            "--size",
            "default",
            "--time-budget",
            "3600",
            "--nice",
            nice,
        ],
        cwd=ROOT,
        env={**profile.env, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while "makedata: training " not in (work / "makedata.log").read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"makedata did not start training: {(work / 'makedata.log').read_text()[-500:]}")
        time.sleep(0.2)
    return process


def cmd_verify(manifest: Path, accepted_path: Path, out: Path) -> None:
    """Compare the round's votes in the database with the votes the harness saw accepted."""
    django_setup()
    from voting.models import GenerationJob, Vote
    from voting.selectors import tally

    data = json.loads(manifest.read_text())
    accepted = json.loads(accepted_path.read_text())  # [[user_id, proposal_id], ...] in the order sent
    # Each user's last accepted vote is the one that must be stored (a move replaces the earlier one).
    last = dict(zip(data["seed_user_ids"], data["proposals"], strict=True))
    last.update((uid, pid) for uid, pid in accepted)
    expected = set(last.items())
    rows = list(Vote.objects.filter(round_id=data["round"]).values_list("user_id", "proposal_id"))
    stored = set(rows)
    per_user = Counter(uid for uid, _ in rows)
    counts = Counter(pid for _, pid in expected)
    rows_tally = {row["proposal"]: row["votes"] for row in tally(data["round"])}
    jobs = Counter(GenerationJob.objects.filter(novel_id=data["novel"]).values_list("status", flat=True))
    result = {
        "expected": len(expected),
        "stored": len(rows),
        "lost": len(expected - stored),
        "unexpected": len(stored - expected),
        "counted_twice": sum(1 for n in per_user.values() if n > 1),
        "tally_matches_accepted": all(rows_tally.get(p, 0) == counts.get(p, 0) for p in data["proposals"]),
        "tally_matches_stored": rows_tally == dict(Counter(pid for _, pid in rows)),
        "tally_total": sum(rows_tally.values()),
        "jobs": dict(jobs),
    }
    out.write_text(json.dumps(result))


# --- the harness ------------------------------------------------------------------------


@dataclass
class Seen:
    """The tallies one client received, kept only when the total grew."""

    totals: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    top: int = -1


@dataclass
class Vote:
    number: int
    proposal: int
    via: str  # "http" | "socket"
    voter: int  # index into voters (http) or listeners (socket)
    move: bool = False  # a listener moving the vote it already has (the total stays)
    sent: float = 0.0
    answered: float | None = None
    status: str = "pending"  # accepted | refused:<code> | error:<what>


@dataclass
class Step:
    rate: float
    started: float = 0.0
    ended: float = 0.0
    votes: list[Vote] = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    overloaded: str = ""


class Harness:
    def __init__(self, profile: Profile, manifest: dict, args: argparse.Namespace) -> None:
        self.profile, self.manifest, self.args = profile, manifest, args
        self.clients: list[WsClient] = []
        self.seen: dict[int, Seen] = {}
        self.pending_socket: dict[int, Vote] = {}
        self.messages = Counter()
        self.generation_done = asyncio.Event()
        self.pools = {port: HttpPool(HOST, port, args.http_connections) for port in profile.ports}
        self.in_flight = 0
        self.http_codes = Counter()
        self.probe_codes: dict[str, Counter] = {"anonymous": Counter(), "one user": Counter()}
        self.probe_burst: dict[str, int | None] = {"anonymous": None, "one user": None}  # answered before the first 429
        self.probes_ready = {name: asyncio.Event() for name in self.probe_codes}
        self.stop_probes = asyncio.Event()
        self.lost_clients = 0
        self.last_tally_at = 0.0
        self.open_at_end: set[int] = set()
        self.lags: list[tuple[float, float]] = []  # (when, how late the harness's loop woke)
        self.by_ident: dict[int, WsClient] = {}
        self.timeline: list[tuple[float, str]] = []  # (when, type) of what the first client got, tallies aside

    # Receiving -----------------------------------------------------------------------------

    def on_text(self, client: WsClient, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type": "batch"'):
            self.on_batch(client, payload, now)
            return
        if client.ident == 0 and not payload.startswith(b'{"type": "tally"'):
            self.timeline.append((now, payload[10 : payload.find(b'"', 10)].decode("utf-8", "replace")))
        if payload.startswith(b'{"type": "tally"'):
            match = TOTAL.search(payload)
            if match:
                self.saw_total(client, int(match.group(1)), now)
            self.messages["tally"] += 1
            self.last_tally_at = now
        elif payload.startswith(b'{"type": "generation.'):
            kind = payload[10 : payload.index(b'"', 10)].decode()
            self.messages[kind] += 1
            if kind in ("generation.finished", "generation.failed"):
                self.generation_done.set()
        elif payload.startswith(b'{"type": "voted"'):
            self.answer_socket_vote(client, now, "accepted")
        elif payload.startswith(b'{"type": "error"'):
            match = ERROR_CODE.search(payload)
            self.messages["error"] += 1
            self.answer_socket_vote(client, now, f"refused:{match.group(1).decode() if match else '?'}")
        else:
            self.messages[payload[10:40].split(b'"')[0].decode("utf-8", "replace")] += 1

    def on_batch(self, client: WsClient, payload: bytes, now: float) -> None:
        """Events that waited for a busy server, in order: each counts as if it had come alone.

        Read with regular expressions, as single frames are: decoding every batch
        for 1,000 clients would make the harness, on the same two cores, the
        bottleneck it measures."""
        self.messages["batch frames"] += 1
        kinds = [match.decode() for match in EVENT_TYPE.findall(payload)[1:]]  # [0] is "batch" itself
        self.messages.update(kinds)
        if client.ident == 0:
            self.timeline.extend((now, kind) for kind in kinds if kind != "tally")
        if "tally" in kinds:
            self.saw_total(client, max(int(total) for total in TOTAL.findall(payload)), now)
            self.last_tally_at = now
        if "generation.finished" in kinds or "generation.failed" in kinds:
            self.generation_done.set()

    def saw_total(self, client: WsClient, total: int, now: float) -> None:
        """A tally reached this client: note when it first held each higher total."""
        seen = self.seen[client.ident]
        if total > seen.top:
            seen.top = total
            seen.totals.append(total)
            seen.times.append(now)

    def answer_socket_vote(self, client: WsClient, now: float, status: str) -> None:
        vote = self.pending_socket.pop(client.ident, None)
        if vote is not None:
            vote.answered, vote.status = now, status

    # Connecting ------------------------------------------------------------------------------

    def ws_path(self) -> str:
        return f"/ws/novels/{self.manifest['novel']}/" if self.profile.relay else "/ws/"

    async def connect_all(self) -> float:
        started = time.monotonic()
        gate = asyncio.Semaphore(self.args.connect_concurrency)
        sessions = self.manifest.get("listener_sessions") or [None] * self.args.clients

        async def one(i: int) -> WsClient | None:
            port = self.profile.ports[i % len(self.profile.ports)]
            self.seen[i] = Seen()
            async with gate:
                try:
                    client = await ws_connect(
                        HOST,
                        port,
                        self.ws_path(),
                        self.on_text,
                        origin=f"http://{HOST}:{port}",
                        cookie=f"sessionid={sessions[i]}" if sessions[i] else None,
                        ident=i,
                        timeout=60,
                    )
                except (TimeoutError, OSError) as exc:
                    print(f"  client {i} could not connect: {exc!r}")
                    return None
                # Held means: the server sent its first message (the snapshot).
                deadline = time.monotonic() + 60
                while client.received == 0 and client.open and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                return client

        results = await asyncio.gather(*(one(i) for i in range(self.args.clients)))
        self.clients = [c for c in results if c is not None]
        return time.monotonic() - started

    # Voting ----------------------------------------------------------------------------------

    async def http_vote(self, vote: Vote) -> None:
        port = self.profile.ports[vote.voter % len(self.profile.ports)]
        if self.profile.relay:
            path = f"/api/rounds/{self.manifest['round']}/vote/"
            token = self.manifest["voter_tokens"][vote.voter]
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            body = json.dumps({"proposal": vote.proposal}).encode()
        else:
            path, headers = "/vote/", {"Content-Type": "application/x-www-form-urlencoded"}
            body = f"proposal={vote.proposal}".encode()
        self.in_flight += 1
        vote.sent = time.monotonic()
        try:
            status, _, answer = await asyncio.wait_for(
                self.pools[port].request("POST", path, headers=headers, body=body), self.args.request_timeout
            )
        except TimeoutError:
            vote.status = "error:timeout"
        except (OSError, asyncio.IncompleteReadError) as exc:
            vote.status = f"error:{type(exc).__name__}"
        else:
            self.http_codes[status] += 1
            if status == 200:
                vote.status = "accepted"
            else:
                match = ERROR_CODE.search(answer)
                vote.status = f"refused:{status}:{match.group(1).decode() if match else ''}"
        finally:
            vote.answered = time.monotonic()
            self.in_flight -= 1

    def socket_vote(self, vote: Vote) -> None:
        client = self.listener(vote.voter)
        vote.sent = time.monotonic()
        if client is None or not client.send_text(json.dumps({"type": "vote", "proposal": vote.proposal})):
            vote.status, vote.answered = "error:closed", vote.sent
            return
        if self.profile.relay:
            self.pending_socket[client.ident] = vote
        else:  # the floor does not answer votes: sent is counted
            vote.status, vote.answered = "accepted", vote.sent

    def listener(self, ident: int) -> WsClient | None:
        return self.by_ident.get(ident)

    def next_socket_voter(self, rotation: deque) -> int | None:
        """The next listener, in turn, that is connected and has no vote waiting for its answer."""
        for _ in range(len(rotation)):
            ident = rotation[0]
            rotation.rotate(-1)
            client = self.by_ident.get(ident)
            if client is not None and client.open and ident not in self.pending_socket:
                return ident
        return None

    async def run_steps(self) -> list[Step]:
        steps: list[Step] = []
        proposals = self.manifest["proposals"]
        # A share of the votes goes over the listeners' own sockets, as the page
        # sends them; once every listener has voted, a listener votes again for
        # another proposal (a move: accepted, but the total stays).
        self.by_ident = {c.ident: c for c in self.clients}
        rotation = deque(c.ident for c in self.clients)
        holds: dict[int, int] = {}  # listener -> the proposal it last voted for
        share = self.args.socket_share
        number, next_voter, tasks = 0, 0, set()
        for rate in self.args.rates:
            step = Step(rate=rate)
            steps.append(step)
            count = int(rate * self.args.step)
            if next_voter + count > len(self.manifest.get("voter_tokens") or range(10**9)):
                step.overloaded = "ran out of prepared voters"
                break
            self.meter.begin()
            step.started = time.monotonic()
            for i in range(count):
                delay = step.started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                proposal = proposals[number % len(proposals)]
                ident = (
                    self.next_socket_voter(rotation)
                    if math.floor((number + 1) * share) > math.floor(number * share)
                    else None
                )
                if ident is not None:
                    move = ident in holds
                    if move:
                        proposal = proposals[(proposals.index(holds[ident]) + 1) % len(proposals)]
                    holds[ident] = proposal
                    vote = Vote(number, proposal, "socket", ident, move=move)
                    self.socket_vote(vote)
                else:
                    vote = Vote(number, proposal, "http", next_voter)
                    next_voter += 1
                    task = asyncio.create_task(self.http_vote(vote))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                step.votes.append(vote)
                number += 1
            step.ended = time.monotonic()
            await asyncio.sleep(0.5)  # let the step's last broadcasts land before reading CPU
            step.usage = self.meter.end()
            backlog = self.in_flight
            answered = [v for v in step.votes if v.status != "pending"]
            if backlog > rate:
                step.overloaded = f"{backlog} requests still waiting at the end of the step"
            elif len(answered) < 0.8 * len(step.votes):
                step.overloaded = "fewer than 80% of the votes answered"
            if step.overloaded:
                break
        deadline = time.monotonic() + self.args.drain
        while (tasks or self.pending_socket) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for vote in self.pending_socket.values():
            vote.status = "error:no answer"
        # The last tallies: until none has come for 3 s (a busy server is still sending).
        drained_at = time.monotonic()
        while time.monotonic() - max(self.last_tally_at, drained_at) < 3.0:
            if time.monotonic() > drained_at + self.args.drain:
                break
            await asyncio.sleep(0.2)
        return steps

    # Generation and probes ---------------------------------------------------------------------

    async def keep_generating(self) -> None:
        """Post a passage with continue_with_ai whenever no generation is under way."""
        if not self.profile.relay or self.args.no_generation:
            return
        writers = list(self.manifest["writer_tokens"])
        pool = self.pools[self.profile.ports[0]]
        path = f"/api/novels/{self.manifest['novel']}/turns/"
        while not self.stop_probes.is_set():
            self.generation_done.clear()
            token = writers.pop(0)
            writers.append(token)
            body = json.dumps({"text": PASSAGE, "continue_with_ai": True}).encode()
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            try:
                status, _, _ = await pool.request("POST", path, headers=headers, body=body)
            except (OSError, asyncio.IncompleteReadError):
                status = 0
            self.messages[f"passage answered {status}"] += 1
            try:
                await asyncio.wait_for(self.generation_done.wait(), 30 if status == 201 else 2)
            except TimeoutError:
                pass
            try:  # a pause between generations, as between turns of a real novel
                await asyncio.wait_for(self.stop_probes.wait(), self.args.generation_gap)
            except TimeoutError:
                pass

    async def probe(self, name: str, per_second: float) -> None:
        """Use up the throttle's allowance (requests one after another until the first 429),
        then keep asking at `per_second` while the votes run, and count the refusals."""
        if not self.profile.relay:
            return
        headers = {"Authorization": f"Token {self.manifest['probe_token']}"} if name == "one user" else {}
        path = f"/api/novels/{self.manifest['novel']}/round/"
        i = 0

        async def ask() -> int:
            nonlocal i
            port = self.profile.ports[i % len(self.profile.ports)]  # every process: the count is shared
            i += 1
            try:
                status, _, _ = await self.pools[port].request("GET", path, headers=headers)
            except (OSError, asyncio.IncompleteReadError):
                status = 0
            return status

        try:
            for n in range(1, PROBE_BURST_MAX + 1):
                if await ask() == 429:
                    self.probe_burst[name] = n - 1
                    break
        finally:
            self.probes_ready[name].set()
        while not self.stop_probes.is_set():
            self.probe_codes[name][await ask()] += 1
            await asyncio.sleep(1 / per_second)

    async def watch_lag(self) -> None:
        """How late this process's own event loop wakes up: if the harness itself falls behind,
        every latency it measures is too high by that much."""
        while not self.stop_probes.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.lags.append((now, now - before - 0.01))

    # The run ---------------------------------------------------------------------------------

    async def run(self, meter: CpuMeter) -> dict:
        self.meter = meter
        connect_s = await self.connect_all()
        print(f"  {len(self.clients)} clients held after {connect_s:.1f} s")
        side = [
            asyncio.create_task(self.watch_lag()),
            asyncio.create_task(self.keep_generating()),
            asyncio.create_task(self.probe("anonymous", self.args.probe_rate)),
            asyncio.create_task(self.probe("one user", self.args.probe_rate * 3)),
        ]
        if self.profile.relay:  # the probes use up their allowance before the votes start
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self.probes_ready.values())), 120)
        started = time.monotonic()
        steps = await self.run_steps()
        self.stop_probes.set()
        await asyncio.wait(side, timeout=35)
        self.open_at_end = {c.ident for c in self.clients if c.open}
        self.lost_clients = len(self.clients) - len(self.open_at_end)
        held_s = time.monotonic() - started
        for client in self.clients:
            client.close()
        for pool in self.pools.values():
            pool.close()
        await asyncio.sleep(1.2)
        return {"connect_s": connect_s, "held_s": held_s, "steps": steps}

    # Latency --------------------------------------------------------------------------------------

    def broadcast_latencies(self, steps: list[Step], base: int) -> dict[int, float]:
        """Vote number -> seconds until every connected client saw a total counting it."""
        import numpy as np

        accepted = sorted(
            (v for s in steps for v in s.votes if v.status == "accepted" and not v.move), key=lambda v: v.sent
        )
        if not accepted:
            return {}
        needed = base + np.arange(1, len(accepted) + 1)
        all_seen = np.zeros(len(accepted))
        for client in self.clients:
            if client.ident not in self.open_at_end:
                continue
            seen = self.seen[client.ident]
            if not seen.totals:
                all_seen[:] = np.inf
                break
            totals, times = np.array(seen.totals), np.array(seen.times + [np.inf])
            index = np.searchsorted(totals, needed, side="left")
            all_seen = np.maximum(all_seen, times[index])
        sent = np.array([v.sent for v in accepted])
        return {v.number: float(t) for v, t in zip(accepted, all_seen - sent, strict=True)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ms(value: float) -> str:
    if value != value:
        return "—"
    if math.isinf(value):
        return "never"
    return f"{value * 1000:.0f}"


# --- one profile ------------------------------------------------------------------------------------


def meter_for(profile: Profile, supervisor) -> CpuMeter:
    meter = CpuMeter()
    for child in supervisor.children:
        meter.watch(child.name, [child.pid])
    if profile.database_url:
        meter.watch_postgres("postgres*")
        meter.watch("redis-server*", pids_named("redis-server"))
    meter.watch("harness", [os.getpid()])
    return meter


def run_profile(profile: Profile, args: argparse.Namespace, training: str = "none") -> dict:
    from run_scaled import Supervisor

    args = argparse.Namespace(**{**vars(args), "clients": profile.clients or args.clients})
    if training != "none":
        profile.label = f"{profile.label or profile.name} + makedata ({TRAINING_MODES[training]})"
    print(f"== {profile.label or profile.name} ({args.clients} clients) ==")
    reset_state(profile)
    manifest: dict = {"proposals": [1, 2, 3, 4], "base_total": 0}
    work = VAR / f"{profile.name}-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if profile.relay:
        voters = sum(int(rate * args.step) for rate in args.rates) + 10
        in_profile(
            profile,
            "_setup",
            str(work / "manifest.json"),
            str(args.clients),
            str(voters),
            str(args.writers),
            *(["sources"] if training != "none" else []),
        )
        manifest = json.loads((work / "manifest.json").read_text())
        print(f"  setup: {manifest['setup_seconds']} s (migrate, train a small model, {voters} voters)")
    supervisor = Supervisor(profile.children(), env=profile.env, quiet=not args.verbose)
    supervisor.start_all()
    trainer = None
    try:
        if not supervisor.wait_for_ports(HOST, timeout_s=60):
            raise RuntimeError(f"{profile.name}: the server did not come up")
        if profile.relay:
            time.sleep(1.0)  # the worker's first pass
        trainer = start_training(profile, training, work) if training != "none" else None
        meter = meter_for(profile, supervisor)
        harness = Harness(profile, manifest, args)
        outcome = uvloop.run(harness.run(meter))
        deaths = [c.name for c in supervisor.children if c.process.poll() is not None]
    finally:
        if trainer is not None:
            trainer.terminate()  # makedata's SIGTERM: the run is marked interrupted, its progress stays
            trainer.wait(timeout=60)
        supervisor.stop_all()
    trained = {}
    if training != "none":
        in_profile(profile, "_training", str(work / "training.json"))
        trained = json.loads((work / "training.json").read_text())
    steps = outcome["steps"]
    accepted = [[0, 0]]
    check = {}
    if profile.relay:
        accepted = [
            [
                manifest["listener_user_ids"][v.voter] if v.via == "socket" else manifest["voter_user_ids"][v.voter],
                v.proposal,
            ]
            for s in steps
            for v in s.votes
            if v.status == "accepted"
        ]
        (work / "accepted.json").write_text(json.dumps(accepted))
        in_profile(
            profile, "_verify", str(work / "manifest.json"), str(work / "accepted.json"), str(work / "check.json")
        )
        check = json.loads((work / "check.json").read_text())
    latencies = harness.broadcast_latencies(steps, manifest["base_total"])
    if args.votes_out:
        path = Path(args.votes_out).with_suffix(f".{profile.label or profile.name}.csv")
        write_votes(path, steps, latencies, harness.timeline)
    final_seen = Counter(harness.seen[c.ident].top for c in harness.clients)
    return {
        "profile": profile.label or profile.name,
        "clients": args.clients,
        "outcome": outcome,
        "harness": harness,
        "latencies": latencies,
        "check": check,
        "accepted": len(accepted)
        if profile.relay
        else sum(1 for s in steps for v in s.votes if v.status == "accepted"),
        "moves": sum(1 for s in steps for v in s.votes if v.status == "accepted" and v.move),
        "socket_votes": sum(1 for s in steps for v in s.votes if v.status == "accepted" and v.via == "socket"),
        "final_seen": final_seen,
        "deaths": deaths,
        "training": training,
        "trained": trained,
    }


def first_text_delays(timeline: list[tuple[float, str]]) -> tuple[list[float], list[float]]:
    """Per job, from its generation.started to its first generation.chunk (the keyword, which the engine sends
    before it reads the story, or the first sentence when there is none) and to the next one, in ms."""
    keyword: list[float] = []
    sentence: list[float] = []
    started = None
    chunks = 0
    for when, kind in timeline:
        if kind == "generation.started":
            started, chunks = when, 0
        elif kind == "generation.chunk" and started is not None:
            chunks += 1
            (keyword if chunks == 1 else sentence).append(1000 * (when - started))
            if chunks == 2:
                started = None
    return keyword, sentence


def write_votes(path: Path, steps: list[Step], latencies: dict[int, float], timeline: list[tuple[float, str]]) -> None:
    """One row per vote (seconds from the first vote), and what else the first client received
    meanwhile: to see when the slow ones happened, and next to what."""
    first = min((v.sent for s in steps for v in s.votes), default=0.0)
    lines = [f"# sent_s counts from monotonic {first:.3f}", "number,via,status,sent_s,answered_ms,tally_ms"]
    lines += [f"-,{kind},event,{when - first:.3f},," for when, kind in timeline if when >= first]
    for step in steps:
        for v in step.votes:
            answered = f"{(v.answered - v.sent) * 1000:.1f}" if v.answered is not None else ""
            tally = latencies.get(v.number, math.inf)
            shown = f"{tally * 1000:.1f}" if math.isfinite(tally) else ""
            lines.append(f"{v.number},{v.via},{v.status},{v.sent - first:.3f},{answered},{shown}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


# --- the report ----------------------------------------------------------------------------------------


def step_rows(result: dict) -> list[dict]:
    rows = []
    for step in result["outcome"]["steps"]:
        if not step.votes:
            continue
        accepted = [v for v in step.votes if v.status == "accepted"]
        answered_http = [v.answered - v.sent for v in step.votes if v.via == "http" and v.answered is not None]
        bcast = [result["latencies"][v.number] for v in accepted if v.number in result["latencies"]]
        span = max(step.ended - step.started, 1e-6)
        lags = [lag for when, lag in result["harness"].lags if step.started <= when <= step.ended + 1.0]
        rows.append(
            {
                "rate": step.rate,
                "offered": len(step.votes) / span,
                "accepted": len(accepted) / span,
                "refused": Counter(v.status for v in step.votes if v.status != "accepted"),
                "http_p50": percentile(answered_http, 50),
                "http_p99": percentile(answered_http, 99),
                "p50": percentile(bcast, 50),
                "p99": percentile(bcast, 99),
                "usage": step.usage,
                "harness_lag_p99": percentile(lags, 99),
                "harness_lag_max": max(lags, default=float("nan")),
                "overloaded": step.overloaded,
            }
        )
    return rows


def format_report(results: list[dict], args: argparse.Namespace, started: str, load_before) -> str:
    out = []
    w = out.append
    w(f"Relay Novel load benchmark, {started}")
    w(
        f"machine: {os.cpu_count()} cores; load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"clients: {args.clients}; rates: {','.join(str(r) for r in args.rates)} votes/s, {args.step:.0f} s each"
    )
    if args.no_generation:
        w("generation: none while voting")
    else:
        gap = f"{args.generation_gap:g} s after each" if args.generation_gap else "back to back"
        w(f"generation: a passage with continue_with_ai, {gap} (one AI turn streaming at a time)")
    w(
        "latency = from sending a new vote until every connected client has a tally counting it (ms); "
        f"{args.socket_share:.0%} of the votes go over the listeners' sockets, the rest over HTTP"
    )
    w("")
    floor = next((r for r in results if r["profile"] == "floor"), None)
    floor_rows = {row["rate"]: row for row in step_rows(floor)} if floor else {}
    for result in results:
        rows = step_rows(result)
        harness, outcome, check = result["harness"], result["outcome"], result["check"]
        w(f"## {result['profile']}")
        w(
            f"clients held: {len(harness.clients)}/{result['clients']} (connect {outcome['connect_s']:.1f} s), "
            f"closed during the run: {harness.lost_clients}; server processes that died: {result['deaths'] or 'none'}"
        )
        if result.get("training", "none") != "none":
            progress = result["trained"].get("progress", {})
            w(
                f"training beside the votes: makedata --initial --size default ({TRAINING_MODES[result['training']]}), "
                f"{progress.get('chars_per_s', 0):,} characters/s, step {progress.get('step', 0)} when stopped"
            )
        w("rate  offered  accepted  http p50/p99   tally p50/p99   x floor p50/p99  refused/errors")
        for row in rows:
            base = floor_rows.get(row["rate"])
            ratio = (
                f"{row['p50'] / base['p50']:.1f} / {row['p99'] / base['p99']:.1f}"
                if base and result["profile"] != "floor" and result["clients"] == floor["clients"] and base["p99"] > 0
                else "—"
            )
            refused = ", ".join(f"{k} {n}" for k, n in row["refused"].items()) or "0"
            w(
                f"{row['rate']:>4.0f}  {row['offered']:>7.1f}  {row['accepted']:>8.1f}  "
                f"{ms(row['http_p50']):>5} / {ms(row['http_p99']):<6} {ms(row['p50']):>6} / {ms(row['p99']):<7} "
                f"{ratio:>15}  {refused}{'  OVERLOADED: ' + row['overloaded'] if row['overloaded'] else ''}"
            )
        w("CPU (% of one core) and memory (RSS / peak MB) per step; how late the harness's own loop woke (p99/max):")
        for row in rows:
            parts = [f"{name} {u.cpu_percent:.0f}% {u.rss_mb:.0f}/{u.peak_mb:.0f}" for name, u in row["usage"].items()]
            lag = f"harness lag {ms(row['harness_lag_p99'])}/{ms(row['harness_lag_max'])} ms"
            w(f"  {row['rate']:>4.0f}/s: " + "; ".join(parts) + f"; {lag}")
        if check:
            w(
                f"votes: {result['accepted']} accepted by the harness ({result['moves']} of them moves, "
                f"{result['socket_votes']} over a socket); database: {check['stored']} rows stored for "
                f"{check['expected']} expected (incl. {len(KEYWORDS)} proposers), lost {check['lost']}, "
                f"unexpected {check['unexpected']}, counted twice {check['counted_twice']}; "
                f"tally = accepted: {check['tally_matches_accepted']}, tally = stored rows: {check['tally_matches_stored']} "
                f"(unexpected = answered too late for the harness, e.g. after its {args.request_timeout:.0f} s timeout)"
            )
            stale = {t: n for t, n in result["final_seen"].items() if t != check["tally_total"]}
            w(
                f"last tally each client holds = database total {check['tally_total']}: "
                f"{'all' if not stale else f'no: {stale}'}"
            )
            w(f"generation jobs: {check['jobs']}; messages received: {dict(harness.messages)}")
            first, second = first_text_delays(harness.timeline)
            if first:
                w(
                    f"text after generation.started, as the first client saw it, ms p50/p99 of {len(first)} jobs: "
                    f"the first chunk {percentile(first, 50):.0f}/{percentile(first, 99):.0f}, the second "
                    f"{percentile(second, 50):.0f}/{percentile(second, 99):.0f} (these jobs continue a passage "
                    "without a keyword: the first chunk is the AI's first sentence, the best of four)"
                )
            limits = {"anonymous": ("THROTTLE_ANON", "120/min"), "one user": ("THROTTLE_USER", "600/min")}
            for name, codes in harness.probe_codes.items():
                variable, default = limits[name]
                burst = harness.probe_burst[name]
                before = f"{burst} answered before the first 429" if burst is not None else "never refused"
                w(
                    f"throttle probe ({name}, limit {os.environ.get(variable, default)}): {before}; then during "
                    f"the votes {sum(codes.values())} requests, {codes.get(429, 0)} refused (429)"
                )
            w(f"HTTP status of votes: {dict(harness.http_codes)}")
        w("")
    return "\n".join(out)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Relay Novel load benchmark (see the module docstring).")
    parser.add_argument("--profiles", default="floor,embedded,scaled,scaled@10")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rates", default="5,10,25,50,100,200,300,400", help="votes per second, one step each")
    parser.add_argument("--step", type=float, default=8.0, help="seconds per step")
    parser.add_argument("--writers", type=int, default=20, help="users who post passages for the AI to continue")
    parser.add_argument(
        "--socket-share", type=float, default=0.5, help="share of the votes sent over the listeners' sockets"
    )
    parser.add_argument("--no-generation", action="store_true", help="no generation while voting (to compare)")
    parser.add_argument(
        "--generation-gap",
        type=float,
        default=2.0,
        help="seconds between the end of one generation and the next passage (0: back to back)",
    )
    parser.add_argument("--probe-rate", type=float, default=4.0, help="anonymous probe requests per second")
    parser.add_argument("--http-connections", type=int, default=16, help="keep-alive connections per daphne")
    parser.add_argument("--connect-concurrency", type=int, default=20)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for answers after the last step")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--votes-out", help="also write each vote's timings to FILE.<profile>.csv")
    parser.add_argument("--verbose", action="store_true", help="show the servers' output")
    parser.add_argument(
        "--training",
        default="none",
        help="comma-separated: none, nice (makedata at nice 10 beside the votes), plain (makedata at nice 0); "
        "each profile runs once per mode",
    )
    args = parser.parse_args(argv)
    args.training = [t.strip() for t in args.training.split(",") if t.strip()]
    unknown = set(args.training) - {"none", *TRAINING_MODES}
    if unknown:
        parser.error(f"--training: unknown mode(s) {', '.join(sorted(unknown))}")
    args.rates = [float(r) for r in args.rates.split(",")]
    args.profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_setup":
        cmd_setup(Path(argv[1]), int(argv[2]), int(argv[3]), int(argv[4]), sources=argv[5:6] == ["sources"])
        return 0
    if argv and argv[0] == "_training":
        cmd_training(Path(argv[1]))
        return 0
    if argv and argv[0] == "_verify":
        cmd_verify(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return 0
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if any(p.startswith("scaled") for p in args.profiles):
        from run_scaled import check_both

        problems = check_both(SCALED_DATABASE_URL, SCALED_REDIS_URL)
        if problems:
            print("\n".join(problems) + "\nleaving out the scaled profile")
            args.profiles = [p for p in args.profiles if not p.startswith("scaled")]
    started = time.strftime("%Y-%m-%d %H:%M")
    load_before = load_average()
    results = [run_profile(make_profile(name), args, mode) for name in args.profiles for mode in args.training]
    report = format_report(results, args, started, load_before)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
