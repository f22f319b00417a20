"""`make run-scaled` (scripts/run_scaled.py): it names the service that does not answer,
reports and restarts a child that dies, and stops everything on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import run_scaled  # noqa: E402

from tests.waiting import wait_until  # noqa: E402

LAUNCHER = [sys.executable, str(ROOT / "scripts" / "run_scaled.py")]


def launch(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LAUNCHER, *args], cwd=ROOT, env=env or dict(os.environ), capture_output=True, text=True, timeout=60, **kwargs
    )


def test_it_names_redis_when_redis_does_not_answer():
    proc = launch(
        "--check", "--database-url", "postgres://postgres@127.0.0.1:1/relay", "--redis-url", "redis://127.0.0.1:1/0"
    )
    assert proc.returncode == 2
    assert "Redis at redis://127.0.0.1:1/0 does not answer" in proc.stdout + proc.stderr
    assert "PostgreSQL at postgres://postgres@127.0.0.1:1/relay does not answer" in proc.stdout + proc.stderr
    assert "not starting" in proc.stderr


def test_it_refuses_a_database_url_that_is_not_postgres():
    proc = launch("--check", "--database-url", "sqlite:///var/x.sqlite3", "--redis-url", "redis://127.0.0.1:1/0")
    assert proc.returncode == 2
    assert "must be a postgres:// URL" in proc.stderr


def test_it_hides_the_password_in_what_it_prints():
    assert run_scaled.redact("postgres://relay:s3cret@db:5432/relay") == "postgres://relay:***@db:5432/relay"


def test_it_binds_n_ports_and_builds_a_daphne_for_each_and_m_workers():
    listeners = run_scaled.bind_ports("127.0.0.1", 0, 3)
    try:
        children = run_scaled.build_children(listeners=listeners, workers=2)
        web = [c for c in children if c.port]
        assert [c.port for c in web] == [sock.getsockname()[1] for sock in listeners]
        assert all(c.argv[1:3] == ["--fd", str(c.listener.fileno())] for c in web)
        assert not any("--proxy-headers" in c.argv for c in web)  # relay.asgi trusts TRUSTED_PROXIES alone
        workers = [c for c in children if not c.port]
        assert [c.argv[-3:] for c in workers] == [
            ["relayworker", "--name", "worker-1"],
            ["relayworker", "--name", "worker-2"],
        ]
    finally:
        for sock in listeners:
            sock.close()


def test_a_port_in_use_is_refused_before_anything_starts():
    taken = run_scaled.listen("127.0.0.1")
    try:
        with pytest.raises(OSError, match=f"port {taken.getsockname()[1]}"):
            run_scaled.bind_ports("127.0.0.1", taken.getsockname()[1], 2)
    finally:
        taken.close()


def test_a_child_that_dies_is_reported_and_started_again(capsys):
    child = run_scaled.Child(name="flaky", argv=[sys.executable, "-c", "import sys; sys.exit(3)"])
    supervisor = run_scaled.Supervisor([child], env=dict(os.environ), quiet=True)
    supervisor.start_all()
    first = child.pid
    wait_until(lambda: supervisor.check_once() or child.started >= 2, what="the child started again")
    supervisor.stop_all()
    out = capsys.readouterr()
    assert child.started == 2 and child.pid != first
    assert f"flaky (pid {first}) exited with code 3" in out.err
    assert "restarted flaky" in out.out


def test_a_child_that_keeps_dying_stops_the_launcher_instead_of_looping(monkeypatch):
    monkeypatch.setattr(run_scaled, "CRASH_LIMIT", 2)
    child = run_scaled.Child(name="broken", argv=[sys.executable, "-c", "raise SystemExit(1)"])
    supervisor = run_scaled.Supervisor([child], env=dict(os.environ), quiet=True)
    supervisor.start_all()
    assert supervisor.run(duration_s=20) == 1
    assert "giving up" in supervisor.failed


def log_in_with_forged_address(base: str, address: str) -> int:
    """A wrong password on the log-in page, sent with a forged X-Forwarded-For (and the form's CSRF token)."""
    import http.cookiejar
    import re
    import urllib.error
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    headers = {"X-Forwarded-For": address, "Referer": f"{base}/accounts/login/"}
    page = opener.open(urllib.request.Request(f"{base}/accounts/login/", headers=headers), timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "nobody", "password": "wrong"}).encode()
    try:
        return opener.open(
            urllib.request.Request(f"{base}/accounts/login/", data=form, headers=headers), timeout=10
        ).status
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.scaled
def test_it_starts_web_and_worker_and_ctrl_c_stops_them_all(tmp_path):
    suffix = os.environ.get("TEST_DB_SUFFIX", "")
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    database_url = f"{base}/relay_launcher{suffix}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env.update(VAR_DIR=str(tmp_path), MODEL_DIR=str(tmp_path / "models"))
    env.update(THROTTLE_LOGIN="3/min")
    proc = subprocess.Popen(
        [*LAUNCHER, "--web", "1", "--workers", "1", "--base-port", "0", "--no-demo", "--duration", "120",
         "--database-url", database_url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "ready:" in line or proc.poll() is not None:
                break
        ready = [line for line in lines if "ready:" in line]
        assert ready, "".join(lines)
        base = ready[0].split("ready: ", 1)[1].split("/ ", 1)[0].split(",")[0].rstrip("/")
        with urllib.request.urlopen(f"{base}/api/novels/", timeout=10) as answer:
            assert answer.status == 200
        # A client naming a new address each time is still one client: nothing in front is trusted.
        codes = [log_in_with_forged_address(base, f"10.0.9.{i}") for i in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
        pids = [int(line.split("(pid ")[1].split(")")[0]) for line in lines if "started" in line and "(pid " in line]
        assert len(pids) == 2
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "stopped web-" in rest and "stopped worker-1" in rest
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], dbname="postgres", autocommit=True) as conn:
            conn.execute(f'drop database if exists "relay_launcher{suffix}" with (force)')
