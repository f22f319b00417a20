"""Every page checked with axe-core (from npm, installed by `make test`): no serious or critical violation.

The script is read from node_modules and evaluated in the page by the test (the page itself never
fetches it, and the Content-Security-Policy does not apply to what the test evaluates). Each page's
violations, of every impact, are printed and written to test-artifacts/axe.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from management.models import TrainingRun
from tests.browser.conftest import ARTIFACTS, ROOT
from tests.conftest import OPENING
from tests.live import off_loop
from voting.services import novel_create, novel_finish, turn_write

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_violations(page) -> list[dict]:
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
    ]


def test_no_page_has_a_serious_or_critical_violation(reader, novel, editor, alice):
    assert AXE.is_file(), f"{AXE} is missing: `make node-packages` (make test) installs it"
    book = off_loop(
        lambda: novel_finish(
            novel=novel_create(title="끝난 이야기", created_by=editor, first_passage=OPENING), by=editor
        )
    )
    run = off_loop(
        TrainingRun.objects.create, status=TrainingRun.Status.KEPT, exit_code=5, reason="새 모델이 더 나빠서"
    )
    # A passage waiting for review, so its badge is on the page too.
    off_loop(turn_write, novel=novel, author=alice, text="수아는 편지를 접어 주머니에 넣고 계단을 올랐다.")
    member = reader(alice)
    staff = reader(editor)
    anonymous = reader()
    pages = [
        (member, "/"),
        (member, f"/novels/{novel.pk}/"),
        (member, "/sources/"),
        (member, "/models/"),
        (member, f"/models/runs/{run.pk}/"),
        (member, "/accounts/me/"),
        (staff, f"/novels/{novel.pk}/"),
        (anonymous, f"/novels/{book.pk}/book/"),
        (anonymous, f"/novels/{novel.pk}/"),
        (anonymous, "/accounts/login/"),
        (anonymous, "/accounts/signup/"),
    ]
    report, blocking = {}, {}
    for who, path in pages:
        who.page.goto(who.base_url + path)
        who.page.wait_for_load_state("networkidle")
        found = axe_violations(who.page)
        report[f"{path} ({'alice' if who is member else 'staff' if who is staff else 'anonymous'})"] = found
        serious = [v for v in found if v["impact"] in BLOCKING]
        if serious:
            blocking[f"{path} ({len(blocking)})"] = serious
    text = json.dumps(report, ensure_ascii=False, indent=1)
    print(text)
    Path(ARTIFACTS).mkdir(exist_ok=True)
    (ARTIFACTS / "axe.txt").write_text(text, encoding="utf-8")
    assert not blocking, json.dumps(blocking, ensure_ascii=False, indent=1)


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element is focused, as a person with only a keyboard would."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_proposing_voting_and_withdrawing_work_from_the_keyboard_alone(reader, novel, alice, bob):
    from playwright.sync_api import expect

    a = reader(alice)
    a.open(f"/novels/{novel.pk}/")
    tab_to(a.page, "#id_keyword")
    a.page.keyboard.type("등대")
    tab_to(a.page, "#id_sentences")
    a.page.keyboard.press("Control+A")
    a.page.keyboard.type("2")
    tab_to(a.page, "#propose-form button[type=submit]")
    a.page.keyboard.press("Enter")
    expect(a.page.locator("#proposals .proposal")).to_have_count(1)
    expect(a.page.locator("#vote-total")).to_have_text("총 1표")

    tab_to(a.page, "#withdraw-form button")
    a.page.keyboard.press("Enter")
    expect(a.page.locator("#vote-total")).to_have_text("총 0표")
    tab_to(a.page, "#proposals .proposal .vote-form button")
    a.page.keyboard.press("Enter")
    expect(a.page.locator("#vote-total")).to_have_text("총 1표")
    assert not a.errors


def test_the_ais_text_is_announced_a_sentence_at_a_time(reader, novel, alice, editor, active_model):
    from playwright.sync_api import expect

    from voting.selectors import current_round
    from voting.services import proposal_create, round_close

    a = reader(alice)
    a.open(f"/novels/{novel.pk}/")
    a.page.evaluate(
        """() => {
        window.announced = [];
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.addedNodes) window.announced.push(n.textContent);
        }).observe(document.getElementById('generation-said'), {childList: true});
        }"""
    )

    def close_with_a_proposal():
        round_ = current_round(novel)
        proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
        round_close(round=round_, closed_by=editor)

    off_loop(close_with_a_proposal)
    expect(a.page.locator("#story .turn.ai")).to_have_count(1, timeout=30000)
    streamed = "".join(chunk["text"] for chunk in a.messages("generation.chunk"))
    announced = a.page.evaluate("window.announced")
    assert announced, "nothing was announced"
    assert len(announced) < len(streamed) / 5  # sentences, not characters
    assert "".join(announced).split() == streamed.split()  # all of it, each word once
