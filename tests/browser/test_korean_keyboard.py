"""The Korean keyboard: Enter pressed while the last syllable is still being composed.

The input method is driven through Chromium's DevTools protocol
(Input.imeSetComposition, then Input.insertText to commit), which produces the
same composition events a Korean IME does.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def sent_proposals(page) -> list[dict]:
    """Every "propose" message the page sends over its socket, from now on."""
    sent: list[dict] = []

    def on_frame(payload) -> None:
        message = json.loads(payload if isinstance(payload, str) else payload.decode())
        if message.get("type") == "propose":
            sent.append(message)

    page.on("websocket", lambda socket: socket.on("framesent", on_frame))
    return sent


def compose(page, done: str, composing: str):
    """Type `done`, then start composing `composing` (jamo by jamo) without committing it."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.insertText", {"text": done})
    for partial in ("ㄷ", composing):
        cdp.send("Input.imeSetComposition", {"text": partial, "selectionStart": 1, "selectionEnd": 1})
    return cdp


def composing_on_the_novel_page(reader, novel, user, done: str, composing: str):  # noqa: F811
    """A reader's tab on the novel, the keyword field half typed: (the tab, what it sends, the IME)."""
    a = reader(user)
    sent = sent_proposals(a.page)
    a.open(f"/novels/{novel.pk}/")
    a.page.focus("#id_keyword")
    return a, sent, compose(a.page, done, composing)


def test_enter_while_composing_sends_the_whole_keyword_once(reader, novel, alice):  # noqa: F811
    a, sent, cdp = composing_on_the_novel_page(reader, novel, alice, "등", "대")

    a.page.keyboard.press("Enter")  # the syllable 대 is still being composed
    assert a.messages("proposal.added") == []
    cdp.send("Input.insertText", {"text": "대"})  # the IME commits it
    a.page.keyboard.press("Enter")  # and a second Enter right after, as a hurried hand does

    expect(a.page.locator("#proposals .proposal .keyword")).to_have_text(["등대"])
    # One more proposal, typed plainly: once it is in, anything the Enters sent is in too.
    a.page.fill("#id_keyword", "바다")
    a.page.click("#propose-form button[type=submit]")
    expect(a.page.locator("#proposals .proposal .keyword")).to_have_count(2)
    assert [m["keyword"] for m in sent] == ["등대", "바다"]  # sent once, with its last syllable
    assert not a.errors


def test_a_commit_long_after_the_enter_submits_nothing(reader, novel, alice):  # noqa: F811
    a, sent, cdp = composing_on_the_novel_page(reader, novel, alice, "갈매", "기")

    a.page.keyboard.press("Enter")
    # The page's own clock past the half second within which a commit submits.
    a.page.wait_for_function(
        "() => performance.now() - Number(document.querySelector('#id_keyword').dataset.submitOnCommit) > 600"
    )
    cdp.send("Input.insertText", {"text": "기"})  # committed when the reader types on, say
    a.page.fill("#id_keyword", "바다")
    a.page.click("#propose-form button[type=submit]")

    expect(a.page.locator("#proposals .proposal .keyword")).to_have_text(["바다"])
    assert [m["keyword"] for m in sent] == ["바다"]
