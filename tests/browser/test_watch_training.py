"""Watching the AI learn: a page open on /models/ follows a real training run and switches to its model.

A tiny model trains in a thread of this process (as a cron makedata would
in a process of its own); the page learns of it from its server's watcher of
the training runs (relay/live/training_watch.py), in both profiles.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import expect

from management import services
from management.retraining import Options, run_makedata
from novels.services import source_text_propose, source_text_review
from tests.live import off_loop

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEMO = Path(settings.BASE_DIR) / "novels" / "demo_corpus"
# Three epochs of the tiny model: a few seconds, long enough to be watched at a reading every 0.2 s.
RUN = Options(size="tiny", epochs=3, batch_size=4, seq_len=32, threads=1, progress=False)


def approve_sources(editor) -> None:
    for name, title in (("02_duck_who_flew.txt", "날고 싶은 오리"), ("03_rooftop_friends.txt", "옥상 화분 동아리")):
        text = (DEMO / name).read_text(encoding="utf-8")
        source = source_text_propose(title=title, text=text, proposed_by=editor)
        source_text_review(source=source, reviewer=editor, action="approve")


def train_in_a_thread(pool: ThreadPoolExecutor):
    def run():
        try:
            return run_makedata(RUN, say=lambda line: None)
        finally:
            connections.close_all()

    return pool.submit(run)


def hold_after_the_first_sample(monkeypatch) -> threading.Event:
    """The run waits after its first epoch until the test has seen the page show it: no race with a fast run."""
    go_on = threading.Event()
    record = services.training_run_progress

    def recorded_then_held(*, run, progress):
        result = record(run=run, progress=progress)
        if progress.sample is not None and progress.epoch == 1:
            go_on.wait(timeout=60)
        return result

    monkeypatch.setattr(services, "training_run_progress", recorded_then_held)
    return go_on


def test_a_page_on_models_watches_a_run_learn_and_switches_to_its_model(
    reader, editor, settings, tmp_path, monkeypatch
):
    settings.MODEL_DIR = tmp_path / "models"
    go_on = hold_after_the_first_sample(monkeypatch)
    settings.MAKEDATA_THREADS = 1
    off_loop(approve_sources, editor=editor)
    watcher = reader()
    watcher.page.goto(watcher.base_url + "/models/")
    expect(watcher.page.locator("html")).to_have_attribute("data-live", "open", timeout=15000)
    expect(watcher.page.locator(".active-model")).to_contain_text("아직 적용된 모델이 없습니다")

    with ThreadPoolExecutor(max_workers=1) as pool:
        done = train_in_a_thread(pool)
        card = watcher.page.locator("[data-run-card]")
        shown = card.locator("[data-run-samples] li:not([data-run-no-samples])")
        try:
            # While the run is under way: its card, its first sample, a bar part-way.
            expect(shown).to_have_count(1, timeout=30000)
            expect(card).to_have_attribute("data-status", "running")
            part_way = int(card.locator("[data-run-percent]").inner_text())
            assert 0 < part_way < 100
            expect(watcher.page.locator("[data-training-notice]")).to_be_visible()
        finally:
            go_on.set()
        # Then the next samples appear one under another.
        expect(shown).to_have_count(3, timeout=60000)
        outcome = done.result(timeout=120)

    assert outcome.version is not None, outcome.message
    # The page switches to the new model once it is activated, without a reload.
    expect(watcher.page.locator(".active-model .label")).to_have_text(outcome.version.label, timeout=20000)
    expect(card).to_have_attribute("data-status", "activated", timeout=20000)
    expect(card.locator("[data-run-percent]")).to_have_text("100")
    expect(watcher.page.locator("[data-training-notice]")).to_be_hidden()
    progress = [m["progress"].get("fraction", 0) for m in watcher.messages("training.progress")]
    assert len(set(progress)) >= 2 and progress == sorted(progress), progress  # the bar moved, forward
    samples = card.locator("[data-run-samples] q").all_inner_texts()
    assert len(samples) == 3 and all(text.startswith("그때") for text in samples)
    points = int(watcher.page.locator("[data-run-curve]").get_attribute("data-points"))
    assert points >= 3  # the curve was drawn from the run's points
    assert not watcher.errors
