"""Fixtures of the tally tests: a coalescer of their own, and a novel being voted on with a listener."""

from __future__ import annotations

import pytest

from relay.live import events
from relay.transport.tallies import TallyCoalescer
from tests.voting.listening import listen_to_novel
from tests.waiting import wait_until

VOTERS = 20


def settle(coalescer: TallyCoalescer, *, send_waiting: bool = True) -> None:
    """Wait until no frame of the coalescer is waiting or on its way.

    `send_waiting`: send what waits for its window now, from this thread, instead of
    letting the tally thread send it when the window ends."""
    wait_until(
        lambda: (send_waiting and coalescer.flush_all()) or coalescer.settled(), what="the tally coalescer settled"
    )


@pytest.fixture
def fresh_coalescer(monkeypatch):
    """A coalescer with no memory of earlier tests' novels (ids are reused between tests)."""
    coalescer = events.tally_coalescer()
    monkeypatch.setattr(events, "_tallies", coalescer)
    yield coalescer
    # Nothing of this test may reach the next one's listener.
    settle(coalescer)


@pytest.fixture
def relay(editor, alice, bob, django_user_model, monkeypatch, fresh_coalescer):
    """A novel with two proposals (each with its author's vote), VOTERS users and a listener, all quiet."""
    from novels.services import novel_create
    from tests.conftest import OPENING
    from voting.selectors import current_round
    from voting.services import proposal_create

    novel = novel_create(title="등대 이야기", created_by=editor, first_passage=OPENING)
    round_ = current_round(novel)
    sea = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)[0]
    lighthouse = proposal_create(round=round_, author=bob, keyword="등대", sentences=3)[0]
    voters = [django_user_model.objects.create_user(username=f"voter{i}", password="x") for i in range(VOTERS)]
    settle(fresh_coalescer)  # the proposals' own frames are out before anyone listens
    monkeypatch.setattr(events, "_tallies", events.tally_coalescer())  # the novel has been quiet
    listener = listen_to_novel(novel.pk)
    yield novel, round_, (sea, lighthouse), voters, listener
    listener.close()
    settle(events._tallies)


def tallies(listener, wait_s: float = 0.3) -> list[dict]:
    """The tally frames the listener has received; frames still coming are waited for `wait_s` each."""
    return [event for event in listener.events(wait_s) if event["type"] == "tally"]


@pytest.fixture
async def site(sockets):
    """An open site socket (/ws/site/), as the lists and the model page hold one."""
    communicator = await sockets("/ws/site/", expect_snapshot=False)
    assert communicator.accepted
    return communicator
