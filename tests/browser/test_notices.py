"""Being told: a reader whose proposal wins, and who voted in a round, hears of it in the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_author_of_the_winning_proposal_and_a_voter_are_told(reader, novel, alice, bob, editor, active_model):
    path = f"/novels/{novel.pk}/"
    a = reader(alice, server=0)
    b = reader(bob, server=1)
    a.open(path)
    b.open(path)
    a.page.fill("#id_keyword", "등대지기")
    a.page.fill("#id_sentences", "1")
    a.page.click("#propose-form button[type=submit]")
    expect(b.page.locator("#proposals .proposal")).to_have_count(1)
    b.page.locator("#proposals .proposal").first.locator("button").click()
    expect(b.page.locator("#proposals .proposal").first.locator(".votes")).to_have_text("2표")

    # Alice's tab goes to the background, with browser notifications allowed.
    a.context.grant_permissions(["notifications"], origin=a.base_url)
    a.page.evaluate(
        """() => {
        Object.defineProperty(document, "hidden", { value: true, configurable: true });
        window.shown = [];
        const Real = window.Notification;
        window.Notification = class extends Real {
          constructor(title, options) { super(title, options); window.shown.push(options.body); }
        };
        }"""
    )
    title = a.page.title()

    staff = reader(editor, server=0)
    staff.open(path)
    staff.page.click("#close-form button[type=submit]")

    expect(a.page.locator("#my-notices")).to_contain_text("내 제안 “등대지기”가 뽑혔어요!", timeout=15000)
    expect(a.page).to_have_title(re.compile(r"^\([1-9]\) " + re.escape(title)))
    assert "내 제안 “등대지기”가 뽑혔어요! AI가 이어 씁니다." in a.page.evaluate("window.shown")
    expect(b.page.locator("#my-notices")).to_contain_text("참여한 라운드가 마감되었어요.", timeout=15000)
    for who in (a, b):
        expect(who.page.locator("#my-notices")).to_contain_text("AI가 다 썼어요", timeout=30000)
    expect(staff.page.locator("#my-notices")).to_be_hidden()  # staff took no part: nothing for them
    notices_below_the_header(b.page, "notices-after-a-round")
    assert not (a.errors or b.errors)


def notices_below_the_header(page, name: str) -> None:
    """A reader who has scrolled down still sees what they were told, just below the sticky site header, never
    under or above it (measured, and a full-page screenshot kept in test-artifacts/)."""
    page.set_viewport_size({"width": 1280, "height": 420})  # wide (the header sticks), short: the page scrolls
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("window.scrollY > 0")
    header = page.locator(".site-header").bounding_box()
    notices = page.locator("#my-notices").bounding_box()
    assert header is not None and notices is not None
    assert header["y"] == 0  # the header sticks at the top of the window
    assert header["y"] + header["height"] <= notices["y"] + 1  # the notices below it ...
    assert notices["y"] <= header["y"] + header["height"] + 20  # ... right below it, in sight
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_reader_on_the_home_page_is_told_their_proposal_won(reader, novel, alice, editor):
    from tests.live import off_loop
    from voting.selectors import current_round
    from voting.services import proposal_create

    off_loop(lambda: proposal_create(round=current_round(novel), author=alice, keyword="등대지기", sentences=1))
    a = reader(alice, server=1)
    a.page.goto(a.base_url + "/")
    expect(a.page.locator("html")).to_have_attribute("data-live", "open", timeout=15000)

    staff = reader(editor, server=0)  # closed through a server, as staff do
    staff.open(f"/novels/{novel.pk}/")
    staff.page.click("#close-form button[type=submit]")

    expect(a.page.locator("#my-notices")).to_contain_text(
        "「등대 이야기」에서 내 제안 “등대지기”가 뽑혔어요!", timeout=15000
    )
    assert not a.errors
