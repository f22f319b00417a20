"""Staff start and stop a training run from the site; nobody else can, and a refusal changes nothing."""

from __future__ import annotations

import fcntl
import socket
import subprocess

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from management import launch
from management.models import TrainingRun
from management.retraining import LOCK_NAME
from management.services import training_run_start
from tests.waiting import wait_until

# The child trains the tiny model for as long as it takes the test to stop it.
CHILD_RUN = ["--size", "tiny", "--epochs", "1000", "--threads", "1", "--batch-size", "4", "--seq-len", "32"]


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def no_process_started(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no process may be started")

    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_nobody_but_staff_starts_or_stops_a_run(client, model_dir, alice, no_process_started):
    run = training_run_start(options={"pid": 1, "host": socket.gethostname()})

    assert api().post("/api/training-runs/start/").status_code in (401, 403)
    refused = api(alice).post("/api/training-runs/start/")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert api(alice).post(f"/api/training-runs/{run.pk}/stop/").status_code == 403
    client.force_login(alice)
    assert client.post(reverse("training-run-start")).status_code == 302
    assert "관리자만" in client.get(reverse("models")).content.decode()
    run.refresh_from_db()
    assert TrainingRun.objects.count() == 1 and run.status == TrainingRun.Status.RUNNING


def test_a_run_cannot_start_while_another_holds_the_lock(model_dir, editor, no_process_started):
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / LOCK_NAME, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        answer = api(editor).post("/api/training-runs/start/")

    assert answer.status_code == 409 and answer.json()["code"] == "training_busy"


def test_stopping_what_cannot_be_stopped_is_a_clear_error(model_dir, editor):
    finished = training_run_start(options={})
    finished.status = TrainingRun.Status.KEPT
    finished.save()
    elsewhere = training_run_start(options={"pid": 12345, "host": "another-machine"})
    gone = training_run_start(options={"pid": 2**22 + 7, "host": socket.gethostname()})  # no such process

    for run in (finished, elsewhere):
        answer = api(editor).post(f"/api/training-runs/{run.pk}/stop/")
        assert answer.status_code == 409 and answer.json()["code"] == "cannot_stop"
    assert api(editor).post("/api/training-runs/999/stop/").status_code == 404
    # A run whose process died without a word is recorded as interrupted.
    assert api(editor).post(f"/api/training-runs/{gone.pk}/stop/").status_code == 202
    gone.refresh_from_db()
    assert gone.status == TrainingRun.Status.FAILED and gone.reason == "interrupted"
    assert TrainingRun.objects.get(pk=elsewhere.pk).status == TrainingRun.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_staff_start_a_real_run_and_stop_it(client, model_dir, approved_novel, source_text, editor, settings):
    settings.SITE_RUN_OPTIONS = CHILD_RUN
    client.force_login(editor)

    assert client.post(reverse("training-run-start")).status_code == 302
    # A second start a moment later finds the run's lock taken, before the child has even begun.
    again = api(editor).post("/api/training-runs/start/")
    assert again.status_code == 409 and again.json()["code"] == "training_busy"
    # The child is a makedata of its own, on this test database and model folder.
    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING)
    wait_until(running.exists, timeout_s=120, what="the child's run")
    run = running.get()
    assert TrainingRun.objects.count() == 1
    assert run.options["size"] == "tiny" and run.options["pid"] != launch.os.getpid()
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).progress.get("step", 0) > 0, timeout_s=120)
    page = client.get(reverse("models")).content.decode()
    assert "학습 멈추기" in page and "지금 학습 시작" not in page

    assert client.post(reverse("training-run-stop", args=[run.pk])).status_code == 302

    wait_until(lambda: not TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.RUNNING, timeout_s=60)
    stopped = TrainingRun.objects.get(pk=run.pk)
    assert stopped.status == TrainingRun.Status.FAILED and stopped.reason == "interrupted"
    # Then it cleans up after itself and lets go of the lock.
    wait_until(lambda: not list(model_dir.glob(".tmp-*")) and not launch.lock_is_held(), timeout_s=60)
