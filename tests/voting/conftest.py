from __future__ import annotations

import pytest

from relay.live.events import SITE_GROUP
from tests.voting.listening import Listener, listen_to_novel
from voting.selectors import current_round

OPENING = "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다."


@pytest.fixture
def round_(novel):
    return current_round(novel)


@pytest.fixture
def watch():
    """watch(novel) -> a Listener on the novel's group; all are closed at the end."""
    listeners = []

    def make(novel) -> Listener:
        listener = listen_to_novel(novel.pk)
        listeners.append(listener)
        return listener

    yield make
    for listener in listeners:
        listener.close()


@pytest.fixture
def site_listener():
    listener = Listener(SITE_GROUP)
    yield listener
    listener.close()
