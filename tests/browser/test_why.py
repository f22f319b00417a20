"""Why the AI wrote that: a reader opens an AI passage's heat map, looks at a character, plays the guessing game."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import axe_violations
from tests.live import off_loop
from voting.selectors import current_round
from voting.services import proposal_create, round_close

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_reader_sees_how_sure_the_ai_was_and_guesses_the_next_syllable(reader, novel, alice, editor, active_model):
    a = reader(alice)
    a.open(f"/novels/{novel.pk}/")

    def close_with_a_proposal():
        round_ = current_round(novel)
        proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
        round_close(round=round_, closed_by=editor)

    off_loop(close_with_a_proposal)
    turn = a.page.locator("#story .turn.ai")
    expect(turn).to_have_count(1, timeout=30000)
    turn.locator(".why-button").click()

    characters = turn.locator(".why-map .ch")
    expect(characters.first).to_be_visible(timeout=10000)
    written = "".join(characters.all_inner_texts())
    assert "".join(written.split()) == "".join(turn.locator(".turn-text").inner_text().split())
    characters.nth(2).click()
    expect(turn.locator(".why-detail")).to_contain_text("확신한 글자. 후보:")

    a.page.locator(".why-map").focus()  # and from the keyboard
    a.page.keyboard.press("ArrowRight")
    expect(turn.locator(".why-map .ch.selected")).to_have_count(1)

    game = turn.locator(".why-game")
    game.locator("input").fill("가")
    game.locator("button[type=submit]").click()
    expect(game.locator(".why-result")).to_contain_text("AI의 다섯 후보:")
    expect(game.locator(".muted")).to_have_text(re.compile(r"^1번 중 [01]번 맞힘$"))

    serious = [v for v in axe_violations(a.page) if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    assert not a.errors
