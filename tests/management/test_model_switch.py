"""After makedata activates a model, the next generation uses it without a restart, and open pages are told."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from management import engine_adapter
from management.retraining import EXIT_ACTIVATED
from relay.transport.groups import SITE_GROUP
from tests.management.conftest import makedata
from voting.generation import engine as writing_engine


def written(version, approved_novel) -> str:
    pieces = writing_engine.generate_text(
        version=version,
        novel_id=approved_novel.pk,
        story="안개가 짙은 아침이었다.",
        keyword="등대",
        sentences=1,
        style=None,
        seed=3,
        max_chars=40,
    )
    return "".join(pieces)


def test_the_next_generation_uses_the_new_model_without_a_restart(model_dir, tiny_version, approved_novel, source_text):
    # This process has been writing with the tiny model (its weights are loaded and cached).
    assert "등대" in written(engine_adapter.active_version(), approved_novel)
    old_bundle = writing_engine.bundle_for(tiny_version)

    # --force: this test is about the switch, not about which model is better.
    outcome = makedata(force=True, max_steps=5, size=None)  # fine-tunes the tiny model at its own size

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    active = engine_adapter.active_version()  # what the next generation job binds
    assert active == outcome.version != tiny_version
    text = written(active, approved_novel)
    new_bundle = writing_engine.bundle_for(active)
    assert new_bundle is not old_bundle
    assert new_bundle.vocab.hash == active.vocab_hash != tiny_version.vocab_hash
    assert "등대" in text


def makedata_then_close() -> object:
    try:
        return makedata(max_steps=5)
    finally:
        connections.close_all()  # this worker thread's connection would outlive the test database


@pytest.mark.django_db(transaction=True)
async def test_open_pages_are_told_when_makedata_activates_a_model(model_dir, approved_novel, source_text):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(SITE_GROUP, channel)
    try:
        outcome = await database_sync_to_async(makedata_then_close)()
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
    finally:
        await layer.group_discard(SITE_GROUP, channel)

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    assert message["type"] == "relay.event"
    assert json.loads(message["text"]) == {
        "type": "model.activated",
        "version": outcome.version.pk,
        "label": outcome.version.label,
        "val_bpc": outcome.version.val_bpc,
    }
