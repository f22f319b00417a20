"""cron stops a job with SIGTERM: the run is recorded as interrupted, its files go, the model stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from management.models import ModelVersion, TrainingRun
from management.retraining import EXIT_FAILED
from relay.common.processes import database_url


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_with_sigterm_is_marked_interrupted_and_leaves_nothing_behind(
    model_dir, approved_novel, source_text
):
    command = [sys.executable, "manage.py", "makedata", "--size", "tiny", "--epochs", "1000", "--threads", "1"]
    env = {**os.environ, "DATABASE_URL": database_url(), "MODEL_DIR": str(model_dir)}
    process = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # At a lower priority on a busy machine, importing torch alone can take a minute: a generous deadline.
        deadline = time.monotonic() + 300
        seen = []
        for line in process.stdout:  # wait until it is training, then stop it as cron would
            seen.append(line)
            if "makedata: training " in line or time.monotonic() > deadline:
                break
        assert any("makedata: training " in line for line in seen), seen
        # It trains at a lower CPU priority than this process by default (MAKEDATA_NICE).
        assert any(f"(nice {os.nice(0) + settings.MAKEDATA_NICE})" in line for line in seen), seen
        assert list(model_dir.glob(".tmp-*")), "the run should be writing into its temp folder"
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=60)[0]
    finally:
        process.kill()

    assert process.returncode == EXIT_FAILED
    assert "interrupted" in rest
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED and run.reason == "interrupted"
    assert not list(model_dir.glob(".tmp-*")) and not ModelVersion.objects.exists()
