"""Start the scaled profile on this machine and supervise it (`make run-scaled`).

What runs: N daphne processes on their own ports (8001, 8002, ...), M
`manage.py relayworker` processes (generation jobs and the round timer),
against PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).

Before anything starts it checks that PostgreSQL and Redis answer and says
which one does not, creates the database when the server has none of that
name, migrates, collects static files and prepares the demo (admin, novel,
model; skipped with --no-demo).

Supervision: Ctrl-C (or SIGTERM) stops every child. A child that dies is
reported with its exit status and started again (with a back-off); one that
keeps dying quickly stops the whole launcher instead of looping forever.

Each daphne serves a socket the launcher bound itself and hands over (daphne's
--fd): the port is taken from the first moment, a port in use is refused before
anything starts, and a daphne started again serves the same socket (connections
made meanwhile wait for it instead of being refused).

Settings come from flags or the environment (flags win):
  WEB_PROCESSES=2  BASE_PORT=8001 (0: any free ports)  WORKERS=1  BIND=127.0.0.1
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/relay  REDIS_URL=redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_services import check_postgres, check_redis  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/relay"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# A child that dies this many times within the window is not started again.
CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
STOP_GRACE_S = 10.0

_print_lock = threading.Lock()


def say(line: str, *, name: str = "launcher", stream=None) -> None:
    with _print_lock:
        print(f"[{name}] {line}", file=stream or sys.stdout, flush=True)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


# --- services -------------------------------------------------------------


def database_name(url: str) -> str:
    import psycopg.conninfo

    return psycopg.conninfo.conninfo_to_dict(url).get("dbname") or ""


def ensure_database(url: str) -> str | None:
    """Create the database named in the URL if the server lacks it.

    Returns a problem (a sentence) or None. The server is reached through its
    maintenance database `postgres`, so a missing database and a server that
    does not answer are told apart.
    """
    import psycopg
    from psycopg import sql

    name = database_name(url)
    if not name:
        return f"DATABASE_URL {redact(url)} names no database"
    try:
        with psycopg.connect(url, dbname="postgres", connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
                say(f"created the database {name!r}")
    except Exception as exc:  # every failure here means PostgreSQL is not usable; say why
        return f"PostgreSQL at {redact(url)} does not answer: {str(exc).strip().splitlines()[0]}"
    return None


def check_both(database_url: str, redis_url: str) -> list[str]:
    """Problems with PostgreSQL and Redis, each naming the one that does not answer."""
    problems: list[str] = []
    if not database_url.startswith(("postgres://", "postgresql://")):
        problems.append(f"DATABASE_URL must be a postgres:// URL for the scaled profile, not {redact(database_url)!r}")
    else:
        problem = ensure_database(database_url) or check_postgres(database_url)
        if problem:
            problems.append(problem.replace(database_url, redact(database_url)))
    if not redis_url:
        problems.append("REDIS_URL is not set")
    else:
        problem = check_redis(redis_url)
        if problem:
            problems.append(problem)
    return problems


# --- children -------------------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the launcher is killed
    # outright (SIGKILL), its children get SIGTERM instead of living on.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def listen(host: str, port: int = 0) -> socket.socket:
    """A listening TCP socket for a daphne child, which serves it through `--fd`.

    Bound here, the port is the server's from this moment on: choosing a free port
    and binding it later in the child leaves a gap in which any other socket on
    the machine, an outgoing connection's included, can take it. Port 0: any free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Child:
    """One supervised process; a web child serves `listener`, whose descriptor its argv names."""

    name: str
    argv: list[str]
    port: int | None = None
    listener: socket.socket | None = None
    restart: bool = True
    process: subprocess.Popen | None = None
    deaths: deque = field(default_factory=deque)
    restart_at: float | None = None
    started: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def daphne_child(
    name: str,
    listener: socket.socket,
    *,
    app: str = "relay.asgi:application",
    options: Sequence[str] = (),
    python: str = sys.executable,
) -> Child:
    """A daphne process serving the socket `listener` (see listen)."""
    daphne = str(Path(python).with_name("daphne"))
    argv = [daphne, "--fd", str(listener.fileno()), *options, app]
    return Child(name=name, argv=argv, port=listener.getsockname()[1], listener=listener)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Supervisor:
    """Start children, forward their output with a name, restart the dead, stop all on request."""

    def __init__(self, children: Sequence[Child], *, env: dict[str, str], cwd: Path = ROOT, quiet: bool = False):
        self.children = list(children)
        self.env = env
        self.cwd = cwd
        self.quiet = quiet
        self.stopping = threading.Event()
        self.failed: str | None = None
        self.on_event: Callable[[str, Child], None] | None = None

    # Starting ---------------------------------------------------------------

    def spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            pass_fds=(child.listener.fileno(),) if child.listener else (),
        )
        child.started += 1
        child.restart_at = None
        threading.Thread(target=self._forward, args=(child, child.process), daemon=True).start()
        verb = "started" if child.started == 1 else "restarted"
        say(f"{verb} {child.name} (pid {child.pid})")
        if self.on_event:
            self.on_event("started", child)

    def _forward(self, child: Child, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            if not self.quiet:
                say(raw.decode("utf-8", "replace").rstrip(), name=child.name)

    def start_all(self) -> None:
        for child in self.children:
            self.spawn(child)

    def wait_for_ports(self, host: str, *, timeout_s: float = 60.0) -> bool:
        """Wait until every web child accepts connections; False if one died or time ran out."""
        deadline = time.monotonic() + timeout_s
        pending = [c for c in self.children if c.port]
        while pending and time.monotonic() < deadline and not self.stopping.is_set():
            for child in list(pending):
                if child.process and child.process.poll() is not None:
                    say(f"{child.name} {describe_exit(child.process.returncode)} before it answered", stream=sys.stderr)
                    return False
                if port_answers(host, child.port):
                    pending.remove(child)
            time.sleep(0.2)
        return not pending

    # Watching ---------------------------------------------------------------

    def check_once(self) -> None:
        """Report children that died and start them again when their back-off is over."""
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is None or self.stopping.is_set():
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.spawn(child)
                continue
            code = process.poll()
            if code is None:
                continue
            say(f"{child.name} (pid {process.pid}) {describe_exit(code)}", stream=sys.stderr)
            if self.on_event:
                self.on_event("died", child)
            child.deaths.append(now)
            while child.deaths and now - child.deaths[0] > CRASH_WINDOW_S:
                child.deaths.popleft()
            if not child.restart:
                continue
            if len(child.deaths) >= CRASH_LIMIT:
                self.failed = f"{child.name} died {len(child.deaths)} times within {CRASH_WINDOW_S:.0f} s; giving up"
                say(self.failed, stream=sys.stderr)
                self.stopping.set()
                return
            backoff = min(2 ** (len(child.deaths) - 1), 10)
            child.restart_at = now + backoff
            say(f"starting {child.name} again in {backoff} s")

    def run(self, *, duration_s: float | None = None) -> int:
        """Watch until stopped (signal, duration or a crash loop); then stop every child."""
        until = time.monotonic() + duration_s if duration_s else None
        while not self.stopping.is_set():
            self.check_once()
            if until and time.monotonic() >= until:
                say(f"ran for {duration_s:.0f} s as asked; stopping")
                break
            self.stopping.wait(0.5)
        self.stop_all()
        return 1 if self.failed else 0

    # Stopping ---------------------------------------------------------------

    def stop_all(self) -> None:
        self.stopping.set()
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            try:
                child.process.terminate()
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop within {STOP_GRACE_S:.0f} s; killing it", stream=sys.stderr)
                child.process.kill()
                child.process.wait()
        for child in running:
            say(f"stopped {child.name} ({describe_exit(child.process.returncode)})")
        for child in self.children:
            if child.listener is not None:
                child.listener.close()


def bind_ports(bind: str, base_port: int, web: int) -> list[socket.socket]:
    """One listening socket per web process: BASE_PORT, BASE_PORT+1, ... (0: any free ports).

    OSError names the port already in use; nothing stays bound then."""
    listeners: list[socket.socket] = []
    try:
        for offset in range(web):
            port = base_port + offset if base_port else 0
            try:
                listeners.append(listen(bind, port))
            except OSError as exc:
                raise OSError(exc.errno, f"port {port} on {bind}: {exc.strerror}") from None
    except OSError:
        for sock in listeners:
            sock.close()
        raise
    return listeners


def build_children(*, listeners: Sequence[socket.socket], workers: int, python: str = sys.executable) -> list[Child]:
    """The processes of the scaled profile: a daphne per listening socket, then the workers.

    Proxy headers (X-Forwarded-For) are not daphne's to trust: relay.asgi trusts
    them from TRUSTED_PROXIES alone, so a client that forges them is still
    counted by its own address."""
    children = [daphne_child(f"web-{sock.getsockname()[1]}", sock, python=python) for sock in listeners]
    children += [
        Child(name=f"worker-{i}", argv=[python, "manage.py", "relayworker", "--name", f"worker-{i}"])
        for i in range(1, workers + 1)
    ]
    return children


def child_env(*, database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GENERATION_IN_PROCESS="0",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="relay.settings",
    )
    return env


def manage(args: list[str], *, env: dict[str, str]) -> int:
    say("manage.py " + " ".join(args))
    return subprocess.call([sys.executable, "manage.py", *args], cwd=ROOT, env=env)


# --- command line -----------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web", type=int, default=int(env.get("WEB_PROCESSES", 2)), help="daphne processes")
    parser.add_argument(
        "--base-port", type=int, default=int(env.get("BASE_PORT", 8001)), help="first daphne port (0: any free ports)"
    )
    parser.add_argument("--workers", type=int, default=int(env.get("WORKERS", 1)), help="relayworker processes")
    parser.add_argument("--bind", default=env.get("BIND", "127.0.0.1"), help="address daphne listens on")
    parser.add_argument("--database-url", default=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=env.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--no-migrate", action="store_true", help="skip migrate and collectstatic")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo admin, novel and model")
    parser.add_argument("--check", action="store_true", help="only check PostgreSQL and Redis, then exit")
    parser.add_argument("--duration", type=float, default=None, help="stop by itself after this many seconds")
    args = parser.parse_args(argv)
    if args.web < 1 or args.workers < 1:
        parser.error("--web and --workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    say(f"PostgreSQL: {redact(args.database_url)}   Redis: {redact(args.redis_url)}")
    problems = check_both(args.database_url, args.redis_url)
    if problems:
        for problem in problems:
            say(problem, stream=sys.stderr)
        say("not starting: the scaled profile needs both PostgreSQL and Redis (see above)", stream=sys.stderr)
        return 2
    say("PostgreSQL and Redis answer")
    if args.check:
        return 0
    env = child_env(database_url=args.database_url, redis_url=args.redis_url)
    if not args.no_migrate:
        (ROOT / "var").mkdir(exist_ok=True)
        if manage(["migrate", "--noinput", "-v0"], env=env) or manage(["collectstatic", "--noinput", "-v0"], env=env):
            say("migrate/collectstatic failed; not starting", stream=sys.stderr)
            return 1
    if not args.no_demo and manage(["bootstrap_demo"], env=env):
        say("bootstrap_demo failed; not starting", stream=sys.stderr)
        return 1

    try:
        listeners = bind_ports(args.bind, args.base_port, args.web)
    except OSError as exc:
        say(f"{exc.strerror}; choose another --base-port (0: any free ports)", stream=sys.stderr)
        return 1

    supervisor = Supervisor(build_children(listeners=listeners, workers=args.workers), env=env)

    def request_stop(signum: int, _frame) -> None:
        if not supervisor.stopping.is_set():
            say(f"{signal.Signals(signum).name}: stopping every process")
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    supervisor.start_all()
    if supervisor.wait_for_ports(args.bind):
        urls = ", ".join(f"http://{args.bind}:{c.port}/" for c in supervisor.children if c.port)
        say(f"ready: {urls}  (Ctrl-C stops everything)")
    elif not supervisor.stopping.is_set():
        say("a web process did not come up; stopping", stream=sys.stderr)
        supervisor.stop_all()
        return 1
    return supervisor.run(duration_s=args.duration)


if __name__ == "__main__":
    sys.exit(main())
