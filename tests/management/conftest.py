"""Fixtures for makedata: a model folder per test, approved text, a tiny run configuration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from management.models import ModelVersion
from management.retraining import Options, run_makedata
from voting.generation import engine as writing_engine

DEMO = Path(django_settings.BASE_DIR) / "novels" / "demo_corpus"
# A few seconds per run on a shared 2-core machine: the tiny model, short windows, few steps.
# One thread: on a busy machine two threads on a tiny model are ten times slower than one.
TINY_RUN = {"size": "tiny", "batch_size": 4, "seq_len": 32, "max_steps": 30, "threads": 1, "progress": False}


def paragraphs(name: str) -> list[str]:
    return [line.strip() for line in (DEMO / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def add_passages(approved_novel, texts: list[str]) -> None:
    from novels.models import Novel, Turn
    from novels.turns import turn_append

    with transaction.atomic():
        approved_novel = Novel.objects.select_for_update().get(pk=approved_novel.pk)
        for text in texts:
            turn_append(novel=approved_novel, text=text, kind=Turn.Kind.HUMAN, status=Turn.Status.APPROVED)


def makedata(lines: list[str] | None = None, **options):
    """One makedata run with the tiny configuration (options override it)."""
    say = lines.append if lines is not None else (lambda line: None)
    return run_makedata(Options(**{**TINY_RUN, **options}), say=say)


@pytest.fixture(autouse=True)
def heldout_floor(settings) -> int:
    """The tests' approved text holds out a few hundred characters; tests of the floor set their own."""
    settings.MAKEDATA_MIN_HELDOUT_CHARS = 200
    return settings.MAKEDATA_MIN_HELDOUT_CHARS


@pytest.fixture
def model_dir(settings, tmp_path) -> Path:
    settings.MODEL_DIR = tmp_path / "models"
    writing_engine.forget_loaded_models()
    yield settings.MODEL_DIR
    writing_engine.forget_loaded_models()


@pytest.fixture
def approved_novel(db, editor):
    """A novel whose first twelve passages are approved."""
    from novels.models import Novel

    novel = Novel.objects.create(title="등대가 보이는 마을", created_by=editor)
    add_passages(novel, paragraphs("01_harbor_town.txt")[:12])
    return novel


@pytest.fixture
def source_text(db, alice, editor):
    """An approved source text (its own style), proposed by alice and approved by the editor."""
    from novels.services import source_text_propose, source_text_review

    text = (DEMO / "02_duck_who_flew.txt").read_text(encoding="utf-8")
    source = source_text_propose(title="날고 싶은 오리", text=text, proposed_by=alice)
    return source_text_review(source=source, reviewer=editor, action="approve")


@pytest.fixture
def tiny_version(db, model_dir, tiny_model_dir) -> ModelVersion:
    """The session's tiny model copied into this test's model folder and active."""
    from engine.checkpoint import load_checkpoint

    checkpoint = (tiny_model_dir / "result.txt").read_text(encoding="utf-8").split()[0]
    shutil.copytree(tiny_model_dir / "tiny", model_dir / "tiny")
    bundle = load_checkpoint(model_dir / "tiny" / checkpoint)
    return ModelVersion.objects.create(
        label="tiny",
        directory="tiny",
        checkpoint=checkpoint,
        vocab_hash=bundle.vocab.hash,
        vocab_size=len(bundle.vocab),
        config={"embed": 16, "hidden": 32, "layers": 1},
        trained_on={"passages": 0, "source_texts": 1, "characters": 500},
        val_bpc=5.0,
        curve=[{"step": 1, "train_loss": 4.0, "val_bpc": 6.0}, {"step": 2, "train_loss": 3.0, "val_bpc": 5.0}],
        is_active=True,
    )
