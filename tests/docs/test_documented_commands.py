"""Every command that README.md and docs/*.md show is run here, as the documents write it.

Each runner takes the command text from the document and changes only what a
test must: sizes (a tiny model, a short time budget), folders (a scratch one),
ports and addresses (free ones on this machine). Each change names the text it
replaces, so a command edited in the documents fails here until its test
follows; a command added to them fails `test_every_documented_command_has_a_runner`.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SCALED
from tests.docs.commands import ROOT, Command, documented_commands
from tests.engine.conftest import DUCK_STORY, GOOSE_STORY
from tests.serving import listen
from tests.waiting import wait_until

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CORPUS = ROOT.parent / "shared" / "corpus" / "koconovel"

embedded_only = pytest.mark.skipif(SCALED, reason="runs in the embedded profile (the command's own default)")
scaled_only = pytest.mark.skipif(not SCALED, reason="needs PostgreSQL and Redis")


def substituted(text: str, changes: list[tuple[str, str]]) -> str:
    """The command with each (shown, run) change made; a change whose text is not there fails."""
    for shown, run in changes:
        assert shown in text, f"the documented command no longer contains {shown!r}: {text}"
        text = text.replace(shown, run)
    return text


def sh(script: str, *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a script with bash -e; its output; a failure shows the output."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{script}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def scratch_site(tmp_path: Path) -> dict[str, str]:
    """An embedded site of its own: a scratch var/ folder (SQLite, models), no PostgreSQL or Redis."""
    var = tmp_path / "var"
    var.mkdir(exist_ok=True)
    env = {"VAR_DIR": str(var), "DEMO_TRAIN_SECONDS": "2", "ENGINE_DEVICE": "cpu"}
    for name in ("DATABASE_URL", "REDIS_URL", "TEST_DB_SUFFIX", "DJANGO_SETTINGS_MODULE"):
        env[name] = ""
    return env


def without_empty(env: dict[str, str]) -> dict[str, str]:
    """os.environ with env applied; an empty value removes the variable."""
    merged = {**os.environ, **env}
    return {key: value for key, value in merged.items() if value != ""}


def manage(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=without_empty(env), capture_output=True, text=True, timeout=timeout
    )


_first_start: Path | None = None


def bootstrapped_site(tmp_path: Path) -> dict[str, str]:
    """A scratch site after its first start: migrated, demo novel and a demo model trained for 2 s.

    The first start runs once per test session; each test gets a copy of its var/ folder."""
    global _first_start
    if _first_start is None:
        template = Path(tempfile.mkdtemp(prefix="relay-first-start-"))
        env = scratch_site(template)
        for args in (["migrate", "--noinput", "-v0"], ["bootstrap_demo"]):
            result = manage(*args, env=env)
            assert result.returncode == 0, result.stdout + result.stderr
        _first_start = template / "var"
    env = scratch_site(tmp_path)
    shutil.copytree(_first_start, env["VAR_DIR"], dirs_exist_ok=True)
    return env


def free_port() -> int:
    """A port nothing listens on now, below Linux's ephemeral range (32768-60999), for a command that takes a
    port and binds it itself (make run). Something else may still take it before the command binds it:
    serve_on_a_free_port tries again then."""
    for _ in range(200):
        port = random.randrange(20000, 30000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no free port between 20000 and 30000")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


ADDRESS_IN_USE = "Address already in use"


def serve_until_answering(
    script: str,
    *,
    env: dict[str, str],
    urls: list[str] | None = None,
    urls_in_output: Callable[[str], list[str] | None] | None = None,
    timeout_s: float = 300,
    check: Callable[[list[str]], None] | None = None,
) -> str:
    """Start a server command, wait until every url answers 200 (`urls`, or the ones `urls_in_output` finds in
    what it printed), run `check` on them while it serves, stop it with Ctrl-C; its output."""
    log = Path(env["VAR_DIR"]) / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT,
            env=without_empty(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            serving: list[list[str]] = []

            def up() -> bool:
                found = urls if urls is not None else urls_in_output(log.read_text())
                if found and all(answers(url) for url in found):
                    serving.append(found)
                    return True
                return process.poll() is not None

            wait_until(up, timeout_s=timeout_s, what=f"{urls or 'the servers it names'} answering")
            assert process.poll() is None, f"{script} exited with {process.returncode}:\n{log.read_text()}"
            if check is not None:
                check(serving[0])
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    return log.read_text()


# --- the runners ------------------------------------------------------------------------------


def run_make_run(command: Command, tmp_path: Path) -> None:
    """The quickstart: migrate, demo novel and model, serve; the demo novel is on the front page.

    `make run` binds the port it is given itself: on a busy machine another socket may take a free
    port first, and the run is tried again on another."""
    env = scratch_site(tmp_path)
    pages: list[str] = []

    def front_page(urls: list[str]) -> None:
        with urllib.request.urlopen(urls[0], timeout=10) as response:
            pages.append(response.read().decode())

    for _ in range(3):
        port = free_port()
        script = substituted(command.text, [("make run", f"make run PORT={port}")])
        try:
            output = serve_until_answering(script, urls=[f"http://127.0.0.1:{port}/"], env=env, check=front_page)
        except AssertionError:
            if ADDRESS_IN_USE in (Path(env["VAR_DIR"]) / "server.log").read_text():
                continue
            raise
        break
    assert "등대가 보이는 마을" in pages[0], output


def run_make_test(command: Command, tmp_path: Path) -> None:
    """The suite itself: CI's entry point runs exactly this command."""
    assert command.text == "make test"
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def run_make_lint(command: Command, tmp_path: Path) -> None:
    """The format, lint and layer checks pass on this tree, and the layers are checked (import-linter)."""
    result = subprocess.run(["make", "lint"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and "through its one door" in result.stdout, result.stdout
    assert "The house in one order" in result.stdout, result.stdout


def run_cron_line(command: Command, tmp_path: Path) -> None:
    """The cron line, from a scratch install folder with a first start behind it."""
    env = bootstrapped_site(tmp_path)
    install = tmp_path / "srv-relay"
    install.mkdir()
    (install / "var").mkdir()
    (install / ".venv").symlink_to(ROOT / ".venv")
    (install / "manage.py").symlink_to(ROOT / "manage.py")
    schedule, _, line = command.text.partition(" cd ")
    assert len(schedule.split()) == 5, "a cron line starts with five time fields"
    script = substituted("cd " + line, [("/srv/relay", str(install)), ("--time-budget 1200", "--time-budget 3")])
    result = subprocess.run(["bash", "-c", script], env=without_empty(env), capture_output=True, text=True, timeout=600)
    log = (install / "var" / "makedata.log").read_text(encoding="utf-8")
    # 0 trained and switched, 4 nothing new, 5 kept the active model (README: exit codes).
    assert result.returncode in (0, 4, 5), log + result.stderr
    assert log.strip(), "makedata wrote its summary to the log"


def run_makedata_block(command: Command, tmp_path: Path) -> None:
    """docs/makedata.md's three: --initial, then a fine-tune, then --dry-run (tiny and short)."""
    env = bootstrapped_site(tmp_path)
    shown = command.text
    assert shown.startswith(".venv/bin/python manage.py makedata")
    args = shlex.split(shown)[2:]
    if "--dry-run" not in args:
        args += ["--time-budget", "3", "--size", "tiny"] if "--initial" in args else ["--time-budget", "3"]
    result = manage(*args, env=env, timeout=600)
    assert result.returncode in (0, 4, 5), result.stdout + result.stderr
    assert result.stdout.strip()


def run_curl_block(command: Command, tmp_path: Path) -> None:
    """The API walk-through with curl against a running site: a token, a passage for the AI, the job."""
    env = bootstrapped_site(tmp_path)
    password = "alice-password-1"
    created = manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user(username='alice', password='{password}')",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    listener = listen("127.0.0.1")  # the port is the server's from now on: daphne serves this socket
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    shown = command.text
    changes = [(host, base) for host in ("http://127.0.0.1:8000", "http://localhost:8000") if host in shown]
    if '"password": "…"' in shown:
        changes.append(('"password": "…"', f'"password": "{password}"'))
    script = substituted(shown, changes)
    if "/api/jobs/7/" in shown:
        # The documents' job 7 stands for the job that the passage before it was answered with.
        script = JOB_FIRST.format(base=base) + script.replace("/api/jobs/7/", "/api/jobs/$JOB/")
    log = Path(env["VAR_DIR"]) / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [PYTHON, "-m", "daphne", "--fd", str(listener.fileno()), "relay.asgi:application"],
            cwd=ROOT,
            env=without_empty(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
        )
        listener.close()  # (the server has its own copy)
        try:
            wait_until(lambda: server.poll() is not None or answers(base + "/"), timeout_s=120, what="the site up")
            assert server.poll() is None, log.read_text()
            output = sh(TOKEN_FIRST.format(base=base, password=password) + script, cwd=tmp_path)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if shown.startswith("TOKEN="):
        return  # it prints nothing: the lines after it use $TOKEN
    answer = json.loads(output.strip().splitlines()[-1])
    if "/api/jobs/" in shown:
        assert answer["status"] in ("queued", "running", "done"), answer
    else:
        assert answer["job"]["id"] and answer["job"]["ws_url"].startswith("/ws/novels/"), answer
        assert answer["turn"]["text"], answer


# What a reader has done before a later line of the walk-through.
TOKEN_FIRST = (
    "TOKEN=$(curl -s -X POST {base}/api/auth/token/ -H 'Content-Type: application/json' "
    '-d \'{{"username": "alice", "password": "{password}"}}\' '
    "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')\n"
)
JOB_FIRST = (
    'JOB=$(curl -s -X POST {base}/api/novels/1/turns/ -H "Authorization: Token $TOKEN" '
    "-H 'Content-Type: application/json' "
    '-d \'{{"text": "그날 밤 등대의 불빛이 처음으로 꺼졌다.", "continue_with_ai": true}}\' '
    '| python3 -c \'import json,sys; print(json.load(sys.stdin)["job"]["id"])\')\n'
)


def engine_workspace(tmp_path: Path) -> Path:
    """tmp/work, with ../shared/corpus/koconovel beside it holding two short novels (the documents' path)."""
    corpus = tmp_path / "shared" / "corpus" / "koconovel"
    corpus.mkdir(parents=True)
    (corpus / "duck.txt").write_text(DUCK_STORY, encoding="utf-8")
    (corpus / "goose.txt").write_text(GOOSE_STORY, encoding="utf-8")
    novels = tmp_path / "work" / "novels"
    novels.mkdir(parents=True)
    (novels / "duck.txt").write_text(DUCK_STORY, encoding="utf-8")
    more = tmp_path / "work" / "more"
    more.mkdir()
    (more / "novel.txt").write_text(GOOSE_STORY, encoding="utf-8")
    (tmp_path / "work" / "var").mkdir()
    return tmp_path / "work"


def python_m_engine(text: str) -> str:
    return substituted(text, [("python -m engine", f"{shlex.quote(PYTHON)} -m engine")])


def run_readme_engine_block(command: Command, tmp_path: Path) -> None:
    """README's four engine lines in order (the generate lines need the training before them)."""
    work = engine_workspace(tmp_path)
    env = {"PYTHONPATH": str(ROOT)}
    lines = [c.text for c in documented_commands() if c.where.startswith("README.md") and "-m engine " in c.text]
    assert command.text in lines
    for line in lines[: lines.index(command.text) + 1]:
        line = substituted(
            line, [("--time-budget 600", "--time-budget 600 --size tiny --epochs 3")] * ("train" in line)
        )
        output = sh(python_m_engine(line), cwd=work, env=env)
    if "generate" in command.text:
        assert (work / "generate" / "result.txt").read_text(encoding="utf-8").strip()
        assert output.strip()


def expansions(synopsis: str) -> list[str]:
    """A usage line with [optional parts] as the commands it stands for: without them, then with each."""
    required = " ".join(part for part in _split_optional(synopsis) if not part.startswith("["))
    runs = [required]
    for part in _split_optional(synopsis):
        if part.startswith("["):
            choice = part[1:-1].split("|")[0]  # "--size tiny|default|large": the first choice
            runs.append(f"{required} {choice}")
    return runs


def _split_optional(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "[" and depth == 0:
            if current.strip():
                parts.append(current.strip())
            current = ""
        depth += char == "["
        depth -= char == "]"
        current += char
        if char == "]" and depth == 0:
            parts.append(current.strip())
            current = ""
    if current.strip():
        parts.append(current.strip())
    return parts


def run_engine_synopsis(command: Command, tmp_path: Path) -> None:
    """docs/engine.md's usage lines: each command alone and with each of its optional parts."""
    work = engine_workspace(tmp_path)
    env = {"PYTHONPATH": str(ROOT)}
    shown = command.text
    engine_lines = [
        c.text for c in documented_commands() if c.where.startswith("docs/engine.md") and "-m engine " in c.text
    ]
    train = substituted(
        next(line for line in engine_lines if " train " in line), [("--epochs 20", "--epochs 20 --size tiny")]
    )
    if " generate " in shown:
        sh(python_m_engine(expansions(train)[0]), cwd=work, env=env)  # the checkpoints it reads
        if "--resume" in shown:
            sh(python_m_engine(next(line for line in engine_lines if " generate " in line)), cwd=work, env=env)
    runs = expansions(train if " train " in shown else shown)
    for run in runs:
        if "--device cuda" in run:
            run_on_cuda_or_refused(python_m_engine(run), cwd=work, env=env)
            continue
        if "--init-from" in run:
            run = run.replace("--out save/", "--out save-tuned/")  # fine-tuning writes a folder of its own
        assert sh(python_m_engine(run), cwd=work, env=env).strip()
    if " train " in shown:
        assert (work / "save" / "epoch-20.pt").is_file() and (work / "save-tuned" / "vocab.json").is_file()
    if " generate " in shown:
        assert (work / "generate" / "result.txt").read_text(encoding="utf-8").strip()


def run_on_cuda_or_refused(script: str, *, cwd: Path, env: dict[str, str]) -> None:
    """On a machine with CUDA the command runs; without, it ends with one clear line and exit 2."""
    import torch

    if torch.cuda.is_available():
        sh(script, cwd=cwd, env=env)
        return
    result = subprocess.run(["bash", "-c", script], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "cuda" in result.stderr.lower() and "Traceback" not in result.stderr, result.stderr


def run_engine_usage(command: Command, tmp_path: Path) -> None:
    """`python -m engine` alone lists its subcommands."""
    result = subprocess.run([PYTHON, "-m", "engine", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and all(word in result.stdout for word in ("vocab", "train", "generate"))


def run_engine_on_cuda(command: Command, tmp_path: Path) -> None:
    """`python -m engine train/generate/generate --resume --device cuda`: each takes --device cuda."""
    work = engine_workspace(tmp_path)
    env = {"PYTHONPATH": str(ROOT)}
    run_on_cuda_or_refused(
        python_m_engine("python -m engine train --src novels/ --out save/ --epochs 1 --size tiny --device cuda"),
        cwd=work,
        env=env,
    )


def run_manage_engine_commands(command: Command, tmp_path: Path) -> None:
    """manage.py buildvocab, train and generate: the engine's commands from Django's side."""
    work = engine_workspace(tmp_path)
    env = scratch_site(tmp_path)
    for args in (
        ["buildvocab", "--src", str(work / "novels"), "--out", str(work / "vocab.json")],
        ["train", "--src", str(work / "novels"), "--out", str(work / "save"), "--size", "tiny", "--epochs", "2"],
        [
            "generate",
            "--ckpt-dir",
            str(work / "save"),
            "--prime",
            "오리는",
            "--len",
            "1",
            "--result",
            str(work / "r.txt"),
        ],
    ):
        result = manage(*args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "r.txt").read_text(encoding="utf-8").startswith("오리는")


def run_relayworker(command: Command, tmp_path: Path) -> None:
    """relayworker with its options, once: closes overdue rounds and runs queued jobs, then exits."""
    env = bootstrapped_site(tmp_path)
    args = ["relayworker", "--name", "docs", "--poll", "0.1", "--once"]
    if command.text == "manage.py relayworker":
        args = ["relayworker", "--once"]
    result = manage(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def run_closerounds(command: Command, tmp_path: Path) -> None:
    env = bootstrapped_site(tmp_path)
    result = manage("closerounds", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def run_spectacular(command: Command, tmp_path: Path) -> None:
    """The schema check the API docs show."""
    args = shlex.split(command.text)[1:]
    result = manage(*args, "--file", str(tmp_path / "schema.yaml"), env=scratch_site(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openapi:" in (tmp_path / "schema.yaml").read_text(encoding="utf-8")


def run_engine_tests(command: Command, tmp_path: Path) -> None:
    """docs/engine.md's way to run the engine's tests without Django."""
    script = substituted(
        command.text, [("python3 -m pytest", f"{shlex.quote(PYTHON)} -m pytest -q -p no:cacheprovider")]
    )
    output = sh(script, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=900)
    assert " passed" in output


def run_bench_engine(command: Command, tmp_path: Path) -> None:
    """bench/engine.py on ten short novels, two seconds a side and one prompt (the documents: the corpus, 240 s)."""
    text = substituted(command.text, [("python bench/engine.py", f"{shlex.quote(PYTHON)} bench/engine.py")])
    small = f"--prompts 1 --no-morph --speed-steps 1 --corpus {small_corpus(tmp_path)} --out {tmp_path}/engine.txt"
    if "--device cuda" in text:
        run_on_cuda_or_refused(f"{text} --budget 2 {small}", cwd=ROOT, env={})
        return
    output = sh(f"{substituted(text, [('--budget 240', '--budget 2')])} {small}", cwd=ROOT)
    assert "held-out bits/char" in output


def run_bench_quality(command: Command, tmp_path: Path) -> None:
    """bench/quality.py on ten short novels, two seconds a side, one continuation each (the documents: 1,200 s)."""
    text = substituted(
        command.text,
        [
            (".venv/bin/python bench/quality.py", f"{shlex.quote(PYTHON)} bench/quality.py"),
            ("--budget 1200", "--budget 2"),
            ("--out bench/results/quality.txt", f"--out {tmp_path}/quality.txt"),
        ],
    )
    output = sh(f"{text} --per-novel 1 --corpus {small_corpus(tmp_path)}", cwd=ROOT)
    assert "continuation bits/char" in output and "longest span copied" in output
    assert (tmp_path / "quality.txt").read_text(encoding="utf-8").count("held-out bits/char") >= 3


def run_bench_variants(command: Command, tmp_path: Path) -> None:
    """bench/variants.py on ten short novels, a few seconds a variant (the documents: the corpus, 600 s)."""
    words = shlex.split(command.text)
    out = words[words.index("--out") + 1]
    names = [words[i + 1].partition(":")[0] for i, word in enumerate(words) if word == "--variant"]
    text = substituted(
        command.text,
        [
            (".venv/bin/python bench/variants.py", f"{shlex.quote(PYTHON)} bench/variants.py"),
            (f"--out {out}", f"--out {tmp_path}/variants.txt"),
        ],
    )
    output = sh(f"{text} --quick --corpus {small_corpus(tmp_path)}", cwd=ROOT)
    assert "as the site writes" in output
    report = (tmp_path / "variants.txt").read_text(encoding="utf-8")
    assert all(f"\n{name} " in report for name in names or ["letters", "no letters"]) and "nan" not in report


def small_corpus(tmp_path: Path) -> Path:
    """Ten short novels named as the corpus's are ("N_Title.txt"); the sixth is held out."""
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for number in range(1, 11):
        (corpus / f"{number}_Story.txt").write_text((DUCK_STORY, GOOSE_STORY)[number % 2] * 2, encoding="utf-8")
    return corpus


def run_bench_load(command: Command, tmp_path: Path) -> None:
    """bench/load.py with ten clients, one short step and one profile (the documents: 1,000 and all)."""
    text = command.text
    small = ["--clients", "10", "--rates", "2", "--step", "1", "--drain", "5", "--writers", "1"]
    if "--profiles" not in text:
        text += " --profiles " + ("scaled" if SCALED else "embedded")
    else:
        text = substituted(
            text, [("--clients 300", "--clients 10"), ("--rates 10,50", "--rates 2"), ("--step 5", "--step 1")]
        )
    output = sh(f"{text} {' '.join(small)} --out {tmp_path}/load", cwd=ROOT, timeout=600)
    assert "lost 0" in output and "tally = accepted: True" in output


def run_run_scaled(command: Command, tmp_path: Path) -> None:
    """make run-scaled on a scratch database, on any free ports (BASE_PORT=0; the launcher binds them and its
    ready line names them): every daphne it starts answers, then Ctrl-C stops them all."""
    env = {
        **scratch_site(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/relay_docs",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "DEMO_TRAIN_SECONDS": "2",
    }
    text = command.text
    processes = 2
    if "WEB_PROCESSES=3" in text:
        text = substituted(text, [("BASE_PORT=9001", "BASE_PORT=0")])
        processes = 3
    else:
        text = text + " BASE_PORT=0"
    text = substituted(
        text,
        [("postgres://relay:pw@db:5432/relay", env["DATABASE_URL"]), ("redis://cache:6379/0", env["REDIS_URL"])]
        if "@db:5432" in text
        else [],
    )
    served: list[list[str]] = []
    output = serve_until_answering(text, env=env, urls_in_output=ready_urls, timeout_s=300, check=served.append)
    assert len(served[0]) == processes, output
    assert "stopped worker-1" in output  # the generation worker ran, and Ctrl-C stopped it with the rest


def ready_urls(output: str) -> list[str] | None:
    """The daphne URLs the launcher's ready line names ("ready: http://…/, http://…/  (Ctrl-C …)")."""
    for line in output.splitlines():
        if "ready: " in line:
            return [url.strip() for url in line.split("ready: ", 1)[1].split("  (")[0].split(",")]
    return None


def run_bench_abuse(command: Command, tmp_path: Path) -> None:
    """bench/abuse.py in this profile only (the documents: both), its figures written to a scratch file."""
    profile = "scaled" if SCALED else "embedded"
    output = sh(f"{command.text} --profiles {profile} --out {tmp_path}/abuse.txt", cwd=ROOT, timeout=600)
    assert f"\n{profile} " in output


def run_bench_faults(command: Command, tmp_path: Path) -> None:
    """bench/faults.py postgres: the database cut off and back, for real, on its own database."""
    text = substituted(command.text, [("bench/faults.py", f"{shlex.quote(PYTHON)} bench/faults.py")])
    output = sh(text, cwd=ROOT, env={"FAULTS_RESULTS": str(tmp_path / "faults.txt")}, timeout=600)
    assert "postgres" in output.lower() and (tmp_path / "faults.txt").is_file()


def run_bench_book(command: Command, tmp_path: Path) -> None:
    """bench/book.py on a short book, a few downloads (the documents: 400,000 characters, 20)."""
    small = "--chars 20000 --downloads 4 --idle 1"
    output = sh(f"{command.text} {small} --out {tmp_path}/book.txt", cwd=ROOT, timeout=600)
    assert "statuses [200]" in output and "every file built by the builder process: True" in output, output


def run_buildbook(command: Command, tmp_path: Path) -> None:
    """manage.py buildbook on the first start's demo novel, finished: its files are written."""
    env = bootstrapped_site(tmp_path)
    finish = (
        "from django.contrib.auth import get_user_model; from novels.models import Novel; "
        "from voting.services import novel_finish; "
        "novel_finish(novel=Novel.objects.first(), by=get_user_model().objects.get(username='admin'))"
    )
    assert manage("shell", "-c", finish, env=env).returncode == 0
    # Finishing started a build of its own: the command waits its turn (it says so, and changes nothing).
    results: list[subprocess.CompletedProcess] = []
    wait_until(
        lambda: results.append(manage(*command.text.split()[1:], "1", env=env)) or "ready" in results[-1].stdout,
        timeout_s=120,
        what="buildbook's turn",
    )
    assert results[-1].returncode == 0, results[-1].stdout + results[-1].stderr
    assert sorted(path.suffix for path in (Path(env["VAR_DIR"]) / "books").glob("1-*")) == [".epub", ".pdf", ".txt"]


def run_bootstrap_demo(command: Command, tmp_path: Path) -> None:
    """The first start's demo: run twice, the second finds everything there."""
    env = bootstrapped_site(tmp_path)
    again = manage("bootstrap_demo", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "학습합니다" not in again.stdout  # the demo model is not trained again


Runner = Callable[[Command, Path], None]
CRON_LINE = (
    "*/30 * * * * cd /srv/relay && .venv/bin/python manage.py makedata --time-budget 1200 >> var/makedata.log 2>&1"
)
MANAGE_ENGINE = "python manage.py buildvocab|train|generate"
RELAYWORKER = "manage.py relayworker [--name N] [--poll S] [--once]"
README_ENGINE_LAST = 'python -m engine generate --ckpt-dir var/run1 --epoch 3 --prime "그리고" --len 5 --resume'
ENGINE_MD_RESUME = 'python -m engine generate --ckpt-dir save/ --epoch 20 --prime "거위?" --len 10 --resume'
BENCH_ENGINE = "python bench/engine.py --budget 240"
BENCH_QUALITY = ".venv/bin/python bench/quality.py --budget 1200 --out bench/results/quality.txt"
BENCH_BFLOAT16 = (
    ".venv/bin/python bench/variants.py --budget 600 --variant '32 bits:{}:{\"bfloat16\": false}' "
    "--variant 'bfloat16:{}:{\"bfloat16\": true}' "
    '--variant \'bfloat16, 32 rows:{}:{"bfloat16": true, "batch_size": 32}\' '
    "--out bench/results/variants-37-bfloat16.txt"
)

# Every documented command and the test that runs it: a runner and the profile it runs in (None: both),
# or the documented command whose test runs this one too.
RUNNERS: dict[str, tuple[Runner, pytest.MarkDecorator | None] | str] = {
    "make run": (run_make_run, embedded_only),
    "make test": (run_make_test, None),
    "make lint": (run_make_lint, embedded_only),
    CRON_LINE: (run_cron_line, embedded_only),
    "python manage.py makedata": CRON_LINE,
    "manage.py makedata": CRON_LINE,
    "manage.py bootstrap_demo": (run_bootstrap_demo, embedded_only),
    ".venv/bin/python manage.py makedata --initial": (run_makedata_block, embedded_only),
    ".venv/bin/python manage.py makedata": (run_makedata_block, embedded_only),
    ".venv/bin/python manage.py makedata --dry-run": (run_makedata_block, embedded_only),
    "make run-scaled": (run_run_scaled, scaled_only),
    "make run-scaled WEB_PROCESSES=3 WORKERS=2 BASE_PORT=9001": (run_run_scaled, scaled_only),
    "DATABASE_URL=postgres://relay:pw@db:5432/relay REDIS_URL=redis://cache:6379/0 make run-scaled": (
        run_run_scaled,
        scaled_only,
    ),
    "python -m engine": (run_engine_usage, embedded_only),
    "python -m engine vocab --src ../shared/corpus/koconovel --out var/vocab.json": README_ENGINE_LAST,
    "python -m engine train --src ../shared/corpus/koconovel --out var/run1 --time-budget 600": README_ENGINE_LAST,
    'python -m engine generate --ckpt-dir var/run1 --epoch 3 --prime "안녕 난 오리라고 해." --len 10': README_ENGINE_LAST,
    README_ENGINE_LAST: (run_readme_engine_block, embedded_only),
    'python -m engine generate --ckpt-dir save/ --epoch 20 --prime "안녕 난 오리라고 해." --len 10': ENGINE_MD_RESUME,
    ENGINE_MD_RESUME: (run_engine_synopsis, embedded_only),
    "python -m engine train/generate/generate --resume --device cuda": (run_engine_on_cuda, embedded_only),
    MANAGE_ENGINE: (run_manage_engine_commands, embedded_only),
    "manage.py buildvocab": MANAGE_ENGINE,
    "manage.py train": MANAGE_ENGINE,
    "manage.py generate": MANAGE_ENGINE,
    "manage.py relayworker": RELAYWORKER,
    RELAYWORKER: (run_relayworker, embedded_only),
    "manage.py closerounds": (run_closerounds, embedded_only),
    "manage.py spectacular --validate --fail-on-warn": (run_spectacular, embedded_only),
    'python3 -m pytest tests/engine -p no:django -k "not morph"': (run_engine_tests, embedded_only),
    "bench/engine.py --budget 240": BENCH_ENGINE,
    BENCH_ENGINE: (run_bench_engine, embedded_only),
    BENCH_QUALITY: (run_bench_quality, embedded_only),
    ".venv/bin/python bench/variants.py --out bench/results/variants-37.txt": (run_bench_variants, embedded_only),
    BENCH_BFLOAT16: (run_bench_variants, embedded_only),
    'python -m engine generate --ckpt-dir save/ --prime "거위?" --memory 0 --recall 0 --adapt 0 --candidates 1 '
    "--no-copy-guard --no-ngram": (
        run_engine_synopsis,
        embedded_only,
    ),
    "python bench/engine.py --device cuda": (run_bench_engine, embedded_only),
    ".venv/bin/python bench/load.py": (run_bench_load, embedded_only),
    ".venv/bin/python bench/load.py --profiles scaled --clients 300 --rates 10,50 --step 5": (
        run_bench_load,
        scaled_only,
    ),
    "bench/faults.py postgres": (run_bench_faults, scaled_only),
    ".venv/bin/python bench/abuse.py": (run_bench_abuse, scaled_only),
    ".venv/bin/python bench/book.py": (run_bench_book, embedded_only),
    "manage.py buildbook": (run_buildbook, embedded_only),
}


def runner_of(text: str) -> tuple[Runner, pytest.MarkDecorator | None] | str | None:
    if text in RUNNERS:
        return RUNNERS[text]
    if text.startswith("python -m engine ") and "[" in text:
        return run_engine_synopsis, embedded_only
    if "curl " in text:
        return run_curl_block, embedded_only
    return None


def test_every_documented_command_has_a_runner():
    commands = documented_commands()
    missing = [f"{command.where}: {command.text}" for command in commands if runner_of(command.text) is None]
    assert not missing, "commands the documents show that no test runs:\n" + "\n".join(missing)
    shown = {command.text for command in commands}
    for text in shown:
        canonical = runner_of(text)
        if isinstance(canonical, str):
            assert canonical in shown and not isinstance(runner_of(canonical), str), f"{text} -> {canonical}"


def _cases() -> list:
    seen: set[str] = set()
    cases = []
    for command in documented_commands():
        found = runner_of(command.text)
        if found is None or isinstance(found, str) or command.text in seen:
            continue  # (an alias: its canonical command's test runs it)
        seen.add(command.text)
        runner, mark = found
        marks = [pytest.mark.slow] + ([mark] if mark is not None else [])
        cases.append(pytest.param(command, runner, id=f"{command.where} {command.text[:60]}", marks=marks))
    return cases


@pytest.mark.parametrize(("command", "runner"), _cases())
def test_the_documented_command_works(command: Command, runner: Runner, tmp_path: Path):
    runner(command, tmp_path)
