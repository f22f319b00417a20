"""The review queue in the Django admin: every action goes through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from novels.models import SourceText, Turn
from novels.services import source_text_propose
from voting.services import turn_write

pytestmark = pytest.mark.django_db

PASSAGE = "수아는 등대 계단을 올랐다. 꼭대기에는 아무도 없었다."


@pytest.fixture
def pending(novel, alice) -> Turn:
    return turn_write(novel=novel, author=alice, text=PASSAGE)


def run_action(client, changelist: str, action: str, rows, **extra):
    data = {"action": action, "_selected_action": [row.pk for row in rows], **extra}
    return client.post(reverse(changelist), data, follow=True)


def test_the_review_queue_lists_pending_turns_for_staff(client, editor, pending):
    client.force_login(editor)

    page = client.get(reverse("admin:novels_turn_changelist") + "?status__exact=pending").content.decode()

    assert "수아는 등대 계단을 올랐다." in page


def test_staff_approve_turns_with_an_action(client, editor, pending):
    client.force_login(editor)

    run_action(client, "admin:novels_turn_changelist", "approve_turns", [pending])

    pending.refresh_from_db()
    assert (pending.status, pending.reviewed_by) == ("approved", editor)


def test_rejecting_asks_for_a_reason_first_then_rejects_with_it(client, editor, pending):
    client.force_login(editor)

    asked = run_action(client, "admin:novels_turn_changelist", "reject_turns", [pending])
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert "사유" in asked.content.decode()

    run_action(client, "admin:novels_turn_changelist", "reject_turns", [pending], apply="1", note="줄거리와 맞지 않음")

    pending.refresh_from_db()
    assert (pending.status, pending.review_note) == ("rejected", "줄거리와 맞지 않음")


def test_editing_a_turn_in_its_change_form_approves_the_edit_and_keeps_the_original(client, editor, pending):
    client.force_login(editor)

    client.post(
        reverse("admin:novels_turn_change", args=[pending.pk]),
        {"text": "수아는 천천히 등대 계단을 올랐다.", "decision": "approve", "review_note": "맞춤법"},
    )

    pending.refresh_from_db()
    assert pending.status == "approved"
    assert pending.text == "수아는 천천히 등대 계단을 올랐다."
    assert pending.original_text == PASSAGE


def test_rejecting_in_the_change_form_keeps_the_text(client, editor, pending):
    client.force_login(editor)

    client.post(
        reverse("admin:novels_turn_change", args=[pending.pk]),
        {"text": "고쳐 봐도 소용없다.", "decision": "reject", "review_note": "부적절"},
    )

    pending.refresh_from_db()
    assert (pending.status, pending.text, pending.review_note) == ("rejected", PASSAGE, "부적절")


def test_staff_revert_the_last_turn_of_a_novel(client, editor, novel, pending):
    client.force_login(editor)

    run_action(client, "admin:novels_novel_changelist", "revert_last_turn", [novel], apply="1", note="되돌림")

    pending.refresh_from_db()
    assert pending.status == "rejected"
    assert novel.turns.filter(status="approved").count() == 1


def test_a_refused_review_is_reported_with_its_reason(client, editor, novel):
    Turn.objects.filter(novel=novel).update(status="rejected")
    client.force_login(editor)

    page = run_action(client, "admin:novels_novel_changelist", "revert_last_turn", [novel], apply="1").content

    assert "nothing_to_revert" in page.decode()


def test_staff_approve_and_reject_source_texts(client, editor, alice):
    keep = source_text_propose(title="좋은 글", text="좋은 글이다. 아주 좋다.", proposed_by=alice)
    drop = source_text_propose(title="나쁜 글", text="나쁜 글이다. 아주 나쁘다.", proposed_by=alice)
    client.force_login(editor)

    run_action(client, "admin:novels_sourcetext_changelist", "approve_sources", [keep])
    run_action(client, "admin:novels_sourcetext_changelist", "reject_sources", [drop], apply="1", note="저작권")

    assert SourceText.objects.get(pk=keep.pk).status == "approved"
    dropped = SourceText.objects.get(pk=drop.pk)
    assert (dropped.status, dropped.review_note) == ("rejected", "저작권")
