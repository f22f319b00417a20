"""The worker loop as both profiles run it: a thread in the web process, or `manage.py relayworker`."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from novels.models import Turn
from tests.waiting import wait_until
from voting.generation.worker import should_start_embedded_worker, start_embedded_worker, stop_embedded_worker
from voting.models import GenerationJob, Round
from voting.selectors import current_round
from voting.services import novel_create, proposal_create


def _overdue_round_with_a_proposal(editor, alice):
    novel = novel_create(title="일꾼", created_by=editor, first_passage="일꾼이 이야기를 이어 썼다.")
    round_ = current_round(novel)
    proposal_create(round=round_, author=alice, keyword="바다", sentences=1)
    # The server was down when the deadline passed.
    Round.objects.filter(pk=round_.pk).update(deadline=timezone.now() - timedelta(seconds=5))
    return novel, round_


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_thread_closes_overdue_rounds_and_writes_the_turn(editor, alice, active_model):
    novel, round_ = _overdue_round_with_a_proposal(editor, alice)
    start_embedded_worker(name="thread")
    try:
        wait_until(
            # One read: the round can close between two (the condition then met None).
            lambda: getattr(current_round(novel), "number", None) == 2,
            timeout_s=60,
            what="the overdue round closed and the next one opened",
        )
    finally:
        stop_embedded_worker()
    round_.refresh_from_db()
    assert round_.status == Round.Status.CLOSED
    job = GenerationJob.objects.get(round=round_)
    assert (job.status, job.worker) == ("done", "thread")
    assert Turn.objects.filter(novel=novel, kind=Turn.Kind.AI).count() == 1


@pytest.mark.django_db(transaction=True)
def test_relayworker_once_closes_overdue_rounds_and_runs_the_jobs(editor, alice, active_model, capsys):
    novel, round_ = _overdue_round_with_a_proposal(editor, alice)
    call_command("relayworker", "--once", "--name", "cmd", "--nice", "0")  # leave pytest's own priority alone
    assert "1 job(s) run" in capsys.readouterr().out
    job = GenerationJob.objects.get(round=round_)
    assert (job.status, job.worker) == ("done", "cmd")
    assert job.turn.novel == novel and current_round(novel).number == 2


@pytest.mark.django_db(transaction=True)
def test_relayworker_lowers_its_cpu_priority_by_relay_worker_nice(settings, monkeypatch):
    settings.RELAY_WORKER_NICE = 7
    niced: list[int] = []
    monkeypatch.setattr(os, "nice", niced.append)

    call_command("relayworker", "--once", "--name", "cmd")
    call_command("relayworker", "--once", "--name", "cmd", "--nice", "0")

    assert niced == [7]


def test_importing_the_asgi_app_under_tests_starts_no_worker_thread():
    import relay.asgi  # noqa: F401

    assert not should_start_embedded_worker()
    assert not any(thread.name == "relay-worker" for thread in threading.enumerate())
