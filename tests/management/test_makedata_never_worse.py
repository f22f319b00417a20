"""Retraining makes the AI better, never worse: it learns from everything and is judged on enough text.

The case this reproduces: on a fresh install the demo model had learned the
demo stories outside makedata, so the first makedata fine-tuned on a few
approved passages alone (132 characters), compared the two models on 81
held-out characters and switched to a model that wrote worse.
"""

from __future__ import annotations

import multiprocessing
import os

from management import engine_adapter
from management.models import ModelVersion, TrainingRun
from management.retraining import (
    EXIT_ACTIVATED,
    EXIT_KEPT,
    EXIT_NOTHING_NEW,
    EXIT_TOO_LITTLE_HELDOUT,
    Options,
    collect_training_data,
    default_threads,
    lower_priority,
    run_makedata,
    train_config_for,
)
from novels.models import Novel, SourceText
from tests.management.conftest import add_passages, makedata
from voting.demo import DEMO_CREDIT, ensure_demo

PASSAGES = [
    "파도가 방파제를 넘어와 선착장을 적셨다.",
    "수아는 젖은 밧줄을 감으며 하늘을 올려다보았다.",
    "할머니는 오늘 밤에도 등대에 불이 켜질 거라고 말했다.",
    "멀리서 배 한 척이 천천히 다가오고 있었다.",
    "아이들은 모래밭에 이름을 쓰고 도망쳤다.",
    "바람이 잦아들자 마을은 다시 조용해졌다.",
    "그날 밤 등대지기의 창문에는 늦게까지 불이 켜져 있었다.",
]
# The fine-tuning run: a few steps, so the test is about what it learns from and is judged on.
FINETUNE = {"batch_size": 4, "seq_len": 32, "max_steps": 10, "threads": 1, "progress": False}


def test_the_first_retraining_of_a_fresh_install_learns_from_the_demo_stories_too(model_dir, settings, editor):
    settings.DEMO_TRAIN_SECONDS = 3
    settings.MAKEDATA_MIN_HELDOUT_CHARS = 2000  # the shipped floor
    said: list[str] = []
    ensure_demo(say=said.append)
    demo = engine_adapter.active_version()
    assert demo is not None and demo.config["size"] == "small"
    sources = list(SourceText.objects.filter(author_credit=DEMO_CREDIT, status=SourceText.Status.APPROVED))
    assert len(sources) == 5
    # The demo model learned the demo stories through makedata: the held-out blocks stay unseen.
    assert demo.trained_on["source_texts"] == 5 and demo.trained_on["characters"] > 20_000
    assert TrainingRun.objects.get().version == demo
    # A few passages approved across seven novels, as in the report.
    for n, passage in enumerate(PASSAGES):
        add_passages(Novel.objects.create(title=f"소설 {n}", created_by=editor), [passage])

    data = collect_training_data()
    outcome = run_makedata(Options(**FINETUNE), say=said.append)

    assert outcome.exit_code in (EXIT_ACTIVATED, EXIT_KEPT), outcome.message
    version = outcome.version
    assert version.parent == demo and version.config["mode"] == "finetune"
    # Everything the demo model learned from plus what is new, never the increment alone.
    assert version.trained_on["source_texts"] == 5 and version.trained_on["passages"] == 1 + len(PASSAGES)
    assert version.trained_on["characters"] > demo.trained_on["characters"]
    # Judged on enough text, with a block of every demo story in it.
    assert version.trained_on["heldout_characters"] >= 2000
    assert {source.style_name for source in sources} <= set(data.heldout)
    assert version.parent_val_bpc is not None


def test_a_run_with_too_little_held_out_text_says_so_and_keeps_the_active_model(
    model_dir, tiny_version, approved_novel, source_text, settings
):
    held = collect_training_data().heldout_characters
    settings.MAKEDATA_MIN_HELDOUT_CHARS = held + 1
    lines: list[str] = []

    outcome = makedata(lines, size=None)

    assert outcome.exit_code == EXIT_TOO_LITTLE_HELDOUT
    assert f"{held:,}자" in outcome.message and "유지" in outcome.message
    assert list(ModelVersion.objects.all()) == [tiny_version] and engine_adapter.active_version() == tiny_version
    assert not list(model_dir.glob(".tmp-*")) and not any("training " in line for line in lines)
    run = TrainingRun.objects.get()
    assert (run.status, run.exit_code, run.version) == (TrainingRun.Status.KEPT, EXIT_TOO_LITTLE_HELDOUT, None)
    # Recorded with its fingerprint: cron does not retry until more text is approved.
    assert makedata(size=None).exit_code == EXIT_NOTHING_NEW
    # With enough held-out text it trains.
    settings.MAKEDATA_MIN_HELDOUT_CHARS = held
    assert makedata(size=None, force=True).version is not None


def test_with_no_active_model_the_first_model_is_trained_whatever_the_held_out_size(
    model_dir, approved_novel, source_text, settings
):
    settings.MAKEDATA_MIN_HELDOUT_CHARS = 10**9  # nothing to keep: the floor does not apply

    assert makedata().exit_code == EXIT_ACTIVATED


def test_every_source_text_has_held_out_text_and_the_choice_is_stable(approved_novel, source_text):
    first = collect_training_data()
    assert source_text.style_name in first.heldout
    assert collect_training_data().heldout == first.heldout
    trained = next(s.text for s in first.sources if s.name == source_text.style_name)
    assert all(block not in trained for block in first.heldout[source_text.style_name])


def test_training_threads_are_capped_by_default(settings):
    settings.MAKEDATA_THREADS = 0
    cores = len(os.sched_getaffinity(0))
    assert default_threads() == max(1, cores // 2)
    assert train_config_for(Options(), "cpu").num_threads == max(1, cores // 2)
    settings.MAKEDATA_THREADS = 3
    assert train_config_for(Options(), "cpu").num_threads == 3
    assert train_config_for(Options(threads=1), "cpu").num_threads == 1


def _niceness_after(nice: int, answer) -> None:
    answer.send((os.nice(0), lower_priority(nice), os.sched_getscheduler(0)))


def test_lower_priority_raises_the_niceness_of_its_own_process_only():
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_niceness_after, args=(4, send))
    child.start()
    before, after, policy = receive.recv()
    child.join(timeout=30)

    assert after == min(before + 4, 19) and policy == os.SCHED_IDLE  # it runs only on a core nothing else wants
    assert os.nice(0) == before and os.sched_getscheduler(0) == os.SCHED_OTHER  # this process is as it was
