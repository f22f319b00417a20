"""The cast of a novel (등장인물) in two browsers: the staff add a name the AI missed, and a reader on another
server sees it at once; a word taken out, and the change undone, show the same way. A bad name is refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_name_added_in_one_browser_shows_in_another(reader, novel, alice, editor, active_model):
    path = f"/novels/{novel.pk}/"
    staff = reader(editor, server=0)
    other = reader(alice, server=1)
    staff.open(path)
    other.open(path)
    expect(other.page.locator("#cast-form")).to_have_count(0)  # a reader sees the cast, not the form

    staff.page.fill("#cast-name", "수아")
    staff.page.click("#cast-form button[type=submit]")
    expect(other.page.locator('#cast-list [data-name="수아"]')).to_be_visible(timeout=15000)
    expect(staff.page.locator('#cast-list [data-name="수아"]')).to_be_visible()
    expect(other.page.locator("#round-notice")).to_contain_text("‘수아’를 등장인물에 더했습니다", timeout=15000)
    expect(staff.page.locator("#cast-name")).to_have_value("")

    staff.page.locator('#cast-list [data-name="수아"] button').click()  # taken out again
    expect(other.page.locator('#cast-list [data-name="수아"]')).to_have_count(0, timeout=15000)
    staff.page.locator("#cast-changes summary").click()
    staff.page.locator("#cast-change-list li").first.locator("button").click()  # the removal undone
    expect(other.page.locator('#cast-list [data-name="수아"]')).to_be_visible(timeout=15000)

    staff.page.fill("#cast-name", "그날")
    staff.page.click("#cast-form button[type=submit]")
    expect(staff.page.locator("#round-notice")).to_contain_text("흔한 낱말", timeout=15000)
    expect(other.page.locator('#cast-list [data-name="그날"]')).to_have_count(0)
    assert not (staff.errors or other.errors)
