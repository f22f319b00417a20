"""The lists of the site stay current without a reload: a new novel on the home page, a vote on a source text.

In the scaled profile the two browsers talk to different daphne processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from novels.services import source_text_propose
from tests.live import off_loop

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DUCK = Path(settings.BASE_DIR) / "novels" / "demo_corpus" / "02_duck_who_flew.txt"


def open_list(who, path: str) -> None:
    """Open a list page and wait until its site socket is open, then mark the page: a reload would wipe the mark."""
    who.page.goto(who.base_url + path)
    expect(who.page.locator("html")).to_have_attribute("data-live", "open", timeout=15000)
    who.page.evaluate("window.stillTheSamePage = true")


def still_the_same_page(page) -> bool:
    return page.evaluate("window.stillTheSamePage === true")


def test_a_novel_started_by_someone_else_appears_on_the_home_page(reader, alice, bob):
    a = reader(alice, server=0)
    b = reader(bob, server=1)
    open_list(a, "/")
    b.page.goto(b.base_url + "/")

    b.page.fill("#id_title", "정류장의 오후")
    b.page.fill("#id_first_passage", "버스는 오지 않았다. 지우는 우산을 접고 하늘을 보았다.")
    b.page.click("#new-novel button[type=submit]")

    expect(a.page.locator(".novel-list .novel-card h2")).to_contain_text(["정류장의 오후"], timeout=10000)
    assert still_the_same_page(a.page)
    assert not a.errors


def test_a_vote_on_a_source_text_shows_on_every_open_sources_page(reader, alice, bob, editor):
    source = off_loop(
        source_text_propose, title="날고 싶은 오리", text=DUCK.read_text(encoding="utf-8"), proposed_by=editor
    )
    row = f"#source-{source.pk}"
    a = reader(alice, server=0)
    b = reader(bob, server=1)
    open_list(a, "/sources/")
    expect(a.page.locator(f"{row} .votes")).to_have_text("0표")
    b.page.goto(b.base_url + "/sources/")

    b.page.click(f"{row} button[type=submit]")

    expect(a.page.locator(f"{row} .votes")).to_have_text("1표", timeout=10000)
    assert still_the_same_page(a.page)
    # Alice's own button is still hers to press: the region came back rendered for her.
    expect(a.page.locator(f"{row} button[type=submit]")).to_have_text("투표")
    assert not a.errors
