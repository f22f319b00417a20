from __future__ import annotations

import pytest

from relay.transport.groups import SITE_GROUP
from tests.voting.listening import Listener, listen_to_novel


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
