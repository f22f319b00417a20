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
from pathlib import Path
from typing import Any

from django.conf import settings

from management import engine_adapter
from management.models import TrainingRun
from management.retraining import HELD_LOCK_ENV, makedata_lock, take_makedata_lock
from management.services import training_run_finish
from relay.common.errors import DomainError, PermissionDenied
from relay.common.processes import start_command


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


def lock_is_held() -> bool:
    """Whether a makedata run holds its lock now."""
    with makedata_lock(engine_adapter.model_root()) as locked:
        return not locked


def start_run(*, by: Any) -> int:
    """Start `manage.py makedata` (SITE_RUN_OPTIONS) in a process of its own; its pid.

    The run's lock is taken here and handed to the child (MAKEDATA_HELD_LOCK_FD), so
    that a second start a moment later finds it taken (TrainingBusy) instead of
    starting a second process before the first has taken the lock itself."""
    _require_staff(by)
    root = engine_adapter.model_root()
    held = take_makedata_lock(root)
    if held is None:
        raise TrainingBusy()
    with held:  # closing our copy leaves the lock with the child
        process = start_command(
            ["makedata", *settings.SITE_RUN_OPTIONS],
            log_name="makedata.log",
            env={"MODEL_DIR": str(root), HELD_LOCK_ENV: str(held.fileno())},
            pass_fds=[held.fileno()],
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
