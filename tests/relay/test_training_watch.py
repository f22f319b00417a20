"""A training run reaches every open site page live, whichever process runs it (relay.live.training_watch)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from engine.train import Progress
from management.models import ModelVersion, TrainingRun
from management.services import training_run_finish, training_run_progress, training_run_start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_watch(settings):
    settings.TRAINING_WATCH_S = 0.05


def progress(step: int, fraction: float, *, val_bpc: float | None = None, sample: str | None = None) -> Progress:
    return Progress(
        epoch=step // 10,
        epochs=4,
        step=step,
        fraction=fraction,
        chars_per_s=5000.0,
        eta_s=30.0 * (1 - fraction),
        train_loss=3.0,
        val_bpc=val_bpc,
        sample=sample,
    )


async def next_of(site, kind: str) -> dict:
    while True:  # a reading may fall between two writes: take the first event of the kind
        message = await site.receive_json_from(timeout=10)
        if message["type"] == kind:
            return message


async def test_an_open_page_sees_a_run_progress_its_samples_and_its_end(site):
    run = await sync_to_async(training_run_start)(options={"mode": "initial"})
    await sync_to_async(training_run_progress)(run=run, progress=progress(5, 0.25))

    first = await next_of(site, "training.progress")
    assert first["run"] == run.pk and first["phase"] == "training"
    assert first["progress"]["fraction"] == 0.25 and first["progress"]["epochs"] == 4
    assert first["point"]["step"] == 5 and first["samples"] == []

    await sync_to_async(training_run_progress)(
        run=run, progress=progress(10, 0.5, val_bpc=4.2, sample="그때 바다가 울었다.")
    )
    later = await next_of(site, "training.progress")
    assert later["progress"]["fraction"] == 0.5 and later["point"]["val_bpc"] == 4.2
    assert later["samples"] == [{"epoch": 1, "step": 10, "val_bpc": 4.2, "text": "그때 바다가 울었다.", "parts": []}]

    await sync_to_async(training_run_finish)(run=run, status=TrainingRun.Status.KEPT, exit_code=5, reason="더 나빠서")
    end = await next_of(site, "training.finished")
    assert (end["status"], end["phase"], end["reason"]) == ("kept", "done", "더 나빠서")


async def test_nothing_is_sent_while_no_run_changes(site, settings):
    await sync_to_async(training_run_start)(options={})
    await next_of(site, "training.progress")  # the run's start

    assert await site.receive_nothing(timeout=0.5)


async def test_a_model_activated_elsewhere_reaches_the_page_in_the_embedded_profile(site, settings):
    if settings.REDIS_URL:
        pytest.skip("with Redis, makedata's own broadcast tells the pages (tests/management/test_model_switch.py)")

    def activate_in_another_process() -> ModelVersion:
        # What a cron makedata does, seen from this process: a row changes, no event arrives.
        return ModelVersion.objects.create(label="v9", directory="v9", vocab_hash="x", val_bpc=3.5, is_active=True)

    await sync_to_async(training_run_start)(options={})
    await next_of(site, "training.progress")  # the watcher is reading
    version = await sync_to_async(activate_in_another_process)()

    message = await next_of(site, "model.activated")
    assert message == {"type": "model.activated", "version": version.pk, "label": "v9", "val_bpc": 3.5}
