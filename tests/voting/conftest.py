from __future__ import annotations

import pytest

from novels.services import novel_create
from relay.events import SITE_GROUP
from tests.voting.listening import Listener, listen_to_novel
from voting.selectors import current_round

OPENING = "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다."


@pytest.fixture
def novel(editor, django_capture_on_commit_callbacks):
    """A novel started by staff from a first passage (approved), its first round open."""
    with django_capture_on_commit_callbacks(execute=True):
        return novel_create(title="등대 이야기", created_by=editor, first_passage=OPENING)


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
