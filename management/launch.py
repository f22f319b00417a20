"""Staff start and stop a training run from the site.

A run started here is a `manage.py makedata` process of its own, at the same
lower priority as cron's (MAKEDATA_NICE), never a thread of the web server:
the original chatbot trained inside its server and froze it. Stopping sends
the process SIGTERM, which makedata turns into a clean interruption (the
active model stays, the run is marked interrupted, its temp folder goes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from management import engine_adapter
from management.models import TrainingRun
from management.retraining import makedata_lock
from management.services import training_run_finish
from relay.common.errors import DomainError, PermissionDenied


class CannotStop(DomainError):
    code = "cannot_stop"
    status = 409
    message = "이 학습은 여기서 멈출 수 없습니다."


class TrainingBusy(DomainError):
    code = "training_busy"
    status = 409
    message = "이미 학습이 진행 중입니다."


def _require_staff(user: Any) -> None:
    if not (getattr(user, "is_authenticated", False) and user.is_staff):
        raise PermissionDenied("관리자만 학습을 시작하거나 멈출 수 있습니다.")


def database_url() -> str:
    """The database this process uses, for the child to use the same one."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def lock_is_held() -> bool:
    """Whether a makedata run holds its lock now."""
    with makedata_lock(engine_adapter.model_root()) as locked:
        return not locked


def start_run(*, by: Any) -> int:
    """Start `manage.py makedata` (SITE_RUN_OPTIONS) in a process of its own; its pid."""
    _require_staff(by)
    if lock_is_held():
        raise TrainingBusy()
    env = {**os.environ, "DATABASE_URL": database_url(), "MODEL_DIR": str(engine_adapter.model_root())}
    log_path = Path(settings.VAR_DIR) / "makedata.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "makedata", *settings.SITE_RUN_OPTIONS],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # it outlives the request, and a signal to the server does not reach it
        )
    return process.pid


def _is_makedata(pid: int) -> bool:
    """Whether pid is still a makedata process (a dead run's pid may belong to something else by now)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"makedata" in cmdline


def stop_run(*, run: TrainingRun, by: Any) -> TrainingRun:
    """Stop a makedata run under way on this machine."""
    _require_staff(by)
    run.refresh_from_db()
    if run.status != TrainingRun.Status.RUNNING:
        raise CannotStop("이미 끝난 학습입니다.")
    pid, host = run.options.get("pid"), run.options.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        raise CannotStop("다른 서버에서 도는 학습이라 여기서 멈출 수 없습니다.")
    if not _is_makedata(pid):
        # The process is gone without saying so (killed outright): record what happened.
        return training_run_finish(run=run, status=TrainingRun.Status.FAILED, exit_code=1, reason="interrupted")
    os.kill(pid, signal.SIGTERM)
    return run
