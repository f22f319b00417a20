"""The generation worker: runs queued jobs off the event loop, and keeps the round timers.

One code path for both profiles: a daemon thread of the web process in the
embedded default (start_embedded_worker), `manage.py relayworker` processes in
the scaled one (voting/management/commands/relayworker.py). Both call
run_next_job, rounds_close_overdue and requeue_stale_jobs; tests call
run_next_job(worker="test") directly. The worker reads the story, writes with
the engine (voting.generation.engine) and streams; every write it makes goes
through voting.generation.services (the map: voting/generation/__init__.py).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections, connection

from management.blind import blind_rounds_decide_due
from management.model_cache import writing_version
from novels.selectors import story_text
from novels.text_rules import banned_pattern, banned_words, clean_passage, mask_banned
from voting import events
from voting.generation import engine
from voting.generation.services import (
    attempt_failed,
    claim_next_job,
    finish_with_candidates,
    finish_with_turn,
    job_beat,
    requeue_stale_jobs,
)
from voting.models import GenerationJob
from voting.selectors import novel_cast
from voting.services import NO_ACTIVE_MODEL, rounds_close_overdue

log = logging.getLogger(__name__)

CHUNK_INTERVAL_S = 0.1  # stream to the browsers in batches (the page types them out), not per character
SAVE_INTERVAL_S = 0.5  # heartbeat and text so far, in the database


def stale_after_s() -> int:
    """Seconds without a heartbeat after which a running job counts as abandoned."""
    return settings.RELAY_JOB_STALE_SECONDS


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class JobError(Exception):
    """A generation attempt that failed for a reason worth showing to admins."""


class Heartbeat:
    """Beats for a claimed job from a side thread while the engine works: reading a long
    story, or writing candidates, sends no pieces for a while."""

    def __init__(self, job: GenerationJob, *, worker: str, attempt: int) -> None:
        self.job_id, self.worker, self.attempt = job.pk, worker, attempt
        self.every_s = max(stale_after_s() / 3, 0.5)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.pk}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(self.every_s):
                job_beat(job_id=self.job_id, worker=self.worker, attempt=self.attempt)
        except Exception:
            log.exception("heartbeat of job %s failed", self.job_id)
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def run_next_job(*, worker: str) -> GenerationJob | None:
    """Claim and run one queued job; None when there was nothing to do."""
    job = claim_next_job(worker=worker, version=writing_version())
    if job is None:
        return None
    with Heartbeat(job, worker=worker, attempt=job.attempts):
        execute_job(job, worker=worker)
    job.refresh_from_db()
    return job


def execute_job(job: GenerationJob, *, worker: str) -> None:
    """Write the continuation of a claimed job: stream it, then add the turn (or the candidates)."""
    attempt = job.attempts
    try:
        version = job.model_version
        if version is None:
            raise JobError(NO_ACTIVE_MODEL)
        story = story_text(job.novel_id)
        cast = novel_cast(job.novel_id, version=version, story=story).names  # as its readers corrected it
        words = banned_words()
        pattern = banned_pattern(words)
        style = job.style or None
        if job.candidates >= 2:
            texts = engine.generate_candidates(
                version=version,
                story=story,
                keyword=job.keyword,
                sentences=job.sentences,
                style=style,
                seed=job.seed,
                n=job.candidates,
                cast=cast,
            )
            texts = [mask_banned(clean_passage(text), pattern) for text in texts]
            texts = [text for text in texts if text]
            if not texts:
                raise JobError("모델이 빈 후보만 썼습니다.")
            explained = [explanation(job, story, text) for text in texts]
            finish_with_candidates(job, worker=worker, attempt=attempt, texts=texts, explanations=explained)
            return
        pieces = engine.generate_text(
            version=version,
            novel_id=job.novel_id,
            story=story,
            keyword=job.keyword,
            sentences=job.sentences,
            style=style,
            seed=job.seed,
            cast=cast,
        )
        text = stream(job, pieces, worker=worker, attempt=attempt, banned=words)
        if text is None:
            log.warning("job %s was taken from %s while it wrote; its text is dropped", job.pk, worker)
            return
        text = clean_passage(text)
        if not text:
            raise JobError("모델이 빈 글을 썼습니다.")
        finish_with_turn(job, worker=worker, attempt=attempt, text=text, explanation=explanation(job, story, text))
    except Exception as exc:  # any failure is one failed attempt, never a dead worker
        log.exception("job %s, attempt %s failed", job.pk, attempt)
        attempt_failed(job, worker=worker, attempt=attempt, reason=str(exc) or exc.__class__.__name__)
        return
    prepare_next_turn(job)


def explanation(job: GenerationJob, story: str, text: str) -> list | None:
    """How sure the model was of each character it wrote (the page's heat map); None if it cannot be told."""
    try:
        return engine.explain_passage(version=job.model_version, story=story, passage=text, style=job.style or None)
    except Exception:  # the passage stands without its explanation
        log.exception("job %s: could not explain its passage", job.pk)
        return None


def load_ahead() -> None:
    """The active model (fetched first if this host lacks it) and the tagger loaded before the first job (a
    failure here is the first job's to meet)."""
    _guarded("loading the model", lambda: engine.load_ahead(writing_version()))


def prepare_next_turn(job: GenerationJob) -> None:
    """Read the story with its new turn now, while nobody waits, so the novel's next turn starts at once."""
    prepare(job.model_version, job.novel_id, job.style or None)


# What this process has read ahead, per novel: (model version, length of the story read). The engine's caches
# are this process's too; a novel read with an older model or before a turn was added is read again.
_prepared: dict[int, tuple[int, int]] = {}
WARM_NOVELS = 20  # novels with an open round read ahead when idle, soonest deadline first
WARM_LOOK_S = 5.0
_next_look = 0.0


def prepare(version, novel_id: int, style: str | None) -> None:
    story = story_text(novel_id)
    try:
        engine.prepare_story(version=version, novel_id=novel_id, story=story, style=style)
    except Exception:  # the next turn reads what this could not: slower, never wrong
        log.exception("could not read novel %s ahead of its next turn", novel_id)
        return
    _prepared[novel_id] = (version.pk, len(story))


def warm_one_story() -> bool:
    """While no job waits: read ahead one novel whose round is open and whose next turn this process would
    otherwise read cold (after a restart, or once a new model is active, every story is); whether it read one.

    A story read afresh costs its adaptation, seconds on the CPU (bench/quality.py); read now, the novel's
    next passage starts as soon as its job does."""
    global _next_look
    from voting.models import Round

    if time.monotonic() < _next_look:
        return False
    version = writing_version()
    if version is None:
        return False
    novels = Round.objects.filter(status=Round.Status.OPEN, novel__status="open").order_by("deadline")
    for novel_id in novels.values_list("novel_id", flat=True)[:WARM_NOVELS]:
        read = _prepared.get(novel_id)
        if read is not None and read[0] == version.pk and read[1] == len(story_text(novel_id)):
            continue
        prepare(version, novel_id, None)  # in no particular style, as most proposals ask
        return True
    _next_look = time.monotonic() + WARM_LOOK_S  # all read: look again in a while, not at every poll
    return False


# What the end of the cleaned text may still become when more comes: a run that
# cleaning rewrites ("..." becomes "…", a lone jamo joins the next into a
# syllable) and the start of a banned word must not have gone out.
# Three dots or more are "…" already, and stay so whatever follows.
UNSETTLED = re.compile(r"(?<!\.)\.{1,2}$|[\u1100-\u11ff\u3130-\u318f]+$")  # the cleaned text ends in no space
# A piece that ends a sentence (the best of several sends one sentence at a time) goes out at once.
SENTENCE_END = re.compile(r"[.?!…][\"']?\s*$")


def unsettled(clean: str, banned: list[str]) -> int:
    """How many characters at the end of `clean` may still change: kept back until more text has come."""
    tail = UNSETTLED.search(clean)
    held = len(tail.group(0)) if tail else 0
    lowered = clean.lower()
    for word in banned:
        word = word.lower()
        for size in range(min(len(word) - 1, len(lowered)), held, -1):
            if lowered.endswith(word[:size]):
                held = size
                break
    return held


def stream(job: GenerationJob, pieces: Iterable[str], *, worker: str, attempt: int, banned: list[str]) -> str | None:
    """Send the text to the novel's page as it comes, as the turn will store it (banned words masked,
    cleaned as every passage is), keep a heartbeat; the whole masked text, or None if the job was
    taken from this worker meanwhile. The chunks put together are the turn's text.

    The first piece (the keyword, which the engine sends before it reads the story) and a piece that ends a
    sentence go out at once; other text at most every CHUNK_INTERVAL_S."""
    pattern = banned_pattern(banned)
    raw, streamed = "", ""
    last_send = -math.inf
    last_save = time.monotonic()
    for piece in pieces:
        raw += piece
        now = time.monotonic()
        if now - last_send >= CHUNK_INTERVAL_S or SENTENCE_END.search(piece):
            sent = _send_clean(job, mask_banned(raw, pattern), streamed, banned=banned)
            if sent != streamed:
                streamed, last_send = sent, now
        if now - last_save >= SAVE_INTERVAL_S:
            if not job_beat(job_id=job.pk, worker=worker, attempt=attempt, partial_text=streamed):
                return None
            last_save = now
    masked = mask_banned(raw, pattern)
    _send_clean(job, masked, streamed, banned=None)
    return masked


def _send_clean(job: GenerationJob, masked: str, streamed: str, *, banned: list[str] | None) -> str:
    """Send what the cleaned text has beyond `streamed`, less what may still change (all of it when `banned` is
    None: the text is complete); all streamed now."""
    clean = clean_passage(masked)
    ready = len(clean) if banned is None else max(len(clean) - unsettled(clean, banned), len(streamed))
    if ready <= len(streamed):
        return streamed
    if not clean.startswith(streamed):
        # Cleaning changed text that has gone out (never seen: what may still change is kept back); the page
        # gets the stored text with turn.added all the same.
        log.warning("job %s: the cleaned text no longer starts with what was streamed", job.pk)
        return streamed
    events.generation_chunk(job, clean[len(streamed) : ready])
    return clean[:ready]


# The loops, for the embedded threads and `manage.py relayworker`.


def tick_timers() -> tuple[int, int]:
    """Close overdue rounds and take up abandoned jobs; (rounds closed, jobs taken up)."""
    return rounds_close_overdue(), requeue_stale_jobs(timeout_s=stale_after_s())


def _guarded(what: str, step) -> object:
    close_old_connections()
    try:
        return step()
    except Exception:  # the database may be away for a moment; keep going
        log.exception("relay %s: pass failed", what)
        return None


def timers_loop(*, stop: threading.Event, every_s: float = 1.0) -> None:
    """The round timers, every second, in a thread of their own so that a long generation
    does not hold back the deadlines of other novels."""
    while not stop.is_set():
        _guarded("timers", tick_timers)
        _guarded("blind rounds", blind_rounds_decide_due)
        stop.wait(every_s)
    close_old_connections()


def jobs_loop(*, worker: str, stop: threading.Event, poll_s: float = 0.25, once: bool = False) -> int:
    """Run queued jobs as they come until `stop` is set (with `once`: until none is left);
    returns how many ran."""
    ran = 0
    while not stop.is_set():
        job = _guarded(worker, lambda: run_next_job(worker=worker))
        if job is not None:
            ran += 1
            continue
        if once:
            break
        if not _guarded(f"{worker} reading ahead", warm_one_story):
            stop.wait(poll_s)
    close_old_connections()
    return ran


def run_worker(*, worker: str, stop: threading.Event, poll_s: float = 0.25, once: bool = False) -> int:
    """What `manage.py relayworker` runs: the timers and the jobs until `stop` (with `once`:
    one timer pass, then the queued jobs); returns how many jobs ran."""
    if once:
        tick_timers()
        blind_rounds_decide_due()
        return jobs_loop(worker=worker, stop=stop, once=True)
    timers = threading.Thread(target=timers_loop, kwargs={"stop": stop}, name="relay-timers", daemon=True)
    timers.start()
    try:
        return jobs_loop(worker=worker, stop=stop, poll_s=poll_s)
    finally:
        stop.set()
        timers.join(5)


_embedded: list[threading.Thread] = []
_embedded_stop = threading.Event()
_embedded_lock = threading.Lock()


def should_start_embedded_worker() -> bool:
    """In the embedded profile the web process runs generation itself. Under pytest the tests
    drive jobs with run_next_job(); a thread polling the same test database would race them."""
    return settings.GENERATION_IN_PROCESS and "pytest" not in sys.modules


def start_embedded_worker(*, name: str | None = None) -> list[threading.Thread]:
    """Start the in-process worker and timer threads once per process (the timers close
    rounds that fell due while the server was down at once)."""
    with _embedded_lock:
        if _embedded and all(thread.is_alive() for thread in _embedded):
            return list(_embedded)
        _embedded_stop.clear()
        worker = name or f"embedded-{default_worker_name()}"
        _embedded[:] = [
            threading.Thread(target=timers_loop, kwargs={"stop": _embedded_stop}, name="relay-timers", daemon=True),
            threading.Thread(
                target=jobs_loop, kwargs={"worker": worker, "stop": _embedded_stop}, name="relay-worker", daemon=True
            ),
        ]
        for thread in _embedded:
            thread.start()
        log.info("relay worker %s started in this process", worker)
        return list(_embedded)


def stop_embedded_worker(timeout_s: float = 10.0) -> None:
    with _embedded_lock:
        _embedded_stop.set()
        for thread in _embedded:
            thread.join(timeout_s)
        _embedded.clear()
