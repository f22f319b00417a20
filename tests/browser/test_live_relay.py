"""Two people on the same novel in two browsers: proposals, votes, the close and the AI's text, live.

In the scaled profile the two browsers talk to different daphne processes and
the text is written by a separate relay worker.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from novels.text_rules import clean_passage
from tests.browser.conftest import ARTIFACTS, PHONE
from tests.conftest import OPENING as SHARED_OPENING
from tests.live import off_loop
from voting.selectors import current_round
from voting.services import novel_create

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPENING = "안개가 짙은 아침이었다. 선착장 끝에 선 수아는 멀리 등대 쪽을 바라보았다. “오늘도 배가 들어올까?”"


def story_texts(page) -> list[str]:
    return page.locator("#story .turn-text").all_inner_texts()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def squash(text: str) -> str:
    return " ".join(text.split())


def test_two_readers_follow_proposals_votes_the_close_and_the_streamed_text(
    reader, novel, alice, bob, editor, active_model
):
    path = f"/novels/{novel.pk}/"
    a = reader(alice, server=0)
    b = reader(bob, server=1, viewport=PHONE)
    a.open(path)
    b.open(path)

    # Alice proposes; Bob sees it appear without reloading.
    a.page.fill("#id_keyword", "등대지기")
    a.page.fill("#id_sentences", "2")
    a.page.click("#propose-form button[type=submit]")
    bob_rows = b.page.locator("#proposals .proposal")
    expect(bob_rows).to_have_count(1)
    expect(bob_rows.first.locator(".keyword")).to_have_text("등대지기")
    expect(bob_rows.first.locator(".votes")).to_have_text("1표")

    # Bob proposes too, then moves his vote to Alice's proposal: both charts move.
    b.page.fill("#id_keyword", "폭풍우")
    b.page.click("#propose-form button[type=submit]")
    expect(a.page.locator("#proposals .proposal")).to_have_count(2)
    expect(a.page.locator("#vote-total")).to_have_text("총 2표")
    b.page.locator("#proposals .proposal[data-proposal] >> nth=0").locator("button").click()
    for page in (a.page, b.page):
        first = page.locator("#proposals .proposal").first
        expect(first.locator(".votes")).to_have_text("2표")
        expect(first.locator(".bar > span")).to_have_attribute("style", re.compile(r"width: 100%"))
        expect(page.locator("#proposals .proposal").nth(1).locator(".votes")).to_have_text("0표")
    expect(b.page.locator("#proposals .proposal.mine .keyword")).to_have_text("등대지기")
    assert b.no_horizontal_scroll()
    screenshot(b.page, "novel-phone-voting.png")

    # Staff close the round; the AI's text streams into both pages and becomes a turn.
    staff = reader(editor, server=0)
    staff.open(path)
    staff.page.click("#close-form button[type=submit]")
    for who in (a, b):
        expect(who.page.locator("#story .turn.ai")).to_have_count(1, timeout=30000)
        expect(who.page.locator("#round-title")).to_have_text("라운드 2", timeout=15000)
    ai_text = a.page.locator("#story .turn.ai .turn-text").inner_text()
    for who in (a, b):
        started = who.messages("generation.started")
        chunks = who.messages("generation.chunk")
        assert started and started[0]["keyword"] == "등대지기"
        assert chunks, "no text was streamed"
        # The stored turn is the streamed text in the engine's normal form (quotes, spaces).
        assert squash(clean_passage("".join(c["text"] for c in chunks))) == squash(ai_text)
    expect(b.page.locator("#story .turn.ai .turn-meta")).to_contain_text("등대지기")

    # A reload shows the same story.
    before = story_texts(a.page)
    a.page.reload()
    a.wait_live()
    assert story_texts(a.page) == before
    assert story_texts(b.page) == before
    assert b.no_horizontal_scroll()
    assert not (a.errors or b.errors)

    screenshot(a.page, "novel-desktop.png")
    screenshot(b.page, "novel-phone.png")


def test_user_text_shows_up_as_text_and_runs_nothing(reader, novel, alice, bob):
    path = f"/novels/{novel.pk}/"
    a = reader(alice, server=0)
    b = reader(bob, server=1)
    a.open(path)
    b.open(path)
    evil = "<img src=x onerror=alert(1)>"

    a.page.fill("#id_keyword", evil)
    a.page.click("#propose-form button[type=submit]")
    a.page.fill("#id_text", f"수아는 쪽지에 {evil} 라고 적었다.")
    a.page.click("#write-form button[type=submit]")

    expect(b.page.locator("#proposals .proposal .keyword")).to_have_text(evil)
    expect(b.page.locator("#story .turn-text").last).to_have_text(f"수아는 쪽지에 {evil} 라고 적었다.")
    a.open(path)
    expect(a.page.locator("#story .turn-text").last).to_contain_text(evil)
    for who in (a, b):
        assert who.page.locator("#story img, #proposals img").count() == 0
        assert who.dialogs == []


def test_a_page_that_lost_its_connection_reconnects_and_catches_up(reader, novel, alice, bob):
    path = f"/novels/{novel.pk}/"
    a = reader(alice, server=0)
    sockets = []
    forwarding = {"on": True}

    def route(ws) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: ws.send(message) if forwarding["on"] else None)
        sockets.append(ws)

    a.page.route_web_socket(re.compile(r"/ws/novels/"), route)
    a.open(path)
    b = reader(bob, server=1)
    b.open(path)

    # Alice's page hears nothing while Bob proposes, then loses the connection.
    forwarding["on"] = False
    b.page.fill("#id_keyword", "갈매기")
    b.page.click("#propose-form button[type=submit]")
    expect(b.page.locator("#proposals .proposal")).to_have_count(1)
    expect(a.page.locator("#proposals .proposal")).to_have_count(0)
    forwarding["on"] = True
    sockets[-1].close(code=1012, reason="restart")

    expect(a.page.locator("#conn")).not_to_have_class(re.compile(r"\blive\b"))
    a.wait_live()
    expect(a.page.locator("#proposals .proposal .keyword")).to_have_text("갈매기")
    assert len(sockets) >= 2


def test_the_page_reads_a_batch_frame_as_its_events_in_order(reader, novel, alice):
    round_id = off_loop(current_round, novel=novel).pk
    # What a busy server sends: a proposal and the tally that counts it, in one frame.
    proposal = {"proposal": 99999, "round": round_id, "keyword": "물결", "keyword_key": "물결", "sentences": 2,
                "style": None, "style_title": None, "author": "bob"}  # fmt: skip
    tally = {"round": round_id, "phase": "proposals", "tallies": [{"proposal": 99999, "votes": 3}], "total": 3}
    batch = {"type": "batch", "events": [{"type": "proposal.added", **proposal}, {"type": "tally", **tally}]}

    def route(ws) -> None:
        def relay(message) -> None:
            ws.send(message)
            if json.loads(message)["type"] == "snapshot":  # after it, or the snapshot would replace it
                ws.send(json.dumps(batch, ensure_ascii=False))

        ws.connect_to_server().on_message(relay)

    a = reader(alice, server=0)
    a.page.route_web_socket(re.compile(r"/ws/novels/"), route)
    a.open(f"/novels/{novel.pk}/")

    expect(a.page.locator("#proposals .proposal .keyword")).to_have_text("물결")
    expect(a.page.locator("#proposals .proposal .votes")).to_have_text("3표")
    expect(a.page.locator("#vote-total")).to_have_text("총 3표")
    assert not a.errors


def test_an_anonymous_reader_sees_the_relay_but_is_asked_to_log_in(reader, novel, alice):
    anonymous = reader(None, server=0, viewport=PHONE)
    anonymous.open(f"/novels/{novel.pk}/")

    expect(anonymous.page.locator("#propose-box")).to_contain_text("로그인")
    expect(anonymous.page.locator("#story .turn-text").first).to_contain_text(SHARED_OPENING)
    assert anonymous.no_horizontal_scroll()


def test_readers_choose_among_the_ais_candidates_when_the_novel_uses_them(reader, editor, alice, active_model):
    novel = off_loop(novel_create, title="후보 고르기", created_by=editor, first_passage=OPENING, candidates=2)
    path = f"/novels/{novel.pk}/"
    a = reader(alice, server=0)
    staff = reader(editor, server=1)
    a.open(path)
    staff.open(path)

    a.page.fill("#id_keyword", "갈매기")
    a.page.click("#propose-form button[type=submit]")
    expect(staff.page.locator("#proposals .proposal")).to_have_count(1)
    staff.page.click("#close-form button[type=submit]")

    candidates = a.page.locator("#candidates .candidate")
    expect(candidates).to_have_count(2, timeout=30000)
    chosen = candidates.nth(1).locator("p").inner_text()
    candidates.nth(1).locator("button").click()
    expect(candidates.nth(1)).to_have_class(re.compile(r"\bmine\b"))
    expect(staff.page.locator("#candidates .candidate").nth(1).locator(".votes")).to_have_text("1표")
    screenshot(a.page, "novel-candidates.png")

    staff.page.click("#close-form button[type=submit]")
    expect(a.page.locator("#story .turn.ai .turn-text")).to_have_text(chosen, timeout=15000)
    expect(a.page.locator("#candidates-box")).to_be_hidden()
