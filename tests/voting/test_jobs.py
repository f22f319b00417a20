"""The generation worker: runs a recorded job, streams it, makes the turn exactly once, survives dead workers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from management.models import ModelVersion
from novels.models import BannedWord, Turn
from novels.selectors import story_text
from tests.waiting import wait_until
from voting.generation import worker
from voting.generation.services import MAX_ATTEMPTS, claim_next_job, finish_with_turn, requeue_stale_jobs
from voting.generation.worker import run_next_job, stream
from voting.models import GenerationJob, Round
from voting.selectors import current_round
from voting.services import proposal_create, round_close, turn_review, turn_write, vote_cast


@pytest.fixture
def closed_round(round_, alice, bob, charlie, active_model):
    """Round 1 closed with "바다" (2 sentences) winning over "등대"; its job queued."""
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    lighthouse, _ = proposal_create(round=round_, author=bob, keyword="등대", sentences=1)
    vote_cast(round=round_, user=charlie, proposal=sea)
    round_close(round=round_)
    round_.refresh_from_db()
    return round_


def test_it_runs_the_whole_loop_from_proposal_to_the_next_round(
    novel, round_, alice, bob, charlie, active_model, watch, django_capture_on_commit_callbacks
):
    listener = watch(novel)
    with django_capture_on_commit_callbacks(execute=True):
        sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
        proposal_create(round=round_, author=bob, keyword="등대", sentences=1)
        vote_cast(round=round_, user=charlie, proposal=sea)
        closed = round_close(round=round_)
    assert closed.status == Round.Status.CLOSED and closed.winner == sea
    with django_capture_on_commit_callbacks(execute=True):
        job = run_next_job(worker="test")

    assert (job.status, job.attempts, job.worker, job.model_version) == ("done", 1, "test", active_model)
    turn = job.turn
    assert (turn.kind, turn.status, turn.position, turn.proposal, turn.model_version) == (
        "ai",
        "pending",
        2,
        sea,
        active_model,
    )
    assert turn.text.startswith("바다") and turn.author is None
    assert job.partial_text == turn.text
    assert story_text(novel).endswith(turn.text)
    following = current_round(novel)
    assert following.number == 2 and following.status == Round.Status.OPEN

    events = listener.events()
    types = [event["type"] for event in events]
    assert [t for t in types if t != "generation.chunk"] == [
        "proposal.added",
        "tally",
        "proposal.added",
        "tally",
        "tally",
        "round.closed",
        "generation.started",
        "turn.added",
        "generation.finished",
        "round.opened",
    ]
    streamed = "".join(event["text"] for event in events if event["type"] == "generation.chunk")
    assert streamed == turn.text  # what the pages showed is what was stored, to the character
    assert types.index("generation.chunk") < types.index("turn.added")
    closed_event = events[types.index("round.closed")]
    assert closed_event["winner"] == sea.pk and closed_event["job"] == job.pk and closed_event["votes"] == 2


def test_a_keyword_written_with_a_curly_quote_is_the_keyword_the_ai_text_starts_with(
    novel, round_, alice, active_model, watch, django_capture_on_commit_callbacks
):
    listener = watch(novel)
    with django_capture_on_commit_callbacks(execute=True):
        quoted, _ = proposal_create(round=round_, author=alice, keyword="\u201c배가", sentences=1)
        round_close(round=round_)
    with django_capture_on_commit_callbacks(execute=True):
        job = run_next_job(worker="test")

    assert quoted.keyword == '"배가'  # one form of quotes, as the text the AI writes
    assert job.turn.text.startswith(quoted.keyword)
    streamed = "".join(e["text"] for e in listener.events() if e["type"] == "generation.chunk")
    assert streamed == job.turn.text


def test_a_job_done_after_a_failed_attempt_keeps_no_error(novel, closed_round, monkeypatch):
    from voting.generation import engine as writing_engine

    generate = writing_engine.generate_text
    failures = iter([RuntimeError("the worker died")])

    def failing_once(**kwargs):
        for failure in failures:
            raise failure
        return generate(**kwargs)

    monkeypatch.setattr(writing_engine, "generate_text", failing_once)
    first = run_next_job(worker="test")
    assert (first.status, first.error) == ("queued", "the worker died")

    job = run_next_job(worker="test")

    assert (job.status, job.error) == ("done", "")


def test_it_has_nothing_to_do_without_queued_jobs(db):
    assert run_next_job(worker="test") is None


def test_it_continues_the_story_without_rejected_turns(novel, closed_round, alice, editor):
    GenerationJob.objects.filter(round=closed_round).update(status="done")  # let a human write first
    rejected = turn_write(novel=novel, author=alice, text="이 문장은 반려될 것이다. 전혀 다른 이야기였다.")
    turn_review(turn=rejected, reviewer=editor, action="reject", note="맞지 않음")
    GenerationJob.objects.filter(round=closed_round).update(status="queued")
    job = run_next_job(worker="test")
    assert "반려될" not in story_text(novel)
    assert job.turn.position == 3 and story_text(novel).endswith(job.turn.text)


def test_it_masks_banned_words_in_the_text_it_streams_and_keeps(novel, closed_round, watch):
    # Nearly every Korean sentence ends in "다": the tiny model is sure to write it.
    BannedWord.objects.create(word="다")
    listener = watch(novel)
    job = run_next_job(worker="test")
    assert "다" not in job.turn.text and "○" in job.turn.text
    streamed = "".join(e["text"] for e in listener.events() if e["type"] == "generation.chunk")
    assert "다" not in streamed and "○" in streamed


def test_it_never_streams_half_of_a_banned_word_split_across_pieces(novel, closed_round, watch):
    job = claim_next_job(worker="test")
    listener = watch(novel)

    def pieces():
        for piece in ["그는 바", "보처럼 ", "웃었다."]:
            time.sleep(0.06)  # longer than the batching interval: each piece could go out alone
            yield piece

    text = stream(job, pieces(), worker="test", attempt=1, banned=["바보"])
    assert text == "그는 ○○처럼 웃었다."
    chunks = [e["text"] for e in listener.events() if e["type"] == "generation.chunk"]
    assert len(chunks) >= 2 and "".join(chunks) == text
    assert not any("바" in chunk for chunk in chunks)


def test_it_retries_a_job_left_running_by_a_dead_worker_and_makes_exactly_one_turn(
    novel, closed_round, watch, django_capture_on_commit_callbacks
):
    dead = claim_next_job(worker="dead")  # it claimed the job, then its process died
    GenerationJob.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    listener = watch(novel)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_stale_jobs(timeout_s=30) == 1
    (restarted,) = listener.events()
    assert restarted["type"] == "generation.restarted" and restarted["attempt"] == 1
    dead.refresh_from_db()
    assert (dead.status, dead.worker, dead.attempts) == ("queued", "", 1)

    job = run_next_job(worker="alive")
    assert (job.status, job.worker, job.attempts) == ("done", "alive", 2)
    # The dead worker comes back and tries to finish its attempt: nothing happens.
    assert finish_with_turn(dead, worker="dead", attempt=1, text="유령이 쓴 글이다.") is None
    assert Turn.objects.filter(novel=novel, kind=Turn.Kind.AI).count() == 1
    assert GenerationJob.objects.get(pk=job.pk).turn == job.turn


def test_it_leaves_a_job_with_a_fresh_heartbeat_alone(closed_round):
    claim_next_job(worker="busy")
    assert requeue_stale_jobs(timeout_s=30) == 0
    assert GenerationJob.objects.get(round=closed_round).status == "running"


def test_it_stops_writing_when_the_job_was_taken_from_it(novel, closed_round, monkeypatch):
    monkeypatch.setattr(worker, "SAVE_INTERVAL_S", 0)  # the worker checks that it still holds the job at every piece
    job = claim_next_job(worker="slow")

    def pieces():
        yield "바다는 "
        requeue_stale_jobs(timeout_s=0)  # it looked dead to the others
        yield "조용했다."

    assert stream(job, pieces(), worker="slow", attempt=1, banned=[]) is None
    assert GenerationJob.objects.get(pk=job.pk).status == "queued"


def test_it_gives_up_after_repeated_failures_fails_the_round_with_a_reason_and_opens_a_new_one(
    novel, closed_round, active_model, watch, django_capture_on_commit_callbacks
):
    ModelVersion.objects.filter(pk=active_model.pk).update(checkpoint="missing.pt")  # the files are gone
    listener = watch(novel)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(MAX_ATTEMPTS):
            job = run_next_job(worker="test")
    assert job.status == GenerationJob.Status.FAILED and job.attempts == MAX_ATTEMPTS
    closed_round.refresh_from_db()
    assert closed_round.status == Round.Status.FAILED and "missing.pt" in closed_round.failure_reason
    assert current_round(novel).number == 2
    assert not Turn.objects.filter(kind=Turn.Kind.AI).exists()
    types = [e["type"] for e in listener.events()]
    assert types.count("generation.restarted") == MAX_ATTEMPTS - 1
    assert types[-2:] == ["generation.failed", "round.opened"]


def test_it_fails_a_job_that_died_too_often(novel, closed_round):
    job = GenerationJob.objects.get(round=closed_round)
    GenerationJob.objects.filter(pk=job.pk).update(
        status="running", worker="dead", attempts=MAX_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    assert requeue_stale_jobs(timeout_s=30) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "응답" in job.error
    assert Round.objects.get(pk=closed_round.pk).status == Round.Status.FAILED
    assert current_round(novel).number == 2


def test_it_writes_an_ai_continuation_of_a_passage_then_opens_a_round(editor, alice, active_model):
    from voting.services import novel_create

    novel = novel_create(
        title="AI와 함께", created_by=alice, first_passage="수아는 등대로 걸어갔다.", continue_with_ai=True
    )
    assert current_round(novel) is None
    job = run_next_job(worker="test")
    assert job.status == "done" and job.turn.position == 2 and job.turn.proposal is None
    assert current_round(novel).number == 1


def test_it_waits_for_review_before_opening_the_next_round_of_a_review_first_novel(editor, alice, bob, active_model):
    from voting.services import novel_create

    novel = novel_create(title="검토 먼저", created_by=editor, first_passage="이야기가 시작되었다.", review_first=True)
    round_ = current_round(novel)
    proposal_create(round=round_, author=alice, keyword="바다", sentences=1)
    round_close(round=round_)
    job = run_next_job(worker="test")
    assert current_round(novel) is None  # the AI's turn waits for an admin
    turn_review(turn=job.turn, reviewer=editor, action="approve")
    assert current_round(novel).number == 2


def test_it_writes_with_a_model_activated_after_the_round_closed(closed_round, active_model):
    from management.services import model_version_activate

    newer = ModelVersion.objects.create(
        label="tiny-2",
        directory=active_model.directory,
        checkpoint=active_model.checkpoint,
        vocab_hash=active_model.vocab_hash,
        vocab_size=active_model.vocab_size,
    )
    model_version_activate(version=newer)
    job = run_next_job(worker="test")
    assert job.model_version == newer and job.turn.model_version == newer


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_heartbeat_while_the_engine_is_busy_without_writing(editor, alice, active_model, settings):
    from voting.generation.worker import Heartbeat
    from voting.services import novel_create

    settings.RELAY_JOB_STALE_SECONDS = 1.5  # a beat every half second
    novel = novel_create(title="심장", created_by=editor, first_passage="심장이 천천히 뛰었다.")
    proposal_create(round=current_round(novel), author=alice, keyword="바다", sentences=1)
    round_close(round=current_round(novel))
    job = claim_next_job(worker="busy")
    with Heartbeat(job, worker="busy", attempt=job.attempts):  # the engine reads a long story
        wait_until(
            lambda: GenerationJob.objects.get(pk=job.pk).heartbeat_at > job.heartbeat_at, what="a heartbeat written"
        )
    assert requeue_stale_jobs(timeout_s=1.5) == 0


def test_after_a_turn_the_worker_reads_the_story_ahead_of_the_next_turn(novel, closed_round, active_model):
    from engine.generate import story_ids
    from voting.generation import engine as writing_engine

    run_next_job(worker="test")

    bundle = writing_engine.bundle_for(active_model)
    key = writing_engine.story_key(novel.pk, active_model)
    ids = story_ids(bundle.vocab, story_text(novel.pk), 0)
    state = writing_engine.state_cache().get(key, bundle.model_id, 0)
    assert state is not None and state.ids == ids
    assert writing_engine.adapted_states().read(key, bundle.model_id, 0) == ids


def test_a_failure_to_read_ahead_does_not_fail_the_turn(novel, closed_round, active_model, monkeypatch):
    from voting.generation import engine as writing_engine

    def broken(**kwargs):
        raise RuntimeError("no memory left")

    monkeypatch.setattr(writing_engine, "prepare_story", broken)
    job = run_next_job(worker="test")

    assert job.status == "done" and job.turn is not None


@pytest.mark.parametrize(
    ("clean", "banned", "held"),
    [
        ("그날", [], 0),
        ("그날 밤이 깊었다.", [], 1),  # one more "..", and it is "…"
        ("그날 밤이 깊었다..", [], 2),
        ("그날 밤이 깊었다…", [], 0),
        ("그는 바", ["바보"], 1),  # the start of a banned word
        ("그는 BA", ["bad"], 2),  # as the masking reads it, whatever the case
        ("그는 ㅎ", [], 1),  # a lone jamo may join the next into a syllable
        ("그는 바보", ["바보"], 0),
    ],
)
def test_only_what_may_still_change_is_kept_back(clean, banned, held):
    from voting.generation.worker import unsettled

    assert unsettled(clean, banned) == held


def test_the_keyword_goes_out_at_once_and_each_sentence_as_it_is_chosen(novel, closed_round, watch):
    job = claim_next_job(worker="test")
    listener = watch(novel)
    seen: list[list[str]] = []

    def chunks(*, arrived: bool = False) -> list[str]:
        """The chunks sent so far; with ``arrived``, waiting until one has come (the worker waits meanwhile: it
        is in this generator), as long as a busy machine and Redis take."""
        got: list[str] = []
        deadline = time.monotonic() + 15
        while True:
            got += [e["text"] for e in listener.events(wait_s=0.05) if e["type"] == "generation.chunk"]
            if got or not arrived or time.monotonic() > deadline:
                return got

    def pieces():
        yield " 그날"  # the engine's first piece, before it reads the story
        seen.append(chunks(arrived=True))
        yield " 밤이 깊었다."
        seen.append(chunks(arrived=True))
        yield "\n바람이 불"
        seen.append(chunks())
        yield "었다."

    text = stream(job, pieces(), worker="test", attempt=1, banned=[])
    assert seen[0] == ["그날"]  # not held until the next piece: the reader sees the passage begin
    assert seen[1] == [" 밤이 깊었다"]  # the sentence at once (its period waits: ".." more would make "…")
    assert seen[2] == []  # half a sentence waits for the interval
    assert text == " 그날 밤이 깊었다.\n바람이 불었다."  # the raw text, which the turn stores cleaned
    assert "".join(["그날", " 밤이 깊었다", *chunks()]) == text.strip()


def test_with_candidates_the_passage_reaches_the_page_sentence_by_sentence(
    novel, closed_round, watch, settings, monkeypatch
):
    """The best of four is chosen sentence by sentence: before the AI chooses its second sentence, the page
    already has the keyword and the first."""
    from engine import rerank

    settings.ENGINE_CANDIDATES = 4
    GenerationJob.objects.filter(round=closed_round).update(sentences=3)
    listener = watch(novel)
    received: list[str] = []
    at_each_choice: list[int] = []
    chooser = rerank.sentence_chooser

    def watched_chooser(**kwargs):
        choose = chooser(**kwargs)

        def choose_and_count(texts, fluency, passage):
            # What the page has by now; the worker waits in here, so what it sent arrives, however slowly.
            sent = len(passage.strip())
            deadline = time.monotonic() + 15
            while len("".join(received).strip()) < sent - 1 and time.monotonic() < deadline:
                received.extend(e["text"] for e in listener.events(wait_s=0.05) if e["type"] == "generation.chunk")
            at_each_choice.append(len("".join(received)))
            return choose(texts, fluency, passage)

        return choose_and_count

    monkeypatch.setattr(rerank, "sentence_chooser", watched_chooser)
    job = run_next_job(worker="test")
    received.extend(e["text"] for e in listener.events() if e["type"] == "generation.chunk")

    assert job.status == "done" and len(at_each_choice) >= 3
    keyword = job.turn.text.split()[0]
    assert at_each_choice[0] >= len(keyword) - 1  # the keyword was out before the first sentence was chosen
    assert at_each_choice[1] > at_each_choice[0] + 1  # the first sentence was out before the second was chosen
    assert "".join(received) == job.turn.text


def test_an_idle_worker_reads_ahead_the_stories_of_open_rounds_once_per_model_and_turn(
    novel, round_, active_model, monkeypatch
):
    """After a restart or a model switch every story would be read cold at its next turn (its adaptation
    takes seconds): a worker with nothing to do reads them first, each once for a model and a story."""
    from voting.generation import engine as writing_engine

    read: list[tuple[int, int]] = []
    monkeypatch.setattr(writing_engine, "prepare_story", lambda **kw: read.append((kw["version"].pk, kw["novel_id"])))
    monkeypatch.setattr(worker, "_prepared", {})
    monkeypatch.setattr(worker, "_next_look", 0.0)

    assert worker.warm_one_story() is True
    assert read == [(active_model.pk, novel.pk)]
    assert worker.warm_one_story() is False  # nothing more to read ...
    monkeypatch.setattr(worker, "_next_look", 0.0)
    assert worker.warm_one_story() is False and len(read) == 1  # ... until the story or the model changes
    Turn.objects.create(novel=novel, position=2, text="새 글이 붙었다.", kind=Turn.Kind.HUMAN, status="approved")
    assert worker.warm_one_story() is False  # it looks again only after WARM_LOOK_S, not at every poll
    monkeypatch.setattr(worker, "_next_look", 0.0)
    assert worker.warm_one_story() is True and len(read) == 2
