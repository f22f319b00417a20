"""The held-out text is chosen by a hash of each block, so it is never trained on, from run to run."""

from __future__ import annotations

from management.retraining import collect_training_data
from tests.management.conftest import add_passages, paragraphs


def held_blocks(data) -> set[str]:
    return {block for blocks in data.heldout.values() for block in blocks}


def test_held_out_blocks_are_not_in_the_training_text(approved_novel, source_text):
    data = collect_training_data()

    held = held_blocks(data)
    assert held
    assert all(block not in source.text for block in held for source in data.sources)
    assert data.heldout_characters == sum(len(b) for b in held)
    assert {s.name for s in data.sources} == {f"novel-{approved_novel.pk}", source_text.style_name}


def test_what_is_held_out_stays_held_out_when_more_text_is_approved(approved_novel, source_text):
    before = held_blocks(collect_training_data())
    add_passages(approved_novel, paragraphs("01_harbor_town.txt")[12:])

    after = collect_training_data()

    assert before <= held_blocks(after)
    assert after.passages > 12


def test_the_fingerprint_changes_with_the_approved_text_only(approved_novel, source_text):
    first = collect_training_data().fingerprint
    assert collect_training_data().fingerprint == first

    add_passages(approved_novel, ["파도가 다시 밀려왔다."])

    assert collect_training_data().fingerprint != first
