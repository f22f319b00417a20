"""A new model that is worse on the held-out text than the active one is recorded but not activated."""

from __future__ import annotations

import pytest

from management import engine_adapter
from management.models import ModelVersion, TrainingRun
from management.retraining import EXIT_ACTIVATED, EXIT_KEPT
from tests.management.conftest import add_passages, makedata, paragraphs


@pytest.fixture(autouse=True)
def network_alone(settings):
    # Scored with its n-gram mixed in, one optimizer step is not a worse model: counts of
    # more text can beat the active model, as they should. The network alone is what is untrained.
    settings.ENGINE_NGRAM = False


def test_it_keeps_the_active_model_when_the_new_one_is_worse(model_dir, approved_novel, source_text):
    good = makedata().version
    add_passages(approved_novel, paragraphs("01_harbor_town.txt")[12:16])

    # One optimizer step from scratch: a genuinely untrained model.
    outcome = makedata(initial=True, max_steps=1)

    assert outcome.exit_code == EXIT_KEPT, outcome.message
    assert engine_adapter.active_version() == good
    candidate = outcome.version
    assert not candidate.is_active and candidate.val_bpc > candidate.parent_val_bpc + 0.02
    assert candidate.notes.startswith("적용하지 않음")
    assert TrainingRun.objects.get(version=candidate).status == TrainingRun.Status.KEPT


def test_it_activates_a_worse_model_when_forced(model_dir, approved_novel, source_text):
    makedata()

    outcome = makedata(initial=True, max_steps=1, force=True)

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    assert engine_adapter.active_version() == outcome.version
    assert outcome.version.val_bpc > outcome.version.parent_val_bpc
    assert ModelVersion.objects.filter(is_active=True).count() == 1
