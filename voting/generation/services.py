"""Every write a generation job makes: claimed, kept alive, finished with a turn or candidates, failed, taken up.

The job was queued by voting.services (job_queue, when a round closes or a
passage asks the AI to continue); here the worker (voting.generation.worker)
holds it. A turn is created exactly once per job: the worker holds the job by
(status=running, worker, attempts), its lease, and every write below is
conditional on that triple, so a worker that was given up for dead and comes
back finds the job no longer its own and writes nothing. Lock order, as in
voting.services: the novel's row first, then the job's.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from management.engine_adapter import active_version
from management.models import ModelVersion
from novels.events import notify
from novels.models import Novel, Turn
from novels.turns import turn_append
from voting import events
from voting.models import GenerationJob, Round
from voting.selectors import round_participants
from voting.services import candidate_seconds, continue_relay, job_fail, maybe_open_round

MAX_ATTEMPTS = 3


def _holds(job_id: int, worker: str, attempt: int):
    return GenerationJob.objects.filter(pk=job_id, status=GenerationJob.Status.RUNNING, worker=worker, attempts=attempt)


def claim_next_job(*, worker: str, version: ModelVersion | None = None) -> GenerationJob | None:
    """Take the oldest queued job: it becomes running, held by this worker, one attempt more; written by
    `version` (the one the worker's host has: management.model_cache), by default the active one."""
    with transaction.atomic():
        # SKIP LOCKED lets several workers claim different jobs at once on
        # PostgreSQL; on SQLite the IMMEDIATE transaction already serializes.
        job = (
            GenerationJob.objects.select_for_update(skip_locked=True)
            .filter(status=GenerationJob.Status.QUEUED)
            .order_by("created_at", "id")
            .first()
        )
        if job is None:
            return None
        now = timezone.now()
        # A model activated since the round closed writes this job: makedata
        # switches models without a restart.
        version = version or active_version() or job.model_version
        taken = GenerationJob.objects.filter(pk=job.pk, status=GenerationJob.Status.QUEUED).update(
            model_version=version,
            status=GenerationJob.Status.RUNNING,
            worker=worker,
            attempts=F("attempts") + 1,
            heartbeat_at=now,
            started_at=now,
            partial_text="",
        )
        if not taken:
            return None
        job.refresh_from_db()
        events.generation_started(job)
    return job


def job_beat(*, job_id: int, worker: str, attempt: int, partial_text: str | None = None) -> bool:
    """The worker still writes the job (and, with `partial_text`, has written this much); False when the job is
    no longer its own (taken up by another worker, or finished)."""
    changes = {"heartbeat_at": timezone.now()}
    if partial_text is not None:
        changes["partial_text"] = partial_text
    return bool(_holds(job_id, worker, attempt).update(**changes))


def _lock_held(job: GenerationJob, *, worker: str, attempt: int) -> tuple[Novel, GenerationJob] | None:
    novel = Novel.objects.select_for_update().get(pk=job.novel_id)
    held = _holds(job.pk, worker, attempt).select_for_update().first()
    if held is None or held.turn_id is not None:
        return None
    return novel, held


def finish_with_turn(
    job: GenerationJob, *, worker: str, attempt: int, text: str, explanation: list | None = None
) -> Turn | None:
    """The job's turn, created once: nothing happens unless this worker still holds the job."""
    with transaction.atomic():
        locked = _lock_held(job, worker=worker, attempt=attempt)
        if locked is None:
            return None
        novel, held = locked
        turn = turn_append(
            novel=novel,
            text=text,
            kind=Turn.Kind.AI,
            author=None,
            status=Turn.Status.PENDING,  # admins review every passage
            proposal=held.proposal,
            model_version=held.model_version,
            explanation=explanation,
        )
        now = timezone.now()
        held.turn = turn
        held.status = GenerationJob.Status.DONE
        held.partial_text = text
        held.error = ""  # an earlier attempt's failure is no longer the job's state
        held.heartbeat_at = held.finished_at = now
        held.save(update_fields=["turn", "status", "partial_text", "error", "heartbeat_at", "finished_at"])
        events.generation_finished(held, turn=turn)
        if held.round_id is not None:
            notify(
                round_participants(held.round),
                novel.pk,
                "written",
                f"「{novel.title}」의 참여한 라운드 글을 AI가 다 썼어요.",
            )
        continue_relay(novel)
    return turn


def finish_with_candidates(
    job: GenerationJob, *, worker: str, attempt: int, texts: list[str], explanations: list[list | None]
) -> None:
    """The job's candidates, for readers to choose among in the round's second vote (once)."""
    with transaction.atomic():
        locked = _lock_held(job, worker=worker, attempt=attempt)
        if locked is None:
            return
        novel, held = locked
        now = timezone.now()
        held.result = {"candidates": texts, "explanations": explanations}
        held.status = GenerationJob.Status.DONE
        held.error = ""
        held.heartbeat_at = held.finished_at = now
        held.save(update_fields=["result", "status", "error", "heartbeat_at", "finished_at"])
        events.generation_finished(held)
        round_ = Round.objects.select_for_update().filter(pk=held.round_id).first()
        if round_ is None or round_.status != Round.Status.CLOSED:
            # No round to hold the second vote (it was removed): the first candidate goes in.
            held.turn = turn_append(
                novel=novel,
                text=texts[0],
                kind=Turn.Kind.AI,
                proposal=held.proposal,
                model_version=held.model_version,
                explanation=explanations[0],
            )
            held.save(update_fields=["turn"])
            maybe_open_round(novel)
            return
        round_.status = Round.Status.CANDIDATES
        round_.deadline = now + timedelta(seconds=candidate_seconds(novel))
        round_.save(update_fields=["status", "deadline"])
        events.candidates_opened(round_, job=held, candidates=texts)


def attempt_failed(job: GenerationJob, *, worker: str, attempt: int, reason: str) -> None:
    """One attempt failed: queue the job again, or after MAX_ATTEMPTS give up (the round fails)."""
    with transaction.atomic():
        locked = _lock_held(job, worker=worker, attempt=attempt)
        if locked is None:
            return
        novel, held = locked
        _retry_or_fail(held, novel, reason)


def _retry_or_fail(job: GenerationJob, novel: Novel, reason: str) -> None:
    if job.attempts >= MAX_ATTEMPTS:
        job_fail(job=job, novel=novel, reason=f"{MAX_ATTEMPTS}번 시도했지만 실패했습니다: {reason}")
        return
    job.status = GenerationJob.Status.QUEUED
    job.worker = ""
    job.error = reason
    job.save(update_fields=["status", "worker", "error"])
    events.generation_restarted(job, reason=reason)


def requeue_stale_jobs(*, timeout_s: float) -> int:
    """Jobs whose worker stopped beating for timeout_s go back to the queue (or fail after
    MAX_ATTEMPTS); returns how many were taken up."""
    cutoff = timezone.now() - timedelta(seconds=timeout_s)
    stale = GenerationJob.objects.filter(status=GenerationJob.Status.RUNNING, heartbeat_at__lt=cutoff)
    taken = 0
    for job in list(stale.only("pk", "novel_id")):
        with transaction.atomic():
            novel = Novel.objects.select_for_update().get(pk=job.novel_id)
            held = (
                GenerationJob.objects.select_for_update()
                .filter(pk=job.pk, status=GenerationJob.Status.RUNNING, heartbeat_at__lt=cutoff)
                .first()
            )
            if held is None:
                continue  # it finished or beat meanwhile
            reason = f"작업자 {held.worker}의 응답이 {timeout_s:g}초 넘게 없어 다시 시작합니다."
            _retry_or_fail(held, novel, reason)
            taken += 1
    return taken
