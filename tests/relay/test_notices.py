"""Notices for one person: on any page of the site, only theirs, never who else took part."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from voting.selectors import current_round
from voting.services import proposal_create, round_close, turn_review, turn_write, vote_cast

pytestmark = pytest.mark.django_db(transaction=True)


async def notices(ws, wait_s: float = 1.0) -> list[dict]:
    """The notice events the socket received until it was quiet for wait_s."""
    found = []
    while not await ws.receive_nothing(timeout=wait_s):
        frame = await ws.receive_json_from(timeout=5)
        events = frame["events"] if frame["type"] == "batch" else [frame]
        found.extend(event for event in events if event["type"] == "notice")
    return found


async def test_the_winner_and_the_voters_are_told_on_any_page_and_nobody_else(sockets, novel, alice, bob, charlie):
    def vote_and_close():
        round_ = current_round(novel)
        proposal, _ = proposal_create(round=round_, author=alice, keyword="등대지기", sentences=1)
        vote_cast(round=round_, user=bob, proposal=proposal)
        round_close(round=round_)

    pages = {user.username: await sockets("/ws/site/", user, expect_snapshot=False) for user in (alice, bob, charlie)}
    await sync_to_async(vote_and_close)()

    told = {name: await notices(ws) for name, ws in pages.items()}
    assert [(n["kind"], n["novel"]) for n in told["alice"]] == [("won", novel.pk)]
    assert "내 제안 “등대지기”가 뽑혔어요!" in told["alice"][0]["text"]
    assert [n["kind"] for n in told["bob"]] == ["round_closed"]
    assert told["charlie"] == []
    assert "bob" not in str(told["alice"]) and "alice" not in str(told["bob"])


async def test_the_author_of_a_reviewed_passage_is_told(sockets, novel, alice, editor):
    page = await sockets("/ws/site/", alice, expect_snapshot=False)

    def write_and_reject():
        turn = turn_write(novel=novel, author=alice, text="수아는 편지를 접어 주머니에 넣고 계단을 올랐다.")
        turn_review(turn=turn, reviewer=editor, action="reject", note="이야기와 맞지 않아요")

    await sync_to_async(write_and_reject)()

    (notice,) = await notices(page)
    assert notice["kind"] == "reviewed" and notice["text"].endswith("반려되었어요. (이야기와 맞지 않아요)")
